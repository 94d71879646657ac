import Foundation
import StrataClient
import StrataCluster
import StrataWire
import Synchronization
import Testing

/// `strata cache` gateways and the client's near-cache on a real cluster.
@Suite("Cache gateway", .serialized)
struct GatewayTests {
    /// Starts gateways `ids` for `cluster` (a copy of its cluster.json with them added).
    static func gateways(_ cluster: ClusterTests.Cluster, ids: [String]) throws -> (path: String, processes: [NodeProcess]) {
        var config = cluster.config
        config.caches = ids.map { .init(id: $0, host: "127.0.0.1", port: UInt16(NodeProcess.freePort()), metricsPort: UInt16(NodeProcess.freePort())) }
        // Long TTLs: a gateway can only learn of another's writes from the change feed.
        config.tenants = ["default": .init(cache: .init(softTtlMs: 60_000, hardTtlMs: 120_000))]
        let directory = cluster.directory + "/gateways"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = try NodeProcess.writeConfig(config, in: directory)
        let processes = try config.caches!.map { cache in
            try NodeProcess(
                arguments: ["cache", "--config", path, "--id", cache.id], port: Int(cache.port),
                metricsPort: Int(cache.metricsPort!), directory: directory)
        }
        return (path, processes)
    }

    static func version(_ reply: RESPValue) -> (value: String, version: Int64)? {
        guard let parts = reply.elements, parts.count == 2, let value = parts[0].text, let version = parts[1].int else { return nil }
        return (value, version)
    }

    @Test("a write through one gateway (or a direct client) reaches the other gateway's cache by the change feed; no reader sees a version go back", .timeLimit(.minutes(2)))
    func twoGateways() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let (path, processes) = try Self.gateways(cluster, ids: ["g1", "g2"])
        defer { for process in processes { process.stop() } }
        let g1 = try processes[0].client()
        let g2 = try processes[1].client()

        #expect(try g1.call("SET", "shared", "v1").text == "OK")
        #expect(Self.version(try g2.call("GETVER", "shared"))?.value == "v1")
        #expect(Self.version(try g2.call("GETVER", "shared"))?.value == "v1", "now from g2's cache")

        // g2 holds v1 for a minute unless the change feed tells it otherwise.
        #expect(try g1.call("SET", "shared", "v2").text == "OK")
        let written = Date()
        var seen: String?
        while Date().timeIntervalSince(written) < 10 {
            seen = Self.version(try g2.call("GETVER", "shared"))?.value
            if seen == "v2" { break }
            usleep(5_000)
        }
        #expect(seen == "v2", "the change feed reached g2")
        print("GATEWAY change-feed lag: g2 saw g1's write after \(String(format: "%.0f", Date().timeIntervalSince(written) * 1000)) ms")

        // A direct client's write reaches both gateways.
        let direct = try StrataClient(configuration: .init(clusterConfigPath: path))
        try await direct.set("shared", "v3")
        for gateway in [g1, g2] {
            var value: String?
            for _ in 0..<2000 {
                value = try gateway.call("GET", "shared").text
                if value == "v3" { break }
                usleep(5_000)
            }
            #expect(value == "v3")
        }

