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
