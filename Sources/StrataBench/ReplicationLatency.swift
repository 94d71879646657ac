import NIOCore
import NIOPosix
import StrataClient
import StrataCluster

/// How long a write takes to reach its shard's replica: an open-loop writer
/// sets keys at a fixed rate through `StrataClient`; every `sampleEvery`-th
/// acknowledged write is followed by `WAITSEQ shard version` on a replica of
/// its shard, which answers once the replica applied it. A sample is the time
/// from the write's acknowledgement to that answer (replication plus one round
/// trip to the replica), so two builds can be compared with the same tool.
/// At most one probe per replica is out at a time, on a connection of its
/// own (`ProbeConnections`); a sampled write finding its replica's probe out
/// is not followed. A node holds the rest of a connection's pipeline behind a
/// waiting `WAITSEQ`, so probes sharing a connection would time each other,
/// and an older build that polls for `WAITSEQ` on a storage thread would be
/// flooded by many at once.
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
        let probes = ProbeConnections(map: map)
        defer { probes.close() }
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
                    guard let connection = try await probes.take(replica) else { return nil }
                    // A probe that gets no answer counts as missed (its connection is dropped).
                    guard let reply = try? await connection.send(
                        ["WAITSEQ", String(shard.id.rawValue), String(version), "1000"],
                        deadline: .now + .seconds(2))
                    else {
                        await probes.drop(connection, of: replica)
                        return .missed
                    }
                    await probes.give(connection, of: replica)
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

/// One connection to each replica for the probes, and whether a probe is out on it.
actor ProbeConnections {
    private let map: ClusterMap
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var idle: [NodeID: RESPConnection] = [:]
    private var busy: Set<NodeID> = []
    private var all: [RESPConnection] = []

    init(map: ClusterMap) {
        self.map = map
    }

    /// The connection to `node` for a probe, or `nil` while another probe is out on it.
    func take(_ node: NodeID) async throws -> RESPConnection? {
        guard busy.insert(node).inserted else { return nil }
        if let connection = idle.removeValue(forKey: node) { return connection }
        guard let address = map.node(node) else { throw StrataError(.unavailable, "\(node) is not in the map", node: node) }
        do {
            let connection = try await RESPConnection.connect(
                host: address.host, port: Int(address.dataPort), node: node, group: group, timeout: .seconds(1))
            all.append(connection)
            return connection
        } catch {
            busy.remove(node)
            throw error
        }
    }

    /// The probe on `connection` was answered: the next one may go.
    func give(_ connection: RESPConnection, of node: NodeID) {
        idle[node] = connection
        busy.remove(node)
    }

    /// The probe on `connection` got no answer: it is closed, and the next probe opens another.
    func drop(_ connection: RESPConnection, of node: NodeID) {
        connection.close()
        busy.remove(node)
    }

    /// Closes every connection and the event loop.
    nonisolated func close() {
        Task { await self.closeAll() }
    }

    private func closeAll() async {
        for connection in all { connection.close() }
        try? await group.shutdownGracefully()
    }
}
