import Foundation

/// The contents of `cluster.json`: every process of a cluster reads it.
/// See README.md, "cluster.json", for the documented schema.
public struct ClusterConfig: Codable, Sendable, Equatable {
    /// Where the coordinator listens and keeps its state.
    public struct Coordinator: Codable, Sendable, Equatable {
        /// Host the coordinator binds and is reached at.
        public var host: String
        /// RESP port (CLUSTER MAP, registration, heartbeats).
        public var port: UInt16
        /// HTTP port for `/cluster`, `/health`, `/metrics`.
        public var metricsPort: UInt16?
        /// Directory for the persisted map.
        public var dataDir: String?
        /// How often nodes heartbeat, in milliseconds (default 200).
        public var heartbeatIntervalMs: Int?
        /// Missed heartbeats for this long make a node `suspect` (default 3 intervals).
        public var suspectAfterMs: Int?
        /// Missed heartbeats for this long make a node `down` and move its shards (default 1500 ms).
        public var downAfterMs: Int?

        /// Creates a coordinator entry.
        public init(
            host: String, port: UInt16, metricsPort: UInt16? = nil, dataDir: String? = nil,
            heartbeatIntervalMs: Int? = nil, suspectAfterMs: Int? = nil, downAfterMs: Int? = nil
        ) {
            self.host = host
            self.port = port
            self.metricsPort = metricsPort
            self.dataDir = dataDir
            self.heartbeatIntervalMs = heartbeatIntervalMs
            self.suspectAfterMs = suspectAfterMs
            self.downAfterMs = downAfterMs
        }

        /// The heartbeat interval in effect.
        public var heartbeatInterval: Duration { .milliseconds(heartbeatIntervalMs ?? 200) }
        /// The suspect timeout in effect.
        public var suspectAfter: Duration { .milliseconds(suspectAfterMs ?? 3 * (heartbeatIntervalMs ?? 200)) }
        /// The down timeout in effect.
        public var downAfter: Duration { .milliseconds(downAfterMs ?? 1500) }
        /// How long a primary may take writes after sending a heartbeat the coordinator
        /// acknowledged: `downAfter` less one heartbeat interval and 100 ms of margin
        /// (at least one interval), so a primary cut off from the coordinator stops
        /// writing before the coordinator declares it down and promotes a replica.
        public var lease: Duration { max(downAfter - heartbeatInterval - .milliseconds(100), heartbeatInterval) }
    }

    /// One storage node.
    public struct Node: Codable, Sendable, Equatable {
        /// Stable node id.
        public var id: String
        /// Host the node binds and is reached at.
        public var host: String
        /// RESP data port.
        public var dataPort: UInt16
        /// HTTP port for `/metrics` and `/health`.
        public var metricsPort: UInt16?
        /// RocksDB directory.
        public var dataDir: String
        /// Failure domain; replicas prefer distinct zones.
        public var zone: String?
        /// Relative capacity (default 1).
        public var weight: Int?

        /// Creates a node entry.
        public init(id: String, host: String, dataPort: UInt16, metricsPort: UInt16? = nil, dataDir: String, zone: String? = nil, weight: Int? = nil) {
            self.id = id
            self.host = host
            self.dataPort = dataPort
            self.metricsPort = metricsPort
            self.dataDir = dataDir
            self.zone = zone
            self.weight = weight
        }
    }

    /// One tenant.
    public struct Tenant: Codable, Sendable, Equatable {
        /// `sha256:<hex>` of the tenant's secret (`strata hash-secret` prints it); `nil` for a tenant that cannot AUTH.
        public var secretHash: String?
        /// `spread` (default) or `colocate`.
        public var placement: TenantPlacement?
        /// Name of the rate tier (enforced by later work; recorded now).
        public var rateTier: String?
        /// When writes are acknowledged: `leader` (default; after the primary's commit) or
        /// `all` (after every in-sync replica applied them). `CLIENT ACKS` overrides it per connection.
        public var acks: Acks?
        /// How the cache tier keeps this tenant's entries (defaults when absent).
        public var cache: CachePolicy?

        /// Creates a tenant entry.
        public init(
            secretHash: String? = nil, placement: TenantPlacement? = nil, rateTier: String? = nil, acks: Acks? = nil,
            cache: CachePolicy? = nil
        ) {
            self.secretHash = secretHash
            self.placement = placement
            self.rateTier = rateTier
            self.acks = acks
            self.cache = cache
        }
    }

