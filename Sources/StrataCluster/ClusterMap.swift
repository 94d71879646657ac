import Foundation

/// The identity of a storage node, e.g. `node-1`. Stable across restarts.
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The id text.
    public var rawValue: String

    /// Creates a node id.
    /// - Parameter rawValue: The id text.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Creates a node id.
    /// - Parameter rawValue: The id text.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates a node id from a literal.
    /// - Parameter value: The id text.
    public init(stringLiteral value: String) { rawValue = value }

    /// Orders by the id's UTF-8 bytes, the same on every platform.
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    /// Decodes from a bare JSON string.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes as a bare JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The id text.
    public var description: String { rawValue }
}

/// A node's health as the coordinator's failure detector sees it.
public enum NodeState: String, Hashable, Sendable, Codable, CaseIterable {
    /// Heartbeating normally.
    case up
    /// Missed heartbeats. It keeps its shards: moving data on a suspicion
    /// would turn every network blip into a rebalance.
    case suspect
    /// Declared failed. It is taken off the ring and its replicas are placed elsewhere.
    case down

    /// Whether the node holds shards in this state (`up` and `suspect` do).
    public var isPlaced: Bool { self != .down }
}

/// A storage node in the cluster map: identity, addresses, failure domain, capacity and health.
public struct ClusterNode: Hashable, Sendable, Codable {
    /// The node's id.
    public var id: NodeID
    /// The host name or address clients connect to.
    public var host: String
    /// The RESP data port.
    public var dataPort: UInt16
    /// The HTTP port for `/metrics` and `/health`, if it exports one.
    public var metricsPort: UInt16?
    /// The failure domain (rack, availability zone); replicas prefer distinct zones.
    public var zone: String
    /// Relative capacity: the node owns `vnodes × weight` ring tokens. 0 places no shard on it.
    public var weight: Int
    /// The node's health.
    public var state: NodeState
    /// The node's ring tokens, ascending, chosen by `TokenAllocator` when it joined
    /// (`ClusterMap.bootstrap` and `Placement.target` fill them in). Empty for a node
    /// not yet in a map; a map node with none uses its hash tokens (`HashRing.tokens(of:count:)`).
    public var tokens: [UInt64]

    /// Creates a node.
    /// - Parameters:
    ///   - id: The node's id.
    ///   - host: The host clients connect to.
    ///   - dataPort: The RESP data port.
    ///   - metricsPort: The metrics port, if any.
    ///   - zone: The failure domain.
    ///   - weight: Relative capacity, at least 0.
    ///   - state: The node's health.
    ///   - tokens: Its ring tokens; empty to have them allocated when it joins a map.
    public init(
        id: NodeID, host: String, dataPort: UInt16, metricsPort: UInt16? = nil,
        zone: String = "default", weight: Int = 1, state: NodeState = .up, tokens: [UInt64] = []
    ) {
        self.tokens = tokens
        self.id = id
        self.host = host
        self.dataPort = dataPort
        self.metricsPort = metricsPort
        self.zone = zone
        self.weight = weight
        self.state = state
    }

    private enum CodingKeys: String, CodingKey {
        case id, host, dataPort, metricsPort, zone, weight, state, tokens
    }

