import StrataWire

/// Per-connection state, owned by the connection and handed to the executor
/// with each batch of commands.
struct Session: Sendable {
    /// The connection's id (CLIENT ID).
    let id: UInt64
    /// The peer's address, for INFO and logs.
    let peer: String
    /// Whether the peer connects from the loopback interface.
    let isLoopback: Bool
    /// The tenant the connection acts for, or `nil` before a required AUTH.
    var tenant: TenantContext?
    /// Whether the connection authenticated explicitly with AUTH or HELLO.
    var authenticated = false
    /// RESP2 until HELLO 3.
    var protocolVersion: RESPVersion = .resp2
    /// CLIENT SETNAME.
    var name: [UInt8]? = nil
    /// Authenticated as another node of the cluster (`AUTH @internal <secret>`):
    /// may run the replication commands, and nothing else.
    var isInternal = false
    /// READONLY was sent (replica reads).
    var readOnly = false
    /// `CLIENT ACKS ALL|LEADER`: overrides the tenant's acknowledgement policy.
    var acksAll: Bool? = nil
    /// Set by QUIT: close after the reply.
    var closeAfterReply = false
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

extension Session {
    /// Whether this connection's writes wait for every in-sync replica.
    var waitsForReplicas: Bool { acksAll ?? tenant?.acksAll ?? false }
}
