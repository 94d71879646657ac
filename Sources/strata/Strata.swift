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

/// The `strata` executable: subcommands only; the logic lives in the server modules.
@main
struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "A sharded key-value store with a write-through cache tier.",
        subcommands: [
            CoordinatorCommand.self, NodeCommand.self, StatusCommand.self, FailoverCommand.self, ClusterAdminCommand.self, HashSecretCommand.self, CommandsCommand.self,
            ConfigCommand.self, CacheCommand.self, ClientLatencyCommand.self, ReplicationLatencyCommand.self, MembershipLoadCommand.self, CacheSimulationCommand.self, StampedeCommand.self, BenchCommand.self, BenchReportCommand.self,
        ]
    )
}

/// Runs a server subcommand's service until SIGTERM or SIGINT shuts it down gracefully.
func serveUntilSignalled(_ service: some Service, logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// Sets up swift-log once for a server subcommand.
func bootstrapLogging(level: String) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = Logger.Level(rawValue: level) ?? .info
        return handler
    }
}

/// `strata coordinator`: run the coordinator.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: owns the cluster map, takes heartbeats, detects failures."
    )

    @Option(help: "Path to cluster.json.") var config = "cluster.json"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        let cluster = try ClusterConfig.load(path: config)
        bootstrapLogging(level: logLevel)
        let logger = Logger(label: "strata.coordinator")
        let server = try CoordinatorServer(configuration: .init(config: cluster), logger: logger)
        try await serveUntilSignalled(server, logger: logger)
    }
}

/// `strata status`: the coordinator's view of the cluster as a table.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Print nodes, states, shards per node and the map epoch.")

    @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"

    func run() async throws {
        print(StatusReport.render(try await coordinatorMap(config: config)))
    }
}

/// Sends one command to the coordinator named in the cluster.json at `config` and returns its reply.
func callCoordinator(config: String, _ arguments: [String]) async throws -> RESPValue {
    let cluster = try ClusterConfig.load(path: config)
    guard let coordinator = cluster.coordinator else { throw ValidationError("\(config) has no coordinator") }
    let connection = try await RESPConnection.connect(
        host: coordinator.host, port: Int(coordinator.port), node: NodeID("coordinator"),
        group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(2))
    defer { connection.close() }
    return try await connection.send(arguments, deadline: .now + .seconds(5))
}

/// `strata failover`: move a shard's primary for maintenance, losing no write.
struct FailoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Move a shard's primary to an in-sync replica (planned; no write is lost).",
        discussion: """
            The coordinator publishes the new primary with a new shard epoch. The old primary stops
            taking writes when it sees the new map; the new one takes writes once it has drained the
            old primary's log, so even writes acknowledged with acks=leader survive.
            """)

    @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
    @Option(help: "The shard whose primary moves.") var shard: UInt32
    @Option(help: "The replica to promote (default: the most caught-up in-sync one).") var to: String?

    func run() async throws {
        let reply = try await callCoordinator(config: config, ["CLUSTER", "FAILOVER", String(shard)] + (to.map { [$0] } ?? []))
        guard case .array(let fields) = reply, fields.count == 2, case .bulkString(let primary) = fields[0],
            case .integer(let epoch) = fields[1]
        else {
            if case .error(let message) = reply {
                throw ValidationError("failover refused: \(String(buffer: message))")
            }
            throw ValidationError("unexpected reply: \(reply)")
        }
        print("shard \(shard): primary is now \(String(buffer: primary)) at shard epoch \(epoch)")
    }
}

