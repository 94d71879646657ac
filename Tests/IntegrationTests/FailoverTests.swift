import Foundation
import StrataCluster
import StrataWire
import Synchronization
import Testing

/// A client for the fault tests: follows MOVED, reconnects, and retries until a deadline.
final class RoutingWriter {
    private var clients: [Int: RESPTestClient] = [:]
    private let ports: [Int]
    private let acksAll: Bool
    /// The last error reply or connection failure, for diagnostics.
    private(set) var lastError = ""
    /// The port that answered the last acknowledged command, for diagnostics.
    private(set) var lastTarget = 0

    init(ports: [Int], acksAll: Bool) {
        self.ports = ports
        self.acksAll = acksAll
    }

    private func client(_ port: Int) throws -> RESPTestClient {
        if let client = clients[port] { return client }
        // A short receive timeout: a paused (SIGSTOP) node accepts connections but never answers.
        let client = try RESPTestClient(port: port, receiveTimeout: .milliseconds(500))
        if acksAll { _ = try client.call("CLIENT", "ACKS", "ALL") }
        clients[port] = client
        return client
    }

    /// Sends a command once, following up to 3 MOVED redirects; `nil` when it was not acknowledged.
    func attempt(_ arguments: [String], startAt port: Int) -> RESPValue? {
        var target = port
        for _ in 0..<3 {
            do {
                let reply = try client(target).call(arguments.map { Array($0.utf8) })
                lastTarget = target
                guard let text = reply.text, reply.isError else { return reply }
                lastError = "\(target): \(text)"
                guard text.hasPrefix("MOVED ") else { return nil }
                target = Int(text.split(separator: " ")[2].split(separator: ":")[1])!
            } catch {
                lastError = "\(target): \(error)"
                clients[target] = nil
                return nil
            }
        }
        return nil
    }

    /// Retries `arguments` on every node in turn until acknowledged or `deadline`.
    func call(_ arguments: [String], until deadline: Date) -> RESPValue? {
        var round = 0
        while Date() < deadline {
            if let reply = attempt(arguments, startAt: ports[round % ports.count]) { return reply }
            round += 1
            usleep(20_000)
        }
        return nil
    }
}

/// Kill primaries mid-stream and check what the writers were told.
@Suite("Failover", .serialized)
struct FailoverTests {
    /// Writers overwrite their own keys with increasing counters and record the
    /// highest acknowledged counter per key; `stop` ends them.
    final class Writers: Sendable {
        let acked = Mutex<[String: Int]>([:])
        /// Which port acknowledged each key's highest counter, and when (diagnostics).
        let ackedBy = Mutex<[String: (port: Int, at: Date)]>([:])
        let stopped = Mutex(false)

        func run(writer index: Int, ports: [Int], acksAll: Bool, keys: Int) -> Thread {
            let thread = Thread {
                let client = RoutingWriter(ports: ports, acksAll: acksAll)
                var counter = 0
                while !self.stopped.withLock({ $0 }) {
                    counter += 1
                    let key = "w\(index):k\(counter % keys)"
                    if client.attempt(["SET", key, String(counter)], startAt: ports[counter % ports.count])?.text == "OK" {
                        self.acked.withLock { $0[key] = max($0[key] ?? 0, counter) }
                        self.ackedBy.withLock { $0[key] = (client.lastTarget, Date()) }
                    } else {
                        usleep(10_000)
                    }
                }
            }
            thread.start()
            return thread
        }
    }

    /// The primaries each node's log says it led: (shard, epoch) → nodes.
    static func leadership(_ cluster: ClusterTests.Cluster) -> [String: Set<String>] {
        var leaders: [String: Set<String>] = [:]
        for (id, node) in cluster.nodes {
            for line in node.log().split(separator: "\n") {
                guard let range = line.range(of: "leading shard ") else { continue }
                let words = line[range.upperBound...].split(separator: " ")
                guard words.count >= 4 else { continue }
                leaders["\(words[0])@\(words[3])", default: []].insert(id)
            }
        }
        return leaders
    }

