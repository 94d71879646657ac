import StrataCluster
import StrataWire
import Synchronization

/// What a primary knows of its followers, and the `acks=all` writes waiting on them.
///
/// A follower's `REPLFETCH ... shard after` says it has applied the shard up
/// to `after`; `record` keeps that, per leadership (a new shard epoch starts
/// afresh). A write acknowledged with `acks=all` waits until every other
/// in-sync replica of each shard it wrote (per the current map), and every
/// follower this node vouched for (`caughtUp`), has applied the write's
/// sequence number. It fails instead when this node stops being the shard's
/// primary, when the shard has fewer in-sync replicas than `minInSync` (a lone
/// primary cannot make a write survive its own loss), or at its deadline.
///
/// The invariant this keeps with the coordinator: every member of a shard's
/// in-sync set holds every write acknowledged with `acks=all`, so promoting
/// any of them loses none. A follower joins the set only when the primary
/// vouches that it has applied everything acknowledged so far; from that
/// moment the primary counts it for every later write.
final class ReplicationProgress: Sendable {
    /// A write waiting for its replicas.
    private struct Waiter {
        let required: [(shard: ShardID, sequence: UInt64)]
        let deadline: ContinuousClock.Instant
        let done: @Sendable (Result<Void, CommandError>) -> Void
    }

    private struct State {
        /// Followers' applied positions, for the shards this node leads (reset per leadership).
        var positions: [ShardID: [NodeID: UInt64]] = [:]
        /// The shard epoch at which this node leads each shard it leads, as last seen.
        var leading: [ShardID: UInt64] = [:]
        /// Per led shard: no write past this was acknowledged with `acks=all`
        /// (starts at the shard's last sequence number when this node began leading).
        var acknowledged: [ShardID: UInt64] = [:]
        /// Per led shard: followers vouched for (caught up) that the map does not count in sync yet.
        var vouched: [ShardID: Set<NodeID>] = [:]
        var waiters: [Waiter] = []
        /// As a replica: per shard, the primary's last sequence number at the last fetch, and when it answered.
        var primaryReports: [ShardID: (at: ContinuousClock.Instant, last: UInt64)] = [:]
        /// As a replica: per shard, the latest instant as of which it had everything its primary had.
        var coveredAt: [ShardID: ContinuousClock.Instant] = [:]
        /// As a new primary after a planned failover: the old primary each shard drains first.
        var handoffs: [ShardID: Handoff] = [:]
        /// As a primary: shards split off one this node leads that its writer has not started yet
        /// (`Keyspace.startSplits`), with their parents: they take no writes until it has.
        var splitting: [ShardID: ShardID] = [:]
        /// As a replica: nothing applied before this instant (`DEBUG FOLLOW-PAUSE`).
        var followPausedUntil: ContinuousClock.Instant?
    }

    /// Stops this node's replicas applying for `duration` (a drill: makes the replicas lag on purpose).
    func pauseFollowing(for duration: Duration) {
        state.withLock { $0.followPausedUntil = .now + duration }
    }

