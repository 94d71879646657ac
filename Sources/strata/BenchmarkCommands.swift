import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataBench
import StrataCache
import StrataClient
import StrataCluster
import StrataCoordinator
import StrataGateway
import StrataNode
import StrataWire

/// `strata repl-latency`: from a write's acknowledgement to its replica having applied it.
struct ReplicationLatencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl-latency",
        abstract: "Measure replication latency (a write's acknowledgement to WAITSEQ answering on its replica) under an open-loop SET load.",
        discussion: "Prints: writes,samples,timed_out,p50_ms,p99_ms.")

    @Option(help: "Path to cluster.json.") var config = "cluster.json"
    @Option(help: "Writes per second.") var rate = 5_000
    @Option(help: "Seconds of writing.") var seconds = 10
    @Option(help: "Follow one write in this many to its replica.") var sampleEvery = 5

    func run() async throws {
        let client = try StrataClient(configuration: StrataClientConfiguration(clusterConfigPath: config))
        let result = try await ReplicationLatencyBenchmark(client: client, rate: rate, seconds: seconds, sampleEvery: sampleEvery).run()
        print("writes,samples,timed_out,p50_ms,p99_ms")
        print("\(result.writes),\(result.samples),\(result.timedOut),\(String(format: "%.3f,%.3f", result.p50 / .milliseconds(1), result.p99 / .milliseconds(1)))")
    }
}

/// `strata client-latency`: StrataClient round trips, one at a time, against one node.
struct ClientLatencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client-latency",
        abstract: "Measure StrataClient set/get round trips (one in flight) against a standalone node or a cluster.",
        discussion: "Prints one CSV line per operation: operation,requests,p50_ms,p99_ms,rps.")

    @Option(help: "A standalone node's host.") var host = "127.0.0.1"
    @Option(help: "A standalone node's port (omit with --config).") var port: Int?
    @Option(help: "A cluster.json instead of a standalone node.") var config: String?
    @Option(help: "Round trips per operation.") var requests = 100_000
    @Option(help: "Bytes per value.") var valueSize = 100
    @Option(help: "Keys drawn from key:0 ..< keyspace.") var keyspace = 100_000
    @Flag(help: "Run the loop on the client's event loop (StrataClient.preferredExecutor).") var clientExecutor = false

    func run() async throws {
        let configuration: StrataClientConfiguration
        if let config {
            configuration = try StrataClientConfiguration(clusterConfigPath: config)
        } else {
            configuration = StrataClientConfiguration(source: .standaloneNode(host: host, port: port ?? 7379))
        }
        let client = try StrataClient(configuration: configuration)
        let benchmark = ClientLatencyBenchmark(client: client, requests: requests, valueSize: valueSize, keyspace: keyspace)
        for result in try await benchmark.run(onClientExecutor: clientExecutor) {
            let p50 = Double(result.p50 / .nanoseconds(1)) / 1e6
            let p99 = Double(result.p99 / .nanoseconds(1)) / 1e6
            print("\(result.operation),\(result.requests),\(String(format: "%.3f,%.3f,%.0f", p50, p99, result.requestsPerSecond))")
        }
    }
}

/// `strata cache-sim`: the cache's eviction policy against LRU on synthetic traces.
struct CacheSimulationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-sim",
        abstract: "Hit ratio of the cache's policy (S3-FIFO) against LRU: Zipf 0.99 and 1.2, caches of 1% and 10%, and a scan-polluted mix.")

    @Option(help: "Distinct keys.") var keys = 1_000_000
    @Option(help: "Accesses per trace (the first fifth warms the cache).") var accesses = 10_000_000

    func run() throws {
        print("| trace | cache | S3-FIFO hit ratio | LRU hit ratio | difference (points) |")
        print("| --- | --- | --- | --- | --- |")
        let cases: [(String, Double, Int)] = [("Zipf 0.99", 0.99, 0), ("Zipf 1.2", 1.2, 0), ("Zipf 0.99 + scans (1 in 4)", 0.99, 4)]
        for (name, theta, scanEvery) in cases {
            let trace = HitRatioSimulation.trace(keys: keys, theta: theta, accesses: accesses, scanEvery: scanEvery)
            for fraction in [0.01, 0.1] {
                let capacity = Int(Double(keys) * fraction)
                let s3 = HitRatioSimulation.hitRatio(.s3fifo, trace: trace, capacity: capacity, warmUp: accesses / 5)
                let lru = HitRatioSimulation.hitRatio(.lru, trace: trace, capacity: capacity, warmUp: accesses / 5)
                print("| \(name) | \(Int(fraction * 100)) % | \(String(format: "%.4f", s3)) | \(String(format: "%.4f", lru)) | \(String(format: "%+.1f", (s3 - lru) * 100)) |")
            }
        }
    }
}