        // Writers through g1 and directly; readers through g2 never see a version go back.
        let stop = Atomic<Bool>(false)
        let regressions = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        let g2Port = processes[1].port
        let readers = (0..<3).map { _ in
            Thread {
                guard let reader = try? RESPTestClient(port: g2Port) else { return }
                var highest: [String: Int64] = [:]
                var n = 0
                while !stop.load(ordering: .relaxed) {
                    n += 1
                    let key = "mono\(n % 5)"
                    guard let reply = try? reader.call("GETVER", key), let (_, version) = Self.version(reply) else { continue }
                    if version < highest[key] ?? 0 { regressions.add(1, ordering: .relaxed) }
                    highest[key] = max(highest[key] ?? 0, version)
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        for reader in readers { reader.start() }
        for round in 0..<200 {
            let key: StrataKey = "mono\(round % 5)"
            if round % 2 == 0 {
                _ = try g1.call("SET", key.description, "r\(round)")
            } else {
                try await direct.set(key, "r\(round)")
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        stop.store(true, ordering: .relaxed)
        while readers.contains(where: { !$0.isFinished }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(regressions.load(ordering: .relaxed) == 0)
        #expect(reads.load(ordering: .relaxed) > 100)

        let info = try g2.call("INFO", "cache").text ?? ""
        #expect(info.contains("cache_hits:") && !info.contains("cache_hits:0\r"), "\(info)")
        let stats = try g2.call("INFO", "stats").text ?? ""
        #expect(!stats.contains("feed_changes:0\r"), "\(stats)")
        let metrics = try httpGet(port: processes[1].metricsPort, path: "/metrics")
        #expect(metrics.contains("strata_cache_hits_total{tenant=\"default\"}"))
    }

    /// The resident memory of a process, in bytes (Linux `/proc`).
    static func residentBytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes * 1024
    }

    @Test("a pipeline of cached GETs whose replies far exceed memory bounds is answered in full and in order, while the gateway's memory stays bounded", .timeLimit(.minutes(2)))
    func pipelineBackpressure() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let (_, processes) = try Self.gateways(cluster, ids: ["g1"])
        defer { for process in processes { process.stop() } }
        let client = try processes[0].client()
        let value = String(repeating: "v", count: 64 << 10)
        #expect(try client.call("SET", "big", value).text == "OK")
        #expect(try client.call("GET", "big").text == value)
        let before = try Self.residentBytes(processes[0].process.processIdentifier)
        // 3,000 GETs (about 200 MB of replies) in one write, then a pause before reading any.
        let count = 3000
        var raw: [UInt8] = []
        for index in 0..<count {
            let key = index == count - 1 ? "absent" : "big"
            raw += Array("*2\r\n$3\r\nGET\r\n$\(key.utf8.count)\r\n\(key)\r\n".utf8)
        }
        try client.send(raw: raw)
        try await Task.sleep(for: .seconds(1))
        let stalled = try Self.residentBytes(processes[0].process.processIdentifier)
        var answered = 0
        for index in 0..<count {
            let reply = try #require(try client.read())
            if index == count - 1 {
                #expect(reply.isNull)
            } else if reply.text?.utf8.count == value.utf8.count {
                answered += 1
            }
        }
        #expect(answered == count - 1)
        // Without backpressure the gateway would hold every reply at once (hundreds of MB).
        #expect(stalled - before < 100 << 20, "grew by \(stalled - before) bytes while the client did not read")
    }

    @Test("the client's near-cache serves repeated reads from memory and drops entries other clients change", .timeLimit(.minutes(2)))
    func nearCache() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        var configuration = ClientTests.configuration(cluster)
        configuration.nearCache = .init(policy: CachePolicy(softTTL: .seconds(60), hardTTL: .seconds(120)))
        let cached = try StrataClient(configuration: configuration)
        let running = Task { try await cached.run() }
        defer { running.cancel() }
        let other = try StrataClient(configuration: ClientTests.configuration(cluster))

        try await other.set("near", "one")
        #expect(try await cached.getString("near") == "one")
        let attempts = cached.statistics.attempts
        for _ in 0..<50 { #expect(try await cached.getString("near") == "one") }
        #expect(cached.statistics.attempts == attempts, "served from the near-cache")
        #expect((cached.nearCacheStatistics?.hits ?? 0) >= 50)

        try await other.set("near", "two")
        var value: String?
        for _ in 0..<2000 {
            value = try await cached.getString("near")
            if value == "two" { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(value == "two", "the change feed dropped the old entry")
        // Its own writes go through to the cache at once.
        try await cached.set("near", "three")
        #expect(try await cached.getString("near") == "three")
    }
}