    /// Whether replica applying is paused now.
    var isFollowingPaused: Bool {
        state.withLock { state in state.followPausedUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    /// A shard this node leads since a planned failover, before it drained the old primary's log.
    struct Handoff: Equatable {
        /// The old primary, still up: its log may hold writes this node has not fetched.
        let source: NodeID
        /// The shard epoch at which this node leads.
        let epoch: UInt64
    }

    private let state = Mutex(State())
    private let topology: TopologyBox
    private let localNode: NodeID
    /// How long an `acks=all` write waits before it fails.
    let timeout: Duration

    /// The shard's last sequence number here (`nil` when not held).
    private let lastVersion: @Sendable (ShardID) -> UInt64?

    init(
        topology: TopologyBox, localNode: NodeID, timeout: Duration = .seconds(5),
        lastVersion: @escaping @Sendable (ShardID) -> UInt64?
    ) {
        self.topology = topology
        self.localNode = localNode
        self.timeout = timeout
        self.lastVersion = lastVersion
    }

    /// Starts (or continues) leading `shard` at `epoch`: a new leadership forgets
    /// the followers' positions and vouches, and counts everything this node
    /// holds as possibly acknowledged (a former primary's acknowledged writes
    /// reached every in-sync replica, this one included).
    private func lead(_ shard: ShardID, epoch: UInt64, in state: inout State) {
        guard state.leading[shard] != epoch else { return }
        state.leading[shard] = epoch
        state.positions[shard] = [:]
        state.vouched[shard] = []
        state.acknowledged[shard] = lastVersion(shard) ?? 0
    }

    /// Notes that `node` has applied `shard` up to `position` (counted only while this
    /// node leads the shard), and completes the writes that now have their replicas.
    func record(node: NodeID, shard: ShardID, position: UInt64) {
        let assignment = topology.current.map.shard(shard)
        guard let assignment, assignment.primary == localNode else { return }
        state.withLock { state in
            lead(shard, epoch: assignment.epoch, in: &state)
            let known = state.positions[shard]?[node] ?? 0
            state.positions[shard, default: [:]][node] = max(known, position)
        }
        evaluate()
    }

    /// For the heartbeat: per shard this node leads (handed over), the shard
    /// epoch and the followers not yet in sync that have applied every write
    /// acknowledged with `acks=all`. From now on each write waits for them too.
    func caughtUp() -> [(shard: ShardID, epoch: UInt64, followers: [NodeID])] {
        let map = topology.current.map
        return state.withLock { state in
            var report: [(shard: ShardID, epoch: UInt64, followers: [NodeID])] = []
            for shard in map.shards where shard.primary == localNode && state.handoffs[shard.id] == nil {
                lead(shard.id, epoch: shard.epoch, in: &state)
                let floor = state.acknowledged[shard.id] ?? 0
                let positions = state.positions[shard.id] ?? [:]
                var vouched = state.vouched[shard.id] ?? []
                for follower in shard.replicas.dropFirst() where !shard.inSync.contains(follower) {
                    if map.node(follower)?.state == .up, positions[follower] ?? 0 >= floor, positions[follower] != nil {
                        vouched.insert(follower)
                    }
                }
                // A vouch ends once the map counts the follower in sync, or it is no longer an up replica.
                vouched = vouched.filter { follower in
                    shard.replicas.dropFirst().contains(follower) && !shard.inSync.contains(follower)
                        && map.node(follower)?.state == .up
                }
                state.vouched[shard.id] = vouched
                if !vouched.isEmpty { report.append((shard.id, shard.epoch, vouched.sorted())) }
            }
            return report
        }
    }

    /// As a replica: notes the primary's last sequence number of `shard` from a
    /// fetch answered now. A replica that had applied everything of the previous
    /// answer counts as caught up until now: a primary answers a fetch as soon
    /// as it has something newer (it holds it only while it has not), so what
    /// this answer brings was committed about now, to within a round trip, or,
    /// when the replica was slow to ask again, within the time it took to apply
    /// the previous answer.
    func notePrimary(_ shard: ShardID, last: UInt64, now: ContinuousClock.Instant = .now) {
        let applied = lastVersion(shard) ?? 0
        state.withLock { state in
            let wasCaughtUp = state.primaryReports[shard].map { applied >= $0.last } ?? true
            state.primaryReports[shard] = (now, last)
            if wasCaughtUp || applied >= last { state.coveredAt[shard] = now }
        }
    }

    /// As a replica: the primary's last sequence number of `shard` at the last fetch.
    func primaryLast(of shard: ShardID) -> UInt64? {
        state.withLock { $0.primaryReports[shard]?.last }
    }

    /// As a replica: how long `shard` has been behind its primary at `now`:
    /// zero when it has applied everything the primary had at the last fetch,
    /// else the time since it was last caught up (see `notePrimary`).
    func replicaLag(of shard: ShardID, now: ContinuousClock.Instant = .now) -> Duration {
        let applied = lastVersion(shard) ?? 0
        return state.withLock { state in
            guard let report = state.primaryReports[shard], applied < report.last else { return .zero }
            return now - (state.coveredAt[shard] ?? report.at)
        }
    }

    /// Recomputes the handoffs after a new map: a shard this node now leads, at a
    /// new epoch, whose previous primary is still up and in sync (a planned failover).
    func adopt(previous: ClusterMap, current: ClusterMap) {
        state.withLock { state in
            for shard in current.shards {
                guard shard.primary == localNode else {
                    state.handoffs[shard.id] = nil
                    state.splitting[shard.id] = nil
                    continue
                }
                // A shard split off by this map waits for the writer to start it.
                if let parent = shard.parent, previous.shard(shard.id) == nil { state.splitting[shard.id] = parent }
                // A source that is down (its lease expired) or gone writes no more: stop draining it.
                if let handoff = state.handoffs[shard.id], current.node(handoff.source)?.state != .up {
                    state.handoffs[shard.id] = nil
                }
                // A planned failover keeps the old primary up and in sync; a demotion or a failure does not.
                guard let before = previous.shard(shard.id), let old = before.primary, old != localNode,
                    before.epoch < shard.epoch, shard.inSync.contains(old), current.node(old)?.state == .up
                else { continue }
                state.handoffs[shard.id] = Handoff(source: old, epoch: shard.epoch)
            }
        }
    }

    /// The shards waiting for a handoff, with their old primaries.
    var handoffs: [ShardID: Handoff] { state.withLock { $0.handoffs } }

    /// Whether `shard` may take writes here (no handoff pending, and for a shard
    /// just split off one this node leads, started by the writer).
    func isHandedOver(_ shard: ShardID) -> Bool {
        state.withLock { $0.handoffs[shard] == nil && $0.splitting[shard] == nil }
    }

    /// The shards split off ones this node leads that wait to be started, with their parents.
    var splitting: [ShardID: ShardID] { state.withLock { $0.splitting } }

    /// Lets `shard`, a split-off shard the writer started, take writes.
    func startedSplit(_ shard: ShardID) { state.withLock { _ = $0.splitting.removeValue(forKey: shard) } }

    /// Ends a handoff: this node has the old primary's whole log.
    func completeHandoff(_ shard: ShardID) { state.withLock { _ = $0.handoffs.removeValue(forKey: shard) } }

    /// The last applied position each follower reported for `shard`.
    func positions(of shard: ShardID) -> [NodeID: UInt64] {
        state.withLock { $0.positions[shard] ?? [:] }
    }

    /// Calls `done` once every in-sync replica has applied each `(shard, sequence)`, or with the reason it cannot.
    func wait(
        for required: [(shard: ShardID, sequence: UInt64)],
        done: @escaping @Sendable (Result<Void, CommandError>) -> Void
    ) {
        guard !required.isEmpty else { return done(.success(())) }
        state.withLock { $0.waiters.append(Waiter(required: required, deadline: .now + timeout, done: done)) }
        waitAdded.continuation.yield()
        evaluate()
    }

    /// Whether writes are waiting for their replicas.
    var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }

    /// An element after each new waiting write (the newest one kept), so the
    /// deadline check runs only while writes wait.
    let waitAdded = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    /// Re-checks every waiting write (after progress, a new map, or time passing).
    func evaluate() {
        let map = topology.current.map
        let minInSync = min(2, map.replicationFactor)
        let now = ContinuousClock.now
        let finished = state.withLock { state -> [(Waiter, Result<Void, CommandError>)] in
            var finished: [(Waiter, Result<Void, CommandError>)] = []
            let waiters = state.waiters
            state.waiters = []
            for waiter in waiters {
                var outcome: Result<Void, CommandError>? = .success(())
                for (shard, sequence) in waiter.required {
                    guard let assignment = map.shard(shard), assignment.primary == localNode else {
                        outcome = .failure(CommandError(
                            message: "NOTREPLICATED this node is no longer the primary of shard \(shard); the write may be lost"))
                        break
                    }
                    guard assignment.inSync.count >= minInSync else {
                        outcome = .failure(CommandError(
                            message: "NOTREPLICATED shard \(shard) has \(assignment.inSync.count) in-sync replicas, acks=all needs \(minInSync)"))
                        break
                    }
                    lead(shard, epoch: assignment.epoch, in: &state)
                    let positions = state.positions[shard] ?? [:]
                    let required = assignment.inSync.union(state.vouched[shard] ?? [])
                    if required.contains(where: { $0 != localNode && positions[$0] ?? 0 < sequence }) {
                        outcome = nil
                    }
                }
                if outcome == nil, now >= waiter.deadline {
                    outcome = .failure(CommandError(
                        message: "NOTREPLICATED timed out waiting for the in-sync replicas; the write may be lost"))
                }
                guard let outcome else {
                    state.waiters.append(waiter)
                    continue
                }
                if case .success = outcome {
                    for (shard, sequence) in waiter.required {
                        state.acknowledged[shard] = max(state.acknowledged[shard] ?? 0, sequence)
                    }
                }
                finished.append((waiter, outcome))
            }
            return finished
        }
        for (waiter, outcome) in finished { waiter.done(outcome) }
    }
}
