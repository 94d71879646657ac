import Foundation
import StrataCluster
import StrataWire
import Testing

/// Read replicas following their primaries' logs, on real processes.
@Suite("Replication", .serialized)
struct ReplicationTests {
    static let secret = "test-internal-secret"

    /// `[last sequence, record count, checksum]` of a shard on the node listening on `port`.
    static func checksum(_ shard: ShardID, port: Int) throws -> [Int64] {
        let client = try RESPTestClient(port: port)
        _ = try client.call("AUTH", "@internal", secret)
        guard case .array(let fields) = try client.call("SHARDCHECKSUM", String(shard.rawValue)) else {
            throw RESPTestClient.Failure(description: "SHARDCHECKSUM failed")
        }
        return fields.map { if case .integer(let value) = $0 { value } else { -1 } }
    }

    /// Waits until every shard's replicas report the primary's checksum
    /// (only shards whose primary is not in `excludingPrimaries`).
    static func waitForConvergence(_ cluster: ClusterTests.Cluster, excludingPrimaries: Set<NodeID> = []) throws {
        let map = try cluster.map()
        let deadline = Date().addingTimeInterval(20)
        var pending: [String] = []
        repeat {
            pending = []
            for shard in map.shards where !excludingPrimaries.contains(shard.primary!) {
                let ports = shard.replicas.map { Int(map.node($0)!.dataPort) }
                let sums = try ports.map { try checksum(shard.id, port: $0) }
                if Set(sums).count != 1 { pending.append("shard \(shard.id): \(sums)") }
            }
            if pending.isEmpty { return }
            usleep(50_000)
        } while Date() < deadline
        throw RESPTestClient.Failure(description: "replicas did not converge: \(pending)")
    }

    @Test("replicas converge to their primaries' checksums, serve READONLY reads, and a killed replica catches up from the log")
    func replicasFollowTheLog() throws {
        // Down after 60 s: the killed node keeps its shards, so it must catch up rather than be replaced.
        let cluster = try ClusterTests.Cluster.start(downAfterMs: 60_000, internalSecret: Self.secret)
        defer { cluster.cleanup() }
        let entry = Int(cluster.config.nodes[0].dataPort)
        for index in 0..<300 {
            let reply = try ClusterTests.callFollowingMoved(entry, "SET", "key:\(index)", "value-\(index)")
            #expect(reply.text == "OK")
        }
        try Self.waitForConvergence(cluster)

        // The log is for nodes only: a tenant cannot fetch it, a wrong secret is refused.
        let outsider = try RESPTestClient(port: entry)
        #expect(try outsider.call("REPLFETCH", "0", "0").isError)
        #expect(try outsider.call("AUTH", "@internal", "wrong").isError)
        #expect(try outsider.call("SHARDCHECKSUM", "0").isError)

        // A replica serves the key under READONLY, with the primary's version.
        let map = try cluster.map()
        let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array("key:7".utf8), placement: .spread)
        let shard = map.shard(forHash: hash)
        let replica = try RESPTestClient(port: Int(map.node(shard.replicas[1])!.dataPort))
        #expect(try replica.call("GET", "key:7").isError, "without READONLY a replica redirects")
        #expect(try replica.call("READONLY").text == "OK")
        #expect(try replica.call("GET", "key:7").text == "value-7")

        // INFO replication: roles, offsets, followers' positions and lag per shard.
        let primaryPort = Int(map.node(shard.primary!)!.dataPort)
        let primaryInfo = try RESPTestClient(port: primaryPort).call("INFO", "replication").text ?? ""
        let replicaInfo = try replica.call("INFO", "replication").text ?? ""
        let offset = try Self.checksum(shard.id, port: primaryPort)[0]
        #expect(primaryInfo.contains("shard\(shard.id.rawValue):epoch=\(shard.epoch),offset=\(offset),role=primary,\(shard.replicas[1])=\(offset):lag=0:in_sync"), "\(primaryInfo)")
        #expect(replicaInfo.contains("shard\(shard.id.rawValue):epoch=\(shard.epoch),offset=\(offset),role=replica,primary=\(shard.primary!),lag=0,in_sync=1"), "\(replicaInfo)")

