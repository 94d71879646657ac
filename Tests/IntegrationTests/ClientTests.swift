import Foundation
import StrataClient
import StrataCluster
import StrataWire
import Testing

/// `StrataClient` against real node processes on 127.0.0.1.
@Suite("Client library", .serialized)
struct ClientTests {
    static func configuration(_ cluster: ClusterTests.Cluster) -> StrataClientConfiguration {
        StrataClientConfiguration(source: .coordinator(host: "127.0.0.1", port: Int(cluster.config.coordinator!.port)))
    }

    static func hash(_ key: String) -> UInt64 {
        PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread)
    }

    static func port(_ cluster: ClusterTests.Cluster, _ node: NodeID) -> Int {
        Int(cluster.config.nodes.first { $0.id == node.rawValue }!.dataPort)
    }

    @Test("requests go straight to each key's primary; after the shard moves, MOVED costs one shared map refresh", .timeLimit(.minutes(2)))
    func routingAndMoved() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        var configuration = Self.configuration(cluster)
        configuration.maxAttempts = 8
        // Not run(): the map is fetched on first use and not followed, so it goes stale.
        let client = try StrataClient(configuration: configuration)
        // This one runs: it follows the coordinator's pushes.
        let follower = try StrataClient(configuration: configuration)
        let following = Task { try await follower.run() }
        defer { following.cancel() }
        try await follower.set("warm-up", "1")

        for i in 0..<200 { try await client.set("key\(i)", "v\(i)") }
        for i in 0..<200 { #expect(try await client.getString("key\(i)") == "v\(i)") }
        var stats = client.statistics
        #expect(stats.attempts == 400 && stats.redirects == 0 && stats.retries == 0 && stats.mapFetches == 1)
        // Every request went to the key's primary: per node, twice the keys it leads.
        let map = try cluster.map()
        var expected: [NodeID: Int] = [:]
        for i in 0..<200 { expected[map.shard(forHash: Self.hash("key\(i)")).primary!, default: 0] += 2 }
        #expect(stats.attemptsPerNode == expected)
        // And the primary holds it: a plain GET there (no READONLY) answers it rather than MOVED.
        for i in stride(from: 0, to: 200, by: 10) {
            let primary = map.shard(forHash: Self.hash("key\(i)")).primary!
            #expect(try RESPTestClient(port: Self.port(cluster, primary)).call("GET", "key\(i)").text == "v\(i)")
        }

        // Move the primary of key0's shard; the client still has the old map.
        let shard = map.shard(forHash: Self.hash("key0"))
        #expect(try NodeProcess.runStrata(["failover", "--config", cluster.directory + "/cluster.json", "--shard", String(shard.id.rawValue)]).status == 0)
        try await Task.sleep(for: .seconds(1))  // every node adopts the new map
        // 20 concurrent writes to the moved shard: redirected, with one map fetch between them.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for j in 0..<20 { group.addTask { try await client.set("key0", "moved\(j)") } }
            try await group.waitForAll()
        }
        stats = client.statistics
        #expect(stats.redirects >= 1)
        #expect(stats.mapFetches == 2, "one refresh for every redirect of the burst")
        // The running client got the new map pushed: no redirect, no fetch beyond its first.
        try await follower.set("key0", "pushed")
        #expect(follower.statistics.redirects == 0 && follower.statistics.mapFetches <= 1)
        let value = try #require(try await client.getString("key0"))
        #expect(value == "pushed")
        let newPrimary = try cluster.map().shard(shard.id)!.primary!
        #expect(newPrimary == shard.replicas[1])
        #expect(try RESPTestClient(port: Self.port(cluster, newPrimary)).call("GET", "key0").text == value)
    }

    @Test("read policies: round-robin is even, zone affinity stays in zone, weights bias, least-outstanding avoids a node delayed on purpose", .timeLimit(.minutes(2)))
    func readPolicies() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, replicationFactor: 3, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let writer = try StrataClient(configuration: Self.configuration(cluster))
        try await writer.set("policy-key", "value")
        try ReplicationTests.waitForConvergence(cluster)

        func reads(_ configure: (inout StrataClientConfiguration) -> Void, count: Int = 300, concurrency: Int = 1)
            async throws -> [NodeID: Int]
        {
            var configuration = Self.configuration(cluster)
            configure(&configuration)
            let client = try StrataClient(configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<concurrency {
                    group.addTask {
                        for _ in 0..<(count / concurrency) {
                            let value = try await client.getString("policy-key")
                            #expect(value == "value")
                        }
                    }
                }
                try await group.waitForAll()
            }
            return client.statistics.attemptsPerNode
        }

        #expect(try await reads { $0.readPolicy = .roundRobin } == ["n1": 100, "n2": 100, "n3": 100])
        #expect(try await reads({ $0.readPolicy = .zoneAffinity; $0.zone = "n2" }, count: 100) == ["n2": 100])
        let weighted = try await reads { $0.readPolicy = .weighted(["n1": 1, "n2": 0, "n3": 3]) }
        #expect(weighted["n2"] == nil)
        #expect((weighted["n3"] ?? 0) > 180 && (weighted["n3"] ?? 0) < 270, "\(weighted)")

        // n3 behind a proxy that delays every reply by 20 ms.
        let proxy = try TestProxy(target: Self.port(cluster, "n3"))
        defer { proxy.stop() }
        proxy.setDelay(.milliseconds(20))
        let delayed: (inout StrataClientConfiguration, ReadPolicy) -> Void = { configuration, policy in
            configuration.readPolicy = policy
            configuration.addressOverrides = ["n3": .init(host: "127.0.0.1", port: proxy.port)]
        }
        let evenly = try await reads({ delayed(&$0, .roundRobin) }, count: 120, concurrency: 6)
        let least = try await reads({ delayed(&$0, .leastOutstanding) }, count: 300, concurrency: 6)
        #expect(evenly["n3"] == 40, "round-robin keeps sending a third to the slow node: \(evenly)")
        #expect(Double(least["n3"] ?? 0) < 0.1 * 300, "least-outstanding avoids the slow node: \(least)")
        print("CLIENT read policies: least-outstanding sent \(least["n3"] ?? 0) of 300 reads to the node delayed 20 ms (round-robin: 40 of 120)")
    }

    @Test("read-your-writes: a session's read through a lagging replica goes to the primary and sees the write", .timeLimit(.minutes(2)))
    func readYourWrites() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let key: StrataKey = "ryw-key"
        let shard = try cluster.map().shard(forHash: Self.hash(key.description))
        let (primary, replica) = (shard.primary!, shard.replicas[1])
        var configuration = Self.configuration(cluster)
        configuration.readPolicy = .zoneAffinity
        configuration.zone = replica.rawValue
        configuration.readYourWritesWait = .milliseconds(20)
        let client = try StrataClient(configuration: configuration)
        try await client.set(key, "v0")
        try ReplicationTests.waitForConvergence(cluster)

        // The replica stops following its primaries for a while: it lags on purpose.
        let admin = try RESPTestClient(port: Self.port(cluster, replica))
        #expect(try admin.call("AUTH", "@internal", ReplicationTests.secret).text == "OK")
        #expect(try admin.call("DEBUG", "FOLLOW-PAUSE", "5000").text == "OK")
        let session = StrataSession()
        try await client.set(key, "v1", options: .init(session: session))
        #expect(try await client.getString(key) == "v0", "without a session the lagging replica answers, stale")
        #expect(try await client.getString(key, options: .init(session: session)) == "v1")
        #expect(session.primaryFallbacks == 1)
        #expect(client.statistics.attemptsPerNode[replica] == 2, "both reads asked the replica first")
        _ = primary
    }

    @Test("an INCR whose reply was lost is retried with its request id and applied exactly once", .timeLimit(.minutes(1)))
    func retriedIncrementAppliedOnce() async throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let proxy = try TestProxy(target: node.port)
        defer { proxy.stop() }
        // Drop the first reply to a REQID write (an array of 3 starting with an integer): the INCR is applied, its answer lost.
        proxy.dropReplies(1) { $0.starts(with: Array("*3\r\n:".utf8)) }
        var configuration = StrataClientConfiguration(source: .standaloneNode(host: "127.0.0.1", port: proxy.port))
        configuration.backoff = Backoff(base: .milliseconds(1), cap: .milliseconds(5))
        let client = try StrataClient(configuration: configuration)
        #expect(try await client.increment("counter") == 1)
        #expect(proxy.dropped.load(ordering: .relaxed) == 1)
        #expect(client.statistics.retries == 1)
        #expect(try node.client().call("GET", "counter").text == "1", "applied once, not twice")
        #expect(try await client.increment("counter", by: 5) == 6)
    }

    @Test("requests are pipelined: 200 concurrent requests share one connection per node", .timeLimit(.minutes(1)))
    func pipelining() async throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        var configuration = StrataClientConfiguration(source: .standaloneNode(host: "127.0.0.1", port: node.port))
        configuration.connectionsPerNode = 1
        let client = try StrataClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 { group.addTask { try await client.set("p\(i)", "\(i)") } }
            try await group.waitForAll()
        }
        let values = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for i in 0..<200 { group.addTask { (i, try await client.getString("p\(i)")) } }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(values.count == 200 && values.allSatisfy { $0.value == String($0.key) })
        // The client's one connection and this one.
        let info = try node.client().call("INFO", "clients").text ?? ""
        #expect(info.contains("connected_clients:2"), "\(info)")
    }

    @Test("a node's circuit breaker opens when it dies, lets one probe through after the cool-down, and closes when it is back", .timeLimit(.minutes(2)))
    func circuitBreaker() async throws {
        // A long failure-detection timeout: the map keeps the dead node, only the breaker protects the client.
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 60_000, heartbeatIntervalMs: 200, replicationFactor: 3, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let map = try cluster.map()
        let key = StrataKey((0..<1000).map { "breaker-\($0)" }.first { map.shard(forHash: Self.hash($0)).primary != "n3" }!)
        var configuration = Self.configuration(cluster)
        configuration.readPolicy = .zoneAffinity
        configuration.zone = "n3"
        configuration.breakerFailureThreshold = 2
        configuration.breakerCoolDown = .seconds(1)
        configuration.backoff = Backoff(base: .milliseconds(1), cap: .milliseconds(5))
        let client = try StrataClient(configuration: configuration)
        try await client.set(key, "x")
        try ReplicationTests.waitForConvergence(cluster)
        #expect(try await client.getString(key) == "x")
        #expect(client.statistics.attemptsPerNode["n3"] == 1)

        let n3 = cluster.nodes["n3"]!
        kill(n3.process.processIdentifier, SIGKILL)
        n3.process.waitUntilExit()
        for _ in 0..<20 { #expect(try await client.getString(key) == "x") }
        var stats = client.statistics
        #expect(stats.attemptsPerNode["n3"] == 3, "two failures open the breaker; then n3 is skipped")
        guard case .open = stats.breakers["n3"] else {
            Issue.record("breaker should be open: \(String(describing: stats.breakers["n3"]))")
            return
        }
        // Cool-down over: exactly one probe, which fails and re-opens it.
        try await Task.sleep(for: .milliseconds(1100))
        for _ in 0..<5 { #expect(try await client.getString(key) == "x") }
        stats = client.statistics
        #expect(stats.attemptsPerNode["n3"] == 4)
        guard case .open = stats.breakers["n3"] else {
            Issue.record("a failed probe re-opens the breaker")
            return
        }
        // n3 back: after the cool-down the probe succeeds and the breaker closes; reads return to n3.
        try n3.restart()
        try await Task.sleep(for: .milliseconds(1100))
        for _ in 0..<5 { #expect(try await client.getString(key) == "x") }
        stats = client.statistics
        #expect(stats.breakers["n3"] == .closed(failures: 0))
        #expect(stats.attemptsPerNode["n3"] == 9)
    }

    @Test("when every node fails, the retry budget caps retries at 10 % of requests plus the floor", .timeLimit(.minutes(1)))
    func retryBudget() async throws {
        // Nothing listens there: every attempt fails at once.
        var configuration = StrataClientConfiguration(source: .standaloneNode(host: "127.0.0.1", port: NodeProcess.freePort()))
        configuration.maxAttempts = 5
        configuration.retryRatio = 0.1
        configuration.retryFloor = 5
        configuration.breakerFailureThreshold = 1_000_000
        configuration.backoff = Backoff(base: .milliseconds(1), cap: .milliseconds(2))
        let client = try StrataClient(configuration: configuration)
        var failures = 0
        for i in 0..<100 {
            do {
                _ = try await client.get("k\(i)")
            } catch let error as StrataError {
                #expect(error.code == .unavailable)
                failures += 1
            }
        }
        let stats = client.statistics
        #expect(failures == 100)
        #expect(stats.retries <= 15 && stats.retries >= 5, "retries \(stats.retries); without a budget: 400")
        #expect(stats.attempts == 100 + stats.retries)
    }
}

extension ClientTests {
    struct Profile: Codable, Equatable {
        var name: String
        var visits: Int
    }

    @Test("the typed API on a cluster: multi-key calls split by shard and reassembled in order, scan, CAS, conditions, TTL, Codable, errors naming node and shard", .timeLimit(.minutes(2)))
    func typedAPI() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let client = try StrataClient(configuration: Self.configuration(cluster))

        // 100 keys over many shards: one MSET per shard, results in request order.
        let pairs = (0..<100).map { (key: StrataKey("user:\($0)"), value: Array("value \($0)".utf8)) }
        let map = try cluster.map()
        #expect(Set(pairs.map { map.shard(forHash: Self.hash($0.key.description)).id }).count > 5)
        try await client.multiSet(pairs)
        let keys = pairs.map(\.key) + [StrataKey("user:missing")]
        let values = try await client.multiGet(keys.reversed())
        #expect(values.first! == nil)
        #expect(values.dropFirst().map { $0.map { String(decoding: $0, as: UTF8.self) } } == (0..<100).reversed().map { "value \($0)" })

        // Scan: every key exactly once, across all shards and nodes.
        var scanned: [StrataKey] = []
        for try await key in client.scan(matching: "user:*", batch: 7) { scanned.append(key) }
        #expect(scanned.count == 100 && Set(scanned) == Set(pairs.map(\.key)))

        // Versions and compare-and-set.
        let current = try #require(try await client.getWithVersion("user:1"))
        let next = try await client.compareAndSet("user:1", Array("cas".utf8), expectedVersion: current.version)
        #expect(next > current.version)
        #expect(try await client.getWithVersion("user:1") == Versioned(value: Array("cas".utf8), version: next))
        do {
            try await client.compareAndSet("user:1", Array("late".utf8), expectedVersion: current.version)
            Issue.record("a stale version must conflict")
        } catch let error as StrataError {
            #expect(error.code == .versionConflict && error.currentVersion == next)
            #expect(error.shard == map.shard(forHash: Self.hash("user:1")).id && error.node != nil, "\(error)")
        }

        // Conditions, delete, increment, TTL.
        #expect(try await client.set("fresh", "1", condition: .ifPresent) == false)
        #expect(try await client.set("fresh", "1", condition: .ifAbsent) == true)
        #expect(try await client.set("fresh", "2", condition: .ifAbsent) == false)
        #expect(try await client.delete("fresh") == true)
        #expect(try await client.delete("fresh") == false)
        #expect(try await client.increment("hits", by: 41) == 41)
        #expect(try await client.increment("hits") == 42)
        try await client.set("short", "lived", ttl: .milliseconds(150))
        #expect(try await client.getString("short") == "lived")
        #expect(try await client.expire("user:2", after: .milliseconds(100)) == true)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await client.getString("short") == nil)
        #expect(try await client.get("user:2") == nil)

        // Codable (JSON by default).
        try await client.set("profile:7", encoding: Profile(name: "Ada", visits: 3))
        #expect(try await client.get("profile:7", as: Profile.self) == Profile(name: "Ada", visits: 3))
        #expect(try await client.getString("profile:7") == #"{"name":"Ada","visits":3}"#)

        // Errors carry a code and name the node and shard.
        do {
            try await client.increment("user:3")
            Issue.record("INCR of a non-integer must fail")
        } catch let error as StrataError {
            #expect(error.code == .invalidArgument)
            let shard = map.shard(forHash: Self.hash("user:3"))
            #expect(error.description.contains("node \(shard.primary!)") && error.description.contains("shard \(shard.id)"), "\(error)")
        }
    }

    @Test("hedged reads: a read stuck on a slow replica is also sent to another one, and the first answer wins", .timeLimit(.minutes(1)))
    func hedgedReads() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, replicationFactor: 3, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let proxy = try TestProxy(target: Self.port(cluster, "n3"))
        defer { proxy.stop() }
        var configuration = Self.configuration(cluster)
        configuration.readPolicy = .zoneAffinity
        configuration.zone = "n3"
        configuration.hedgeAfterAtLeast = .milliseconds(5)
        configuration.addressOverrides = ["n3": .init(host: "127.0.0.1", port: proxy.port)]
        let client = try StrataClient(configuration: configuration)
        try await client.set("hedge", "ok")
        try ReplicationTests.waitForConvergence(cluster)
        _ = try await client.getString("hedge")  // connections open
        proxy.setDelay(.milliseconds(300))
        let started = ContinuousClock.now
        for _ in 0..<10 { #expect(try await client.getString("hedge") == "ok") }
        let took = ContinuousClock.now - started
        let stats = client.statistics
        #expect(stats.hedges >= 10)
        let others = (stats.attemptsPerNode["n1"] ?? 0) + (stats.attemptsPerNode["n2"] ?? 0)
        #expect(others >= 10, "each hedge went to another replica: \(stats.attemptsPerNode)")
        print("CLIENT hedged reads: 10 reads through a replica delayed 300 ms took \(took) with hedging after 5 ms")
    }
}
