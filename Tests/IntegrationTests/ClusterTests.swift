import Foundation
import Testing
import StrataCluster
import StrataWire

/// A coordinator and three nodes as real processes on 127.0.0.1.
@Suite("Cluster: coordinator, nodes, failure detection", .serialized)
struct ClusterTests {
    struct Cluster {
        let directory: String
        let config: ClusterConfig
        var coordinator: NodeProcess
        var nodes: [String: NodeProcess]

        /// Starts the cluster; with `internalSecret` its nodes replicate.
        static func start(
            downAfterMs: Int = 1000, heartbeatIntervalMs: Int = 100, replicationFactor: Int = 2,
            internalSecret: String? = nil, nodeArguments: [String] = [], tenants: [String: ClusterConfig.Tenant] = [:],
            maxLagMs: Int? = nil, splitShardsAboveMB: Double? = nil
        ) throws -> Cluster {
            let directory = NodeProcess.temporaryDirectory()
            let coordinatorPort = NodeProcess.freePort()
            var config = ClusterConfig(
                coordinator: .init(
                    host: "127.0.0.1", port: UInt16(coordinatorPort), metricsPort: UInt16(NodeProcess.freePort()),
                    dataDir: directory + "/coordinator", heartbeatIntervalMs: heartbeatIntervalMs,
                    suspectAfterMs: 3 * heartbeatIntervalMs, downAfterMs: downAfterMs),
                nodes: ["n1", "n2", "n3"].map {
                    .init(id: $0, host: "127.0.0.1", dataPort: UInt16(NodeProcess.freePort()), metricsPort: UInt16(NodeProcess.freePort()),
                          dataDir: directory + "/" + $0, zone: $0)
                },
                replicationFactor: replicationFactor, shardCount: 16, vnodes: 64, tenants: tenants, defaultTenant: .loopback)
            config.internalSecret = internalSecret
            config.maxLagMs = maxLagMs
            config.splitShardsAboveMB = splitShardsAboveMB
            let coordinator = try NodeProcess.coordinator(config: config, directory: directory)
            var nodes: [String: NodeProcess] = [:]
            for node in config.nodes {
                nodes[node.id] = try NodeProcess.clusterNode(
                    config: config, id: node.id, directory: directory, extra: nodeArguments)
            }
            let cluster = Cluster(directory: directory, config: config, coordinator: coordinator, nodes: nodes)
            try cluster.waitUntilAllUp()
            return cluster
        }

        /// Waits until the coordinator's map has every node up (nodes started
        /// one after another may have been suspected meanwhile).
        func waitUntilAllUp() throws {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if try map().nodes.allSatisfy({ $0.state == .up }) { return }
                usleep(50_000)
            }
            throw RESPTestClient.Failure(description: "not every node came up: \(try map().nodes.map { "\($0.id)=\($0.state)" })")
        }

        func map() throws -> ClusterMap {
            guard case .bulkString(let json) = try coordinator.client().call("CLUSTER", "MAP") else {
                throw RESPTestClient.Failure(description: "CLUSTER MAP did not return a bulk string")
            }
            return try ClusterMap(jsonData: Data(json.readableBytesView))
        }

