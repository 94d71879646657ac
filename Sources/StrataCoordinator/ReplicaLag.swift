import StrataCluster

/// How long each replica has been behind its primary, in time rather than
/// entries (Kafka's `replica.lag.time.max.ms`), from the applied positions
/// nodes send in heartbeats.
///
/// A replica is caught up as of instant T when it has applied everything its
/// primary reported having at T. The coordinator keeps each primary's recent
/// reports (those within `window`); the latest report a replica's position
/// covers tells when it was last caught up. A replica that covers no report
/// of the window has been behind for longer than the window.
struct ReplicaLag: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// Reports older than this are dropped: the lag bound.
    let window: Duration
    /// Per shard: the node whose reports are kept, and since when.
    private var leaders: [ShardID: (node: NodeID, since: Instant)] = [:]
    /// Per shard: the primary's reports, oldest first.
    private var reports: [ShardID: [(at: Instant, position: UInt64)]] = [:]
    /// Per shard and replica: the latest instant as of which it had everything its primary had.
    private var caughtUp: [ShardID: [NodeID: Instant]] = [:]

    /// Lag tracking with reports kept for `window`.
    init(window: Duration) {
        self.window = window
    }

    /// Notes that `primary` (the shard's primary now) reported `position` for `shard` at `now`.
    /// A new primary starts the shard's history afresh.
    mutating func primaryReported(_ shard: ShardID, primary: NodeID, position: UInt64, at now: Instant) {
        if leaders[shard]?.node != primary {
            leaders[shard] = (primary, now)
            reports[shard] = []
            caughtUp[shard] = [:]
        }
        // A position the primary reported before still holds at `now`: the
        // report moves forward instead of growing the list (an idle shard keeps one).
        if let last = reports[shard]?.last, last.position == position {
            reports[shard]![reports[shard]!.count - 1].at = now
        } else {
            reports[shard, default: []].append((now, position))
        }
        if let oldest = reports[shard]?.first, now - oldest.at > window {
            reports[shard]!.removeAll { now - $0.at > window }
        }
    }

    /// Notes that `replica` has applied `shard` up to `position`; returns how
    /// long it has been behind its primary at `now` (zero when it covers the
    /// primary's newest report), or `nil` when the shard's primary has not
    /// reported yet.
    mutating func lag(of replica: NodeID, _ shard: ShardID, position: UInt64, at now: Instant) -> Duration? {
        guard let leader = leaders[shard] else { return nil }
        if let covered = reports[shard]?.last(where: { $0.position <= position }) {
            let known = caughtUp[shard]?[replica]
            caughtUp[shard, default: [:]][replica] = known.map { max($0, covered.at) } ?? covered.at
        }
        if let newest = reports[shard]?.last, newest.position <= position { return .zero }
        return now - (caughtUp[shard]?[replica] ?? leader.since)
    }

    /// Counts `replica` as caught up at `now` (it just joined the in-sync set).
    mutating func joined(_ replica: NodeID, _ shard: ShardID, at now: Instant) {
        caughtUp[shard, default: [:]][replica] = now
    }
}
