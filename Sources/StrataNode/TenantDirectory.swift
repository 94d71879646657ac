import StrataCluster

/// The tenants a node accepts and how they authenticate.
struct TenantDirectory: Sendable {
    /// Each tenant's context, by name.
    let contexts: [[UInt8]: TenantContext]
    let defaultAccess: ClusterConfig.DefaultTenantAccess
    /// The tenant of connections that do not AUTH.
    static let defaultName = Array("default".utf8)
    /// The secrets `AUTH` is checked against.
    let credentials: ClusterCredentials

    init(
        config: [String: ClusterConfig.Tenant], defaultAccess: ClusterConfig.DefaultTenantAccess,
        internalSecret: String? = nil
    ) {
        credentials = ClusterCredentials(tenants: config, internalSecret: internalSecret)
        var contexts: [[UInt8]: TenantContext] = [:]
        for (name, tenant) in config {
            contexts[Array(name.utf8)] = TenantContext(
                name: Array(name.utf8), colocated: tenant.placement == .colocate, acksAll: tenant.acks == .all)
        }
        if contexts[Self.defaultName] == nil {
            contexts[Self.defaultName] = TenantContext(name: Self.defaultName, colocated: false)
        }
        self.contexts = contexts
        self.defaultAccess = defaultAccess
    }

    /// The tenant an unauthenticated connection acts for, or `nil` when it must AUTH first.
    func defaultTenant(isLoopback: Bool) -> TenantContext? {
        switch defaultAccess {
        case .always: return contexts[Self.defaultName]
        case .loopback: return isLoopback ? contexts[Self.defaultName] : nil
        case .never: return nil
        }
    }
}