        func cleanup() {
            for node in nodes.values { node.cleanup() }
            coordinator.cleanup()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Sends a command to `port`, following MOVED redirects (at most 3) and
    /// retrying TRYAGAIN (a node between leases or maps) for up to 5 s, as a client would.
    /// A MOVED loop (two nodes whose maps disagree for a moment after a failover
    /// point at each other) or a MOVED older than one already seen is not
    /// followed: like TRYAGAIN, it is retried from `port` after a pause.
    static func callFollowingMoved(_ port: Int, retryTryAgain: Bool = true, _ arguments: String...) throws -> RESPValue {
        let deadline = Date().addingTimeInterval(retryTryAgain ? 5 : 0)
        var target = port
        var redirects = 0
        var visited: Set<Int> = []
        var newestEpoch: UInt64 = 0
        while true {
            let reply = try RESPTestClient(port: target).call(arguments.map { Array($0.utf8) })
            guard let text = reply.text, reply.isError else { return reply }
            if text.hasPrefix("TRYAGAIN "), Date() < deadline {
                usleep(50_000)
                continue
            }
            guard text.hasPrefix("MOVED ") else { return reply }
            let parts = text.split(separator: " ")
            let epoch = parts.count >= 4 ? UInt64(parts[3]) ?? 0 : 0
            if !visited.insert(target).inserted || epoch < newestEpoch, Date() < deadline {
                (target, redirects, visited, newestEpoch) = (port, 0, [], 0)
                usleep(50_000)
                continue
            }
            newestEpoch = max(newestEpoch, epoch)
            redirects += 1
            guard redirects <= 3 else { throw RESPTestClient.Failure(description: "too many redirects for \(arguments)") }
            target = Int(parts[2].split(separator: ":")[1])!
        }
    }

    @Test("keys written through any node's MOVED redirect read back; the coordinator keeps its map across restarts; a killed node is marked down and its shards move")
    func clusterLifecycle() throws {
        let cluster = try Cluster.start()
        defer { cluster.cleanup() }
        let ports = cluster.config.nodes.map { Int($0.dataPort) }

        // Writes through any node, following MOVED, read back through any other.
        for i in 0..<40 {
            #expect(try Self.callFollowingMoved(ports[i % 3], "SET", "key\(i)", "value\(i)").text == "OK")
        }
        for i in 0..<40 {
            #expect(try Self.callFollowingMoved(ports[(i + 1) % 3], "GET", "key\(i)").text == "value\(i)")
        }

        // Coordinator restart keeps the epoch and the assignments.
        let before = try cluster.map()
        try cluster.coordinator.restart()
        let after = try cluster.map()
        #expect(after == before)

        // Kill n3: it becomes down, the epoch advances, its shards move to n1 and n2.
        let killedAt = Date()
        kill(cluster.nodes["n3"]!.process.processIdentifier, SIGKILL)
        var downMap: ClusterMap?
        while Date().timeIntervalSince(killedAt) < 15 {
            let map = try cluster.map()
            if map.node("n3")?.state == .down {
                downMap = map
                break
            }
            usleep(50_000)
        }
        let detected = Date().timeIntervalSince(killedAt)
        let map = try #require(downMap, "n3 was never marked down")
        print("n3 marked down \(String(format: "%.2f", detected)) s after SIGKILL (down timeout 1.0 s)")
        #expect(map.epoch > after.epoch)
        #expect(map.shards(ownedBy: "n3").isEmpty)

        // The surviving nodes adopt the new map: writes to shards that moved succeed on their new primaries.
        var moved = 0
        for i in 0..<40 {
            let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array("new\(i)".utf8))
            guard before.shard(forHash: hash).primary == "n3" else { continue }
            moved += 1
            var reply: RESPValue = .null
            for _ in 0..<40 {
                // Until n1 adopts the new map (at its next heartbeat) it may still redirect to the dead n3.
                reply = (try? Self.callFollowingMoved(ports[0], "SET", "new\(i)", "v")) ?? .null
                if reply.text == "OK" { break }
                usleep(100_000)
            }
            #expect(reply.text == "OK", "new\(i): \(reply)")
            // n2 too may still redirect to the dead n3 until its next heartbeat.
            var read: RESPValue = .null
            for _ in 0..<40 {
                read = (try? Self.callFollowingMoved(ports[1], "GET", "new\(i)")) ?? .null
                if read.text == "v" { break }
                usleep(100_000)
            }
            #expect(read.text == "v", "new\(i): \(read)")
        }
        #expect(moved > 0)
        let status = try cluster.coordinator.client().call("CLUSTER", "NODES").text ?? ""
        #expect(status.contains("down"))
    }
}

@Suite("Coordinator endpoints")
struct CoordinatorEndpointTests {
    @Test("CLUSTER SUBSCRIBE pushes the map now and after each change; HTTP serves /cluster, /health, /metrics")
    func subscriptionAndHTTP() throws {
        let directory = NodeProcess.temporaryDirectory()
        let config = ClusterConfig(
            coordinator: .init(
                host: "127.0.0.1", port: UInt16(NodeProcess.freePort()), metricsPort: UInt16(NodeProcess.freePort()),
                dataDir: directory + "/coordinator", heartbeatIntervalMs: 100, suspectAfterMs: 300, downAfterMs: 800),
            nodes: ["n1", "n2"].map {
                .init(id: $0, host: "127.0.0.1", dataPort: UInt16(NodeProcess.freePort()), dataDir: directory + "/" + $0)
            },
            replicationFactor: 1, shardCount: 8, vnodes: 32)
        let coordinator = try NodeProcess.coordinator(config: config, directory: directory)
        defer { coordinator.cleanup() }

        let subscriber = try coordinator.client()
        try subscriber.send([Array("CLUSTER".utf8), Array("SUBSCRIBE".utf8)])
        func nextMap() throws -> ClusterMap {
            let message = try #require(try subscriber.read()?.elements)
            #expect(message.first?.text == "map")
            guard case .bulkString(let json) = message[1] else { throw RESPTestClient.Failure(description: "no map payload") }
            return try ClusterMap(jsonData: Data(json.readableBytesView))
        }
        let first = try nextMap()
        #expect(first.epoch >= 1)
        // No node ever heartbeats here: nodes are suspected, then declared down, each change a pushed map.
        var latest = first
        while !latest.nodes.contains(where: { $0.state == .down }) {
            let next = try nextMap()
            #expect(next.epoch > latest.epoch)
            latest = next
        }

        let cluster = try httpGet(port: Int(config.coordinator!.metricsPort!), path: "/cluster")
        #expect(cluster.hasPrefix("HTTP/1.1 200"))
        let body = String(cluster[cluster.range(of: "\r\n\r\n")!.upperBound...])
        #expect(try ClusterMap(jsonData: Data(body.utf8)) == latest)
        #expect(try httpGet(port: Int(config.coordinator!.metricsPort!), path: "/health").hasSuffix("ok\n"))
        let metrics = try httpGet(port: Int(config.coordinator!.metricsPort!), path: "/metrics")
        let samples = try MetricsTests.parse(String(metrics[metrics.range(of: "\r\n\r\n")!.upperBound...]))
        #expect(samples[MetricsTests.Series("strata_map_epoch")] == Double(latest.epoch))
        let down = latest.nodes.filter { $0.state == .down }.count
        #expect([Double(down), 2].contains(samples[MetricsTests.Series("strata_nodes", ["state": "down"])] ?? -1))
        #expect(samples[MetricsTests.Series("strata_map_changes_total")] ?? 0 >= 1)
    }
}
