import Foundation
import StrataCluster

/// The coordinator's decisions, free of I/O and clocks: heartbeats in,
/// failure detection on ticks, a new map (with a new epoch) out whenever a
/// node's state changes. Time is passed in, so tests drive it with any instants.
public struct CoordinatorCore: Sendable {
    /// The current cluster map.
    public private(set) var map: ClusterMap
    /// Last heartbeat per node (or the core's start time before the first one).
    private var lastHeard: [NodeID: ContinuousClock.Instant]
    /// Applied sequence number per shard, as each node last reported it.
    public private(set) var applied: [NodeID: [ShardID: UInt64]] = [:]
    /// Missed heartbeats for this long make a node `suspect`.
    public let suspectAfter: Duration
    /// Missed heartbeats for this long make a node `down`.
    public let downAfter: Duration
    /// How long each replica has been behind its primary; the bound is `maxLag`.
    private var lag: ReplicaLag
    /// Shards to hand back to the node that came back up and leads them in
    /// ring order, once it is in sync and caught up (`returnLeadership`).
    public private(set) var leadershipToReturn: [ShardID: NodeID] = [:]

    /// A core over `map`, counting every node as heard at `now` (a grace period after start).
    /// A replica behind its primary for longer than `maxLag` leaves the in-sync set.
    public init(
        map: ClusterMap, suspectAfter: Duration, downAfter: Duration, maxLag: Duration = ClusterConfig.defaultMaxLag,
        now: ContinuousClock.Instant
    ) {
        self.map = map
        self.suspectAfter = suspectAfter
        self.downAfter = downAfter
        lag = ReplicaLag(window: maxLag)
        lastHeard = Dictionary(uniqueKeysWithValues: map.nodes.map { ($0.id, now) })
    }

    /// A replica behind its primary for longer than this leaves the in-sync set.
    public var maxLag: Duration { lag.window }

    /// What a primary vouches for in a heartbeat: for a shard it leads at
    /// `epoch`, the followers that have applied every write it acknowledged
    /// with `acks=all` (and whose position it counts for every later one).
    public struct CaughtUp: Hashable, Sendable {
        /// The shard epoch at which the reporting node leads the shard.
        public var epoch: UInt64
        /// The followers that may join the shard's in-sync set.
        public var followers: Set<NodeID>

        /// A vouch for `followers` at shard epoch `epoch`.
        public init(epoch: UInt64, followers: Set<NodeID>) {
            self.epoch = epoch
            self.followers = followers
        }
    }

    /// Records a heartbeat. A suspect or down node that heartbeats is up again.
    ///
    /// A node that reports a lower sequence number for a shard than it did
    /// before lost data (a wiped disk, a write-ahead-log tail lost with the
    /// machine, a discarded tail): it leaves that shard's in-sync set, and if it
    /// led the shard the most caught-up in-sync replica is promoted. It catches
    /// up as a replica before it may lead again.
    ///
    /// `sizes` are the bytes on disk of the shards the node leads (`splitOversized`).
    ///
    /// `caughtUp` is what the node, as a primary, vouches for: followers join a
    /// shard's in-sync set only on the word of its current primary at the
    /// current shard epoch (see `updateInSync`).
    /// - Returns: the new map when this changed it.
    /// - Throws: `ClusterError.unknownNode` for a node the map does not have.
    public mutating func heartbeat(
        from node: NodeID, applied shards: [ShardID: UInt64], caughtUp: [ShardID: CaughtUp] = [:],
        verified: Set<ShardID> = [], sizes: [ShardID: UInt64] = [:], at now: ContinuousClock.Instant
    ) throws(ClusterError) -> ClusterMap? {
        guard let current = map.node(node) else {
            throw ClusterError(.unknownNode, "node \(node) is not in the cluster map")
        }
        lastHeard[node] = now
        verifiedBy[node] = verified
        for (shard, bytes) in sizes where map.shard(shard)?.primary == node { shardBytes[shard] = bytes }
        let before = applied[node] ?? [:]
        let regressed = Set(shards.filter { shard, position in position < before[shard] ?? 0 }.keys)
        applied[node] = shards
        var changed: ClusterMap?
        if current.state != .up {
            changed = try change(.setState(node, .up))
            noteReturn(of: node)
        }
        if !regressed.isEmpty, let updated = try demote(node, in: regressed) { changed = updated }
        if let updated = try updateInSync(primary: node, caughtUp: caughtUp, at: now) { changed = updated }
        return changed
    }

