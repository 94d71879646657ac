import StrataServer
import StrataWire

/// A node connection's state: the shared session and the node's own
/// settings. Owned by the connection and handed to the executor with each batch.
struct NodeSession: ServerSession {
    /// What every server keeps (protocol, name, transaction, …).
    var client: ClientSession
    /// The tenant the connection acts for, or `nil` before a required AUTH.
    var tenant: TenantContext?
    /// Authenticated as another node of the cluster (`AUTH @internal <secret>`):
    /// may run the replication commands, and nothing else.
    var isInternal = false
    /// READONLY was sent (replica reads).
    var readOnly = false
    /// `CLIENT ACKS ALL|LEADER`: overrides the tenant's acknowledgement policy.
    var acksAll: Bool? = nil
    /// The tenant an unauthenticated connection acts for (`defaultTenant` in cluster.json), restored by RESET.
    let defaultTenant: TenantContext?

    init(client: ClientSession, defaultTenant: TenantContext?) {
        self.client = client
        self.defaultTenant = defaultTenant
        self.tenant = defaultTenant
    }

    var isAuthenticated: Bool { tenant != nil || isInternal }

    mutating func resetIdentity() {
        tenant = defaultTenant
        isInternal = false
        readOnly = false
        acksAll = nil
        client.user = "default"
    }

    /// Whether this connection's writes wait for every in-sync replica.
    var waitsForReplicas: Bool { acksAll ?? tenant?.acksAll ?? false }
}

/// The tenant a connection acts for, resolved once at AUTH.
struct TenantContext: Sendable, Equatable {
    /// The tenant's name bytes (part of every data key).
    let name: [UInt8]
    /// Whether all of its keys share one shard.
    let colocated: Bool
    /// Whether its writes wait for every in-sync replica (`acks: all`).
    var acksAll: Bool = false
}
