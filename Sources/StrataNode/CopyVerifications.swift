import NIOConcurrencyHelpers
import StrataCluster

/// Verify before cutover: the moving shards whose copy on this node matched
/// its primary's, record for record, at one sequence number.
///
/// A shard is moving while its map entry lists copies its ring order no longer
/// wants (`CoordinatorCore.keepingLeavingCopies`). Every copy the ring wants
/// that is not the primary proves itself: its follower asks the primary for
/// `SHARDCHECKSUM shard ASOF t` (a sequence number and a checksum from one
/// snapshot), applies the log up to exactly that sequence number, sums its own
/// copy from a snapshot taken there and compares (`ReplicaFollower`). Matches
/// go to the coordinator in heartbeats (`VERIFIED`), which completes a move
/// only once every copy that joined the shard has verified it. A copy that
/// differs is replaced by a fresh snapshot and tries again.
final class CopyVerifications: Sendable {
    /// A primary's checksum this copy is to match.
    struct Expected: Sendable {
        /// The primary's sum.
        var sum: ShardChecksum
        /// The `ASOF` it was computed with (the copy leaves out the same records).
        var asOf: Int64
    }

    private struct State {
        var verified: Set<ShardID> = []
        var expected: [ShardID: Expected] = [:]
        /// The ring order of the last map asked about, and its epoch.
        var ringEpoch: UInt64?
        var ring: [ShardID: [NodeID]] = [:]
    }

    private let node: NodeID
    private let state = NIOLockedValueBox(State())

    /// Verifications of `node`'s copies.
    init(node: NodeID) {
        self.node = node
    }

    /// How long past now the records compared must live (`ASOF`): both sums are taken well within it.
    static let asOfMargin: Int64 = 60_000

    /// The shards of `map` this node should verify now: moving, wanted here by the ring, not led here, not verified yet.
    func needed(in map: ClusterMap) -> Set<ShardID> {
        state.withLockedValue { state in
            let ring = Self.ring(of: map, in: &state)
            var shards: Set<ShardID> = []
            for shard in map.shards where !state.verified.contains(shard.id) && shard.primary != node {
                guard let target = ring[shard.id], target.contains(node), shard.replicas.contains(node),
                    shard.replicas.contains(where: { !target.contains($0) })
                else { continue }
                shards.insert(shard.id)
            }
            return shards
        }
    }

    /// The verified shards still moving under `map` with this node wanted
    /// there, for the heartbeat; forgets the others (a later move verifies again).
    func reported(in map: ClusterMap) -> [ShardID] {
        state.withLockedValue { state in
            let ring = Self.ring(of: map, in: &state)
            state.verified = state.verified.filter { id in
                guard let shard = map.shard(id), let target = ring[id] else { return false }
                return target.contains(node) && shard.replicas.contains(where: { !target.contains($0) })
            }
            state.expected = state.expected.filter { map.shard($0.key)?.replicas.contains(node) == true }
            return state.verified.sorted()
        }
    }

    /// The primary's sums this node waits to match, by shard.
    var expected: [ShardID: Expected] { state.withLockedValue { $0.expected } }

    /// Notes the primary's sum for `shard`, to be matched at its sequence number.
    func expect(_ shard: ShardID, _ expected: Expected) {
        state.withLockedValue { $0.expected[shard] = expected }
    }

    /// Records the outcome for `shard`: verified or not, the expectation is spent.
    func settle(_ shard: ShardID, verified: Bool) {
        state.withLockedValue { state in
            state.expected[shard] = nil
            if verified { state.verified.insert(shard) } else { state.verified.remove(shard) }
        }
    }

    /// Forgets `shard` (its copy was replaced by a snapshot).
    func forget(_ shard: ShardID) {
        settle(shard, verified: false)
    }

    private static func ring(of map: ClusterMap, in state: inout State) -> [ShardID: [NodeID]] {
        if state.ringEpoch != map.epoch {
            state.ring = Placement.ringOrder(of: map)
            state.ringEpoch = map.epoch
        }
        return state.ring
    }
}
