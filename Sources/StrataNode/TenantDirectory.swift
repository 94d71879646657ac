import StrataCluster

/// The tenants a node accepts and how they authenticate.
struct TenantDirectory: Sendable {
    struct Entry: Sendable {
        let context: TenantContext
        /// SHA-256 of the secret, or `nil` for a tenant that cannot AUTH.
        let secretDigest: [UInt8]?
    }

    let entries: [String: Entry]
    let defaultAccess: ClusterConfig.DefaultTenantAccess
    /// SHA-256 of the cluster's internal secret, or `nil` when nodes do not replicate.
    let internalDigest: [UInt8]?
    /// The user name nodes authenticate as to each other.
    static let internalUser = "@internal"

    init(
        config: [String: ClusterConfig.Tenant], defaultAccess: ClusterConfig.DefaultTenantAccess,
        internalSecret: String? = nil
    ) {
        internalDigest = internalSecret.map { SHA256.hash(Array($0.utf8)) }
        var entries: [String: Entry] = [:]
        for (name, tenant) in config {
            entries[name] = Entry(
                context: TenantContext(
                    name: Array(name.utf8), colocated: tenant.placement == .colocate, acksAll: tenant.acks == .all),
                secretDigest: tenant.secretHash.flatMap(TenantSecret.parse))
        }
        if entries["default"] == nil {
            entries["default"] = Entry(context: TenantContext(name: Array("default".utf8), colocated: false), secretDigest: nil)
        }
        self.entries = entries
        self.defaultAccess = defaultAccess
    }

    /// The tenant an unauthenticated connection acts for, or `nil` when it must AUTH first.
    func defaultTenant(isLoopback: Bool) -> TenantContext? {
        switch defaultAccess {
        case .always: return entries["default"]?.context
        case .loopback: return isLoopback ? entries["default"]?.context : nil
        case .never: return nil
        }
    }

    /// Whether `secret` is the cluster's internal secret.
    func isInternalSecret(_ secret: [UInt8]) -> Bool {
        let matches = TenantSecret.matches(secret, digest: internalDigest ?? [UInt8](repeating: 0, count: 32))
        return matches && internalDigest != nil
    }

    /// The tenant whose secret is `secret`, or `nil`. The same work is done for
    /// unknown tenants as for wrong secrets.
    func authenticate(tenant: [UInt8], secret: [UInt8]) -> TenantContext? {
        let entry = entries[String(decoding: tenant, as: UTF8.self)]
        let digest = entry?.secretDigest ?? [UInt8](repeating: 0, count: 32)
        let matches = TenantSecret.matches(secret, digest: digest)
        guard matches, let entry, entry.secretDigest != nil else { return nil }
        return entry.context
    }
}
