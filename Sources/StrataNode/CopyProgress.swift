import NIOConcurrencyHelpers
import StrataCluster

/// What this node has taken in of each shard it is copying (a move's new copy,
/// or a replica catching up): bytes and records so far, since when, and the
/// shard's size at the primary when the copy began (`SHARDSIZE`), so
/// `COPYPROGRESS` (and `strata cluster moves`) can show done/total, rate and ETA.
final class CopyProgress: Sendable {
    /// One shard's copy.
    struct Shard: Sendable {
        /// Bytes taken in: snapshot pages' records and log entries' payloads.
        var bytes = 0
        /// Records taken in: snapshot records and changes in log entries.
        var records = 0
        /// When the copy began.
        var started = ContinuousClock.now
        /// The shard's records and their bytes at the primary when the copy began (`nil`: not asked yet).
        var total: (records: Int, bytes: Int)?
    }

    private let shards = NIOLockedValueBox<[ShardID: Shard]>([:])

    /// Counts `bytes` and `records` more of `shard`.
    func add(_ shard: ShardID, bytes: Int, records: Int) {
        shards.withLockedValue { shards in
            shards[shard, default: Shard()].bytes += bytes
            shards[shard, default: Shard()].records += records
        }
    }

    /// Notes the size of `shard` at its primary.
    func setTotal(_ shard: ShardID, records: Int, bytes: Int) {
        shards.withLockedValue { $0[shard, default: Shard()].total = (records, bytes) }
    }

    /// Starts tracking the shards being copied now, forgetting those no longer copied.
    func track(_ copying: Set<ShardID>) {
        shards.withLockedValue { shards in
            shards = shards.filter { copying.contains($0.key) }
            for shard in copying where shards[shard] == nil { shards[shard] = Shard() }
        }
    }

    /// Every shard being copied, by id.
    var current: [ShardID: Shard] { shards.withLockedValue { $0 } }
}
