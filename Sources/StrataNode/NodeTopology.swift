import StrataCluster
import Synchronization

/// Which shards this node serves, and where to send clients for the others.
/// Immutable; a class so that taking the current topology for a batch is one retain.
final class NodeTopology: Sendable {
    /// The cluster map the topology was derived from.
    let map: ClusterMap
    /// This node's id in the map.
    let localNode: NodeID
    /// The shard layout, for hash → shard lookups.
    let layout: ShardLayout
    /// Per layout entry: whether this node is the shard's primary.
    private let isLocalPrimary: [Bool]
    /// Per layout entry: whether this node holds a replica of the shard.
    private let isLocalReplica: [Bool]
    /// Per layout entry: `host:port` of the shard's primary.
    private let primaryAddress: [String]

    init(map: ClusterMap, localNode: NodeID) {
        self.map = map
        self.localNode = localNode
        self.layout = map.layout
        var primaries: [Bool] = []
        var replicas: [Bool] = []
        var addresses: [String] = []
        for entry in layout.entries {
            let shard = map.shard(entry.id)
            primaries.append(shard?.primary == localNode)
            replicas.append(shard?.replicas.contains(localNode) ?? false)
            if let primary = map.primary(for: entry.id) {
                addresses.append("\(primary.host):\(primary.dataPort)")
            } else {
                addresses.append("")
            }
        }
        isLocalPrimary = primaries
        isLocalReplica = replicas
        primaryAddress = addresses
    }

    /// A one-node cluster that owns the whole ring (`strata node --standalone`).
    static func standalone(host: String, port: UInt16, shardCount: Int) throws(ClusterError) -> NodeTopology {
        let node = ClusterNode(id: "standalone", host: host, dataPort: port)
        let map = try ClusterMap.bootstrap(nodes: [node], shardCount: shardCount, replicationFactor: 1, vnodes: 16)
        return NodeTopology(map: map, localNode: node.id)
    }

    /// The shards this node holds (as primary or replica).
    var localShards: [ShardID] {
        layout.entries.indices.filter { isLocalReplica[$0] }.map { layout.entries[$0].id }
    }

    /// Where `hash` lives, and whether this node may serve it: writes need the
    /// primary; reads may use a replica when `readOnly`.
    func route(hash: UInt64, write: Bool, readOnly: Bool) -> Route {
        let index = layout.entryIndex(forHash: hash)
        let shard = layout.entries[index].id
        if isLocalPrimary[index] || (!write && readOnly && isLocalReplica[index]) {
            return .local(shard)
        }
        return .moved(shard: shard, address: primaryAddress[index], epoch: map.shard(shard)?.epoch ?? map.epoch)
    }

    /// The result of routing a key.
    enum Route {
        /// Served here, in this shard.
        case local(ShardID)
        /// Served elsewhere: answer MOVED.
        case moved(shard: ShardID, address: String, epoch: UInt64)
    }

    /// The hash ranges of the shards this node serves as primary, in order.
    var localPrimaryRanges: [ClosedRange<UInt64>] {
        layout.entries.indices.filter { isLocalPrimary[$0] }.map {
            let range = layout.entries[$0].range
            return range.start...range.last
        }
    }
}

/// The node's current topology, replaced when the coordinator publishes a new map.
final class TopologyBox: Sendable {
    private let state: Mutex<NodeTopology>
    /// Called after each replacement (outside the lock).
    private let observers = Mutex<[@Sendable () -> Void]>([])
    /// The highest shard epochs peers showed this node (in their fetches), by shard.
    private let seenEpochs = Mutex<[ShardID: UInt64]>([:])

    init(_ topology: NodeTopology) {
        state = Mutex(topology)
    }

    /// Calls `observer` after every replacement of the topology.
    func onReplace(_ observer: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// The topology in force now.
    var current: NodeTopology { state.withLock { $0 } }

    /// Notes that a peer's map has `shard` at `epoch` (a follower's fetch says so).
    func noteEpoch(_ epoch: UInt64, of shard: ShardID) {
        seenEpochs.withLock { seen in
            if epoch > seen[shard] ?? 0 { seen[shard] = epoch }
        }
    }

    /// The highest epoch of `shard` a peer showed this node, when it is newer than
    /// `epoch` (this node's): its map is stale for that shard, so a `MOVED` from it
    /// could point back at a node that already redirects here.
    func newerEpoch(of shard: ShardID, than epoch: UInt64) -> UInt64? {
        seenEpochs.withLock { seen in seen[shard].flatMap { $0 > epoch ? $0 : nil } }
    }

    /// Installs `topology` if its map is newer; returns whether it did.
    func replace(with topology: NodeTopology) -> Bool {
        let replaced = state.withLock { current in
            guard topology.map.epoch > current.map.epoch else { return false }
            current = topology
            return true
        }
        if replaced { for observer in observers.withLock({ $0 }) { observer() } }
        return replaced
    }
}
