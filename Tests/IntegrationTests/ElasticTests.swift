import Foundation
import StrataCluster
import StrataWire
import Synchronization
import Testing

/// Membership changes on real processes: a node joins a running cluster under writes.
@Suite("Elastic cluster")
struct ElasticTests {
    /// Data deleted a second after it moved, 1 KiB snapshot pages, 20 log entries kept per shard (so a new copy needs a snapshot).
    static let nodeArguments = ["--drop-delay-seconds", "1", "--snapshot-page-kb", "1", "--log-retention", "20"]

    @Test("a 4th node joins a 3-node cluster under writes (strata node --join): replicas move only onto it, no write fails after retries, every acknowledged write is readable, every copy's checksum matches, and it leads its ring-order shards; at RF 1 through a temporary second copy", .timeLimit(.minutes(3)), arguments: [2, 1])
    func addNodeUnderWrites(replicationFactor: Int) throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, replicationFactor: replicationFactor, internalSecret: ReplicationTests.secret,
            nodeArguments: Self.nodeArguments)
        var running = cluster
        defer { running.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let before = try cluster.map()
        let entry = Int(cluster.config.nodes[0].dataPort)

        let writer = Writer(entry: entry)
        // Long enough for every shard's log to be trimmed past its start: n4 needs snapshots.
        usleep(1_500_000)

        // n4 joins: announced by itself, then shards move onto it as it catches up.
        var config = cluster.config
        config.nodes.append(.init(
            id: "n4", host: "127.0.0.1", dataPort: UInt16(NodeProcess.freePort()),
            metricsPort: UInt16(NodeProcess.freePort()), dataDir: cluster.directory + "/n4", zone: "n4"))
        let started = Date()
        running.nodes["n4"] = try NodeProcess.clusterNode(
            config: config, id: "n4", directory: cluster.directory, extra: ["--join"] + Self.nodeArguments)
        #expect(try cluster.map().node("n4") != nil)
        try FailoverTests.waitUntilHealthy(cluster, timeout: 60)
        try FailoverTests.waitUntilLeadershipReturned(cluster, timeout: 60)
        let took = Date().timeIntervalSince(started)
        usleep(300_000)
        writer.stop()

        let after = try cluster.map()
        for shard in after.shards {
            let old = try #require(before.shard(shard.id))
            #expect(Set(shard.replicas).subtracting(old.replicas).isSubset(of: ["n4"]), "shard \(shard.id): \(old.replicas) -> \(shard.replicas)")
        }
        let moved = after.shards.filter { $0.replicas.contains("n4") }.count
        let ideal = Double(after.replicationFactor * after.shards.count) / Double(after.nodes.count)
        #expect(moved > 0)
        #expect(!after.shards(primaryOn: "n4").isEmpty)
        try writer.check(entry: entry)
        try ReplicationTests.waitForConvergence(cluster)
        // The old nodes delete the copies they gave n4, a second after the map stopped placing them there.
        func dropped() -> Int {
            ["n1", "n2", "n3"].reduce(0) { total, id in
                total + (cluster.nodes[id]?.log().components(separatedBy: "dropped the data of shard").count ?? 1) - 1
            }
        }
        let dropDeadline = Date().addingTimeInterval(15)
        while Date() < dropDeadline, dropped() < moved { usleep(100_000) }
        #expect(dropped() == moved, "every replica moved onto n4 was deleted from its old node")
        // Shards came to n4 as snapshots (the log keeps 20 entries here), page by page (1 KiB pages).
        let pages = (running.nodes["n4"]?.log() ?? "").components(separatedBy: "pages=").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        #expect(pages.max() ?? 0 >= 2, "\(pages)")
        // Verify before cutover: n4 compared each copy it was given with its primary's at one sequence number.
        let verified = Set((running.nodes["n4"]?.log() ?? "").components(separatedBy: "verified copy of shard ").dropFirst().compactMap {
            Int($0.prefix { $0.isNumber })
        })
        #expect(verified.count >= moved, "n4 verified \(verified.count) of the \(moved) copies it was given")
        try writer.check(entry: entry)
        // strata cluster verify, the operator's check, agrees.
        let verify = try NodeProcess.runStrata(["cluster", "verify", "--config", cluster.directory + "/cluster.json"])
        #expect(verify.status == 0 && verify.output.contains("all equal"), "\(verify.output)")
        print(
            "ADD NODE (RF \(replicationFactor)): \(moved) replicas moved onto n4 (ideal \(ideal), ratio \(String(format: "%.2f", Double(moved) / ideal))), "
                + "\(after.shards(primaryOn: "n4").count) shards led by it, done in \(String(format: "%.1f", took)) s; "
                + "\(writer.acknowledged.withLock { $0.count }) keys acknowledged")
    }

    @Test("a node is decommissioned under writes (strata cluster remove-node): its shards move off, no write fails after retries, every acknowledged write is readable, every copy's checksum matches, and it leaves the map", .timeLimit(.minutes(3)))
    func removeNodeUnderWrites() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        let writer = Writer(entry: entry)
        usleep(300_000)
        let before = try cluster.map()
        let held = before.shards.filter { $0.replicas.contains("n3") }.count
        let path = cluster.directory + "/cluster.json"
        let started = Date()
        #expect(try NodeProcess.runStrata(["cluster", "remove-node", "--config", path, "n3"]).status == 0)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try cluster.map().node("n3") != nil { usleep(100_000) }
        let after = try cluster.map()
        #expect(after.node("n3") == nil, "n3 left the map")
        try FailoverTests.waitUntilHealthy(cluster, timeout: 60)
        let took = Date().timeIntervalSince(started)
        usleep(300_000)
        writer.stop()
        for shard in try cluster.map().shards {
            let old = try #require(before.shard(shard.id))
            #expect(Set(old.replicas).subtracting(shard.replicas).isSubset(of: ["n3"]), "only n3's copies moved: \(old.replicas) -> \(shard.replicas)")
        }
        try writer.check(entry: entry)
        try ReplicationTests.waitForConvergence(cluster)
        print("REMOVE NODE: \(held) replicas moved off n3 in \(String(format: "%.1f", took)) s; \(writer.acknowledged.withLock { $0.count }) keys acknowledged")
    }

    @Test("a shard splits under writes (strata cluster split --shard N): the map shows both halves on the shard's nodes, its follower goes on from the parent's log, no write fails after retries, keys of both halves read back, every copy's checksum matches; the new shard splits again", .timeLimit(.minutes(3)))
    func splitUnderWrites() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret, nodeArguments: Self.nodeArguments)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        let writer = Writer(entry: entry)
        usleep(1_000_000)
        let before = try cluster.map()
        func hash(_ key: String) -> UInt64 { PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8)) }
        // The shard holding most of the writer's keys.
        let counts = Dictionary(grouping: writer.acknowledged.withLock { Array($0.keys) }) { before.shard(forHash: hash($0)).id }
        let parent = try #require(counts.max { $0.value.count < $1.value.count }?.key)
        let old = try #require(before.shard(parent))
        let primaryPort = ClientTests.port(cluster, try #require(old.primary))
        let parentSequence = try ReplicationTests.checksum(parent, port: primaryPort)[0]
        let path = cluster.directory + "/cluster.json"
        let split = try NodeProcess.runStrata(["cluster", "split", "--config", path, "--shard", String(parent.rawValue)])
        #expect(split.status == 0, "\(split.output)")
        let after = try cluster.map()
        let upper = try #require(after.shards.first { $0.parent == parent }, "\(split.output)")
        let lower = try #require(after.shard(parent))
        #expect(split.output.contains("shard \(upper.id): \(upper.range)"), "\(split.output)")
        #expect(lower.range.start == old.range.start && upper.range.last == old.range.last && lower.range.last &+ 1 == upper.range.start)
        #expect(upper.replicas == old.replicas && lower.replicas == old.replicas, "a split moves nothing")
        #expect(after.shards.count == before.shards.count + 1)
        // The new shard's sequence numbers (its records' versions) go on from its parent's, never back.
        var sequence: Int64 = -1
        let started = Date().addingTimeInterval(10)
        repeat {
            usleep(50_000)
            sequence = (try? ReplicationTests.checksum(upper.id, port: primaryPort).first) ?? -1
        } while sequence <= 0 && Date() < started
        #expect(sequence >= parentSequence, "shard \(upper.id) at \(sequence), its parent was at \(parentSequence) before the split")
        // Its follower, in sync for the parent, went on from the parent's log: nothing was copied.
        try FailoverTests.waitUntilHealthy(cluster, timeout: 30)
        for follower in upper.replicas.dropFirst() {
            let log = cluster.nodes[follower.rawValue]?.log() ?? ""
            #expect(log.contains("started split shard \(upper.id) from its parent \(parent)"), "\(follower)")
        }
        // The new half splits again, under a new id.
        let again = try NodeProcess.runStrata(["cluster", "split", "--config", path, "--shard", String(upper.id.rawValue)])
        #expect(again.status == 0, "\(again.output)")
        try FailoverTests.waitUntilHealthy(cluster, timeout: 30)
        usleep(500_000)
        writer.stop()

        let final = try cluster.map()
        #expect(final.shards.count == before.shards.count + 2)
        let keys = writer.acknowledged.withLock { Array($0.keys) }
        let halves = Dictionary(grouping: keys.filter { old.range.contains(hash($0)) }) { final.shard(forHash: hash($0)).id }
        #expect(halves.count >= 2, "keys on more than one part of the split shard: \(halves.mapValues(\.count))")
        try writer.check(entry: entry)
        try ReplicationTests.waitForConvergence(cluster)
        let verify = try NodeProcess.runStrata(["cluster", "verify", "--config", path])
        #expect(verify.status == 0 && verify.output.contains("all equal"), "\(verify.output)")
        print("SPLIT: shard \(parent) -> \(halves.mapValues(\.count)) keys by part; \(keys.count) keys acknowledged")
    }

    @Test("shards split on their own once their primaries report more than splitShardsAboveMB on disk: no write fails, every acknowledged write is readable, every copy's checksum matches", .timeLimit(.minutes(3)))
    func splitBySize() throws {
        // 1 MiB memtables, so the data reaches files (what the size estimate counts); shards split above 64 KiB.
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret,
            nodeArguments: ["--write-buffer-mb", "1"], splitShardsAboveMB: 0.0625)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        let before = try cluster.map().shards.count
        // About 4 MB of incompressible values.
        var generator = SystemRandomNumberGenerator()
        var written: [String: String] = [:]
        for index in 0..<2_000 {
            let value = (0..<1_000).map { _ in String(UInt8.random(in: 97...122, using: &generator), radix: 36) }.joined()
            let key = "sized:\(index)"
            #expect(try ClusterTests.callFollowingMoved(entry, "SET", key, value).text == "OK")
            written[key] = value
        }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try cluster.map().shards.count < before + 4 { usleep(200_000) }
        let after = try cluster.map()
        #expect(after.shards.count >= before + 4, "\(after.shards.count) shards, \(before) before")
        #expect(after.shards.contains { $0.parent != nil })
        try FailoverTests.waitUntilHealthy(cluster, timeout: 30)
        for (key, value) in written {
            #expect(try ClusterTests.callFollowingMoved(entry, "GET", key).text == value, "\(key)")
        }
        try ReplicationTests.waitForConvergence(cluster)
        print("SPLIT BY SIZE: \(before) -> \(try cluster.map().shards.count) shards")
    }

    @Test("a move throttled to a trickle shows its progress (COPYPROGRESS: bytes and records done of the primary's totals) and speeds up when strata cluster throttle lifts the limit at runtime; tenants may not change it", .timeLimit(.minutes(3)))
    func throttleAtRuntime() throws {
        // Every node copies at 20 KB/s: a 4th node's copies take minutes unless the throttle is lifted.
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret,
            nodeArguments: ["--transfer-mb-per-second", "0.02"])
        var running = cluster
        defer { running.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        let value = String(repeating: "v", count: 500)
        for index in 0..<400 { #expect(try ClusterTests.callFollowingMoved(entry, "SET", "throttled:\(index)", value).text == "OK") }
        #expect(try RESPTestClient(port: entry).call("CONFIG", "SET", "transfer-mb-per-second", "0").isError, "not for tenants")

        var config = cluster.config
        let port = NodeProcess.freePort()
        config.nodes.append(.init(
            id: "n4", host: "127.0.0.1", dataPort: UInt16(port), metricsPort: UInt16(NodeProcess.freePort()),
            dataDir: cluster.directory + "/n4", zone: "n4"))
        running.nodes["n4"] = try NodeProcess.clusterNode(
            config: config, id: "n4", directory: cluster.directory, extra: ["--join", "--transfer-mb-per-second", "0.02"])
        let n4 = try RESPTestClient(port: port)
        #expect(try n4.call("AUTH", "@internal", ReplicationTests.secret).text == "OK")
        // Progress: some bytes in, the primary's totals known, far from done.
        var progress: [[Int64]] = []
        let deadline = Date().addingTimeInterval(30)
        repeat {
            usleep(200_000)
            progress = (try n4.call("COPYPROGRESS").elements ?? []).compactMap { shard in
                shard.elements?.compactMap { if case .integer(let n) = $0 { n } else { nil } }
            }
        } while Date() < deadline && !progress.contains(where: { $0[1] > 0 && $0[5] > 0 })
        let copying = try #require(progress.first { $0[1] > 0 && $0[5] > 0 }, "a copy in progress with its total: \(progress)")
        #expect(copying[1] < copying[5] * 2, "bytes done \(copying[1]) of about \(copying[5])")
        #expect(copying[2] > 0 && copying[4] > 0, "records done \(copying[2]) of \(copying[4])")
        #expect(try !cluster.map().shards.contains { $0.replicas.contains("n4") && $0.inSync.contains("n4") }, "throttled: nothing in sync yet")

        // strata cluster throttle lifts the limit on every node: the moves finish.
        let throttle = try NodeProcess.runStrata(
            ["cluster", "throttle", "--config", cluster.directory + "/cluster.json", "--mb-per-second", "0"])
        #expect(throttle.status == 0)
        #expect(throttle.output.contains("n4     0"), "\(throttle.output)")
        let get = try #require(try n4.call("CONFIG", "GET", "transfer-mb-per-second").elements)
        #expect(get.count == 2 && get[1].text == "0")
        try FailoverTests.waitUntilHealthy(cluster, timeout: 60)
        try FailoverTests.waitUntilLeadershipReturned(cluster, timeout: 60)
        #expect(try cluster.map().shards.contains { $0.replicas.contains("n4") && $0.inSync.contains("n4") })
    }

    @Test("REPLSNAPSHOT CHUNK pages a shard: the pages together are the whole snapshot, each after the previous one's last key; a bad cursor is refused", .timeLimit(.minutes(2)))
    func snapshotPages() throws {
        let cluster = try ClusterTests.Cluster.start(downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let entry = Int(cluster.config.nodes[0].dataPort)
        for index in 0..<300 { #expect(try ClusterTests.callFollowingMoved(entry, "SET", "page:\(index)", "value-\(index)").text == "OK") }
        let shard = try cluster.map().shards[0]
        let primary = try RESPTestClient(port: ClientTests.port(cluster, try #require(shard.primary)))
        #expect(try primary.call("AUTH", "@internal", ReplicationTests.secret).text == "OK")
        let id = String(shard.id.rawValue)
        let whole = try #require(try primary.call("REPLSNAPSHOT", id).elements)
        #expect(whole.count > 8, "the shard holds a few records")
        var records: [RESPValue] = []
        var after = ""
        var pages = 0
        while true {
            let page = try #require(try primary.call("REPLSNAPSHOT", id, "CHUNK", after, "100").elements)
            #expect(page[0] == whole[0] && page[1] == whole[1], "sequence and epoch as of the page's snapshot")
            records += page[3...]
            pages += 1
            guard case .bulkString(let next) = page[2], next.readableBytes > 0 else { break }
            after = SnapshotCursor.encode(Array(next.readableBytesView))
        }
        #expect(pages > 1)
        #expect(records == Array(whole[2...]))
        #expect(try primary.call("REPLSNAPSHOT", id, "CHUNK", "not-hex", "100").isError)
        #expect(try primary.call("REPLSNAPSHOT", id, "CHUNK", "", "0").isError)
    }

    /// A writer setting keys one after another on its own thread (following MOVED,
    /// retrying TRYAGAIN for up to 5 s, as a client does): what was acknowledged
    /// is kept, what failed after retries is counted.
    final class Writer: Sendable {
        let acknowledged = Mutex<[String: Int]>([:])
        let failed = Mutex<[String]>([])
        private let stopped = Atomic<Bool>(false)
        private let finished = Atomic<Bool>(false)

        init(entry: Int) {
            Thread { [self] in
                var n = 0
                while !stopped.load(ordering: .relaxed) {
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
                finished.store(true, ordering: .relaxed)
            }.start()
        }

        /// Stops writing and waits for the last write to end.
        func stop() {
            stopped.store(true, ordering: .relaxed)
            while !finished.load(ordering: .relaxed) { usleep(10_000) }
        }

        /// No write failed after retries, there were writes, and each acknowledged one reads back (or a later one).
        func check(entry: Int) throws {
            #expect(failed.withLock { $0 }.isEmpty, "\(failed.withLock { $0.prefix(5) })")
            let written = acknowledged.withLock { $0 }
            #expect(written.count > 100, "the writer ran throughout")
            for (key, value) in written {
                let reply = try ClusterTests.callFollowingMoved(entry, "GET", key)
                #expect(Int(reply.text ?? "") ?? 0 >= value, "\(key): acknowledged \(value), read \(reply)")
            }
        }
    }
}
