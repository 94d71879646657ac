import StrataClient

/// Round-trip latency of `StrataClient` get and set, one request at a time
/// (the client-library counterpart of `redis-benchmark -c 1`).
public struct ClientLatencyBenchmark: Sendable {
    /// Percentiles of one operation's round trips.
    public struct Result: Sendable {
        /// `get` or `set`.
        public var operation: String
        /// Round trips measured.
        public var requests: Int
        /// Median latency.
        public var p50: Duration
        /// 99th percentile latency.
        public var p99: Duration
        /// Requests per second (one in flight).
        public var requestsPerSecond: Double
    }

    /// The client to measure.
    public var client: StrataClient
    /// Round trips per operation.
    public var requests: Int
    /// Bytes per value.
    public var valueSize: Int
    /// Keys drawn from `key:0 ..< key:keyspace` (as `redis-benchmark -r`).
    public var keyspace: Int

    /// A benchmark of `requests` sets then gets through `client`.
    public init(client: StrataClient, requests: Int, valueSize: Int = 100, keyspace: Int = 100_000) {
        self.client = client
        self.requests = requests
        self.valueSize = valueSize
        self.keyspace = keyspace
    }

    /// Runs sets, then gets of the same key space (so most gets hit), and returns both results;
    /// with `onClientExecutor`, on the client's event loop (`StrataClient.preferredExecutor`).
    public func run(onClientExecutor: Bool = false) async throws -> [Result] {
        if onClientExecutor {
            return try await withTaskExecutorPreference(client.preferredExecutor) { try await measure() }
        }
        return try await measure()
    }

    private func measure() async throws -> [Result] {
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueSize)
        var generator = SystemRandomNumberGenerator()
        var results: [Result] = []
        for operation in ["set", "get"] {
            var samples: [Duration] = []
            samples.reserveCapacity(requests)
            let started = ContinuousClock.now
            for _ in 0..<requests {
                let key: StrataKey = "key:\(Int.random(in: 0..<keyspace, using: &generator))"
                let begin = ContinuousClock.now
                if operation == "set" {
                    try await client.set(key, value)
                } else {
                    _ = try await client.get(key)
                }
                samples.append(ContinuousClock.now - begin)
            }
            let elapsed = ContinuousClock.now - started
            samples.sort()
            results.append(Result(
                operation: operation, requests: requests, p50: samples[samples.count / 2],
                p99: samples[min(samples.count * 99 / 100, samples.count - 1)],
                requestsPerSecond: Double(requests) / (Double(elapsed / .microseconds(1)) / 1_000_000)))
        }
        return results
    }
}
