extension ClusterMap {
    /// The map with `id` split in two halves of its hash range (`ShardLayout.split`):
    /// the lower half keeps the id, the upper half gets the next unused id. Both
    /// stay on the shard's nodes (the new one is placed from the same ring
    /// position, `ShardAssignment.placement`, so no data moves) and both get
    /// the next shard epoch, so a client with the older map is told `MOVED`.
    ///
    /// The new shard keeps the parent's in-sync set: its primary starts its
    /// sequence numbers where the parent's were (`ShardAssignment.parent`), and
    /// a follower that applied the parent's log up to there goes on from there
    /// in the new shard (others copy it from a snapshot).
    ///
    /// - Parameter id: The shard to split.
    /// - Returns: The new map (epoch + 1) and the new shard's id.
    /// - Throws: `.unknownShard` for a shard the map does not have;
    ///   `.unsplittableShard` for one covering a single hash value, or one with no primary.
    /// - Complexity: O(S log S) for S shards.
    public func splitting(_ id: ShardID) throws(ClusterError) -> (map: ClusterMap, newShard: ShardID) {
        guard let shard = shard(id) else { throw ClusterError(.unknownShard, "shard \(id) is not in the map") }
        guard shard.primary != nil else {
            throw ClusterError(.unsplittableShard, "shard \(id) has no primary to split it")
        }
        var layout = self.layout
        let newID = try layout.split(id)
        guard let lower = layout.range(of: id), let upper = layout.range(of: newID) else {
            throw ClusterError(.unknownShard, "shard \(id) vanished from its own split")
        }
        var kept = shard
        kept.range = lower
        kept.epoch += 1
        let added = ShardAssignment(
            id: newID, range: upper, replicas: shard.replicas, epoch: kept.epoch,
            inSync: shard.inSync, placement: shard.placement, parent: id)
        let shards = self.shards.map { $0.id == id ? kept : $0 } + [added]
        let next = try ClusterMap(
            epoch: epoch + 1, nodes: nodes, shards: shards, replicationFactor: replicationFactor, vnodes: vnodes)
        return (next, newID)
    }
}
