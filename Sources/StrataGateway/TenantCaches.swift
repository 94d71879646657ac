import CoreMetrics
import Foundation
import StrataCache
import StrataClient
import StrataCluster
import Synchronization

/// One tenant as the gateway serves it: a `StrataClient` acting for the tenant and its cache.
final class TenantRoute: Sendable {
    let name: String
    let client: StrataClient
    let cache: StrataCache<CacheKey, [UInt8], ContinuousClock>
    /// How long the cache's loads from storage take.
    let loadDuration: CoreMetrics.Timer

    init(
        name: String, client: StrataClient, cache: StrataCache<CacheKey, [UInt8], ContinuousClock>,
        loadDuration: CoreMetrics.Timer
    ) {
        self.name = name
        self.client = client
        self.cache = cache
        self.loadDuration = loadDuration
    }
}

/// The tenants a gateway has served, created on first use (AUTH, or the default
/// tenant), with their clients and caches; the memory budget is split evenly
/// among the tenants of cluster.json.
final class TenantCaches: Sendable {
    private let configuration: GatewayConfiguration
    private let metrics: GatewayMetrics
    private let routes = Mutex<[String: TenantRoute]>([:])
    /// Clients to run (map updates) once created.
    private let started: @Sendable (StrataClient) -> Void

    init(
        configuration: GatewayConfiguration, metrics: GatewayMetrics, started: @escaping @Sendable (StrataClient) -> Void
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.started = started
    }

    /// The route for `tenant` if `secret` matches cluster.json's hash for it
    /// (`AUTH`): `nil` for an unknown tenant, a tenant without a secret, or a
    /// wrong secret.
    func route(tenant: String, secret: String) throws -> TenantRoute? {
        guard let expected = configuration.cluster.tenants?[tenant]?.secretHash,
            TenantSecret.hash(Array(secret.utf8)) == expected
        else { return nil }
        return try route(named: tenant, secret: secret)
    }

    /// The route of the `default` tenant, for connections cluster.json lets in without AUTH.
    func defaultRoute() throws -> TenantRoute {
        try route(named: "default", secret: nil)
    }

    private func route(named tenant: String, secret: String?) throws -> TenantRoute {
        if let existing = routes.withLock({ $0[tenant] }) { return existing }
        var client = try StrataClientConfiguration(
            clusterConfigPath: configuration.clusterConfigPath, tenant: tenant == "default" && secret == nil ? nil : tenant,
            secret: secret)
        client.readPolicy = .primary
        // Typed replies from the nodes, passed on to RESP3 clients as they are.
        client.protocolVersion = .resp3
        let tenantCount = max(configuration.cluster.tenants?.count ?? 1, 1)
        let cache = StrataCache<CacheKey, [UInt8], ContinuousClock>(
            maxBytes: configuration.maxBytes / tenantCount, policy: configuration.policy(for: tenant),
            clock: ContinuousClock()
        ) { key, value in key.count + (value?.count ?? 0) + 64 }
        let route = TenantRoute(
            name: tenant, client: try StrataClient(configuration: client), cache: cache,
            loadDuration: metrics.loadDuration(tenant: tenant))
        let (chosen, created) = routes.withLock { routes -> (TenantRoute, Bool) in
            if let raced = routes[tenant] { return (raced, false) }
            routes[tenant] = route
            return (route, true)
        }
        if created { started(chosen.client) }
        return chosen
    }

    /// Every route so far.
    var all: [TenantRoute] { routes.withLock { Array($0.values) } }

    /// The route of a tenant already served (for the change feed).
    func existing(_ tenant: String) -> TenantRoute? { routes.withLock { $0[tenant] } }
}