/// `strata cache-stampede`: storage loads under a stampede, with and without coalescing.
struct StampedeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-stampede",
        abstract: "N readers on one key that expires every second: storage loads with the cache's coalescing and with plain cache-aside.")

    @Option(help: "Path to cluster.json.") var config = "cluster.json"
    @Option(help: "Concurrent readers.") var readers = 64
    @Option(help: "Seconds per run.") var seconds = 10

    func run() async throws {
        let client = try StrataClient(configuration: StrataClientConfiguration(clusterConfigPath: config))
        let benchmark = StampedeBenchmark(client: client, readers: readers, duration: .seconds(seconds))
        print("| reads through | readers | expiries | storage loads | reads | loads per expiry |")
        print("| --- | --- | --- | --- | --- | --- |")
        for coalescing in [true, false] {
            let result = try await benchmark.run(coalescing: coalescing)
            let perExpiry = Double(result.loads) / Double(max(result.periods, 1))
            print("| \(coalescing ? "StrataCache (coalescing)" : "plain cache-aside") | \(readers) | \(result.periods) | \(result.loads) | \(result.reads) | \(String(format: "%.1f", perExpiry)) |")
        }
    }
}

/// `strata membership-load`: what clients see while the cluster's membership changes.
struct MembershipLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "membership-load",
        abstract: "An open-loop mix of writes and reads (acks=all) through StrataClient, with latency per phase and a read-back of every acknowledged write.",
        discussion: """
            Each write sets a key of its own; each read must find the value of a write acknowledged earlier.
            A script appends `<ms since 1970> <phase>` lines to --marks while the load runs (e.g. `during`
            when it adds a node, `after` when the moves are done); the phases before and between the marks
            are reported separately. Prints: phase,operations,failures,wrong_reads,p50_ms,p99_ms,max_ms, then
            acknowledged and lost. Exits with status 1 when any operation failed, a read was wrong or a
            write was lost. --preload-mb writes that much data first (1 KiB values).
            """)

    @Option(help: "Path to cluster.json.") var config = "cluster.json"
    @Option(help: "Operations per second.") var rate = 2_000
    @Option(help: "Seconds of load (0: only preload).") var seconds = 30
    @Option(help: "Share of operations that are reads (0-1).") var readFraction = 0.5
    @Option(help: "Bytes per value.") var valueSize = 100
    @Option(help: "The marks file a script appends phase names to.") var marks: String?
    @Option(help: "Megabytes to write before the load (preload:<n> keys, 1 KiB values).") var preloadMb = 0
    @Option(help: "leader or all.") var acks = "all"
    @Option(help: "A file for each second's p99 (ms since 1970, p99 ms).") var timeline: String?

    func run() async throws {
        var configuration = try StrataClientConfiguration(clusterConfigPath: config)
        guard let acks = ClusterConfig.Acks(rawValue: acks) else { throw ValidationError("--acks is leader or all") }
        configuration.acks = acks
        let client = try StrataClient(configuration: configuration)
        // As an application would: the client follows the coordinator's map pushes.
        let following = Task { try? await client.run() }
        defer { following.cancel() }
        if preloadMb > 0 {
            let started = ContinuousClock.now
            let keys = try await MembershipLoad.preload(client: client, megabytes: preloadMb)
            print("preloaded \(keys) keys (\(preloadMb) MB) in \(ContinuousClock.now - started)")
        }
        guard seconds > 0 else { return }
        let result = try await MembershipLoad(
            client: client, rate: rate, seconds: seconds, readFraction: readFraction, valueSize: valueSize, marksPath: marks
        ).run()
        func ms(_ duration: Duration) -> String { String(format: "%.2f", duration / .milliseconds(1)) }
        print("phase,operations,failures,wrong_reads,p50_ms,p99_ms,max_ms")
        for phase in result.phases {
            print("\(phase.name),\(phase.operations),\(phase.failures),\(phase.wrongReads),\(ms(phase.p50)),\(ms(phase.p99)),\(ms(phase.max))")
        }
        print("acknowledged,\(result.acknowledged)")
        print("lost,\(result.lost)")
        let statistics = client.statistics
        print("client retries,\(statistics.retries),redirects,\(statistics.redirects),map fetches,\(statistics.mapFetches)")
        for failure in result.failureSamples { print("failure: \(failure)") }
        if let timeline {
            let lines = result.p99PerSecond.map { "\($0.0) \(ms($0.1))" }.joined(separator: "\n")
            try (lines + "\n").write(toFile: timeline, atomically: true, encoding: .utf8)
        }
        if result.lost > 0 || result.phases.contains(where: { $0.failures > 0 || $0.wrongReads > 0 }) { throw ExitCode(1) }
    }
}