    /// Takes `node` out of the in-sync sets of `shards`; where it led, the most caught-up in-sync replica leads instead.
    mutating func demote(_ node: NodeID, in demoted: Set<ShardID>) throws(ClusterError) -> ClusterMap? {
        var changed = false
        let shards = map.shards.map { shard -> ShardAssignment in
            guard demoted.contains(shard.id), shard.inSync.contains(node) else { return shard }
            changed = true
            var updated = shard
            updated.inSync.remove(node)
            let replicas = Placement.primaryFirst(shard.replicas, previous: updated, applied: applied)
            if replicas != shard.replicas {
                updated.replicas = replicas
                updated.epoch += 1
            }
            return updated
        }
        guard changed else { return nil }
        try replaceShards(shards)
        return map
    }

    /// A planned failover: makes `target` (or, when `nil`, the most caught-up
    /// in-sync replica) the primary of `shard`, with a new shard epoch. The old
    /// primary stays a replica and in sync; the new one takes writes only after
    /// it drained the old one's log (the nodes do that), so no write is lost.
    /// - Throws: `.unknownShard`; `.invalidConfiguration` when the target is not an in-sync, up replica.
    public mutating func failover(shard id: ShardID, to target: NodeID?) throws(ClusterError) -> ClusterMap {
        guard let shard = map.shard(id), shard.primary != nil else {
            throw ClusterError(.unknownShard, "shard \(id) is not in the map or has no primary")
        }
        // An operator's choice stands: the shard is not handed back afterwards.
        leadershipToReturn[id] = nil
        let candidates = shard.replicas.dropFirst().filter { node in
            shard.inSync.contains(node) && map.node(node)?.state == .up
        }
        let chosen: NodeID
        if let target {
            guard candidates.contains(target) else {
                throw ClusterError(
                    .invalidConfiguration, "\(target) is not an up, in-sync replica of shard \(id) (in sync: \(shard.inSync.sorted()))")
            }
            chosen = target
        } else {
            guard let best = candidates.max(by: { (applied[$0]?[id] ?? 0) < (applied[$1]?[id] ?? 0) }) else {
                throw ClusterError(.invalidConfiguration, "shard \(id) has no up, in-sync replica to fail over to")
            }
            chosen = best
        }
        let shards = map.shards.map { assignment -> ShardAssignment in
            guard assignment.id == id else { return assignment }
            var updated = assignment
            updated.replicas = [chosen] + assignment.replicas.filter { $0 != chosen }
            updated.epoch += 1
            return updated
        }
        try replaceShards(shards)
        return map
    }

    /// Adds `node` to the cluster: it gets ring tokens from the token allocator
    /// (so shards move only onto it), and the shards it now holds list it as a
    /// replica that is not in sync; their old copies stay until it has caught up
    /// (`keepingLeavingCopies`, `completeMoves`), and the shards it leads in ring
    /// order are handed to it once it has (`returnLeadership`). It counts as
    /// heard now, so it has `suspectAfter` to send its first heartbeat. Adding a
    /// node the map has with the same attributes changes nothing.
    /// - Returns: the new map, or `nil` when nothing changed.
    /// - Throws: `.duplicateNode` when a node of that id has other attributes.
    public mutating func addNode(_ node: ClusterNode, at now: ContinuousClock.Instant) throws(ClusterError) -> ClusterMap? {
        if let existing = map.node(node.id) {
            var announced = node
            announced.tokens = existing.tokens
            announced.state = existing.state
            guard existing == announced else {
                throw ClusterError(.duplicateNode, "node \(node.id) is already in the map with other attributes")
            }
            return nil
        }
        var joining = node
        joining.state = .up
        guard let changed = try change(.add(joining)) else { return nil }
        lastHeard[node.id] = now
        noteReturn(of: node.id)
        return changed
    }