    /// Waits until every node is up and every shard has its full in-sync set.
    static func waitUntilHealthy(_ cluster: ClusterTests.Cluster, timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let map = try cluster.map()
            if map.nodes.allSatisfy({ $0.state == .up })
                && map.shards.allSatisfy({ $0.inSync.count == $0.replicas.count && $0.replicas.count == map.replicationFactor })
            {
                return
            }
            usleep(100_000)
        }
        throw RESPTestClient.Failure(description: "cluster did not become healthy")
    }

    /// Waits until every shard is led by the first node of its replica list in
    /// ring order: a node that returned after a kill leads its shards again.
    static func waitUntilLeadershipReturned(_ cluster: ClusterTests.Cluster, timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var astray: [String] = []
        while Date() < deadline {
            let map = try cluster.map()
            let ring = Placement.ringOrder(of: map)
            astray = map.shards.filter { $0.primary != ring[$0.id]?.first }.map { "\($0.id): \($0.primary.map(\.rawValue) ?? "-") not \(ring[$0.id]?.first?.rawValue ?? "-")" }
            if astray.isEmpty { return }
            usleep(100_000)
        }
        throw RESPTestClient.Failure(description: "leadership did not return: \(astray)")
    }

    struct Outcome {
        var failoverTimes: [Double] = []
        var lost = 0
        var keys = 0
        /// The shards a lost write belonged to.
        var lostShards: Set<ShardID> = []
        /// The shards whose primary was killed or paused, at the time.
        var faultedShards: Set<ShardID> = []
    }

    /// Runs writers, kills (or pauses) the primary of a written shard `rounds` times,
    /// and checks every acknowledged write at the end.
    static func faultRun(replicationFactor: Int, acksAll: Bool, rounds: Int, pause: Bool = false) throws -> Outcome {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, replicationFactor: replicationFactor,
            internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        let ports = cluster.config.nodes.map { Int($0.dataPort) }
        try waitUntilHealthy(cluster)

        let writers = Writers()
        let threads = (0..<3).map { writers.run(writer: $0, ports: ports, acksAll: acksAll, keys: 40) }
        var outcome = Outcome()
        usleep(300_000)
        for round in 0..<rounds {
            let map = try cluster.map()
            // The probe key's shard: kill its primary and time the first acknowledged write after.
            let probe = "probe:\(round)"
            let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array(probe.utf8), placement: .spread)
            let victimID = map.shard(forHash: hash).primary!.rawValue
            let victim = cluster.nodes[victimID]!
            outcome.faultedShards.formUnion(map.shards.filter { $0.primary?.rawValue == victimID }.map(\.id))
            print("round \(round): \(pause ? "pausing" : "killing") \(victimID), primary of shard \(map.shard(forHash: hash).id) at map epoch \(map.epoch)")
            let prober = RoutingWriter(ports: ports, acksAll: true)
            let killedAt = Date()
            kill(victim.process.processIdentifier, pause ? SIGSTOP : SIGKILL)
            var recovered: Date?
            var counter = 0
            while recovered == nil, Date().timeIntervalSince(killedAt) < 20 {
                counter += 1
                let others = ports.filter { $0 != victim.port }
                if prober.attempt(["SET", probe, String(counter)], startAt: others[counter % others.count])?.text == "OK" {
                    recovered = Date()
                } else {
                    usleep(10_000)
                }
            }
            let shardNow = try cluster.map().shard(forHash: hash)
            let took = try #require(
                recovered,
                "round \(round): no write succeeded after killing \(victimID); last error \(prober.lastError); shard now \(shardNow.replicas) in sync \(shardNow.inSync) epoch \(shardNow.epoch)"
            ).timeIntervalSince(killedAt)
            outcome.failoverTimes.append(took)
            if pause {
                kill(victim.process.processIdentifier, SIGCONT)
            } else {
                victim.process.waitUntilExit()
                try victim.restart()
            }
            try waitUntilHealthy(cluster)
        }
        writers.stopped.withLock { $0 = true }
        while threads.contains(where: { !$0.isFinished }) { usleep(10_000) }
        try waitUntilHealthy(cluster)
        // The nodes that came back lead their shards again (handed back one by one, under the writes of later rounds).
        try waitUntilLeadershipReturned(cluster)

        // Every acknowledged write is there, with its value or a later one.
        let acked = writers.acked.withLock { $0 }
        let reader = RoutingWriter(ports: ports, acksAll: false)
        for (key, value) in acked {
            let reply = reader.call(["GET", key], until: Date().addingTimeInterval(10))
            let stored = reply?.text.flatMap { Int($0) } ?? 0
            if stored < value {
                outcome.lost += 1
                // For diagnosis: which key, what was acknowledged, what is there.
                let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread)
                let shard = try cluster.map().shard(forHash: hash)
                outcome.lostShards.insert(shard.id)
                print("LOST \(key) (shard \(shard.id), replicas \(shard.replicas), epoch \(shard.epoch)): acknowledged \(value) by port \(writers.ackedBy.withLock { $0[key].map { "\($0.port) at \($0.at)" } } ?? "?"), stored \(reply.map { "\($0)" } ?? "no reply")")
            }
        }
        outcome.keys = acked.count
        if outcome.lost > 0 {
            // Keep the logs and data of a failed run for diagnosis.
            let kept = NSTemporaryDirectory() + "strata-lost-\(UUID().uuidString)"
            try? FileManager.default.copyItem(atPath: cluster.directory, toPath: kept)
            print("kept the failed run's logs and data in \(kept)")
        }
        // No shard epoch was led by two nodes.
        for (shardEpoch, leaders) in leadership(cluster) {
            #expect(leaders.count == 1, "shard@epoch \(shardEpoch) led by \(leaders)")
        }
        // The cluster converged: every replica matches its primary.
        try ReplicationTests.waitForConvergence(cluster)
        // Every writer got writes acknowledged (the run checked something).
        for writer in 0..<3 { #expect(acked.keys.contains { $0.hasPrefix("w\(writer):") }) }
        return outcome
    }

    static func summary(_ times: [Double]) -> String {
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        return String(format: "median %.2f s, worst %.2f s over %d", median, sorted.last!, sorted.count)
    }

    @Test("acks=all, RF 2: SIGKILL the primary mid-stream, 10 rounds: no acknowledged write lost; failover time", .timeLimit(.minutes(5)))
    func killPrimaryRF2() throws {
        let outcome = try Self.faultRun(replicationFactor: 2, acksAll: true, rounds: 10)
        #expect(outcome.lost == 0, "\(outcome.lost) of \(outcome.keys) keys lost an acknowledged write")
        print("FAILOVER RF2 acks=all SIGKILL: \(Self.summary(outcome.failoverTimes)) (heartbeat 200 ms, down after 1.5 s)")
    }

    @Test("acks=all, RF 3: SIGKILL rounds and a primary paused past its lease: no acknowledged write lost", .timeLimit(.minutes(5)))
    func killAndPausePrimaryRF3() throws {
        let killed = try Self.faultRun(replicationFactor: 3, acksAll: true, rounds: 3)
        #expect(killed.lost == 0, "\(killed.lost) of \(killed.keys) keys lost an acknowledged write")
        let paused = try Self.faultRun(replicationFactor: 3, acksAll: true, rounds: 3, pause: true)
        #expect(paused.lost == 0, "\(paused.lost) of \(paused.keys) keys lost an acknowledged write")
        print("FAILOVER RF3 acks=all SIGKILL: \(Self.summary(killed.failoverTimes)); SIGSTOP: \(Self.summary(paused.failoverTimes))")
    }

    @Test("acks=leader, RF 2: the same kills; acknowledged writes are lost only on shards whose primary was killed", .timeLimit(.minutes(5)))
    func killPrimaryAcksLeader() throws {
        let outcome = try Self.faultRun(replicationFactor: 2, acksAll: false, rounds: 3)
        // acks=leader may lose the writes a killed primary acknowledged but had not
        // yet shipped, and nothing else: no write on a shard whose primary lived.
        #expect(outcome.keys > 0)
        #expect(outcome.lost <= outcome.keys)
        #expect(
            outcome.lostShards.isSubset(of: outcome.faultedShards),
            "writes lost on shards \(outcome.lostShards.subtracting(outcome.faultedShards).sorted()) whose primary was never killed")
        print("FAILOVER RF2 acks=leader: \(outcome.lost) of \(outcome.keys) keys lost an acknowledged write; \(Self.summary(outcome.failoverTimes))")
    }

    @Test("strata failover moves a shard's primary under acks=leader writes and loses none", .timeLimit(.minutes(3)))
    func plannedFailover() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        let ports = cluster.config.nodes.map { Int($0.dataPort) }
        try Self.waitUntilHealthy(cluster)
        let writers = Writers()
        let threads = (0..<3).map { writers.run(writer: $0, ports: ports, acksAll: false, keys: 40) }
        usleep(300_000)

        // Move the primary of every shard w0's keys live on, one after another, mid-stream.
        let before = try cluster.map()
        let configPath = cluster.directory + "/cluster.json"
        var moved: [ShardID] = []
        for key in ["w0:k1", "w1:k2", "w2:k3"] {
            let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread)
            let shard = before.shard(forHash: hash)
            guard !moved.contains(shard.id) else { continue }
            let (status, text) = try NodeProcess.runStrata(["failover", "--config", configPath, "--shard", String(shard.id.rawValue)])
            #expect(status == 0)
            #expect(text.contains("shard \(shard.id.rawValue): primary is now \(shard.replicas[1])"), "\(text)")
            moved.append(shard.id)
            usleep(500_000)
        }
        usleep(500_000)
        writers.stopped.withLock { $0 = true }
        while threads.contains(where: { !$0.isFinished }) { usleep(10_000) }

        let after = try cluster.map()
        for shard in moved {
            #expect(after.shard(shard)?.primary == before.shard(shard)?.replicas[1])
            #expect(after.shard(shard)!.epoch == before.shard(shard)!.epoch + 1)
        }
        let acked = writers.acked.withLock { $0 }
        let reader = RoutingWriter(ports: ports, acksAll: false)
        var lost = 0
        for (key, value) in acked {
            let stored = reader.call(["GET", key], until: Date().addingTimeInterval(10))?.text.flatMap { Int($0) } ?? 0
            if stored < value { lost += 1 }
        }
        #expect(lost == 0, "\(lost) of \(acked.count) keys lost an acknowledged write")
        #expect(cluster.nodes.values.contains { $0.log().contains("took over shard") })
        try ReplicationTests.waitForConvergence(cluster)
    }
}
