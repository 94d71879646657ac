/// A change to the cluster's membership or health.
public enum PlacementChange: Hashable, Sendable {
    /// A new node joins; without tokens it gets them from `TokenAllocator`.
    /// Adding a node identical to an existing one (tokens aside) changes nothing.
    case add(ClusterNode)
    /// A node leaves for good; its replicas are placed elsewhere.
    case remove(NodeID)
    /// A node's health changes; `down` takes it off the ring, `up` and `suspect` keep or put it back.
    case setState(NodeID, NodeState)
    /// A node's relative capacity changes: it gets new tokens from `TokenAllocator`
    /// for the new weight (none at 0: it holds no shards, as before it is removed).
    case setWeight(NodeID, Int)
}

/// Computes where shards should live: the pure core of the coordinator's placement.
///
/// The target replica set of every shard is `HashRing.replicaSet(forToken: shard.placement)`
/// (its range's start, or for a split shard the position of the shard it came from)
/// on the ring of the placed nodes' tokens (state `up` or `suspect`, weight > 0). The
/// result depends only on the nodes and the shard ranges, never on history, so
/// the same configuration always yields the same placement — and a node that
/// goes down and comes back gets its shards back.
public enum Placement {
    /// The map after a change.
    ///
    /// The primary of a shard stays where it is while it is in the new list
    /// and in sync; otherwise the most caught-up in-sync node of the new list
    /// leads (`applied`: the sequence numbers nodes last reported per shard),
    /// so a failover promotes a replica that has the data and a node coming
    /// back or joining does not lead before it caught up.
    ///
    /// Shards whose replica list (set or primary) changes get `epoch + 1`, and
    /// their in-sync set keeps only replicas that were in sync before: a node
    /// that newly holds a shard has to catch up first (the coordinator streams
    /// it a snapshot and adds it to `inSync` when it has). The map epoch
    /// increments if anything changed; an ineffective change (re-adding an
    /// identical node, setting a node's current state) returns `map` as is.
    ///
    /// - Parameters:
    ///   - map: The current map.
    ///   - change: The membership or health change.
    ///   - applied: Each node's last reported sequence number per shard, to rank in-sync replicas.
    /// - Returns: The target map.
    /// - Throws: `ClusterError.duplicateNode` when `add` names an existing node
    ///   with different attributes; `.unknownNode` when `remove` or `setState`
    ///   names a node the map does not have; `.invalidConfiguration` for a negative weight.
    /// - Complexity: O(T log T + S × (log T + W)) for T ring tokens, S shards and walks of W tokens.
    public static func target(
        map: ClusterMap, change: PlacementChange, applied: [NodeID: [ShardID: UInt64]] = [:]
    ) throws(ClusterError) -> ClusterMap {
        var nodes = map.nodes
        switch change {
        case .add(var node):
            if let existing = map.node(node.id) {
                if node.tokens.isEmpty { node.tokens = existing.tokens }
                guard existing == node else {
                    throw ClusterError(.duplicateNode, "node \(node.id) is already in the map with other attributes")
                }
                return map
            }
            if node.weight > 0 && node.tokens.isEmpty {
                node.tokens = TokenAllocator.tokens(
                    for: node.ringMember, joining: nodes.map(\.ringMember), vnodes: map.vnodes,
                    replicationFactor: map.replicationFactor)
            }
            nodes.append(node)
        case .remove(let id):
            guard let index = nodes.firstIndex(where: { $0.id == id }) else {
                throw ClusterError(.unknownNode, "cannot remove node \(id): not in the map")
            }
            nodes.remove(at: index)
        case .setState(let id, let state):
            guard let index = nodes.firstIndex(where: { $0.id == id }) else {
                throw ClusterError(.unknownNode, "cannot set the state of node \(id): not in the map")
            }
            guard nodes[index].state != state else { return map }
            nodes[index].state = state
        case .setWeight(let id, let weight):
            guard let index = nodes.firstIndex(where: { $0.id == id }) else {
                throw ClusterError(.unknownNode, "cannot set the weight of node \(id): not in the map")
            }
            guard nodes[index].weight != weight else { return map }
            nodes[index].weight = weight
            nodes[index].tokens = []
            if weight > 0 {
                nodes[index].tokens = TokenAllocator.tokens(
                    for: nodes[index].ringMember, joining: nodes.filter { $0.id != id }.map(\.ringMember),
                    vnodes: map.vnodes, replicationFactor: map.replicationFactor)
            }
        }
        nodes = try ClusterMap.checkedNodes(nodes, replicationFactor: map.replicationFactor, vnodes: map.vnodes)

        let targets = replicaSets(
            ring: ring(of: nodes, vnodes: map.vnodes), starts: map.shards.map(\.placement),
            replicationFactor: map.replicationFactor)
        let shards = zip(map.shards, targets).map { shard, ringReplicas in
            let replicas = primaryFirst(ringReplicas, previous: shard, applied: applied)
            guard shard.replicas != replicas else { return shard }
            var moved = shard
            moved.replicas = replicas
            moved.epoch += 1
            moved.inSync = shard.inSync.intersection(replicas)
            return moved
        }
        return try ClusterMap(
            epoch: map.epoch + 1, nodes: nodes, shards: shards, replicationFactor: map.replicationFactor,
            vnodes: map.vnodes)
    }

    /// A shard's replica list, reordered so that the primary holds the shard's
    /// data: the current primary keeps leading while it is in the list and in
    /// sync; otherwise the most caught-up in-sync node of the list (by
    /// `applied`, then ring order) is promoted. When none of the list is in
    /// sync, the ring order stands.
    public static func primaryFirst(
        _ replicas: [NodeID], previous: ShardAssignment, applied: [NodeID: [ShardID: UInt64]]
    ) -> [NodeID] {
        var best: Int?
        if let current = previous.primary, previous.inSync.contains(current) {
            best = replicas.firstIndex(of: current)
        }
        if best == nil {
            for (index, node) in replicas.enumerated() where previous.inSync.contains(node) {
                let position = applied[node]?[previous.id] ?? 0
                if best == nil || position > applied[replicas[best!]]?[previous.id] ?? 0 { best = index }
            }
        }
        guard let best, best > 0 else { return replicas }
        var reordered = replicas
        reordered.insert(reordered.remove(at: best), at: 0)
        return reordered
    }

    /// Each shard's replica list in ring order (the first is the node that
    /// should lead it when all is well), for the map's placed nodes.
    public static func ringOrder(of map: ClusterMap) -> [ShardID: [NodeID]] {
        let sets = replicaSets(
            ring: ring(of: map.nodes, vnodes: map.vnodes), starts: map.shards.map(\.placement),
            replicationFactor: map.replicationFactor)
        return Dictionary(uniqueKeysWithValues: zip(map.shards.map(\.id), sets))
    }

    /// The ring of the nodes that hold shards: `up` and `suspect` ones (weight-0 nodes own no tokens).
    /// - Complexity: O(T log T) for T tokens.
    public static func ring(of nodes: [ClusterNode], vnodes: Int) -> HashRing {
        HashRing(members: nodes.lazy.filter(\.state.isPlaced).map(\.ringMember), vnodes: vnodes)
    }

    /// The replica set of each start position, reusing the walk's scratch space.
    static func replicaSets(ring: HashRing, starts: [UInt64], replicationFactor: Int) -> [[NodeID]] {
        var walker = HashRing.Walker(ring: ring)
        return starts.map { start in
            walker.replicas(from: ring.firstTokenIndex(atOrAfter: start), replicationFactor: replicationFactor)
                .map { ring.members[Int($0)].id }
        }
    }
}
