/// An error raised by the cluster model: an invalid configuration, a change
/// that names an unknown node, or an encoded map that breaks an invariant.
public struct ClusterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; extensible, compare against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) { self.name = name }

        /// A parameter is out of its allowed range (shard count, replication factor, vnodes, weight).
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// A node id appears twice, or `add` names an existing node with different attributes.
        public static let duplicateNode = Code("duplicateNode")
        /// A change or a replica list names a node the map does not contain.
        public static let unknownNode = Code("unknownNode")
        /// A shard id appears twice or is not in the layout.
        public static let unknownShard = Code("unknownShard")
        /// The shard covers a single hash value and cannot be split.
        public static let unsplittableShard = Code("unsplittableShard")
        /// Shard ranges do not tile the 64-bit hash space exactly once.
        public static let invalidLayout = Code("invalidLayout")

        /// The code's name, e.g. `unknownNode`.
        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation; never contains secrets.
    public var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: A human-readable explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