    /// A tenant's cache-tier policy; every field is optional (the defaults in parentheses).
    public struct CachePolicy: Codable, Sendable, Equatable {
        /// Entries are fresh this long after a load or a write (30,000 ms).
        public var softTtlMs: Int?
        /// Stale entries are served (while one refresh runs) until this age (300,000 ms).
        public var hardTtlMs: Int?
        /// After that, stale entries are still served this long when storage fails (60,000 ms).
        public var maxStaleMs: Int?
        /// Misses are cached this long; 0 turns it off (5,000 ms).
        public var negativeTtlMs: Int?
        /// TTLs vary by ± this fraction so entries filled together expire apart (0.1).
        public var jitter: Double?
        /// XFetch β for early refresh; absent: off.
        public var earlyRefreshBeta: Double?

        /// A policy with the given fields.
        public init(
            softTtlMs: Int? = nil, hardTtlMs: Int? = nil, maxStaleMs: Int? = nil, negativeTtlMs: Int? = nil,
            jitter: Double? = nil, earlyRefreshBeta: Double? = nil
        ) {
            self.softTtlMs = softTtlMs
            self.hardTtlMs = hardTtlMs
            self.maxStaleMs = maxStaleMs
            self.negativeTtlMs = negativeTtlMs
            self.jitter = jitter
            self.earlyRefreshBeta = earlyRefreshBeta
        }
    }

    /// When a write is acknowledged to the client.
    public enum Acks: String, Codable, Sendable, Equatable {
        /// After the primary committed it (its WAL): a primary lost right after may lose it.
        case leader
        /// After every in-sync replica applied it: survives the loss of the primary.
        case all
    }

    /// One cache-tier gateway.
    public struct Cache: Codable, Sendable, Equatable {
        /// Gateway id.
        public var id: String
        /// Host it binds.
        public var host: String
        /// RESP port.
        public var port: UInt16
        /// HTTP port for `/metrics` and `/health`.
        public var metricsPort: UInt16?
        /// Memory for cached values, in MiB, shared by the tenants (256).
        public var maxMB: Int?

        /// Creates a gateway entry.
        public init(id: String, host: String, port: UInt16, metricsPort: UInt16? = nil, maxMB: Int? = nil) {
            self.id = id
            self.host = host
            self.port = port
            self.metricsPort = metricsPort
            self.maxMB = maxMB
        }
    }

    /// Who may use the `default` tenant without AUTH.
    public enum DefaultTenantAccess: String, Codable, Sendable, Equatable {
        /// Connections from 127.0.0.0/8 and ::1 only (the default).
        case loopback
        /// Every connection.
        case always
        /// No connection: every client must AUTH.
        case never
    }

    /// The coordinator.
    public var coordinator: Coordinator?
    /// The storage nodes.
    public var nodes: [Node]
    /// Replicas per shard (default 2).
    public var replicationFactor: Int?
    /// A replica that has not had everything its primary had for this long
    /// leaves the shard's in-sync set (`acks=all` writes stop waiting for it)
    /// until it catches up and its primary vouches for it again (default 10,000 ms).
    public var maxLagMs: Int?
    /// Shards at bootstrap (default 64).
    public var shardCount: Int?
    /// A shard whose primary reports more than this many MiB on disk (RocksDB's
    /// estimate of its files) splits in two online; absent: shards split only on
    /// command (`strata cluster split`).
    public var splitShardsAboveMB: Double?
    /// Ring tokens per unit of node weight (default 256).
    public var vnodes: Int?
    /// Tenants by name.
    public var tenants: [String: Tenant]?
    /// Who may use the `default` tenant without AUTH (default `loopback`).
    public var defaultTenant: DefaultTenantAccess?
    /// Cache-tier gateways.
    public var caches: [Cache]?
    /// The secret nodes present to each other (`AUTH @internal <secret>`) to
    /// replicate; whoever has it can read every tenant's records, so keep
    /// cluster.json private. Without it, nodes do not replicate.
    public var internalSecret: String?

    /// Creates a configuration.
    public init(
        coordinator: Coordinator? = nil, nodes: [Node], replicationFactor: Int? = nil, shardCount: Int? = nil,
        vnodes: Int? = nil, tenants: [String: Tenant]? = nil, defaultTenant: DefaultTenantAccess? = nil, caches: [Cache]? = nil
    ) {
        self.coordinator = coordinator
        self.nodes = nodes
        self.replicationFactor = replicationFactor
        self.shardCount = shardCount
        self.vnodes = vnodes
        self.tenants = tenants
        self.defaultTenant = defaultTenant
        self.caches = caches
    }

