import StrataClient
import StrataCluster

/// How long a write takes to reach its shard's replica: an open-loop writer
/// sets keys at a fixed rate through `StrataClient`; every `sampleEvery`-th
/// acknowledged write is followed by `WAITSEQ shard version` on a replica of
/// its shard, which answers once the replica applied it. A sample is the time
/// from the write's acknowledgement to that answer (replication plus one round
/// trip to the replica), so two builds can be compared with the same tool.
public struct ReplicationLatencyBenchmark: Sendable {
    /// Percentiles of the samples.
    public struct Result: Sendable {
        /// Writes acknowledged.
        public var writes: Int
        /// Samples taken (writes followed to a replica).
        public var samples: Int
        /// Samples the replica had not reached within a second.
        public var timedOut: Int
        /// Median latency.
        public var p50: Duration
        /// 99th percentile latency.
        public var p99: Duration
    }

    /// The client writing and probing.
    public var client: StrataClient
    /// Writes per second.
    public var rate: Int
    /// Seconds of writing.
    public var seconds: Int
    /// Every how many writes one is followed to its replica.
    public var sampleEvery: Int

    /// A benchmark of `rate` writes a second for `seconds`, one in `sampleEvery` followed.
    public init(client: StrataClient, rate: Int, seconds: Int, sampleEvery: Int = 5) {
        self.client = client
        self.rate = max(rate, 1)
        self.seconds = max(seconds, 1)
        self.sampleEvery = max(sampleEvery, 1)
    }

    /// Runs the writer and the probes; returns the percentiles.
    public func run() async throws -> Result {
        let map = try await client.clusterMap()
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
        let total = rate * seconds
        let interval = Duration.seconds(1) / rate
        let start = ContinuousClock.now
        var samples: [Duration] = []
        var timedOut = 0
        var writes = 0
        /// What following one write to its replica gave.
        enum Probe: Sendable {
            /// The replica answered with the write applied, this long after the acknowledgement.
            case reached(Duration)
            /// The replica had not applied it when WAITSEQ's time was up.
            case missed
        }
        try await withThrowingTaskGroup(of: Probe?.self) { group in
            for index in 0..<total {
                // Open loop: each write starts at its scheduled time, whatever the others do.
                try await Task.sleep(until: start + interval * index, clock: .continuous)
                let key = Array("replication-latency:\(index % 100_000)".utf8)
                let sampled = index % sampleEvery == 0
                group.addTask {
                    let (_, version) = try await client.execute(
                        [Array("SET".utf8), key, value], key: key, isWrite: true)
                    guard sampled, let version else { return nil }
                    let acknowledged = ContinuousClock.now
                    let shard = map.shard(forHash: PlacementKey.hash(tenant: Array("default".utf8), key: key, placement: .spread))
                    guard let replica = shard.replicas.dropFirst().first else { return nil }
                    let reply = try await client.execute(
                        [Array("WAITSEQ".utf8), Array(String(shard.id.rawValue).utf8), Array(String(version).utf8), Array("1000".utf8)],
                        on: replica)
                    guard case .integer(let position) = reply, position >= Int64(version) else { return .missed }
                    return .reached(ContinuousClock.now - acknowledged)
                }
            }
            for try await probe in group {
                writes += 1
                switch probe {
                case .reached(let latency): samples.append(latency)
                case .missed: timedOut += 1
                case nil: break
                }
            }
        }
        samples.sort()
        func percentile(_ p: Double) -> Duration {
            samples.isEmpty ? .zero : samples[min(samples.count - 1, Int(Double(samples.count) * p))]
        }
        return Result(writes: writes, samples: samples.count, timedOut: timedOut, p50: percentile(0.5), p99: percentile(0.99))
    }
}
