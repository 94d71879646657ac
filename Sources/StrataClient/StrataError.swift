import StrataCluster

/// The one error `StrataClient` throws: a code to branch on and a message
/// naming the node and shard involved.
public struct StrataError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, coarsely enough to decide what to do about it.
    public enum Code: String, Sendable, Hashable {
        /// The request's deadline passed before an answer arrived.
        case timeout
        /// No node could serve the request: connection failures, an open circuit,
        /// a shard without a primary, a write the cluster could not replicate.
        case unavailable
        /// `compareAndSet` found another version (`currentVersion` says which).
        case versionConflict
        /// Redirections (`MOVED`) kept coming after the map was refreshed.
        case movedExhausted
        /// Authentication failed or the tenant may not run the command.
        case unauthorized
        /// The node or the client is overloaded (too many clients or waiters, retry budget spent).
        case busy
        /// The request itself is wrong (bad arguments, wrong value type, out of range).
        case invalidArgument
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, naming the node and shard where known.
    public var message: String
    /// The node the request went to, when one was chosen.
    public var node: NodeID?
    /// The shard of the key, when the request had one.
    public var shard: ShardID?
    /// For `versionConflict`: the version the key has now (0 when it does not exist).
    public var currentVersion: UInt64?
    /// Whether the shard was changing hands (`TRYAGAIN`, a node behind the map, a
    /// `MOVED` loop): the client waits these out until the request's deadline, and
    /// a later retry normally succeeds.
    public var isHandover: Bool

    /// An error with `code` and `message`, optionally naming the node and shard.
    public init(
        _ code: Code, _ message: String, node: NodeID? = nil, shard: ShardID? = nil, currentVersion: UInt64? = nil,
        isHandover: Bool = false
    ) {
        self.isHandover = isHandover
        self.code = code
        self.message = message
        self.node = node
        self.shard = shard
        self.currentVersion = currentVersion
    }

    /// `code: message (node N, shard S)`.
    public var description: String {
        var where_: [String] = []
        if let node { where_.append("node \(node)") }
        if let shard { where_.append("shard \(shard)") }
        return "\(code.rawValue): \(message)" + (where_.isEmpty ? "" : " (\(where_.joined(separator: ", ")))")
    }

    /// Whether a request that failed with this error may be sent again (to the same
    /// or another node) without changing its meaning. Writes carry a request id, so
    /// they qualify too: the primary applies a request id once.
    var isRetryable: Bool {
        switch code {
        case .timeout, .unavailable, .busy: return true
        case .versionConflict, .movedExhausted, .unauthorized, .invalidArgument: return false
        }
    }

    /// The error for a RESP error reply from `node` about `shard`.
    static func fromReply(_ text: String, node: NodeID?, shard: ShardID?) -> StrataError {
        let prefix = text.prefix { $0 != " " }
        switch prefix {
        case "VERSIONMISMATCH":
            // "VERSIONMISMATCH current version is N"
            let current = text.split(separator: " ").last.flatMap { UInt64($0) }
            return StrataError(.versionConflict, text, node: node, shard: shard, currentVersion: current)
        case "NOAUTH", "WRONGPASS", "NOPERM":
            return StrataError(.unauthorized, text, node: node, shard: shard)
        case "TRYAGAIN":
            return StrataError(.unavailable, text, node: node, shard: shard, isHandover: true)
        case "NOTREPLICATED", "CLUSTERDOWN", "LOADING":
            return StrataError(.unavailable, text, node: node, shard: shard)
        case "BUSY", "OOM":
            return StrataError(.busy, text, node: node, shard: shard)
        default:
            if text.contains("max number of clients") { return StrataError(.busy, text, node: node, shard: shard) }
            return StrataError(.invalidArgument, text, node: node, shard: shard)
        }
    }
}
