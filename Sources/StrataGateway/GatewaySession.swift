import StrataServer

/// A gateway connection's state: the shared session and the tenant it acts for.
struct GatewaySession: ServerSession {
    /// What every server keeps (protocol, name, transaction, watched keys).
    var client: ClientSession
    /// The tenant's client and cache, or `nil` before a required AUTH.
    var route: TenantRoute?
    /// The route an unauthenticated connection has (`defaultTenant` in cluster.json), restored by RESET.
    let defaultRoute: TenantRoute?

    init(client: ClientSession, defaultRoute: TenantRoute?) {
        self.client = client
        self.defaultRoute = defaultRoute
        route = defaultRoute
    }

    var isAuthenticated: Bool { route != nil }
    var isInternal: Bool { false }

    mutating func resetIdentity() {
        route = defaultRoute
        client.user = "default"
    }
}

extension ConnectionConfiguration {
    /// The gateway's connections: the default limits, in-place answers of fresh cached GETs.
    static var gateway: ConnectionConfiguration {
        var configuration = ConnectionConfiguration()
        configuration.answersInPlace = true
        return configuration
    }
}
