import Foundation
import StrataCluster
import StrataWire
import Testing

/// `/metrics` as an operator scrapes it: per-shard and per-tenant series from real nodes.
@Suite("Metrics")
struct MetricsTests {
    /// One series of a scrape: its name and labels.
    struct Series: Hashable, CustomStringConvertible {
        let name: String
        let labels: [String: String]

        init(_ name: String, _ labels: [String: String] = [:]) {
            self.name = name
            self.labels = labels
        }

        var description: String { "\(name)\(labels.sorted { $0.key < $1.key })" }
    }

    /// Parses Prometheus text exposition: every sample line, by series (comments skipped).
    static func parse(_ text: String) throws -> [Series: Double] {
        var samples: [Series: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw RESPTestClient.Failure(description: "not a sample line: \(line)")
            }
            let head = line[..<space]
            guard let brace = head.firstIndex(of: "{") else {
                samples[Series(String(head))] = value
                continue
            }
            var labels: [String: String] = [:]
            for pair in head[head.index(after: brace)..<head.index(before: head.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw RESPTestClient.Failure(description: "bad label in \(line)") }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            samples[Series(String(head[..<brace]), labels)] = value
        }
        return samples
    }

    static func scrape(_ cluster: ClusterTests.Cluster, _ node: NodeID) throws -> [Series: Double] {
        try scrape(port: Int(try #require(cluster.config.nodes.first { $0.id == node.rawValue }?.metricsPort)))
    }

    static func scrape(port: Int) throws -> [Series: Double] {
        let response = try httpGet(port: port, path: "/metrics")
        guard let body = response.range(of: "\r\n\r\n") else { throw RESPTestClient.Failure(description: "no HTTP body") }
        return try parse(String(response[body.upperBound...]))
    }

    @Test("after a mixed workload, /metrics has per-shard reads, writes, role, sequence and replica lag, and per-tenant commands, errors and bytes", .timeLimit(.minutes(2)))
    func perShardAndPerTenant() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret,
            tenants: ["acme": .init(secretHash: TenantSecret.hash(Array("acme-secret".utf8)))])
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let key = "metrics-key"
        let shard = try cluster.map().shard(
            forHash: PlacementKey.hash(tenant: Array("acme".utf8), key: Array(key.utf8), placement: .spread))
        let (primary, replica) = (try #require(shard.primary), shard.replicas[1])
        let id = String(shard.id.rawValue)

        // Tenant acme: 10 SETs, 3 GETs and an INCR that fails, one command per batch.
        let client = try RESPTestClient(port: ClientTests.port(cluster, primary))
        #expect(try client.call("AUTH", "acme", "acme-secret").text == "OK")
        var requestBytes = 0
        func call(_ arguments: String...) throws -> RESPValue {
            requestBytes += arguments.reduce(0) { $0 + $1.utf8.count }
            return try client.call(arguments.map { Array($0.utf8) })
        }
        for i in 0..<10 { #expect(try call("SET", key, "value-\(i)").text == "OK") }
        for _ in 0..<3 { #expect(try call("GET", key).text == "value-9") }
        #expect(try call("INCR", key).isError)
        // The default tenant (loopback): two PINGs.
        let other = try RESPTestClient(port: ClientTests.port(cluster, primary))
        for _ in 0..<2 { #expect(try other.call("PING").text == "PONG") }
        try ReplicationTests.waitForConvergence(cluster)

        var led = try Self.scrape(cluster, primary)
        let acme = ["tenant": "acme"]
        #expect(led[Series("strata_shard_operations_total", ["shard": id, "class": "write"])] == 10)
        #expect(led[Series("strata_shard_operations_total", ["shard": id, "class": "read"])] == 4, "3 GETs and the INCR's read")
        #expect(led[Series("strata_shard_primary", ["shard": id])] == 1)
        // Ten records of the key (7 value bytes each), each with its encoded key: more than the values alone.
        #expect(led[Series("strata_shard_write_bytes_total", ["shard": id])] ?? 0 > 10 * Double(key.utf8.count + 7))
        #expect(led[Series("strata_shard_sequence", ["shard": id])] == 10)
        #expect(led[Series("strata_shard_replication_lag_entries", ["shard": id])] == 0)
        #expect(led[Series("strata_tenant_commands_total", acme)] == 14)
        #expect(led[Series("strata_tenant_errors_total", acme)] == 1)
        #expect(led[Series("strata_tenant_request_bytes_total", acme)] == Double(requestBytes))
        // 10 × "+OK\r\n", 3 × "$7\r\nvalue-9\r\n", and the INCR's error line.
        let replies = try #require(led[Series("strata_tenant_reply_bytes_total", acme)])
        #expect(replies > Double(10 * 5 + 3 * 13))
        #expect(led[Series("strata_tenant_commands_total", ["tenant": "default"])] ?? 0 >= 2)
        #expect(led[Series("strata_writes_total")] ?? 0 >= 10, "the node-wide counters are there too")
        // The writer's histograms: every group counted, 10 client SETs and an INCR at least.
        #expect(led[Series("strata_writer_group_writes_count")] ?? 0 >= 11)
        #expect(led[Series("strata_writer_group_writes_bucket", ["le": "1.0"])] ?? 0 >= 11, "one write per group here")
        #expect(led[Series("strata_writer_commit_seconds_count")] == led[Series("strata_writer_group_writes_count")])
        #expect(led[Series("strata_writer_queue_delay_seconds_count")] == led[Series("strata_writer_group_writes_count")])
        #expect(led[Series("strata_rocksdb_stall_seconds_total")] == 0, "RocksDB held no write back")
        // Batch latency by class: the SETs and the INCR on the writer, the GETs as reads.
        #expect(led[Series("strata_batch_duration_seconds_count", ["class": "write"])] ?? 0 >= 11)
        #expect(led[Series("strata_batch_duration_seconds_count", ["class": "read"])] ?? 0 >= 3)

        // The replica applied the same ten writes (a fetch that brings several writes of one key
        // stores it once); it does not lead the shard and is not behind.
        let follows = try Self.scrape(cluster, replica)
        let applied = try #require(follows[Series("strata_shard_operations_total", ["shard": id, "class": "write"])])
        #expect(applied >= 1 && applied <= 10)
        #expect(follows[Series("strata_shard_primary", ["shard": id])] == 0)
        #expect(follows[Series("strata_shard_sequence", ["shard": id])] == 10)
        #expect(follows[Series("strata_shard_replication_lag_entries", ["shard": id])] == 0)
        #expect(follows[Series("strata_shard_replication_lag_seconds", ["shard": id])] == 0)
        #expect(follows[Series("strata_tenant_commands_total", acme)] == nil, "acme sent nothing to the replica")

        // The replica stops following: the primary's series shows how far it falls behind.
        let admin = try RESPTestClient(port: ClientTests.port(cluster, replica))
        #expect(try admin.call("AUTH", "@internal", ReplicationTests.secret).text == "OK")
        #expect(try admin.call("DEBUG", "FOLLOW-PAUSE", "3000").text == "OK")
        for i in 10..<15 { #expect(try call("SET", key, "value-\(i)").text == "OK") }
        led = try Self.scrape(cluster, primary)
        #expect(led[Series("strata_shard_sequence", ["shard": id])] == 15)
        #expect(led[Series("strata_shard_replication_lag_entries", ["shard": id])] == 5)
        // The paused replica knows it too, in entries and in time.
        Thread.sleep(forTimeInterval: 0.4)
        let paused = try Self.scrape(cluster, replica)
        #expect(paused[Series("strata_shard_replication_lag_entries", ["shard": id])] == 5)
        #expect(paused[Series("strata_shard_replication_lag_seconds", ["shard": id])] ?? 0 >= 0.35)
        #expect(paused[Series("strata_shard_replication_lag_seconds", ["shard": id])] ?? 10 < 3)
    }

    @Test("a gateway's /metrics has per-tenant hits, misses, loads and a load-latency histogram, and its own counters", .timeLimit(.minutes(2)))
    func gatewayPerTenant() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let (_, processes) = try GatewayTests.gateways(cluster, ids: ["g1"])
        defer { for process in processes { process.stop() } }
        let gateway = try processes[0].client()
        // A write (through to storage and into the cache), three hits, two misses that load, one negative hit.
        #expect(try gateway.call("SET", "metrics-key", "v").text == "OK")
        for _ in 0..<3 { #expect(try gateway.call("GET", "metrics-key").text == "v") }
        #expect(try gateway.call("GET", "absent-1").isNull)
        #expect(try gateway.call("GET", "absent-2").isNull)
        #expect(try gateway.call("GET", "absent-1").isNull)

        let scraped = try Self.scrape(port: processes[0].metricsPort)
        let tenant = ["tenant": "default"]
        #expect(scraped[Series("strata_cache_hits_total", tenant)] ?? 0 >= 4)
        #expect(scraped[Series("strata_cache_misses_total", tenant)] ?? 0 >= 2)
        let loads = try #require(scraped[Series("strata_cache_loads_total", tenant)])
        #expect(loads >= 2)
        #expect(scraped[Series("strata_cache_load_duration_seconds_count", tenant)] == loads, "every load is timed")
        #expect(scraped[Series("strata_cache_load_duration_seconds_bucket", tenant.merging(["le": "+Inf"]) { a, _ in a })] == loads)
        #expect(scraped[Series("strata_cache_entries", tenant)] ?? 0 >= 1)
        #expect(scraped[Series("strata_gateway_commands_total")] ?? 0 >= 7)
        #expect(scraped[Series("strata_gateway_writes_total")] ?? 0 >= 1)
        #expect(scraped[Series("strata_gateway_connections")] ?? 0 >= 1)
        // A second scrape counts on from the first, not twice over.
        #expect(try gateway.call("GET", "metrics-key").text == "v")
        let again = try Self.scrape(port: processes[0].metricsPort)
        #expect(again[Series("strata_cache_hits_total", tenant)] == (scraped[Series("strata_cache_hits_total", tenant)] ?? 0) + 1)
    }
}
