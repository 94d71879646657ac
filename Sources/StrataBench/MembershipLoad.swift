import Foundation
import StrataClient
import Synchronization

/// An open-loop mix of writes and reads through `StrataClient` while an
/// operator changes the cluster (adds, removes or drains a node), to show
/// what clients see: latency per phase, errors after the client's retries,
/// and whether every acknowledged write is still there.
///
/// Every write sets a key of its own (`membership:<n>`) to a value naming
/// it; every read picks a write acknowledged earlier and must find exactly
/// its value, so a read of a moving shard that misses data counts as a
/// wrong read. Operations start on their schedule whatever the others do
/// (latency counts from the scheduled start: no coordinated omission).
/// Phases come from a marks file that a script appends to while the load
/// runs — lines of `<milliseconds since 1970> <phase name>` — and the first
/// phase is `before`. At the end every acknowledged key is read back.
public struct MembershipLoad: Sendable {
    /// What clients saw in one phase.
    public struct Phase: Sendable {
        /// The phase's name (`before`, then the marks' names).
        public var name: String
        /// Operations scheduled in the phase.
        public var operations: Int
        /// Operations that failed after the client's retries.
        public var failures: Int
        /// Reads that did not find the value their key's acknowledged write set.
        public var wrongReads: Int
        /// Median latency.
        public var p50: Duration
        /// 99th percentile latency.
        public var p99: Duration
        /// The slowest operation.
        public var max: Duration
    }

    /// The whole run.
    public struct Result: Sendable {
        /// Per phase, in order.
        public var phases: [Phase]
        /// Writes acknowledged.
        public var acknowledged: Int
        /// Acknowledged writes whose key did not hold their value when read back at the end.
        public var lost: Int
        /// The first few failures' messages.
        public var failureSamples: [String]
        /// Each second's p99 (milliseconds since 1970 of the second's start, latency), in order.
        public var p99PerSecond: [(Int64, Duration)]
    }

    /// The client (its acks decide what an acknowledgement promises).
    public var client: StrataClient
    /// Operations per second.
    public var rate: Int
    /// Seconds of load.
    public var seconds: Int
    /// The share of operations that are reads (0...1).
    public var readFraction: Double
    /// Bytes per value.
    public var valueSize: Int
    /// Where a script appends phase marks, if anywhere.
    public var marksPath: String?

    /// A load of `rate` operations a second for `seconds`, `readFraction` of them reads.
    public init(client: StrataClient, rate: Int, seconds: Int, readFraction: Double = 0.5, valueSize: Int = 100, marksPath: String? = nil) {
        self.client = client
        self.rate = max(rate, 1)
        self.seconds = max(seconds, 1)
        self.readFraction = min(max(readFraction, 0), 1)
        self.valueSize = max(valueSize, 16)
        self.marksPath = marksPath
    }

    /// The key and value of write number `index`.
    static func entry(_ index: Int, valueSize: Int) -> (key: [UInt8], value: [UInt8]) {
        let name = Array("membership:\(index)".utf8)
        return (name, name + [UInt8](repeating: UInt8(ascii: "."), count: max(valueSize - name.count, 0)))
    }

    /// One operation's outcome.
    struct Sample: Sendable {
        /// Its scheduled start, in milliseconds since 1970.
        var startMs: Int64
        var latency: Duration
        var failure: String?
        var wrongRead: Bool
    }

