import StrataClient
import Synchronization

/// Many clients reading one key that expires every `ttl`: how many loads reach
/// storage with the cache's coalescing, and with a plain cache-aside map where
/// every reader that finds the entry expired loads it itself.
public struct StampedeBenchmark: Sendable {
    /// Loads that reached storage and reads served, for one run.
    public struct Result: Sendable {
        /// Whether reads went through `StrataCache` (coalesced) or a plain map.
        public var coalescing: Bool
        /// Storage loads.
        public var loads: Int
        /// Reads answered.
        public var reads: Int
        /// Expiry periods covered.
        public var periods: Int
    }

    /// Storage.
    public var client: StrataClient
    /// Concurrent readers.
    public var readers: Int
    /// How long to run.
    public var duration: Duration
    /// The key's time to live in the cache.
    public var ttl: Duration

    /// A stampede of `readers` on one key for `duration`, the entry living `ttl`.
    public init(client: StrataClient, readers: Int = 64, duration: Duration = .seconds(10), ttl: Duration = .seconds(1)) {
        self.client = client
        self.readers = readers
        self.duration = duration
        self.ttl = ttl
    }

    private final class Counters: Sendable {
        let loads = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        /// The plain cache-aside entry.
        let plain = Mutex<(value: [UInt8]?, expires: ContinuousClock.Instant)>((nil, .now))
    }

    /// Runs with or without coalescing.
    public func run(coalescing: Bool) async throws -> Result {
        let key: StrataKey = "stampede:hot"
        try await client.set(key, [UInt8](repeating: 120, count: 100))
        let counters = Counters()
        let client = self.client
        let ttl = self.ttl
        let end = ContinuousClock.now + duration
        // No stale serving and no jitter: the entry simply expires every `ttl`.
        let cache = StrataCache<String, [UInt8], ContinuousClock>(
            maxBytes: 1 << 20, policy: CachePolicy(softTTL: ttl, hardTTL: ttl, staleIfError: .zero, jitter: 0),
            clock: ContinuousClock()) { key, value in key.utf8.count + (value?.count ?? 0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<readers {
                group.addTask {
                    while ContinuousClock.now < end {
                        if coalescing {
                            _ = try await cache.get(key.description) { key in
                                counters.loads.add(1, ordering: .relaxed)
                                return Loaded(value: try await client.get(StrataKey(key)), version: 0)
                            }
                        } else {
                            let fresh = counters.plain.withLock { $0.expires > .now ? $0.value : nil }
                            if fresh == nil {
                                counters.loads.add(1, ordering: .relaxed)
                                let value = try await client.get(key)
                                counters.plain.withLock { $0 = (value, .now + ttl) }
                            }
                        }
                        counters.reads.add(1, ordering: .relaxed)
                        // A reader's think time: a few requests per millisecond in all.
                        try await Task.sleep(for: .microseconds(200))
                    }
                }
            }
            try await group.waitForAll()
        }
        return Result(
            coalescing: coalescing, loads: counters.loads.load(ordering: .relaxed),
            reads: counters.reads.load(ordering: .relaxed), periods: Int(duration / ttl))
    }
}