/// `strata cluster`: change the cluster's membership online.
struct ClusterAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Change the cluster's membership online, watch and throttle the moves, verify the copies.",
        subcommands: [AddNode.self, RemoveNode.self, SetWeight.self, Moves.self, VerifyCopies.self, Throttle.self])

    /// `strata cluster moves`: the shards on the move.
    struct Moves: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "moves",
            abstract: "List the shards on the move: from and to which nodes, the phase, and for copies in progress bytes and records done of the total, rate and ETA.")

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"

        func run() async throws {
            let map = try await coordinatorMap(config: config)
            print(MoveReport.render(map))
            let progress = try await copyProgress(config: config, map: map)
            if !progress.isEmpty { print("\n" + progress) }
        }
    }

    /// `strata cluster set-weight`: a node's relative capacity.
    struct SetWeight: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-weight",
            abstract: "Change a node's relative capacity: shards move onto it (higher) or off it (lower) as the new copies catch up.")

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Argument(help: "The node's id.") var id: String
        @Argument(help: "Its new weight (1-1000).") var weight: Int

        func run() async throws {
            let epoch = try await coordinatorEpoch(
                config: config, ["CLUSTER", "SETWEIGHT", id, String(weight)], refused: "setting \(id)'s weight")
            print("node \(id) has weight \(weight) (map epoch \(epoch)); shards move as their copies catch up")
        }
    }

    /// `strata cluster remove-node`: decommission a node.
    struct RemoveNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-node",
            abstract: "Decommission a node: its shards move to the others as their new copies catch up, then it leaves the map.",
            discussion: "Stop the node once `strata status` no longer lists it.")

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            let epoch = try await coordinatorEpoch(config: config, ["CLUSTER", "REMOVENODE", id], refused: "removing \(id)")
            print("node \(id) is draining (map epoch \(epoch)); it leaves the map once its shards have moved")
        }
    }

    /// `strata cluster add-node`: announce a node to the coordinator.
    struct AddNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-node",
            abstract: "Add a node: the coordinator gives it ring tokens and moves shards onto it as it catches up.",
            discussion: """
                Start the node (strata node --config cluster.json --id ID) with an entry in its
                cluster.json; its shards' old copies stay until it has caught up, so nothing is lost.
                `strata node --join` announces itself the same way.
                """)

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Option(help: "The new node's id.") var id: String
        @Option(help: "Its host.") var host: String
        @Option(help: "Its RESP data port.") var port: UInt16
        @Option(help: "Its HTTP port for /metrics and /health.") var metricsPort: UInt16?
        @Option(help: "Its failure domain.") var zone: String?
        @Option(help: "Its relative capacity.") var weight: Int?

        func run() async throws {
            let epoch = try await announce(
                NodeAnnouncement(id: id, host: host, port: port, metricsPort: metricsPort, zone: zone, weight: weight),
                config: config)
            print("node \(id) is in the cluster map (epoch \(epoch)); shards move onto it as it catches up")
        }
    }
}

/// Sends `CLUSTER ADDNODE` for `node` to the coordinator of `config`; returns the map epoch.
func announce(_ node: NodeAnnouncement, config: String) async throws -> Int64 {
    try await coordinatorEpoch(config: config, node.arguments, refused: "adding \(node.id)")
}

/// Sends a membership change to the coordinator of `config`; returns the map epoch it answers,
/// or throws its refusal as "`refused` refused: …".
func coordinatorEpoch(config: String, _ arguments: [String], refused: String) async throws -> Int64 {
    let reply = try await callCoordinator(config: config, arguments)
    guard case .integer(let epoch) = reply else {
        if case .error(let message) = reply { throw ValidationError("\(refused) refused: \(String(buffer: message))") }
        throw ValidationError("unexpected reply: \(reply)")
    }
    return epoch
}

/// The coordinator's current map (`CLUSTER MAP`), from the coordinator of `config`.
func coordinatorMap(config: String) async throws -> ClusterMap {
    guard case .bulkString(let json) = try await callCoordinator(config: config, ["CLUSTER", "MAP"]) else {
        throw ValidationError("the coordinator did not return a map")
    }
    return try ClusterMap(jsonData: Data(json.readableBytesView))
}