    /// Runs the load, then reads back every acknowledged write.
    public func run() async throws -> Result {
        let total = rate * seconds
        let interval = Duration.seconds(1) / rate
        let acknowledged = AcknowledgedWrites()
        let startWall = Date().timeIntervalSince1970
        let start = ContinuousClock.now
        var samples: [Sample] = []
        samples.reserveCapacity(total)
        let client = self.client
        let valueSize = self.valueSize
        try await withThrowingTaskGroup(of: Sample.self) { group in
            var writes = 0
            var generator = SystemRandomNumberGenerator()
            for index in 0..<total {
                let scheduled = start + interval * index
                try await Task.sleep(until: scheduled, clock: .continuous)
                let startMs = Int64((startWall + Double((interval * index) / .microseconds(1)) / 1_000_000) * 1000)
                let readOf: Int? =
                    Double.random(in: 0..<1, using: &generator) < readFraction
                    ? acknowledged.indexes.withLock { $0.isEmpty ? nil : $0[Int.random(in: 0..<$0.count, using: &generator)] } : nil
                let writeIndex = readOf == nil ? writes : -1
                if readOf == nil { writes += 1 }
                group.addTask {
                    var sample = Sample(startMs: startMs, latency: .zero, failure: nil, wrongRead: false)
                    do {
                        if let readOf {
                            let (key, value) = Self.entry(readOf, valueSize: valueSize)
                            sample.wrongRead = try await client.get(StrataKey(key)) != value
                        } else {
                            let (key, value) = Self.entry(writeIndex, valueSize: valueSize)
                            try await client.set(StrataKey(key), value)
                            acknowledged.indexes.withLock { $0.append(writeIndex) }
                        }
                    } catch {
                        sample.failure = "\(error)"
                    }
                    sample.latency = ContinuousClock.now - scheduled
                    return sample
                }
            }
            for try await sample in group { samples.append(sample) }
        }
        let written = acknowledged.indexes.withLock { $0 }
        let lost = try await readBack(written)
        let failures = samples.compactMap(\.failure)
        return Result(
            phases: Self.phases(samples, marks: Self.marks(at: marksPath)), acknowledged: written.count, lost: lost,
            failureSamples: Array(failures.prefix(5)),
            p99PerSecond: Dictionary(grouping: samples) { $0.startMs / 1000 }.map { second, inSecond in
                let latencies = inSecond.map(\.latency).sorted()
                return (second * 1000, latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
            }.sorted { $0.0 < $1.0 })
    }

    /// Writes `megabytes` of `preload:<n>` keys (random values of `valueSize` bytes, so compression
    /// does not shrink what moves) in MSETs of 256 keys,
    /// eight at a time, so a membership change has data to move; returns the keys written.
    public static func preload(client: StrataClient, megabytes: Int, valueSize: Int = 1024) async throws -> Int {
        let keys = megabytes * 1_048_576 / max(valueSize, 1)
        let batch = 256
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (number, first) in stride(from: 0, to: keys, by: batch).enumerated() {
                if number >= 8 { try await group.next() }
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    try await client.multiSet((first..<min(first + batch, keys)).map { number in
                        let value = (0..<(valueSize + 7) / 8).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
                        return (StrataKey("preload:\(number)"), Array(value.prefix(valueSize)))
                    })
                }
            }
            try await group.waitForAll()
        }
        return keys
    }

    /// How many of the acknowledged writes no longer read back their value (MGET in batches of 500).
    func readBack(_ written: [Int]) async throws -> Int {
        var lost = 0
        for batch in stride(from: 0, to: written.count, by: 500) {
            let indexes = written[batch..<min(batch + 500, written.count)]
            let entries = indexes.map { Self.entry($0, valueSize: valueSize) }
            let values = try await client.multiGet(entries.map { StrataKey($0.key) })
            lost += zip(entries, values).filter { $0.value != $1 }.count
        }
        return lost
    }

    /// The marks file's `(milliseconds, name)` lines, in order; none without a file.
    static func marks(at path: String?) -> [(Int64, String)] {
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, let at = Int64(fields[0]) else { return nil }
            return (at, String(fields[1]))
        }.sorted { $0.0 < $1.0 }
    }

    /// The samples split at the marks: `before` up to the first mark, then one phase per mark.
    static func phases(_ samples: [Sample], marks: [(Int64, String)]) -> [Phase] {
        let boundaries = [(Int64.min, "before")] + marks
        return boundaries.indices.map { index in
            let from = boundaries[index].0
            let to = index + 1 < boundaries.count ? boundaries[index + 1].0 : Int64.max
            let inPhase = samples.filter { $0.startMs >= from && $0.startMs < to }
            let latencies = inPhase.map(\.latency).sorted()
            func percentile(_ p: Double) -> Duration {
                latencies.isEmpty ? .zero : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
            }
            return Phase(
                name: boundaries[index].1, operations: inPhase.count, failures: inPhase.filter { $0.failure != nil }.count,
                wrongReads: inPhase.filter(\.wrongRead).count, p50: percentile(0.5), p99: percentile(0.99),
                max: latencies.last ?? .zero)
        }
    }
}

/// The write numbers acknowledged so far, shared by the load's tasks.
final class AcknowledgedWrites: Sendable {
    let indexes = Mutex<[Int]>([])
}
