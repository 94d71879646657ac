import Foundation
import StrataClient
import StrataCluster
import Synchronization
import Testing

/// The client against two nodes whose maps disagree, as they do for a moment
/// after a failover: scripted servers stand in for the nodes (and the
/// coordinator) so that the race is there on every run.
@Suite("Client redirects between disagreeing nodes")
struct ClientRedirectTests {
    /// What the scripted nodes were asked.
    final class Log: Sendable {
        let sets = Mutex<[String: Int]>([:])
        let mapFetches = Atomic<Int>(0)

        func recordSet(on node: String) -> Int {
            sets.withLock { $0[node, default: 0] += 1; return $0[node]! }
        }
    }

    /// A coordinator that serves `map` (its fetches counted) and two nodes `a` and `b`.
    struct Setup {
        let coordinator: ScriptedRESPServer
        let a: ScriptedRESPServer
        let b: ScriptedRESPServer

        func stop() { [coordinator, a, b].forEach { $0.stop() } }
    }

    /// A write's answer under `REQID`: `[+OK, shard 0, version 1]`.
    static let written = "*3\r\n+OK\r\n:0\r\n:1\r\n"

    /// Scripted nodes: `setReply(node, nth SET it got, a's port, b's port)` answers SETs; anything else is `+OK`.
    static func start(
        log: Log, shardEpoch: UInt64, primary: NodeID, setReply: @escaping @Sendable (String, Int, _ a: Int, _ b: Int) -> String
    ) throws -> Setup {
        let ports = Mutex<(a: Int, b: Int)>((0, 0))
        func node(_ name: String) throws -> ScriptedRESPServer {
            try ScriptedRESPServer { arguments in
                // A client's write comes as `REQID <id> SET …`.
                guard arguments.prefix(3).contains(where: { $0.uppercased() == "SET" }) else { return ScriptedRESPServer.ok }
                let (a, b) = ports.withLock { ($0.a, $0.b) }
                return setReply(name, log.recordSet(on: name), a, b)
            }
        }
        let a = try node("a")
        let b = try node("b")
        ports.withLock { $0 = (a.port, b.port) }
        let nodes = [
            ClusterNode(id: "a", host: "127.0.0.1", dataPort: UInt16(a.port)),
            ClusterNode(id: "b", host: "127.0.0.1", dataPort: UInt16(b.port)),
        ]
        let boot = try ClusterMap.bootstrap(nodes: nodes, shardCount: 1, replicationFactor: 2, vnodes: 4)
        let replicas: [NodeID] = primary == "a" ? ["a", "b"] : ["b", "a"]
        let shard = ShardAssignment(
            id: boot.shards[0].id, range: boot.shards[0].range, replicas: replicas, epoch: shardEpoch, inSync: Set(replicas))
        let map = try ClusterMap(epoch: shardEpoch, nodes: boot.nodes, shards: [shard], replicationFactor: 2, vnodes: 4)
        let json = String(decoding: try map.jsonData(), as: UTF8.self)
        let coordinator = try ScriptedRESPServer { arguments in
            guard arguments.prefix(2).map({ $0.uppercased() }) == ["CLUSTER", "MAP"] else {
                return "-ERR not scripted\r\n"
            }
            log.mapFetches.add(1, ordering: .relaxed)
            return ScriptedRESPServer.bulk(json)
        }
        return Setup(coordinator: coordinator, a: a, b: b)
    }

    static func client(_ setup: Setup) throws -> StrataClient {
        var configuration = StrataClientConfiguration(source: .coordinator(host: "127.0.0.1", port: setup.coordinator.port))
        configuration.maxAttempts = 50
        configuration.retryFloor = 1000
        configuration.requestTimeout = .seconds(10)
        return try StrataClient(configuration: configuration)
    }

    @Test("two nodes answering MOVED at each other: the client fetches the map instead of following them round, and the write lands once a node catches up")
    func movedLoop() async throws {
        let log = Log()
        // a and b point at each other (same epoch) until the client has fetched the map twice.
        let setup = try Self.start(log: log, shardEpoch: 5, primary: "a") { node, _, a, b in
            if node == "a", log.mapFetches.load(ordering: .relaxed) >= 2 { return Self.written }
            return "-MOVED 0 127.0.0.1:\(node == "a" ? b : a) 5\r\n"
        }
        defer { setup.stop() }
        let client = try Self.client(setup)
        try await client.set("key", "value")
        #expect(log.mapFetches.load(ordering: .relaxed) >= 2)
        // A loop is noticed when a node answers MOVED a second time: never more than one round.
        #expect(client.statistics.redirects <= 2 * client.statistics.attempts)
    }

    @Test("a node behind the client's map redirects to an older copy: the client does not follow it, and asks the map's primary again")
    func staleRedirect() async throws {
        let log = Log()
        // The client's map (epoch 6) says a leads; a still has epoch 5 (b led) for its first 3 SETs.
        let setup = try Self.start(log: log, shardEpoch: 6, primary: "a") { node, count, a, b in
            if node == "a" { return count > 3 ? Self.written : "-MOVED 0 127.0.0.1:\(b) 5\r\n" }
            return "-MOVED 0 127.0.0.1:\(a) 6\r\n"
        }
        defer { setup.stop() }
        let client = try Self.client(setup)
        try await client.set("key", "value")
        #expect(log.sets.withLock { $0["a"] } == 4)
        #expect(log.sets.withLock { $0["b"] } == nil, "the stale redirect toward b was not followed")
    }
}
