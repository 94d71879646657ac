import StrataCache
import StrataCluster

/// The YCSB core workloads and the stampede.
public enum Workload: String, Sendable, CaseIterable, Codable {
    /// 50 % reads, 50 % updates (update heavy).
    case a = "A"
    /// 95 % reads, 5 % updates (read mostly).
    case b = "B"
    /// Reads only.
    case c = "C"
    /// 95 % reads of recently inserted keys, 5 % inserts (read latest).
    case d = "D"
    /// 95 % short scans, 5 % inserts.
    case e = "E"
    /// 50 % reads, 50 % read-modify-writes.
    case f = "F"
    /// Many clients reading a few keys (the hot keys of a stampede).
    case stampede

    /// The operation mix.
    var mix: [(Operation, Double)] {
        switch self {
        case .a: [(.read, 0.5), (.update, 0.5)]
        case .b: [(.read, 0.95), (.update, 0.05)]
        case .c: [(.read, 1)]
        case .d: [(.read, 0.95), (.insert, 0.05)]
        case .e: [(.scan, 0.95), (.insert, 0.05)]
        case .f: [(.read, 0.5), (.readModifyWrite, 0.5)]
        case .stampede: [(.read, 1)]
        }
    }

    /// The key distribution YCSB uses for the workload unless one is given.
    var defaultDistribution: KeyDistribution {
        switch self {
        case .d: .latest
        case .stampede: .hotspot(keys: 0.0001, operations: 1)
        default: .zipfian(theta: 0.99)
        }
    }

    /// The operations of a workload.
    enum Operation: String, Sendable, CaseIterable, Codable {
        case read, update, insert, scan, readModifyWrite
    }
}

/// How keys are drawn.
public enum KeyDistribution: Sendable, Hashable, Codable {
    /// Every key equally likely.
    case uniform
    /// Zipfian over the records (YCSB: θ = 0.99).
    case zipfian(theta: Double)
    /// Zipfian over recency: the newest keys most likely.
    case latest
    /// `operations` of the accesses go to the first `keys` fraction of the records.
    case hotspot(keys: Double, operations: Double)

    /// Parses `uniform`, `zipfian[:θ]`, `latest`, `hotspot[:keys:operations]`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":")
        switch parts.first {
        case "uniform": self = .uniform
        case "zipfian": self = .zipfian(theta: parts.count > 1 ? Double(parts[1]) ?? 0.99 : 0.99)
        case "latest": self = .latest
        case "hotspot":
            self = .hotspot(
                keys: parts.count > 1 ? Double(parts[1]) ?? 0.2 : 0.2, operations: parts.count > 2 ? Double(parts[2]) ?? 0.8 : 0.8)
        default: return nil
        }
    }
}

/// Draws key numbers for one client (not thread-safe: one per client).
struct KeyChooser {
    private let distribution: KeyDistribution
    private var zipf: HitRatioSimulation.Zipf?
    private var generator: SplitMix64
    let records: Int

    init(distribution: KeyDistribution, records: Int, seed: UInt64, zipfTable: HitRatioSimulation.Zipf?) {
        self.distribution = distribution
        self.records = max(records, 1)
        generator = SplitMix64(seed: seed)
        zipf = zipfTable
        zipf?.reseed(seed)
    }

    /// The next key number below `limit` (the records inserted so far).
    mutating func next(limit: Int) -> Int {
        let limit = max(limit, 1)
        switch distribution {
        case .uniform:
            return Int(generator.next() % UInt64(limit))
        case .zipfian:
            return min(zipf!.next(), limit - 1)
        case .latest:
            return max(limit - 1 - zipf!.next(), 0)
        case .hotspot(let keys, let operations):
            let hot = max(Int(Double(limit) * keys), 1)
            if generator.unit() < operations { return Int(generator.next() % UInt64(hot)) }
            return hot + Int(generator.next() % UInt64(max(limit - hot, 1)))
        }
    }

    mutating func unit() -> Double { generator.unit() }
}

extension SplitMix64 {
    /// A uniform value in [0, 1) from the next 53 bits.
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
