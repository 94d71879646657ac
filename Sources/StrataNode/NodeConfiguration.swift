import StrataServer
import NIOCore
import StrataCluster
import StrataStorage

/// Everything a storage node needs to start.
public struct NodeConfiguration: Sendable {
    /// Address to bind the RESP port to.
    public var host: String
    /// RESP data port (0 picks a free port; see `NodeServer.boundPort`).
    public var port: Int
    /// HTTP port for `/metrics` and `/health`; `nil` for none.
    public var metricsPort: Int?
    /// RocksDB directory.
    public var dataDir: String
    /// The cluster map and this node's id in it.
    public var map: ClusterMap
    /// This node's id in `map`.
    public var nodeID: NodeID
    /// The coordinator to heartbeat to and take maps from; `nil` for a node
    /// that keeps its bootstrap map (standalone).
    public var coordinator: (host: String, port: Int, heartbeatInterval: Duration, lease: Duration)?
    /// Tenants from cluster.json.
    public var tenants: [String: ClusterConfig.Tenant]
    /// Who may use the `default` tenant without AUTH.
    public var defaultTenantAccess: ClusterConfig.DefaultTenantAccess
    /// The secret nodes replicate with (`nil`: this node neither follows nor serves its log).
    public var internalSecret: String?
    /// Replication-log entries kept per shard.
    public var logRetention: UInt64 = 100_000
    /// How much of a shard one snapshot page brings to this node as a replica, at most (about).
    public var snapshotPageBytes: Int = 4 << 20
    /// The most bytes a second of shard copies (snapshot pages and log entries of
    /// shards not yet in sync) this node takes in (`nil`: unthrottled); `CONFIG SET
    /// transfer-mb-per-second` changes it at runtime.
    public var transferBytesPerSecond: Int? = NodeConfiguration.defaultTransferBytesPerSecond
    /// The default transfer throttle, 10 MB/s: copying a shard as fast as it comes
    /// starves the requests on a small machine (a 1 GB add unthrottled on two cores
    /// had requests time out; see docs/performance.md).
    public static let defaultTransferBytesPerSecond = 10_000_000
    /// The most shards this node copies at once (`nil`: all it is given); `CONFIG SET max-copying-shards` changes it.
    public var maxCopyingShards: Int?
    /// Whether heartbeats carry the bytes on disk of the shards this node leads: only
    /// when the cluster splits shards by size (`splitShardsAboveMB`), the one use of them.
    public var reportsShardSizes = false
    /// How long a shard stays off this node's map before its data is deleted (`ShardJanitor`).
    public var shardDropDelay: Duration = .seconds(60)
    /// Most simultaneous client connections; more are refused with an error.
    public var maxClients: Int = 10_000
    /// Close connections idle this long (0 = never).
    public var idleTimeoutSeconds: Int = 300
    /// Per-connection limits.
    public var connectionLimits = ConnectionConfiguration()
    /// Event-loop threads (default: one per core less the one the writer
    /// thread keeps busy under load, at least one). More loops than free
    /// cores only adds wake-ups and cache misses: on two cores one loop
    /// served GETs with ~20 % less CPU per request than two.
    public var eventLoopThreads: Int = max(System.coreCount - 1, 1)
    /// Threads that run RocksDB calls (default: two per core).
    public var storageThreads: Int = System.coreCount * 2
    /// When writes are synced to disk. The default, `.noSync` plus a WAL fsync
    /// every second, matches Redis's `appendfsync everysec`.
    public var walSync: WALSyncPolicy = .noSync
    /// Interval of the background WAL fsync under `.noSync` (`nil` = never).
    public var walFsyncInterval: Duration? = .seconds(1)
    /// RocksDB block cache bytes.
    public var blockCacheBytes: Int = 128 << 20
    /// RocksDB memtable size: smaller memtables make inserts cheaper (a
    /// shallower skiplist that stays in the CPU cache) at the cost of more flushes.
    public var writeBufferBytes: Int = 16 << 20
    /// The node's in-memory hot set of records, in bytes (0 disables it).
    public var recordCacheBytes: Int = 256 << 20

    /// A node of `map`, from cluster.json.
    public init(config: ClusterConfig, map: ClusterMap, nodeID: NodeID) throws(ClusterError) {
        guard let node = config.nodes.first(where: { $0.id == nodeID.rawValue }) else {
            throw ClusterError(.unknownNode, "node \(nodeID) is not in cluster.json")
        }
        host = node.host
        port = Int(node.dataPort)
        metricsPort = node.metricsPort.map(Int.init)
        dataDir = node.dataDir
        self.map = map
        self.nodeID = nodeID
        tenants = config.tenants ?? [:]
        defaultTenantAccess = config.defaultTenant ?? .loopback
        internalSecret = config.internalSecret
        reportsShardSizes = config.splitShardsAboveMB != nil
        if let coordinator = config.coordinator {
            self.coordinator = (coordinator.host, Int(coordinator.port), coordinator.heartbeatInterval, coordinator.lease)
        }
    }

    /// A standalone node that owns the whole ring.
    public init(standaloneHost host: String, port: Int, metricsPort: Int?, dataDir: String, shardCount: Int = 64) throws(ClusterError) {
        let topology = try NodeTopology.standalone(host: host, port: UInt16(clamping: port), shardCount: shardCount)
        self.host = host
        self.port = port
        self.metricsPort = metricsPort
        self.dataDir = dataDir
        self.map = topology.map
        self.nodeID = topology.localNode
        tenants = [:]
        defaultTenantAccess = .loopback
    }
}