    /// Decodes a node; `zone` defaults to `"default"`, `weight` to 1, `state` to `up`
    /// and `tokens` (base64 of big-endian 64-bit tokens) to none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(NodeID.self, forKey: .id)
        host = try container.decode(String.self, forKey: .host)
        dataPort = try container.decode(UInt16.self, forKey: .dataPort)
        metricsPort = try container.decodeIfPresent(UInt16.self, forKey: .metricsPort)
        zone = try container.decodeIfPresent(String.self, forKey: .zone) ?? "default"
        weight = try container.decodeIfPresent(Int.self, forKey: .weight) ?? 1
        state = try container.decodeIfPresent(NodeState.self, forKey: .state) ?? .up
        tokens = []
        if let encoded = try container.decodeIfPresent(String.self, forKey: .tokens) {
            guard let bytes = Data(base64Encoded: encoded), bytes.count % 8 == 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .tokens, in: container, debugDescription: "tokens must be base64 of 8-byte big-endian tokens")
            }
            tokens = stride(from: 0, to: bytes.count, by: 8).map { offset in
                bytes[bytes.startIndex + offset..<bytes.startIndex + offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
            }
        }
    }

    /// Encodes every field; `metricsPort` is omitted when `nil`, `tokens` when empty.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(host, forKey: .host)
        try container.encode(dataPort, forKey: .dataPort)
        try container.encodeIfPresent(metricsPort, forKey: .metricsPort)
        try container.encode(zone, forKey: .zone)
        try container.encode(weight, forKey: .weight)
        try container.encode(state, forKey: .state)
        if !tokens.isEmpty {
            var bytes = Data(capacity: tokens.count * 8)
            for token in tokens { withUnsafeBytes(of: token.bigEndian) { bytes.append(contentsOf: $0) } }
            try container.encode(bytes.base64EncodedString(), forKey: .tokens)
        }
    }

    var ringMember: HashRing.Member { HashRing.Member(id: id, zone: zone, weight: weight, tokens: tokens) }
}

/// Where one shard lives: its range, its replica set and its epoch.
public struct ShardAssignment: Hashable, Sendable, Codable {
    /// The shard's id.
    public var id: ShardID
    /// The hash values it covers.
    public var range: ShardRange
    /// The nodes holding it, primary first.
    public var replicas: [NodeID]
    /// Bumped whenever the replica set or the primary changes; a write carrying
    /// an older epoch is refused with `-MOVED`.
    public var epoch: UInt64
    /// The replicas that are caught up with the primary's log (always a subset of `replicas`).
    public var inSync: Set<NodeID>
    /// The ring position its replicas are placed from (`Placement`): its range's
    /// start, or for a shard split off another, that shard's position, so that
    /// a split moves no data (both halves stay on the nodes that held the whole).
    public var placement: UInt64
    /// The shard this one was split from (`ClusterMap.splitting`), if any: its
    /// primary starts the shard's sequence numbers where the parent's were.
    public var parent: ShardID?
    /// On a shard on the move, the copies that joined it and have not yet shown
    /// their checksum equal to the primary's (the coordinator's `completeMoves`
    /// waits for them). In the map, so a coordinator that restarts mid-move still waits.
    public var unverified: Set<NodeID> = []

    /// Creates an assignment.
    /// - Parameters:
    ///   - id: The shard's id.
    ///   - range: The hash values it covers.
    ///   - replicas: The nodes holding it, primary first.
    ///   - epoch: The shard epoch.
    ///   - inSync: The caught-up replicas.
    ///   - placement: The ring position its replicas are placed from; `nil` for the range's start.
    ///   - parent: The shard it was split from, if any.
    public init(
        id: ShardID, range: ShardRange, replicas: [NodeID], epoch: UInt64, inSync: Set<NodeID>,
        placement: UInt64? = nil, parent: ShardID? = nil
    ) {
        self.id = id
        self.range = range
        self.replicas = replicas
        self.epoch = epoch
        self.inSync = inSync
        self.placement = placement ?? range.start
        self.parent = parent
    }

    /// The node taking the shard's writes, or `nil` if no node holds it.
    public var primary: NodeID? { replicas.first }

    private enum CodingKeys: String, CodingKey { case id, range, replicas, epoch, inSync, placement, parent, unverified }

    /// Decodes an assignment; `placement` (16 hex digits) defaults to the range's start.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(ShardID.self, forKey: .id)
        range = try container.decode(ShardRange.self, forKey: .range)
        replicas = try container.decode([NodeID].self, forKey: .replicas)
        epoch = try container.decode(UInt64.self, forKey: .epoch)
        inSync = Set(try container.decode([NodeID].self, forKey: .inSync))
        parent = try container.decodeIfPresent(ShardID.self, forKey: .parent)
        unverified = Set(try container.decodeIfPresent([NodeID].self, forKey: .unverified) ?? [])
        placement = range.start
        if let text = try container.decodeIfPresent(String.self, forKey: .placement) {
            guard !text.isEmpty, text.count <= 16, let value = UInt64(text, radix: 16) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .placement, in: container, debugDescription: "expected up to 16 hex digits, got \"\(text)\"")
            }
            placement = value
        }
    }

    /// Encodes an assignment; `inSync` is written sorted so the bytes are stable;
    /// `placement` only when it is not the range's start, `parent` and `unverified` only when set.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(range, forKey: .range)
        try container.encode(replicas, forKey: .replicas)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(inSync.sorted(), forKey: .inSync)
        if placement != range.start { try container.encode(hex(placement), forKey: .placement) }
        try container.encodeIfPresent(parent, forKey: .parent)
        if !unverified.isEmpty { try container.encode(unverified.sorted(), forKey: .unverified) }
    }
}