/// `strata node`: run a storage node.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a storage node (RocksDB behind a RESP server).",
        discussion: """
            Either --config cluster.json --id n1 (a node of a cluster), or
            --standalone --port P --data-dir DIR (one node owning the whole ring).
            """
    )

    @Option(help: "Path to cluster.json.") var config: String?
    @Option(help: "This node's id in cluster.json.") var id: String?
    @Flag(help: "Run one node that owns the whole ring.") var standalone = false
    @Option(help: "Bind address (standalone).") var host = "127.0.0.1"
    @Option(help: "RESP port (standalone).") var port: Int = 7379
    @Option(help: "HTTP port for /metrics and /health (standalone; omit for none).") var metricsPort: Int?
    @Option(help: "RocksDB directory (standalone).") var dataDir: String?
    @Option(help: "WAL durability: everysec (fsync every second), always (fsync every write), group (shared fsyncs), none.")
    var wal = "everysec"
    @Option(help: "Close connections idle this many seconds (0 = never); checked once per period, so within twice that.") var idleTimeout: Int = 300
    @Option(help: "Most simultaneous clients.") var maxClients: Int = 10_000
    @Option(help: "Largest bulk string a client may send, in bytes.") var maxBulk: Int = 64 << 20
    @Option(help: "Largest reply batch one connection may produce, in MiB; beyond it the connection is closed.")
    var maxOutputMb: Int = 512
    @Option(help: "RocksDB memtable size in MiB.") var writeBufferMb: Int = 16
    @Option(help: "Event-loop threads (default: one per core less one for the writer, at least one).") var eventLoops: Int?
    @Option(help: "Threads for reads that need the disk (default: two per core).") var storageThreads: Int?
    @Option(help: "In-memory record cache (hot set) in MiB; 0 disables it.") var recordCacheMb: Int = 256
    @Option(help: "Replication-log entries kept per shard; a replica further behind catches up from a snapshot.")
    var logRetention: Int = 100_000
    @Option(help: "Seconds a shard stays off this node's map before its data is deleted.") var dropDelaySeconds: Int = 60
    @Option(help: "KiB of a shard one snapshot page brings to this node as a replica (a shard moves page by page).")
    var snapshotPageKb: Int = 4096
    @Option(help: "The most MB a second of shard copies (snapshots and log catch-up) this node takes in when shards move to it, all moves together (0: unthrottled; CONFIG SET transfer-mb-per-second changes it at runtime).")
    var transferMbPerSecond: Double = Double(NodeConfiguration.defaultTransferBytesPerSecond) / 1_000_000
    @Option(help: "The most shards this node copies at once; the others wait their turn (0: no limit; CONFIG SET max-copying-shards changes it at runtime).")
    var maxCopyingShards: Int = 0
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Flag(help: "Join a running cluster: announce this node (its cluster.json entry) to the coordinator first (as strata cluster add-node).")
    var join = false

    func run() async throws {
        var configuration: NodeConfiguration
        if standalone {
            guard let dataDir else { throw ValidationError("--standalone needs --data-dir") }
            configuration = try NodeConfiguration(standaloneHost: host, port: port, metricsPort: metricsPort, dataDir: dataDir)
        } else {
            guard let config, let id else { throw ValidationError("give --config and --id, or --standalone") }
            let cluster = try ClusterConfig.load(path: config)
            var map = try cluster.bootstrapMap()
            if join {
                guard let entry = cluster.nodes.first(where: { $0.id == id }) else { throw ValidationError("\(id) is not in \(config)") }
                _ = try await announce(
                    NodeAnnouncement(
                        id: id, host: entry.host, port: entry.dataPort, metricsPort: entry.metricsPort, zone: entry.zone,
                        weight: entry.weight),
                    config: config)
                // Start from the coordinator's map, not one computed from cluster.json as if this node were there from the start.
                map = try await coordinatorMap(config: config)
            }
            configuration = try NodeConfiguration(config: cluster, map: map, nodeID: NodeID(id))
        }
        switch wal {
        case "everysec": configuration.walSync = .noSync; configuration.walFsyncInterval = .seconds(1)
        case "none": configuration.walSync = .noSync; configuration.walFsyncInterval = nil
        case "always": configuration.walSync = .everyWrite
        case "group": configuration.walSync = .groupCommit(window: .microseconds(500))
        default: throw ValidationError("--wal must be everysec, always, group or none")
        }
        configuration.idleTimeoutSeconds = idleTimeout
        configuration.maxClients = maxClients
        configuration.connectionLimits.limits.maxBulkLength = maxBulk
        configuration.connectionLimits.maxOutputBytes = max(maxOutputMb, 1) << 20
        configuration.writeBufferBytes = max(writeBufferMb, 1) << 20
        if let eventLoops { configuration.eventLoopThreads = max(eventLoops, 1) }
        if let storageThreads { configuration.storageThreads = max(storageThreads, 1) }
        configuration.recordCacheBytes = max(recordCacheMb, 0) << 20
        configuration.logRetention = UInt64(max(logRetention, 1))
        configuration.shardDropDelay = .seconds(max(dropDelaySeconds, 0))
        configuration.snapshotPageBytes = max(snapshotPageKb, 1) << 10
        configuration.transferBytesPerSecond = transferMbPerSecond > 0 ? Int(transferMbPerSecond * 1_000_000) : nil
        if maxCopyingShards > 0 { configuration.maxCopyingShards = maxCopyingShards }

        bootstrapLogging(level: logLevel)
        let logger = Logger(label: "strata.node")
        let server = try NodeServer(configuration: configuration, logger: logger)
        try await serveUntilSignalled(server, logger: logger)
    }
}