        // Kill n2; write through the live primaries (n2's shards cannot take writes until it is back).
        let victim = cluster.nodes["n2"]!
        kill(victim.process.processIdentifier, SIGKILL)
        victim.process.waitUntilExit()
        var written = 0
        for index in 300..<900 {
            let key = "key:\(index)"
            let keyHash = PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread)
            let owner = map.shard(forHash: keyHash)
            guard owner.primary != "n2" else { continue }
            let port = Int(map.node(owner.primary!)!.dataPort)
            #expect(try RESPTestClient(port: port).call("SET", key, "later-\(index)").text == "OK")
            written += owner.replicas.contains("n2") ? 1 : 0
        }
        #expect(written > 50, "enough writes land on shards n2 replicates")
        try victim.restart()
        try Self.waitForConvergence(cluster)
    }

    /// The wiped node also led some shards: it reports lower positions than
    /// before, so the coordinator demotes it and promotes their in-sync
    /// replicas (which never copy the wiped node meanwhile); it then catches
    /// up on every shard it holds.
    @Test("a follower's REPLFETCH … WAIT is held while the primary has nothing new and answered by the next commit of its shard", .timeLimit(.minutes(2)))
    func heldFetch() throws {
        let cluster = try ClusterTests.Cluster.start(downAfterMs: 60_000, internalSecret: Self.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        #expect(try ClusterTests.callFollowingMoved(entry, "SET", "held:0", "before").text == "OK")
        let map = try cluster.map()
        let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array("held:0".utf8), placement: .spread)
        let shard = map.shard(forHash: hash)
        let primaryPort = Int(map.node(shard.primary!)!.dataPort)
        let follower = try RESPTestClient(port: primaryPort, receiveTimeout: .milliseconds(500))
        #expect(try follower.call("AUTH", "@internal", Self.secret).text == "OK")
        let last = try #require(try follower.call("SHARDCHECKSUM", String(shard.id.rawValue)).elements?.first?.int)
        let fetch = [
            "REPLFETCH", shard.replicas[1].rawValue, "WAIT", "10000", String(shard.id.rawValue), String(last),
            String(shard.epoch), String(shard.epoch),
        ]
        // Nothing new: the primary holds the fetch (the read times out with no reply) ...
        // A new map also answers held fetches (empty): then ask again.
        var held = false
        for _ in 0..<10 where !held {
            try follower.send(pipeline: [fetch])
            do {
                let early = try follower.read()?.elements?.first?.elements
                #expect(early?.count == 3, "answered early only without entries, by a map change")
            } catch {
                held = true
            }
        }
        #expect(held, "the primary held the fetch")
        // ... until a write to the shard commits; the answer carries it.
        #expect(try RESPTestClient(port: primaryPort).call("SET", "held:0", "after").text == "OK")
        let reply = try #require(try follower.read()?.elements?.first?.elements)
        #expect(reply.count == 5, "shard, last sequence, epoch, and the one new entry")
        #expect(reply.first?.int == Int64(shard.id.rawValue))
        #expect(reply.count > 3 && reply[3].int == last + 1)
        // A fetch that has something new is answered at once, WAIT or not.
        let behind = fetch.prefix(5) + [String(last), String(shard.epoch), String(shard.epoch)]
        #expect(try follower.call(Array(behind).map { Array($0.utf8) }).elements?.first?.elements?.count == 5)
    }

    @Test("WAITSEQ on a replica holds the rest of its pipeline until the replica applied the shard that far; each WAITSEQ of a pipeline waits for its own", .timeLimit(.minutes(2)))
    func heldWaitForSequence() throws {
        let cluster = try ClusterTests.Cluster.start(downAfterMs: 60_000, internalSecret: Self.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        // Two keys of one shard (a hashtag): two writes, two positions in one log.
        #expect(try ClusterTests.callFollowingMoved(entry, "SET", "{seq}a", "before").text == "OK")
        try Self.waitForConvergence(cluster)
        let map = try cluster.map()
        let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array("seq".utf8), placement: .spread)
        let shard = map.shard(forHash: hash)
        let replica = try RESPTestClient(port: Int(map.node(shard.replicas[1])!.dataPort))
        #expect(try replica.call("READONLY").text == "OK")
        let position = try #require(try replica.call("WAITSEQ", String(shard.id.rawValue), "0", "0").int)
        // Session tokens one and two past what the replica has: each read waits for its write.
        let id = String(shard.id.rawValue)
        try replica.send(pipeline: [
            ["WAITSEQ", id, String(position + 1), "5000"], ["GET", "{seq}a"],
            ["WAITSEQ", id, String(position + 2), "5000"], ["GET", "{seq}b"],
        ])
        let primary = try RESPTestClient(port: Int(map.node(shard.primary!)!.dataPort))
        #expect(try primary.call("SET", "{seq}a", "after").text == "OK")
        // The second write comes later: the second WAITSEQ must still be waiting for it.
        usleep(200_000)
        #expect(try primary.call("SET", "{seq}b", "after").text == "OK")
        #expect(try #require(try replica.read()?.int) >= position + 1)
        #expect(try replica.read()?.text == "after")
        let second = try replica.read()
        #expect(second?.int ?? 0 >= position + 2, "\(String(describing: second)) position \(position)")
        #expect(try replica.read()?.text == "after")
    }

    @Test("a replica paused past maxLagMs leaves the in-sync set while acks=all writes go on, and rejoins once caught up", .timeLimit(.minutes(2)))
    func timeBoundOnReplicaLag() throws {
        // RF 3: with one replica out, the shard still has the two in-sync copies acks=all needs.
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, replicationFactor: 3, internalSecret: Self.secret, maxLagMs: 1000)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let key = "lag-bound-key"
        let shard = try cluster.map().shard(forHash: ClientTests.hash(key))
        let (primary, paused) = (try #require(shard.primary), shard.replicas[1])
        func inSync() throws -> Bool { try cluster.map().shard(shard.id)?.inSync.contains(paused) == true }
        #expect(try inSync())

        let writer = try RESPTestClient(port: ClientTests.port(cluster, primary), receiveTimeout: .seconds(10))
        #expect(try writer.call("CLIENT", "ACKS", "ALL").text == "OK")
        let admin = try RESPTestClient(port: ClientTests.port(cluster, paused))
        #expect(try admin.call("AUTH", "@internal", Self.secret).text == "OK")
        #expect(try admin.call("DEBUG", "FOLLOW-PAUSE", "4000").text == "OK")
        let pausedAt = ContinuousClock.now

        // Writes go on through the pause: the first ones wait for the paused replica until it
        // leaves the in-sync set (after maxLagMs); none fails.
        var written = 0
        var leftAfter: Duration?
        var rejoinedAfter: Duration?
        while ContinuousClock.now - pausedAt < .seconds(20), rejoinedAfter == nil {
            written += 1
            let reply = try writer.call("SET", key, "v\(written)")
            #expect(reply.text == "OK", "write \(written): \(reply)")
            if reply.text != "OK" { break }
            if leftAfter == nil, try !inSync() { leftAfter = ContinuousClock.now - pausedAt }
            if leftAfter != nil, try inSync() { rejoinedAfter = ContinuousClock.now - pausedAt }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let left = try #require(leftAfter, "the paused replica never left the in-sync set")
        #expect(left < .seconds(4), "it left while still paused (after \(left))")
        let rejoined = try #require(rejoinedAfter, "the replica never rejoined the in-sync set")
        #expect(rejoined > .seconds(4), "it rejoined only after the pause (after \(rejoined))")
        print("REPLICA LAG: paused replica left the in-sync set after \(left), rejoined after \(rejoined); \(written) acks=all writes, none failed")
    }

    @Test("a wiped node, behind the primaries' trimmed logs, is demoted and catches up from snapshots")
    func wipedReplicaTakesASnapshot() throws {
        // 8 log entries per shard: 600 writes over 16 shards trim every log well past 0.
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 60_000, internalSecret: Self.secret, nodeArguments: ["--log-retention", "8"])
        defer { cluster.cleanup() }
        let entry = Int(cluster.config.nodes[0].dataPort)
        for index in 0..<600 {
            #expect(try ClusterTests.callFollowingMoved(entry, "SET", "key:\(index)", "v\(index)").text == "OK")
        }
        try Self.waitForConvergence(cluster)

        let victim = cluster.nodes["n3"]!
        victim.stop()
        try FileManager.default.removeItem(atPath: cluster.config.nodes[2].dataDir)
        let before = try cluster.map()
        try victim.restart()
        // The coordinator demotes n3 wherever it led.
        let deadline = Date().addingTimeInterval(10)
        while try cluster.map().shards.contains(where: { $0.primary == "n3" }), Date() < deadline { usleep(50_000) }
        #expect(try cluster.map().shards.allSatisfy { $0.primary != "n3" })
        #expect(before.shards.contains { $0.primary == "n3" })
        try Self.waitForConvergence(cluster)
        #expect(victim.log().contains("installed snapshot"))
        // Writes after the snapshot flow through the log again; nothing was lost; the node serves its shards.
        for index in 600..<700 {
            #expect(try ClusterTests.callFollowingMoved(entry, "SET", "key:\(index)", "v\(index)").text == "OK")
        }
        try Self.waitForConvergence(cluster)
        for index in 0..<700 {
            #expect(try ClusterTests.callFollowingMoved(entry, "GET", "key:\(index)").text == "v\(index)")
        }
        let map = try cluster.map()
        let replica = try RESPTestClient(port: Int(cluster.config.nodes[2].dataPort))
        #expect(try replica.call("READONLY").text == "OK")
        var checked = 0
        for index in 0..<700 {
            let key = "key:\(index)"
            let shard = map.shard(forHash: PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread))
            guard shard.replicas.contains("n3") else { continue }
            #expect(try replica.call("GET", key).text == "v\(index)", "\(key) on the wiped replica")
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("a primary cut off from the coordinator stops taking writes when its lease runs out, and resumes with it; /health and /ready say so")
    func leaseGatesWrites() throws {
        // Down after 1 s, heartbeats every 100 ms: the lease is 800 ms.
        let cluster = try ClusterTests.Cluster.start(internalSecret: Self.secret)
        defer { cluster.cleanup() }
        let entry = Int(cluster.config.nodes[0].dataPort)
        let metrics = Int(try #require(cluster.config.nodes[0].metricsPort))
        #expect(try ClusterTests.callFollowingMoved(entry, "SET", "before", "1").text == "OK")
        #expect(try httpGet(port: metrics, path: "/health").hasSuffix("\r\n\r\nok\n"))
        #expect(try httpGet(port: metrics, path: "/ready").hasSuffix("\r\n\r\nready\n"))
        let info = try RESPTestClient(port: entry)
        #expect(try info.call("INFO", "server").text?.contains("health:ok\r\nready:1") == true)
        // Polls `path` until its answer contains `text` (or 10 s pass).
        func poll(_ path: String, _ text: String) throws -> String {
            let deadline = Date().addingTimeInterval(10)
            var answer = ""
            repeat {
                answer = try httpGet(port: metrics, path: path)
                if answer.contains(text) { break }
                usleep(50_000)
            } while Date() < deadline
            return answer
        }

        // Freeze the coordinator: heartbeats go unanswered and the leases run out.
        let coordinator = cluster.coordinator.process.processIdentifier
        kill(coordinator, SIGSTOP)
        var refused: String?
        let deadline = Date().addingTimeInterval(5)
        while refused == nil, Date() < deadline {
            let reply = try ClusterTests.callFollowingMoved(entry, retryTryAgain: false, "SET", "during", "2")
            if reply.isError { refused = reply.text } else { usleep(50_000) }
        }
        let unhealthy = try poll("/health", "lease lost")
        #expect(unhealthy.contains("503") && unhealthy.contains("unhealthy: lease lost"), "\(unhealthy)")
        #expect(try httpGet(port: metrics, path: "/ready").contains("503"))
        let frozenInfo = try info.call("INFO", "server").text ?? ""
        #expect(frozenInfo.contains("health:unhealthy: lease lost") && frozenInfo.contains("ready:0"), "\(frozenInfo)")
        kill(coordinator, SIGCONT)
        #expect(refused?.hasPrefix("TRYAGAIN") == true, "got \(refused ?? "no refusal")")

        // With the coordinator back, writes are taken again.
        var accepted = false
        let again = Date().addingTimeInterval(15)
        while !accepted, Date() < again {
            accepted = (try? ClusterTests.callFollowingMoved(entry, "SET", "after", "3"))?.text == "OK"
            if !accepted { usleep(100_000) }
        }
        #expect(accepted)
        let healthy = try poll("/health", "\r\n\r\nok\n")
        #expect(healthy.contains("200"), "\(healthy)")
    }
}
