#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hit-ratio simulation of the cache's eviction policy against plain LRU, on
/// synthetic traces (one entry per key, the cache sized in entries).
public enum HitRatioSimulation {
    /// The policies compared.
    public enum Policy: String, Sendable, CaseIterable {
        /// The cache's policy.
        case s3fifo = "S3-FIFO"
        /// The baseline.
        case lru = "LRU"
    }

    /// Zipf-distributed ranks in `0..<n` (rank 0 the most popular) by inverting a precomputed CDF.
    public struct Zipf: Sendable {
        private let cdf: [Double]
        private var state: UInt64

        /// A generator over `n` keys with exponent `theta`, seeded for repeatable traces.
        public init(n: Int, theta: Double, seed: UInt64) {
            var cdf = [Double](repeating: 0, count: n)
            var sum = 0.0
            for rank in 0..<n {
                sum += 1 / pow(Double(rank + 1), theta)
                cdf[rank] = sum
            }
            self.cdf = cdf.map { $0 / sum }
            state = seed
        }

        /// Restarts the random stream from `seed` (the table is kept).
        public mutating func reseed(_ seed: UInt64) { state = seed }

        /// The next rank.
        public mutating func next() -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let u = Double(z >> 11) / Double(1 << 53)
            var low = 0
            var high = cdf.count - 1
            while low < high {
                let mid = (low + high) / 2
                if cdf[mid] < u { low = mid + 1 } else { high = mid }
            }
            return low
        }
    }

    /// A trace of `accesses` key ids: Zipf(`theta`) over `keys` keys; with
    /// `scanEvery > 0`, every `scanEvery`-th access instead reads the next key of
    /// a sequential scan over keys never otherwise read (cache pollution).
    public static func trace(keys: Int, theta: Double, accesses: Int, scanEvery: Int = 0, seed: UInt64 = 42) -> [Int] {
        var zipf = Zipf(n: keys, theta: theta, seed: seed)
        var scan = keys
        var trace: [Int] = []
        trace.reserveCapacity(accesses)
        for index in 0..<accesses {
            if scanEvery > 0, index % scanEvery == 0 {
                trace.append(scan)
                scan += 1
            } else {
                trace.append(zipf.next())
            }
        }
        return trace
    }

    /// The fraction of `trace` accesses that hit a cache of `capacity` entries under `policy`,
    /// counted after the first `warmUp` accesses.
    public static func hitRatio(_ policy: Policy, trace: [Int], capacity: Int, warmUp: Int) -> Double {
        var hits = 0
        var counted = 0
        switch policy {
        case .s3fifo:
            var cache = S3FIFO<Int>(capacity: capacity)
            for (index, key) in trace.enumerated() {
                let hit = cache.contains(key)
                if hit { cache.touch(key) } else { _ = cache.insert(key, size: 1) }
                if index >= warmUp {
                    counted += 1
                    if hit { hits += 1 }
                }
            }
        case .lru:
            var cache = LRUPolicy<Int>(capacity: capacity)
            for (index, key) in trace.enumerated() {
                let hit = cache.access(key)
                if !hit { cache.insert(key, size: 1) }
                if index >= warmUp {
                    counted += 1
                    if hit { hits += 1 }
                }
            }
        }
        return counted == 0 ? 0 : Double(hits) / Double(counted)
    }
}