    /// Decommissions `node`: its weight goes to 0 (no ring tokens), so its
    /// shards move to the others; its copies stay, in sync, until the new ones
    /// have caught up (a shard it leads is handed over by a planned failover),
    /// and once it holds nothing it leaves the map (`finishRemovals`). It may
    /// be stopped then. Asking again while it drains changes nothing.
    /// - Returns: the new map, or `nil` when nothing changed.
    /// - Throws: `.unknownNode`; `.invalidConfiguration` when too few nodes with weight would be left for the replication factor.
    public mutating func removeNode(_ node: NodeID) throws(ClusterError) -> ClusterMap? {
        guard map.node(node) != nil else { throw ClusterError(.unknownNode, "node \(node) is not in the cluster map") }
        let holding = map.nodes.filter { $0.id != node && $0.weight > 0 && $0.state.isPlaced }.count
        guard holding >= map.replicationFactor else {
            throw ClusterError(
                .invalidConfiguration,
                "removing \(node) would leave \(holding) nodes to hold shards, fewer than the replication factor \(map.replicationFactor)")
        }
        removing.insert(node)
        return try change(.setWeight(node, 0))
    }

    /// Changes `node`'s relative capacity: it gets tokens for the new weight from
    /// the allocator, so shards move onto it (a higher weight) or off it (a lower
    /// one), each keeping its old copies until the new ones caught up and verified,
    /// as for an added node. The same weight changes nothing.
    /// - Returns: the new map, or `nil` when nothing changed.
    /// - Throws: `.unknownNode`; `.invalidConfiguration` for a weight below 1 (`removeNode` takes a node out)
    ///   or a node being removed.
    public mutating func setWeight(_ node: NodeID, to weight: Int) throws(ClusterError) -> ClusterMap? {
        guard let current = map.node(node) else { throw ClusterError(.unknownNode, "node \(node) is not in the cluster map") }
        guard weight >= 1 else {
            throw ClusterError(.invalidConfiguration, "weight must be at least 1; remove-node takes \(node) out")
        }
        guard !removing.contains(node) else {
            throw ClusterError(.invalidConfiguration, "\(node) is being removed")
        }
        guard current.weight != weight else { return nil }
        return try change(.setWeight(node, weight))
    }

    /// Splits `shard` in two halves of its hash range, online (`ClusterMap.splitting`):
    /// both stay on its nodes, the upper half under a new id.
    /// - Returns: The new map and the new shard's id.
    /// - Throws: `.unknownShard`; `.unsplittableShard` for a single-value range;
    ///   `.invalidConfiguration` while the shard is on the move (split it once the move completed).
    public mutating func split(shard id: ShardID) throws(ClusterError) -> (map: ClusterMap, newShard: ShardID) {
        if let shard = map.shard(id), Self.isMoving(shard, ring: Placement.ringOrder(of: map)) {
            throw ClusterError(.invalidConfiguration, "shard \(id) is on the move; split it once the move completed")
        }
        let (next, added) = try map.splitting(id)
        map = next
        // Sizes are the whole shard's until its primary reports the halves.
        shardBytes[id] = nil
        // Both halves go back to a node that returned and leads the whole in ring order.
        leadershipToReturn[added] = leadershipToReturn[id]
        return (next, added)
    }

    /// The bytes on disk of each shard, as its primary last reported them (`heartbeat`).
    public private(set) var shardBytes: [ShardID: UInt64] = [:]

