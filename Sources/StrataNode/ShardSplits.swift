import StrataCluster
import StrataStorage

extension Keyspace {
    /// Starts the shards of `topology` that were split off a shard this node
    /// leads (`ShardAssignment.parent`) and that it has no positions for yet:
    /// each starts its sequence numbers at the parent's last one (`start`).
    ///
    /// Run on the writer thread between groups, before any group routes a write
    /// by `topology`: the parent's writes of the new half up to here are in
    /// the parent's log, every later one is the new shard's. A shard whose
    /// parent is empty here starts at 0, as it is. A shard whose parent is not
    /// `ready` (a planned failover's new primary still drains the old one's log
    /// of it, whose sequence numbers go further) is left for a later call.
    /// - Returns: The shards started, with the sequence number each starts at.
    func startSplits(in topology: NodeTopology, ready: (ShardID) -> Bool = { _ in true }) throws(StorageError)
        -> [(shard: ShardID, sequence: UInt64)]
    {
        var started: [(shard: ShardID, sequence: UInt64)] = []
        for shard in topology.map.shards where shard.parent != nil && shard.primary == topology.localNode {
            guard let parent = shard.parent, ready(parent), let from = lastVersion(of: parent), from > 0, isUnstarted(shard.id)
            else { continue }
            try start(shard.id, at: from, epoch: shard.epoch)
            started.append((shard.id, from))
        }
        return started
    }

    /// Starts `shard` at `sequence`: an empty log entry there (carrying `epoch`,
    /// so a follower's position there checks against it) and the log trimmed up
    /// to it, so a follower that cannot go on from its parent's log copies the
    /// shard from a snapshot. Writer thread only.
    func start(_ shard: ShardID, at sequence: UInt64, epoch: UInt64) throws(StorageError) {
        let batch = WriteBatch(for: database)
        try batch.put(ReplicationLog.key(shard, sequence), LogEntry.header(epoch: epoch), in: log.family)
        try batch.put(ReplicationLog.trimKey(shard), BigEndian.bytes(sequence), in: meta)
        try database.write(batch)
        setPositions(shard, sequence: sequence, trimmedThrough: sequence, epoch: epoch)
    }

    /// Whether this node has nothing of `shard` yet: no sequence number, no trim point.
    func isUnstarted(_ shard: ShardID) -> Bool { (lastVersion(of: shard) ?? 0) == 0 && trimPoint(of: shard) == 0 }

    /// How a follower starts a shard split off another, given where the primary
    /// started it (`point`: its log's trim point, which the primary's fetch reply shows).
    enum SplitStart: Equatable {
        /// Go on from the parent's log: this node applied the parent's entries up to `point`
        /// one by one (so it has every write of the new half up to there), then the new shard's.
        case fromParent
        /// The parent's log here has not reached `point` yet: ask again.
        case waitForParent
        /// Copy the new shard from the primary's snapshot: this node does not hold the
        /// parent, or its copy of the parent did not come from the parent's log up to `point`.
        case snapshot
    }

    /// How this follower starts `shard` (see `SplitStart`). Only the parent's entries
    /// up to `point` carry writes of the new half, and a copy of the parent that
    /// came from a snapshot at `point` or later may lack them (the snapshot covers the parent's
    /// new range): its trim point tells, since a snapshot sets it.
    func splitStart(of shard: ShardAssignment, at point: UInt64) -> SplitStart {
        guard let parent = shard.parent, isUnstarted(shard.id), let position = lastVersion(of: parent),
            trimPoint(of: parent) < point
        else { return .snapshot }
        return position >= point ? .fromParent : .waitForParent
    }

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