/// `strata bench`: YCSB-style workloads against Strata (client or gateway) or any RESP server.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run YCSB workloads (A-F) or a stampede against Strata or any RESP server.",
        discussion: """
            Targets: --target client (StrataClient, with --config), client-near (with its near-cache), \
            resp (any RESP server at --host/--port: the Strata gateway, Redis). Closed loop with --clients N; \
            open loop with --rate R (latencies from each request's scheduled start: corrected for \
            coordinated omission; the uncorrected ones are reported too). Prints a live progress line \
            on stderr, then the result as JSON (--json FILE appends it) and a Markdown row.
            """)

    @Option(help: "Workload: A, B, C, D, E, F or stampede.") var workload = "A"
    @Option(help: "client, client-near or resp.") var target = "client"
    @Option(help: "Name in the report (default: the target).") var name: String?
    @Option(help: "cluster.json (client targets).") var config = "cluster.json"
    @Option(help: "Host (resp target).") var host = "127.0.0.1"
    @Option(help: "Port (resp target).") var port = 6379
    @Option(help: "uniform, zipfian[:theta], latest, hotspot[:keys:ops] (default: the workload's).") var distribution: String?
    @Option(help: "Records loaded first.") var records = 100_000
    @Option(help: "Bytes per value.") var valueSize = 100
    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Measured seconds.") var seconds = 10.0
    @Option(help: "Warm-up seconds.") var warmUp = 2.0
    @Option(help: "Open loop: requests per second.") var rate: Double?
    @Flag(help: "Skip loading the records (they are there from an earlier run).") var noLoad = false
    @Option(help: "Append the JSON result to this file.") var json: String?

    func run() async throws {
        guard let workload = Workload(rawValue: workload.uppercased()) ?? Workload(rawValue: workload.lowercased()) else {
            throw ValidationError("unknown workload \(workload): A, B, C, D, E, F or stampede")
        }
        var settings = BenchSettings(workload: workload)
        if let distribution {
            guard let parsed = KeyDistribution(argument: distribution) else { throw ValidationError("unknown distribution \(distribution)") }
            settings.distribution = parsed
        }
        settings.records = records
        settings.valueSize = valueSize
        settings.clients = clients
        settings.duration = .milliseconds(Int64(seconds * 1000))
        settings.warmUp = .milliseconds(Int64(warmUp * 1000))
        settings.rate = rate
        let benchTarget: any BenchTarget
        switch target {
        case "client", "client-near":
            var configuration = try StrataClientConfiguration(clusterConfigPath: config)
            if target == "client-near" { configuration.nearCache = .init() }
            let client = try StrataClient(configuration: configuration)
            if target == "client-near" { Task { try? await client.run() } }
            benchTarget = ClientTarget(name: name ?? target, client: client)
        case "resp":
            benchTarget = try await RESPTarget(name: name ?? "resp \(host):\(port)", host: host, port: port, clients: clients)
        default:
            throw ValidationError("unknown target \(target): client, client-near or resp")
        }
        let runner = BenchRunner(settings: settings, target: benchTarget)
        if !noLoad { try await runner.load() }
        let result = try await runner.run { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(result)
        print(String(decoding: data, as: UTF8.self))
        print(BenchReport.markdown([result]))
        if let json {
            if !FileManager.default.fileExists(atPath: json) { _ = FileManager.default.createFile(atPath: json, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: json))
            handle.seekToEndOfFile()
            handle.write(data + Data("\n".utf8))
            try handle.close()
        }
    }
}

/// `strata bench-report`: the Markdown report and SVG charts of the JSON results `strata bench --json` wrote.
struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-report", abstract: "Write report.md and SVG charts from strata bench JSON results.")

    @Option(help: "The JSON lines file (strata bench --json).") var json: String
    @Option(help: "Where to write report.md and the charts.") var out: String
    @Option(help: "The report's title.") var title = "Strata benchmark"
    @Option(help: "A line under the title (repeatable).") var note: [String] = []

    func run() throws {
        let text = try String(contentsOfFile: json, encoding: .utf8)
        let results = try text.split(separator: "\n").map { try JSONDecoder().decode(BenchResult.self, from: Data($0.utf8)) }
        try BenchReport.write(results, to: out, title: title, notes: note)
        print(BenchReport.document(results, title: title, notes: note))
    }
}