    /// Splits the largest shard whose primary reported more than `threshold`
    /// bytes on disk, among those not on the move whose replicas are all up
    /// and in sync (so a split never stacks copies on a copy): one shard per
    /// call, and a shard is measured again before it splits again.
    /// - Returns: The new map when a shard split.
    public mutating func splitOversized(above threshold: UInt64) throws(ClusterError) -> ClusterMap? {
        let ring = Placement.ringOrder(of: map)
        let candidates = shardBytes.filter { id, bytes in
            guard bytes > threshold, let shard = map.shard(id), shard.range.start < shard.range.last,
                !Self.isMoving(shard, ring: ring),
                shard.replicas.allSatisfy({ shard.inSync.contains($0) && map.node($0)?.state == .up })
            else { return false }
            return true
        }
        guard let largest = candidates.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) else {
            return nil
        }
        return try split(shard: largest.key).map
    }

    /// Whether `shard`'s replicas are not the set its ring order (`ring`) wants: it is on the move.
    private static func isMoving(_ shard: ShardAssignment, ring: [ShardID: [NodeID]]) -> Bool {
        ring[shard.id].map { Set($0) != Set(shard.replicas) } ?? false
    }

    /// Nodes being decommissioned (`removeNode`) until they hold no shard.
    public private(set) var removing: Set<NodeID> = []

    /// Takes out of the map the nodes being decommissioned that no longer hold a shard.
    /// - Returns: the new map when one left.
    public mutating func finishRemovals() throws(ClusterError) -> ClusterMap? {
        for node in removing.sorted() where !map.shards.contains(where: { $0.replicas.contains(node) }) {
            removing.remove(node)
            lastHeard[node] = nil
            applied[node] = nil
            if let changed = try change(.remove(node)) { return changed }
        }
        return nil
    }

    /// Notes the shards `node`, back up, leads in ring order but not in the map:
    /// a failover moved them while it was away.
    private mutating func noteReturn(of node: NodeID) {
        for (shard, ring) in Placement.ringOrder(of: map) where ring.first == node {
            if map.shard(shard)?.primary != node { leadershipToReturn[shard] = node }
        }
    }

    /// Hands one shard back to the node that returned (see `heartbeat`) by a
    /// planned failover, once that node is up, in the shard's in-sync set and
    /// has applied as much of it as the current primary (by their last
    /// heartbeats), and the current primary is up (so the handoff drains its
    /// log and loses nothing). At most one shard per call, so leadership
    /// comes back gradually; a shard whose returning node went down again or
    /// no longer holds it is dropped. Primaries an operator moved (`failover`)
    /// are never moved back.
    /// - Returns: the new map when a shard changed hands.
    public mutating func returnLeadership() throws(ClusterError) -> ClusterMap? {
        for (shard, node) in leadershipToReturn.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard map.node(node)?.state == .up, let assignment = map.shard(shard), assignment.replicas.contains(node),
                let primary = assignment.primary, primary != node
            else {
                leadershipToReturn[shard] = nil
                continue
            }
            guard assignment.inSync.contains(node), map.node(primary)?.state == .up,
                (applied[node]?[shard] ?? 0) >= (applied[primary]?[shard] ?? 0)
            else { continue }
            leadershipToReturn[shard] = nil
            return try failover(shard: shard, to: node)
        }
        return nil
    }

    /// Installs `shards` in a map with the next epoch (same nodes and parameters).
    private mutating func replaceShards(_ shards: [ShardAssignment]) throws(ClusterError) {
        map = try ClusterMap(
            epoch: map.epoch + 1, nodes: map.nodes, shards: shards, replicationFactor: map.replicationFactor,
            vnodes: map.vnodes)
    }

    /// Replicas more than this many sequence numbers behind their primary leave the in-sync set.
    public var maxInSyncLag: UInt64 = 10_000

    /// Adds the followers `primary` vouches for (`caughtUp`) to the in-sync
    /// sets of the shards it leads at the vouched epoch, when they are up
    /// replicas of the shard; removes replicas more than `maxInSyncLag`
    /// sequence numbers behind their primary's last report, or that have not
    /// had everything their primary reported for longer than `maxLag`.
    ///
    /// Why the primary decides joins: every member of an in-sync set must hold
    /// every write acknowledged with `acks=all`, because any of them may be
    /// promoted. Only the primary knows which writes it acknowledged; it vouches
    /// for a follower whose applied position covers them, and from then on
    /// waits for that follower too before acknowledging. A position report
    /// alone is not enough: a follower that returns while another replica held
    /// the acknowledged writes would join missing them. Removals are always
    /// safe (a primary with an older map waits for more replicas, not fewer).
    /// - Returns: the new map when a set changed (the map epoch advances; shard epochs do not).
    mutating func updateInSync(
        primary reporter: NodeID? = nil, caughtUp: [ShardID: CaughtUp] = [:], at now: ContinuousClock.Instant
    ) throws(ClusterError) -> ClusterMap? {
        var shards = map.shards
        var changed = false
        for index in shards.indices {
            let shard = shards[index]
            guard let primary = shard.primary else { continue }
            if primary == reporter, let vouched = caughtUp[shard.id], vouched.epoch == shard.epoch {
                for follower in shard.replicas.dropFirst()
                where vouched.followers.contains(follower) && !shard.inSync.contains(follower)
                    && map.node(follower)?.state == .up
                {
                    shards[index].inSync.insert(follower)
                    lag.joined(follower, shard.id, at: now)
                    changed = true
                }
            }
            guard let leading = applied[primary]?[shard.id] else { continue }
            if primary == reporter { lag.primaryReported(shard.id, primary: primary, position: leading, at: now) }
            for replica in shard.replicas.dropFirst() {
                guard shards[index].inSync.contains(replica), let position = applied[replica]?[shard.id] else { continue }
                let behind = lag.lag(of: replica, shard.id, position: position, at: now) ?? .zero
                if leading > position, leading - position > maxInSyncLag || behind > lag.window {
                    shards[index].inSync.remove(replica)
                    changed = true
                }
            }
        }
        guard changed else { return nil }
        try replaceShards(shards)
        return map
    }

    /// Applies failure detection at `now`: up → suspect after `suspectAfter`,
    /// → down after `downAfter` (its shards move).
    /// - Returns: the new map when a state changed.
    public mutating func tick(at now: ContinuousClock.Instant) throws(ClusterError) -> ClusterMap? {
        var changed: ClusterMap?
        for node in map.nodes {
            let silent = now - (lastHeard[node.id] ?? now)
            let wanted: NodeState
            if silent >= downAfter {
                wanted = .down
            } else if silent >= suspectAfter {
                wanted = node.state == .down ? .down : .suspect
            } else {
                continue
            }
            if wanted != node.state {
                changed = try change(.setState(node.id, wanted))
            }
        }
        return changed
    }

    /// The next instant `tick(at:)` could change a node's state, if no
    /// heartbeat comes first: the earliest up node's suspect deadline or
    /// suspect node's down deadline; `nil` when every node is down.
    public func nextTransition() -> ContinuousClock.Instant? {
        map.nodes.compactMap { node -> ContinuousClock.Instant? in
            guard let heard = lastHeard[node.id] else { return nil }
            switch node.state {
            case .up: return heard + suspectAfter
            case .suspect: return heard + downAfter
            case .down: return nil
            }
        }.min()
    }

    private mutating func change(_ change: PlacementChange) throws(ClusterError) -> ClusterMap? {
        let next = try Self.keepingLeavingCopies(Placement.target(map: map, change: change, applied: applied), previous: map)
        guard next != map else { return nil }
        // In a shard on the move (it keeps copies its ring order no longer wants), the copies
        // that were not in sync before the change must prove themselves before cutover.
        let ring = Placement.ringOrder(of: next)
        var shards = next.shards
        for index in shards.indices {
            let shard = shards[index]
            guard let target = ring[shard.id], shard.replicas.contains(where: { !target.contains($0) }) else {
                shards[index].unverified = []
                continue
            }
            let joining = Set(shard.replicas).subtracting(map.shard(shard.id)?.inSync ?? [])
            shards[index].unverified = shard.unverified.union(joining).intersection(target)
        }
        map = try ClusterMap(
            epoch: next.epoch, nodes: next.nodes, shards: shards, replicationFactor: next.replicationFactor, vnodes: next.vnodes)
        return map
    }

    /// Per shard on the move, the copies that joined it and have not yet
    /// reported their checksum equal to the primary's at one sequence number
    /// (`VERIFIED` in their heartbeats): the move does not complete until they
    /// have. Kept in the map (`ShardAssignment.unverified`), so a coordinator
    /// that restarts mid-move still waits for them.
    public var verifying: [ShardID: Set<NodeID>] {
        Dictionary(uniqueKeysWithValues: map.shards.filter { !$0.unverified.isEmpty }.map { ($0.id, $0.unverified) })
    }
    /// The shards each node last reported verified.
    private var verifiedBy: [NodeID: Set<ShardID>] = [:]

    /// Whether every copy that joined `shard` has verified it.
    func isVerified(_ shard: ShardID) -> Bool {
        (map.shard(shard)?.unverified ?? []).allSatisfy { verifiedBy[$0]?.contains(shard) == true }
    }

    /// `target` with, in every shard that has a replica not yet in sync, the
    /// copies `previous` had in sync that `target` moved the shard off, as
    /// long as their nodes are up: they stay replicas (listed after the
    /// target's, and in sync) until the new ones have caught up
    /// (`completeMoves`), so a move never leaves fewer in-sync copies than
    /// before. When the target would make a replica that is not in sync the
    /// primary, the old primary (up and in sync) keeps leading instead.
    static func keepingLeavingCopies(_ target: ClusterMap, previous: ClusterMap) throws(ClusterError) -> ClusterMap {
        var changed = false
        let shards = target.shards.map { shard -> ShardAssignment in
            guard let before = previous.shard(shard.id), !shard.replicas.allSatisfy(shard.inSync.contains) else { return shard }
            let leaving = before.replicas.filter { node in
                !shard.replicas.contains(node) && before.inSync.contains(node) && target.node(node)?.state == .up
            }
            guard !leaving.isEmpty else { return shard }
            changed = true
            var kept = shard
            if let oldPrimary = before.primary, leaving.contains(oldPrimary), let newPrimary = shard.primary,
                !shard.inSync.contains(newPrimary)
            {
                kept.replicas = [oldPrimary] + shard.replicas + leaving.filter { $0 != oldPrimary }
            } else {
                kept.replicas = shard.replicas + leaving
            }
            kept.inSync.formUnion(leaving)
            return kept
        }
        guard changed else { return target }
        return try ClusterMap(
            epoch: target.epoch, nodes: target.nodes, shards: shards, replicationFactor: target.replicationFactor,
            vnodes: target.vnodes)
    }

    /// Finishes the moves `keepingLeavingCopies` left open, for every shard
    /// whose ring-order replicas are all up and in sync: a leaving primary
    /// first hands the shard to the most caught-up of them by a planned
    /// failover (one shard per call: the handoff drains its log, losing
    /// nothing), then the leaving copies are dropped (every ready shard at once).
    /// Only once every copy that joined the shard has verified it (`verifying`):
    /// its checksum equal to the primary's at one sequence number.
    /// - Returns: the new map when a shard changed.
    public mutating func completeMoves() throws(ClusterError) -> ClusterMap? {
        let ring = Placement.ringOrder(of: map)
        var dropped = false
        var shards = map.shards
        for index in shards.indices {
            let shard = shards[index]
            guard let target = ring[shard.id], shard.replicas.contains(where: { !target.contains($0) }),
                target.allSatisfy({ shard.replicas.contains($0) && shard.inSync.contains($0) && map.node($0)?.state == .up }),
                isVerified(shard.id)
            else { continue }
            if let primary = shard.primary, !target.contains(primary) {
                guard !dropped else { continue }
                let best = target.max { (applied[$0]?[shard.id] ?? 0) < (applied[$1]?[shard.id] ?? 0) }
                return try failover(shard: shard.id, to: best)
            }
            shards[index].replicas = shard.replicas.filter(target.contains)
            shards[index].inSync = shard.inSync.intersection(shards[index].replicas)
            shards[index].epoch += 1
            shards[index].unverified = []
            dropped = true
        }
        guard dropped else { return nil }
        try replaceShards(shards)
        return map
    }
}