/// `strata hash-secret`: print the `secretHash` value for cluster.json.
struct HashSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-secret",
        abstract: "Print the sha256:<hex> form of a tenant secret for cluster.json's secretHash."
    )

    @Argument(help: "The secret.") var secret: String

    func run() throws {
        print(TenantSecret.hash(Array(secret.utf8)))
    }
}

/// `strata commands`: the command reference, generated from the command table.
struct CommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "Print every command the servers run, as the README's Markdown tables (generated from the command table)."
    )

    func run() throws {
        print(CommandReference.markdown(), terminator: "")
    }
}

/// `strata config`: read cluster.json for scripts.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect cluster.json.",
        subcommands: [ListNodes.self, ShowCoordinator.self, ListCaches.self]
    )

    /// `strata config caches`: one line per cache gateway: id host port metricsPort ("-" for none).
    struct ListCaches: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "caches", abstract: "Print 'id host port metricsPort' for every cache gateway.")

        @Option(help: "Path to cluster.json.") var config = "cluster.json"

        func run() throws {
            let cluster = try ClusterConfig.load(path: config)
            for cache in cluster.caches ?? [] {
                print("\(cache.id) \(cache.host) \(cache.port) \(cache.metricsPort.map(String.init) ?? "-")")
            }
        }
    }

    /// `strata config coordinator`: 'host port metricsPort' of the coordinator, or nothing.
    struct ShowCoordinator: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coordinator", abstract: "Print 'host port metricsPort' of the coordinator (nothing if none).")

        @Option(help: "Path to cluster.json.") var config = "cluster.json"

        func run() throws {
            let cluster = try ClusterConfig.load(path: config)
            guard let coordinator = cluster.coordinator else { return }
            print("\(coordinator.host) \(coordinator.port) \(coordinator.metricsPort.map(String.init) ?? "-")")
        }
    }

    /// `strata config nodes`: one line per storage node: id host dataPort metricsPort ("-" for none).
    struct ListNodes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nodes", abstract: "Print 'id host dataPort metricsPort' for every storage node.")

        @Option(help: "Path to cluster.json.") var config = "cluster.json"

        func run() throws {
            let cluster = try ClusterConfig.load(path: config)
            for node in cluster.nodes {
                print("\(node.id) \(node.host) \(node.dataPort) \(node.metricsPort.map(String.init) ?? "-")")
            }
        }
    }
}

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

/// `strata cache`: run a cache-tier gateway.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Run a cache gateway: RESP for any Redis client, reads through the cache, writes through to the primaries.")

    @Option(help: "Path to cluster.json.") var config = "cluster.json"
    @Option(help: "This gateway's id in cluster.json's caches.") var id: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        let configuration = try GatewayConfiguration(clusterConfigPath: config, id: id)
        bootstrapLogging(level: logLevel)
        let logger = Logger(label: "strata.cache")
        let server = GatewayServer(configuration: configuration, logger: logger)
        try await serveUntilSignalled(server, logger: logger)
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