/// The cluster map: nodes, shards and their replicas, and the map epoch.
///
/// The coordinator owns it and publishes every new version with a higher
/// `epoch`; nodes, gateways and clients cache it. Every map is valid by
/// construction: node and shard ids are unique, shard ranges tile the hash
/// space, replicas are distinct known nodes and `inSync ⊆ replicas`.
/// Build one with `bootstrap(nodes:shardCount:replicationFactor:vnodes:)` and
/// derive the next with `Placement.target(map:change:)`.
///
/// Its JSON form (`jsonData()`) is stable: keys sorted, nodes and shards sorted
/// by id, in-sync sets sorted, so equal maps encode to equal bytes.
public struct ClusterMap: Sendable, Equatable, Codable {
    /// The map's version; each published change increments it.
    public let epoch: UInt64
    /// Replicas per shard (primary included).
    public let replicationFactor: Int
    /// Ring tokens per unit of node weight.
    public let vnodes: Int
    /// All nodes, sorted by id.
    public let nodes: [ClusterNode]
    /// All shards, sorted by id.
    public let shards: [ShardAssignment]
    /// `shardStarts[i]` is the start of the `i`-th shard in hash order, which is `shards[shardOrder[i]]`.
    private let shardStarts: [UInt64]
    private let shardOrder: [Int]

    /// The default replication factor.
    public static let defaultReplicationFactor = 3
    /// The default number of ring tokens per unit of weight.
    public static let defaultVnodes = 256

    /// Creates a map after checking its invariants.
    ///
    /// - Parameters:
    ///   - epoch: The map epoch.
    ///   - nodes: The nodes, in any order.
    ///   - shards: The shards, in any order.
    ///   - replicationFactor: Replicas per shard, at least 1.
    ///   - vnodes: Tokens per unit of weight, at least 1.
    /// - Throws: `ClusterError` naming the broken invariant: `.invalidConfiguration`
    ///   (replication factor, vnodes, a negative weight, `inSync` not within replicas),
    ///   `.duplicateNode`, `.unknownNode` (a replica that is not a node),
    ///   `.unknownShard` (a repeated shard id), `.invalidLayout` (ranges that do not tile).
    /// - Complexity: O(S log S + N log N + S × R) for S shards, N nodes, R replicas per shard.
    public init(
        epoch: UInt64, nodes: [ClusterNode], shards: [ShardAssignment], replicationFactor: Int, vnodes: Int
    ) throws(ClusterError) {
        let sortedNodes = try ClusterMap.checkedNodes(nodes, replicationFactor: replicationFactor, vnodes: vnodes)
        let nodeIDs = Set(sortedNodes.map(\.id))
        for shard in shards {
            guard Set(shard.replicas).count == shard.replicas.count else {
                throw ClusterError(.duplicateNode, "shard \(shard.id) lists a replica twice")
            }
            if let unknown = shard.replicas.first(where: { !nodeIDs.contains($0) }) {
                throw ClusterError(.unknownNode, "shard \(shard.id) is placed on unknown node \(unknown)")
            }
            guard shard.inSync.isSubset(of: shard.replicas) else {
                throw ClusterError(.invalidConfiguration, "shard \(shard.id) has in-sync nodes that are not replicas")
            }
        }
        let layout = try ShardLayout(shards.map { ShardLayout.Entry(id: $0.id, range: $0.range) })
        let sortedShards = shards.sorted { $0.id < $1.id }
        let position = Dictionary(uniqueKeysWithValues: sortedShards.enumerated().map { ($1.id, $0) })

        self.epoch = epoch
        self.replicationFactor = replicationFactor
        self.vnodes = vnodes
        self.nodes = sortedNodes
        self.shards = sortedShards
        self.shardStarts = layout.entries.map(\.range.start)
        self.shardOrder = layout.entries.map { position[$0.id]! }
    }

