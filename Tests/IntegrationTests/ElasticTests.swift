import Foundation
import StrataCluster
import Synchronization
import Testing

/// Membership changes on real processes: a node joins a running cluster under writes.
@Suite("Elastic cluster")
struct ElasticTests {
    @Test("a 4th node joins a 3-node RF 2 cluster under writes (strata node --join): replicas move only onto it, no write fails after retries, every acknowledged write is readable, every copy's checksum matches, and it leads its ring-order shards", .timeLimit(.minutes(3)))
    func addNodeUnderWrites() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret)
        var running = cluster
        defer { running.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let before = try cluster.map()
        let entry = Int(cluster.config.nodes[0].dataPort)

        // A writer setting keys one after another (following MOVED, retrying TRYAGAIN for up to
        // 5 s, as a client does); what was acknowledged is kept, what failed after retries counted.
        let stop = Atomic<Bool>(false)
        let acknowledged = Mutex<[String: Int]>([:])
        let failed = Mutex<[String]>([])
        let writer = Thread {
            var n = 0
            while !stop.load(ordering: .relaxed) {
                n += 1
                let key = "elastic:\(n % 500)"
                do {
                    let reply = try ClusterTests.callFollowingMoved(entry, "SET", key, String(n))
                    if reply.text == "OK" {
                        acknowledged.withLock { $0[key] = n }
                    } else {
                        failed.withLock { $0.append("\(key): \(reply)") }
                    }
                } catch {
                    failed.withLock { $0.append("\(key): \(error)") }
                }
            }
        }
        writer.start()
        usleep(300_000)

        // n4 joins: announced by itself, then shards move onto it as it catches up.
        var config = cluster.config
        config.nodes.append(.init(
            id: "n4", host: "127.0.0.1", dataPort: UInt16(NodeProcess.freePort()),
            metricsPort: UInt16(NodeProcess.freePort()), dataDir: cluster.directory + "/n4", zone: "n4"))
        let started = Date()
        running.nodes["n4"] = try NodeProcess.clusterNode(config: config, id: "n4", directory: cluster.directory, extra: ["--join"])
        #expect(try cluster.map().node("n4") != nil)
        try FailoverTests.waitUntilHealthy(cluster, timeout: 60)
        try FailoverTests.waitUntilLeadershipReturned(cluster, timeout: 60)
        let took = Date().timeIntervalSince(started)
        usleep(300_000)
        stop.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(10_000) }

        let after = try cluster.map()
        for shard in after.shards {
            let old = try #require(before.shard(shard.id))
            #expect(Set(shard.replicas).subtracting(old.replicas).isSubset(of: ["n4"]), "shard \(shard.id): \(old.replicas) -> \(shard.replicas)")
        }
        let moved = after.shards.filter { $0.replicas.contains("n4") }.count
        let ideal = Double(after.replicationFactor * after.shards.count) / Double(after.nodes.count)
        #expect(moved > 0)
        #expect(!after.shards(primaryOn: "n4").isEmpty)
        #expect(failed.withLock { $0 }.isEmpty, "\(failed.withLock { $0.prefix(5) })")
        let written = acknowledged.withLock { $0 }
        #expect(written.count > 100, "the writer ran throughout")
        for (key, value) in written {
            let reply = try ClusterTests.callFollowingMoved(entry, "GET", key)
            #expect(Int(reply.text ?? "") ?? 0 >= value, "\(key): acknowledged \(value), read \(reply)")
        }
        try ReplicationTests.waitForConvergence(cluster)
        print(
            "ADD NODE: \(moved) replicas moved onto n4 (ideal \(ideal), ratio \(String(format: "%.2f", Double(moved) / ideal))), "
                + "\(after.shards(primaryOn: "n4").count) shards led by it, done in \(String(format: "%.1f", took)) s; "
                + "\(written.count) keys acknowledged, \(failed.withLock { $0.count }) failed after retries")
    }
}
