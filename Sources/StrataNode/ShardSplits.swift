import StrataCluster
import StrataStorage

extension Keyspace {
    /// Starts the shards of `topology` that were split off a shard this node
    /// leads (`ShardAssignment.parent`) and that it has no positions for yet:
    /// each starts its sequence numbers at the parent's last one, so versions
    /// never go back, with an empty log entry there (carrying the new shard's
    /// epoch) and its log trimmed up to it, so a follower copies it from a
    /// snapshot (it cannot tell which of the parent's entries it applied
    /// belong to the new half).
    ///
    /// Run on the writer thread between groups, before any group routes a write
    /// by `topology`: the parent's writes of the upper half up to here are in
    /// the data the new shard's snapshots read, and every later one is the new
    /// shard's. A shard whose parent is empty here starts at 0, as it is.
    /// - Returns: The shards started, with the sequence number each starts at.
    func startSplits(in topology: NodeTopology) throws(StorageError) -> [(shard: ShardID, sequence: UInt64)] {
        var started: [(shard: ShardID, sequence: UInt64)] = []
        for shard in topology.map.shards where shard.parent != nil && shard.primary == topology.localNode {
            guard let parent = shard.parent, let from = lastVersion(of: parent), from > 0,
                (lastVersion(of: shard.id) ?? 0) == 0, trimPoint(of: shard.id) == 0
            else { continue }
            let batch = WriteBatch(for: database)
            try batch.put(ReplicationLog.key(shard.id, from), LogEntry.header(epoch: shard.epoch), in: log.family)
            try batch.put(ReplicationLog.trimKey(shard.id), BigEndian.bytes(from), in: meta)
            try database.write(batch)
            setPositions(shard.id, sequence: from, trimmedThrough: from, epoch: shard.epoch)
            started.append((shard.id, from))
        }
        return started
    }
}

extension Keyspace {
    /// RocksDB's estimate of the bytes on disk of each shard this node leads in
    /// `topology` (its records' files; not the memtables), for the coordinator's
    /// size-based splits (`CLUSTER HEARTBEAT … SIZES`).
    func primarySizes(in topology: NodeTopology) throws(StorageError) -> [(shard: ShardID, bytes: UInt64)] {
        let shards = topology.map.shards(primaryOn: topology.localNode)
        let ranges = shards.map { shard in
            let bounds = DataKey.bounds(forHashes: shard.range.start...shard.range.last)
            return (start: bounds.lower, end: bounds.upper ?? Self.pastLastKey)
        }
        let sizes = try database.approximateSizes(of: ranges, in: records.family)
        return zip(shards, sizes).map { ($0.id, $1) }
    }

    /// A bound above every encoded data key, for ranges that run to the end of the hash space.
    private static let pastLastKey = [UInt8](repeating: 0xFF, count: 300)
}