    /// `nodes` sorted by id, after checking the parameters every map needs.
    static func checkedNodes(_ nodes: [ClusterNode], replicationFactor: Int, vnodes: Int) throws(ClusterError)
        -> [ClusterNode]
    {
        guard replicationFactor >= 1 else {
            throw ClusterError(.invalidConfiguration, "replicationFactor must be at least 1, got \(replicationFactor)")
        }
        guard vnodes >= 1 else { throw ClusterError(.invalidConfiguration, "vnodes must be at least 1, got \(vnodes)") }
        let sortedNodes = nodes.sorted { $0.id < $1.id }
        for (previous, next) in zip(sortedNodes, sortedNodes.dropFirst()) where previous.id == next.id {
            throw ClusterError(.duplicateNode, "node \(next.id) appears twice")
        }
        if let node = sortedNodes.first(where: { $0.weight < 0 }) {
            throw ClusterError(.invalidConfiguration, "node \(node.id) has negative weight \(node.weight)")
        }
        return sortedNodes
    }

    /// A fresh map: `shardCount` equal shards placed on the ring of `nodes`.
    ///
    /// Nodes without tokens get them from `TokenAllocator`, joining one by one
    /// in id order, so the same nodes always give the same map.
    ///
    /// Map and shard epochs start at 1 (0 means "no map yet" to clients), and
    /// every replica starts in sync since there is no data yet.
    ///
    /// - Parameters:
    ///   - nodes: The initial nodes; `down` nodes and weight-0 nodes get no shards.
    ///   - shardCount: The number of shards, at least 1.
    ///   - replicationFactor: Replicas per shard, at least 1.
    ///   - vnodes: Ring tokens per unit of weight, at least 1.
    /// - Returns: The map at epoch 1.
    /// - Throws: `ClusterError` as `init(epoch:nodes:shards:replicationFactor:vnodes:)`
    ///   does, or `.invalidConfiguration` for a shard count below 1.
    /// - Complexity: O(T log T + S × (log T + W)) for T tokens, S shards and walks of W tokens.
    public static func bootstrap(
        nodes: [ClusterNode],
        shardCount: Int = ShardLayout.defaultShardCount,
        replicationFactor: Int = defaultReplicationFactor,
        vnodes: Int = defaultVnodes
    ) throws(ClusterError) -> ClusterMap {
        guard shardCount >= 1 else {
            throw ClusterError(.invalidConfiguration, "shardCount must be at least 1, got \(shardCount)")
        }
        let sortedNodes = TokenAllocator.assigningTokens(
            to: try checkedNodes(nodes, replicationFactor: replicationFactor, vnodes: vnodes), vnodes: vnodes,
            replicationFactor: replicationFactor)
        let layout = ShardLayout.uniform(count: shardCount)
        let targets = Placement.replicaSets(
            ring: Placement.ring(of: sortedNodes, vnodes: vnodes), starts: layout.entries.map(\.range.start),
            replicationFactor: replicationFactor)
        let shards = zip(layout.entries, targets).map { entry, replicas in
            ShardAssignment(id: entry.id, range: entry.range, replicas: replicas, epoch: 1, inSync: Set(replicas))
        }
        return try ClusterMap(
            epoch: 1, nodes: sortedNodes, shards: shards, replicationFactor: replicationFactor, vnodes: vnodes)
    }

    /// The shard layout of this map (ranges and ids, in hash order).
    /// - Complexity: O(S).
    public var layout: ShardLayout {
        ShardLayout(sortedEntries: shardOrder.map { ShardLayout.Entry(id: shards[$0].id, range: shards[$0].range) })
    }

