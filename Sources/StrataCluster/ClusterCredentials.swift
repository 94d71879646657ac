/// The credentials `cluster.json` defines — each tenant's secret digest and the
/// cluster's internal secret — and the one check of an `AUTH user secret`
/// against them, shared by every server that accepts `AUTH`.
public struct ClusterCredentials: Sendable {
    /// Who an `AUTH` proved to be.
    public enum Principal: Sendable, Equatable {
        /// The cluster's own processes (`AUTH @internal <internalSecret>`).
        case `internal`
        /// A tenant, by name.
        case tenant([UInt8])
    }

    /// The user name cluster processes authenticate as to each other.
    public static let internalUser = "@internal"

    /// SHA-256 digests of the tenants' secrets, for the tenants that have one.
    private let tenantDigests: [[UInt8]: [UInt8]]
    /// SHA-256 of the internal secret, or `nil` when the cluster has none.
    private let internalDigest: [UInt8]?

    /// The credentials of `tenants` and `internalSecret` (as in cluster.json).
    public init(tenants: [String: ClusterConfig.Tenant], internalSecret: String?) {
        var digests: [[UInt8]: [UInt8]] = [:]
        for (name, tenant) in tenants {
            if let digest = tenant.secretHash.flatMap(TenantSecret.parse) { digests[Array(name.utf8)] = digest }
        }
        tenantDigests = digests
        internalDigest = internalSecret.map { SHA256.hash(Array($0.utf8)) }
    }

    /// Who `user` (`default` when `nil`) with `secret` is, or `nil` for a wrong
    /// pair. An unknown user costs the same work as a wrong secret.
    public func authenticate(user: [UInt8]?, secret: [UInt8]) -> Principal? {
        let name = user ?? Array("default".utf8)
        if name.elementsEqual(Self.internalUser.utf8) {
            return isInternalSecret(secret) ? .internal : nil
        }
        let digest = tenantDigests[name]
        let matches = TenantSecret.matches(secret, digest: digest ?? Self.noDigest)
        return matches && digest != nil ? .tenant(name) : nil
    }

    /// Whether `secret` is the cluster's internal secret.
    public func isInternalSecret(_ secret: [UInt8]) -> Bool {
        let matches = TenantSecret.matches(secret, digest: internalDigest ?? Self.noDigest)
        return matches && internalDigest != nil
    }

    /// Compared against when there is nothing to compare, so the work is the same.
    private static let noDigest = [UInt8](repeating: 0, count: 32)
}
