import StrataCache
import StrataCluster

/// What a `strata cache` gateway needs: its address, the cluster, the tenants' cache policies.
public struct GatewayConfiguration: Sendable {
    /// The gateway's id in cluster.json's `caches`.
    public var id: String
    /// The address it binds.
    public var host: String
    /// Its RESP port.
    public var port: Int
    /// Its HTTP port for `/metrics` and `/health` (`nil`: none).
    public var metricsPort: Int?
    /// Memory for cached values, over all tenants.
    public var maxBytes: Int
    /// The cluster.json it was configured from (tenants, internal secret, coordinator).
    public var cluster: ClusterConfig
    /// Its path (the gateway's clients read the coordinator's address from it).
    public var clusterConfigPath: String
    /// Most connections at once.
    public var maxClients = 10_000

    /// The gateway `id` of the cluster.json at `path`.
    /// - Throws: `StrataError` naming the problem (unknown id, unreadable file).
    public init(clusterConfigPath path: String, id: String) throws {
        let cluster: ClusterConfig
        do {
            cluster = try ClusterConfig.load(path: path)
        } catch {
            throw GatewayError("cannot load \(path): \(error.message)")
        }
        guard let entry = cluster.caches?.first(where: { $0.id == id }) else {
            throw GatewayError("\(path) has no cache gateway with id \(id) (see \"caches\")")
        }
        guard cluster.coordinator != nil else { throw GatewayError("\(path) names no coordinator") }
        self.id = id
        host = entry.host
        port = Int(entry.port)
        metricsPort = entry.metricsPort.map(Int.init)
        maxBytes = (entry.maxMB ?? 256) << 20
        self.cluster = cluster
        clusterConfigPath = path
    }

    /// The cache policy of `tenant` from cluster.json (defaults for fields it leaves out).
    public func policy(for tenant: String) -> CachePolicy {
        let configured = cluster.tenants?[tenant]?.cache
        let defaults = CachePolicy()
        return CachePolicy(
            softTTL: configured?.softTtlMs.map { .milliseconds($0) } ?? defaults.softTTL,
            hardTTL: configured?.hardTtlMs.map { .milliseconds($0) } ?? defaults.hardTTL,
            staleIfError: configured?.maxStaleMs.map { .milliseconds($0) } ?? defaults.staleIfError,
            negativeTTL: configured?.negativeTtlMs.map { .milliseconds($0) } ?? defaults.negativeTTL,
            jitter: configured?.jitter ?? defaults.jitter,
            earlyRefreshBeta: configured?.earlyRefreshBeta)
    }
}

/// A gateway configuration or start-up failure.
public struct GatewayError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