/// Keeps the cluster map on disk: written to a temporary file, fsynced, then
/// renamed over the old one, so a crash leaves either the old or the new map.
public struct MapStore: Sendable {
    /// The directory holding `map.json`.
    public let directory: String

    /// A store in `directory` (created when missing).
    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var path: String { directory + "/map.json" }

    /// The persisted map, or `nil` when none was saved yet.
    public func load() throws -> ClusterMap? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try ClusterMap(jsonData: data)
    }

    /// Persists `map` durably before returning.
    public func save(_ map: ClusterMap) throws {
        let data = try map.jsonData()
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw ClusterError(.invalidConfiguration, "cannot write \(temporary)")
        }
        let fd = open(temporary, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(temporary, path) == 0 else {
            throw ClusterError(.invalidConfiguration, "cannot rename \(temporary) to \(path): errno \(errno)")
        }
        let directoryFD = open(directory, O_RDONLY)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}

/// The human-readable table `strata status` prints.
public enum StatusReport {
    /// Nodes, states, shards per node (as primary and in total) and the map epoch.
    public static func render(_ map: ClusterMap) -> String {
        var lines = ["map epoch \(map.epoch), \(map.shards.count) shards, replication factor \(map.replicationFactor)", ""]
        lines.append(pad("NODE", 10) + pad("ADDRESS", 22) + pad("ZONE", 10) + pad("STATE", 9) + pad("PRIMARY", 9) + "SHARDS")
        for node in map.nodes {
            lines.append(
                pad(node.id.rawValue, 10) + pad("\(node.host):\(node.dataPort)", 22) + pad(node.zone, 10)
                    + pad(node.state.rawValue, 9) + pad(String(map.shards(primaryOn: node.id).count), 9)
                    + String(map.shards(ownedBy: node.id).count))
        }
        let moving = MoveReport.moves(in: map).count
        if moving > 0 { lines += ["", "\(moving) shards on the move (strata cluster moves)"] }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