    /// The shard that contains `hash`; every hash has exactly one.
    /// - Complexity: O(log S).
    public func shard(forHash hash: UInt64) -> ShardAssignment {
        var low = 0
        var high = shardStarts.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if shardStarts[mid] <= hash { low = mid } else { high = mid }
        }
        return shards[shardOrder[low]]
    }

    /// The shard with this id, or `nil` if the map has none.
    /// - Complexity: O(log S).
    public func shard(_ id: ShardID) -> ShardAssignment? {
        let index = lowerBound(shards, id, by: \.id)
        return index < shards.count && shards[index].id == id ? shards[index] : nil
    }

    /// The node with this id, or `nil` if the map has none.
    /// - Complexity: O(log N).
    public func node(_ id: NodeID) -> ClusterNode? {
        let index = lowerBound(nodes, id, by: \.id)
        return index < nodes.count && nodes[index].id == id ? nodes[index] : nil
    }

    /// The primary node of a shard, or `nil` if the shard is unknown or has no replica.
    /// - Complexity: O(log S + log N).
    public func primary(for shard: ShardID) -> ClusterNode? {
        self.shard(shard)?.primary.flatMap { node($0) }
    }

    /// The nodes holding a shard, primary first, or `nil` if the shard is unknown.
    /// - Complexity: O(log S + R log N).
    public func replicas(for shard: ShardID) -> [ClusterNode]? {
        // Replicas always name known nodes (checked at construction).
        self.shard(shard)?.replicas.map { node($0)! }
    }

    /// The shards a node holds a replica of (as primary or read replica), sorted by id.
    /// - Complexity: O(S × R).
    public func shards(ownedBy node: NodeID) -> [ShardAssignment] {
        shards.filter { $0.replicas.contains(node) }
    }

    /// The shards a node is the primary of, sorted by id.
    /// - Complexity: O(S).
    public func shards(primaryOn node: NodeID) -> [ShardAssignment] {
        shards.filter { $0.primary == node }
    }

    /// Two maps are equal when their epochs, parameters, nodes and shards are.
    public static func == (lhs: ClusterMap, rhs: ClusterMap) -> Bool {
        lhs.epoch == rhs.epoch && lhs.replicationFactor == rhs.replicationFactor && lhs.vnodes == rhs.vnodes
            && lhs.nodes == rhs.nodes && lhs.shards == rhs.shards
    }

    private enum CodingKeys: String, CodingKey { case epoch, replicationFactor, vnodes, nodes, shards }

    /// Decodes a map and checks its invariants.
    /// - Throws: `DecodingError.dataCorrupted` wrapping the `ClusterError` of a broken invariant.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(
                epoch: container.decode(UInt64.self, forKey: .epoch),
                nodes: container.decode([ClusterNode].self, forKey: .nodes),
                shards: container.decode([ShardAssignment].self, forKey: .shards),
                replicationFactor: container.decode(Int.self, forKey: .replicationFactor),
                vnodes: container.decode(Int.self, forKey: .vnodes))
        } catch let error as ClusterError {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.description, underlyingError: error))
        }
    }

    /// Encodes the map; nodes and shards are already sorted by id.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(replicationFactor, forKey: .replicationFactor)
        try container.encode(vnodes, forKey: .vnodes)
        try container.encode(nodes, forKey: .nodes)
        try container.encode(shards, forKey: .shards)
    }

    /// The map's stable JSON: sorted keys, pretty printed, arrays in id order.
    /// Equal maps give equal bytes.
    /// - Throws: An `EncodingError` (not expected for a valid map).
    /// - Complexity: O(size of the map).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Decodes a map from JSON and checks its invariants.
    /// - Parameter jsonData: The JSON bytes, as `jsonData()` writes them.
    /// - Throws: A `DecodingError` for malformed JSON or a broken invariant.
    /// - Complexity: O(size of the map).
    public init(jsonData: Data) throws {
        self = try JSONDecoder().decode(ClusterMap.self, from: jsonData)
    }
}

/// The first index whose element's key is not below `key`, in an array sorted by that key.
private func lowerBound<Element, Key: Comparable>(_ array: [Element], _ key: Key, by keyPath: KeyPath<Element, Key>)
    -> Int
{
    var low = 0
    var high = array.count
    while low < high {
        let mid = (low + high) / 2
        if array[mid][keyPath: keyPath] < key { low = mid + 1 } else { high = mid }
    }
    return low
}
