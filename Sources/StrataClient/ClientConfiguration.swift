import StrataCache
import StrataCluster
import StrataWire

/// How a `StrataClient` finds the cluster, who it is, and how it behaves.
public struct StrataClientConfiguration: Sendable {
    /// Where the cluster map comes from.
    public enum MapSource: Sendable, Hashable {
        /// The coordinator at `host:port`: the map is fetched at start and pushed on every change.
        case coordinator(host: String, port: Int)
        /// One standalone node (`strata node --standalone`) that owns the whole ring.
        case standaloneNode(host: String, port: Int)
    }

    /// Where the map comes from.
    public var source: MapSource
    /// The tenant (`AUTH tenant secret`); `nil` uses the `default` tenant without AUTH.
    public var tenant: String?
    /// The tenant's secret.
    public var secret: String?
    /// How the tenant's keys are placed (`colocate` puts them all on one shard); must match cluster.json.
    public var placement: TenantPlacement = .spread
    /// Where reads go unless a request says otherwise.
    public var readPolicy: ReadPolicy = .primary
    /// This client's zone, for `ReadPolicy.zoneAffinity`.
    public var zone: String?
    /// When writes are acknowledged; `nil` keeps the tenant's setting from cluster.json.
    public var acks: ClusterConfig.Acks?
    /// Connections per node (each pipelines many requests).
    public var connectionsPerNode = 2
    /// Requests that may wait for a node's connection to open before new ones fail with `busy`.
    public var maxWaitersPerNode = 1024
    /// A request's deadline unless it gives its own: covers every attempt and backoff.
    public var requestTimeout: Duration = .seconds(2)
    /// How long opening a connection may take.
    public var connectTimeout: Duration = .seconds(1)
    /// Attempts per request, the first included (retries happen only for retryable failures).
    public var maxAttempts = 3
    /// `MOVED` redirects followed per request (each after refreshing the map once).
    public var maxRedirects = 3
    /// The pause before each retry.
    public var backoff = Backoff()
    /// Retries allowed per request over the budget's window (0.1 = 10 %).
    public var retryRatio = 0.1
    /// Retries always allowed per window.
    public var retryFloor = 10
    /// The retry budget's sliding window.
    public var retryWindow: Duration = .seconds(10)
    /// Consecutive connection failures or timeouts that open a node's circuit breaker.
    public var breakerFailureThreshold = 5
    /// How long an open breaker refuses requests before letting one probe through.
    public var breakerCoolDown: Duration = .seconds(2)
    /// Hedged reads: when set, a read not answered within the recent 95th percentile
    /// read latency (at least this long) is sent to a second replica too; the first answer wins.
    public var hedgeAfterAtLeast: Duration?
    /// How long a replica behind a read-your-writes token may wait to catch up before the read goes to the primary.
    public var readYourWritesWait: Duration = .milliseconds(50)
    /// The protocol the client's connections speak: RESP2 by default; RESP3
    /// (`HELLO 3` when a connection opens) gives typed replies (maps, doubles),
    /// which the gateway passes on to its RESP3 clients.
    public var protocolVersion: RESPVersion = .resp2
    /// The near-cache: off (`nil`) by default. When set, reads are served from an
    /// in-process `StrataCache` (coalesced, stale-while-revalidate), writes update
    /// it, and `run()` follows the tenant's change feed to drop entries other
    /// clients changed.
    public var nearCache: NearCache?

    /// Near-cache settings.
    public struct NearCache: Sendable {
        /// TTLs and staleness.
        public var policy: CachePolicy
        /// Memory for cached values.
        public var maxBytes: Int

        /// A near-cache of `maxBytes` under `policy`.
        public init(policy: CachePolicy = CachePolicy(), maxBytes: Int = 64 << 20) {
            self.policy = policy
            self.maxBytes = maxBytes
        }
    }

    /// Replaces a node's address from the map (NAT, containers, test proxies).
    public var addressOverrides: [NodeID: HostPort] = [:]

    /// A host and port.
    public struct HostPort: Sendable, Hashable {
        /// The host name or address.
        public var host: String
        /// The TCP port.
        public var port: Int

        /// `host:port`.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// A configuration reading the map from `source`, as `tenant` (or the default tenant).
    public init(source: MapSource, tenant: String? = nil, secret: String? = nil) {
        self.source = source
        self.tenant = tenant
        self.secret = secret
    }

    /// A configuration from a `cluster.json`: its coordinator, and the tenant's placement and acks.
    /// - Throws: `StrataError.invalidArgument` when the file cannot be read or names no coordinator.
    public init(clusterConfigPath path: String, tenant: String? = nil, secret: String? = nil) throws {
        let config: ClusterConfig
        do {
            config = try ClusterConfig.load(path: path)
        } catch {
            throw StrataError(.invalidArgument, error.message)
        }
        guard let coordinator = config.coordinator else {
            throw StrataError(.invalidArgument, "\(path) names no coordinator")
        }
        self.init(source: .coordinator(host: coordinator.host, port: Int(coordinator.port)), tenant: tenant, secret: secret)
        if let tenant, let settings = config.tenants?[tenant] {
            placement = settings.placement ?? .spread
        }
    }
}
