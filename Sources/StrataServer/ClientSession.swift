import NIOCore
import StrataWire

/// What every Strata server knows about one client connection: the session
/// state that `HELLO`, `AUTH`, `CLIENT`, `SELECT`, `RESET`, `MULTI` and
/// `WATCH` change, the same on the node, the gateway and the coordinator.
public struct ClientSession: Sendable {
    /// The connection's id (`CLIENT ID`).
    public let id: UInt64
    /// The peer's address, `host:port`.
    public let peer: String
    /// The server's address the peer connected to.
    public let local: String
    /// Whether the peer connects from the loopback interface.
    public let isLoopback: Bool
    /// When the connection opened, in milliseconds since the Unix epoch.
    public let openedAt: Int64
    /// RESP2 until `HELLO 3`.
    public var protocolVersion: RESPVersion = .resp2
    /// `CLIENT SETNAME`.
    public var name: [UInt8]?
    /// `CLIENT SETINFO LIB-NAME`.
    public var libraryName: [UInt8]?
    /// `CLIENT SETINFO LIB-VER`.
    public var libraryVersion: [UInt8]?
    /// The identity the connection authenticated as, for `CLIENT INFO` (`user=`).
    public var user: String = "default"
    /// `QUIT` (or an error that closes): close after this reply.
    public var closeAfterReply = false
    /// The open `MULTI`, if any.
    public var transaction: Transaction?
    /// `WATCH`ed keys and the versions they had then (0: missing).
    public var watched: [WatchedKey] = []

    /// A session for a new connection.
    /// - Parameters:
    ///   - id: The connection id.
    ///   - peer: The peer's `host:port`.
    ///   - local: The server's `host:port`.
    ///   - isLoopback: Whether the peer is on the loopback interface.
    ///   - openedAt: Milliseconds since the Unix epoch.
    public init(id: UInt64, peer: String, local: String = "", isLoopback: Bool, openedAt: Int64 = 0) {
        self.id = id
        self.peer = peer
        self.local = local
        self.isLoopback = isLoopback
        self.openedAt = openedAt
    }

    /// What `RESET` leaves: RESP2, no name, no transaction, no watched keys.
    public mutating func reset() {
        protocolVersion = .resp2
        name = nil
        transaction = nil
        watched = []
    }
}

/// Commands queued between `MULTI` and `EXEC`.
public struct Transaction: Sendable {
    /// The queued commands, in order.
    public var queued: [ParsedCommand] = []
    /// Whether a command was refused while queueing: `EXEC` then answers `EXECABORT`.
    public var aborted = false

    /// An empty transaction.
    public init() {}
}

/// A key `WATCH`ed, at its watch point.
public struct WatchedKey: Sendable {
    /// The key's bytes (a copy, not a slice of the input).
    public var key: ByteBuffer
    /// What `EXEC` compares with: its version then, or the shard's sequence number when it did not exist.
    public var point: WatchPoint

    /// A watched key.
    public init(key: ByteBuffer, point: WatchPoint) {
        self.key = key
        self.point = point
    }
}

/// A server's per-connection state: the shared ``ClientSession`` and what
/// that server adds (the node's tenant, the gateway's route, …).
public protocol ServerSession: Sendable {
    /// The shared part.
    var client: ClientSession { get set }
    /// Whether the connection may run commands other than those allowed before `AUTH`.
    var isAuthenticated: Bool { get }
    /// Whether the connection authenticated as another part of the cluster.
    var isInternal: Bool { get }
    /// Whether the connection now only receives pushes (the coordinator's `CLUSTER SUBSCRIBE`).
    var isSubscribed: Bool { get }
    /// What `RESET` does beyond ``ClientSession/reset()``: back to the
    /// identity an unauthenticated connection has, and the server's own settings cleared.
    mutating func resetIdentity()
}

extension ServerSession {
    /// Not subscribed, unless the server says so.
    public var isSubscribed: Bool { false }
}

/// How a server names itself in `HELLO`, `INFO` and `CLIENT INFO`.
public struct ServerIdentity: Sendable {
    /// Strata's own release, reported as `strata_version` by every server.
    public static let strataVersion = "0.3.0"
    /// The Redis release whose commands and replies Strata matches (the
    /// differential tests run against it). `HELLO`'s `version` and `INFO`'s
    /// `redis_version` report it, because client libraries read that field to
    /// decide which commands a server has and refuse newer ones to an older version.
    public static let redisVersion = "7.0.15"

    /// `HELLO`'s `server` field.
    public var server: String = "strata"
    /// `HELLO`'s `version` field: the Redis version Strata matches.
    public var version: String = Self.redisVersion
    /// `HELLO`'s `mode` field: `standalone`, `cluster`, `cache` or `coordinator`.
    public var mode: String
    /// `HELLO`'s `role` field.
    public var role: String = "master"

    /// An identity.
    public init(mode: String, role: String = "master") {
        self.mode = mode
        self.role = role
    }

    /// The `INFO` server section's version lines, the same on every server.
    public static var infoVersionFields: [(String, String)] {
        [("redis_version", redisVersion), ("strata_version", strataVersion)]
    }
}