    /// The in-sync lag bound when `maxLagMs` is absent.
    public static let defaultMaxLag: Duration = .seconds(10)

    /// The in-sync lag bound in effect.
    public var maxLag: Duration { maxLagMs.map { .milliseconds($0) } ?? Self.defaultMaxLag }

    /// Loads and checks a `cluster.json`.
    /// - Throws: `ClusterError.invalidConfiguration` naming the file and the problem.
    public static func load(path: String) throws(ClusterError) -> ClusterConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClusterError(.invalidConfiguration, "cannot read \(path)")
        }
        let config: ClusterConfig
        do {
            config = try JSONDecoder().decode(ClusterConfig.self, from: data)
        } catch {
            throw ClusterError(.invalidConfiguration, "\(path): \(error)")
        }
        try config.validate()
        return config
    }

    /// Checks ids are unique and numbers in range.
    public func validate() throws(ClusterError) {
        var ids = Set<String>()
        for node in nodes where !ids.insert(node.id).inserted {
            throw ClusterError(.duplicateNode, "node id \(node.id) appears twice in cluster.json")
        }
        if nodes.isEmpty { throw ClusterError(.invalidConfiguration, "cluster.json lists no nodes") }
        if let maxLagMs {
            // Positions arrive with heartbeats: a bound under two intervals would drop healthy replicas.
            let floor = (coordinator?.heartbeatIntervalMs ?? 200) * 2
            guard maxLagMs >= floor, maxLagMs <= 86_400_000 else {
                throw ClusterError(
                    .invalidConfiguration, "maxLagMs must be between \(floor) (two heartbeat intervals) and 86400000, not \(maxLagMs)")
            }
        }
        if let splitShardsAboveMB, !(splitShardsAboveMB > 0 && splitShardsAboveMB <= 1_048_576) {
            throw ClusterError(.invalidConfiguration, "splitShardsAboveMB must be above 0 and at most 1048576 (1 TiB), not \(splitShardsAboveMB)")
        }
        for (name, tenant) in tenants ?? [:] {
            if name.utf8.count > 255 { throw ClusterError(.invalidConfiguration, "tenant name \(name.prefix(20))… is over 255 bytes") }
            if let hash = tenant.secretHash, TenantSecret.parse(hash) == nil {
                throw ClusterError(.invalidConfiguration, "tenant \(name): secretHash must be sha256:<64 hex digits>")
            }
        }
    }

    /// The cluster map at epoch 1 that this configuration bootstraps to.
    public func bootstrapMap() throws(ClusterError) -> ClusterMap {
        let members = nodes.map {
            ClusterNode(
                id: NodeID($0.id), host: $0.host, dataPort: $0.dataPort, metricsPort: $0.metricsPort,
                zone: $0.zone ?? "default", weight: $0.weight ?? 1, state: .up)
        }
        return try ClusterMap.bootstrap(
            nodes: members, shardCount: shardCount ?? ShardLayout.defaultShardCount,
            replicationFactor: min(replicationFactor ?? 2, members.count), vnodes: vnodes ?? ClusterMap.defaultVnodes)
    }
}

/// A tenant secret as stored in `cluster.json`: `sha256:<hex digest>`.
public enum TenantSecret {
    /// The stored form of `secret`.
    public static func hash(_ secret: [UInt8]) -> String {
        "sha256:" + SHA256.hexDigest(secret)
    }

    /// The digest bytes of a stored form, or `nil` when it is malformed.
    public static func parse(_ stored: String) -> [UInt8]? {
        guard stored.hasPrefix("sha256:") else { return nil }
        let hex = Array(stored.utf8.dropFirst(7))
        guard hex.count == 64 else { return nil }
        var digest: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            digest.append(byte)
        }
        return digest
    }

    /// Whether `secret` matches the stored digest, compared in constant time.
    public static func matches(_ secret: [UInt8], digest: [UInt8]) -> Bool {
        let candidate = SHA256.hash(secret)
        guard candidate.count == digest.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<digest.count { difference |= candidate[i] ^ digest[i] }
        return difference == 0
    }
}
