import Foundation
import Testing
import StrataCluster
@testable import StrataCoordinator

@Suite("Coordinator core")
struct CoordinatorCoreTests {
    /// Each of `primaries` heartbeats, vouching for every replica of its shards that is not in sync (they caught up).
    static func vouchForMissing(
        _ core: inout CoordinatorCore, primaries: [NodeID], applied: [ShardID: UInt64], at now: ContinuousClock.Instant
    ) throws {
        for primary in primaries {
            var vouched: [ShardID: CoordinatorCore.CaughtUp] = [:]
            for shard in core.map.shards(primaryOn: primary) {
                let missing = Set(shard.replicas).subtracting(shard.inSync)
                if !missing.isEmpty { vouched[shard.id] = .init(epoch: shard.epoch, followers: missing) }
            }
            _ = try core.heartbeat(from: primary, applied: applied, caughtUp: vouched, at: now)
        }
    }

    static func map() throws -> ClusterMap {
        try ClusterMap.bootstrap(
            nodes: ["n1", "n2", "n3"].map { ClusterNode(id: NodeID($0), host: "127.0.0.1", dataPort: 1, zone: $0) },
            shardCount: 16, replicationFactor: 2, vnodes: 64)
    }

    @Test("a replica joins the in-sync set only on its primary's word at the current epoch, and leaves it when it lags too far")
    func inSyncSet() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(10), downAfter: .seconds(20), now: start)
        core.maxInSyncLag = 100
        let shard = core.map.shards[0]
        let (primary, replica) = (shard.replicas[0], shard.replicas[1])
        let other = core.map.nodes.map(\.id).first { !shard.replicas.contains($0) }!
        #expect(core.map.shard(shard.id)?.inSync.contains(replica) == true)

        // Too far behind: out.
        _ = try core.heartbeat(from: primary, applied: [shard.id: 500], at: start)
        let epoch = core.map.epoch
        #expect(try core.heartbeat(from: replica, applied: [shard.id: 399], at: start) != nil)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        #expect(core.map.epoch == epoch + 1 && core.map.shard(shard.id)?.epoch == shard.epoch)
        // Reporting the primary's very position is not enough: only the primary knows what it acknowledged.
        _ = try core.heartbeat(from: replica, applied: [shard.id: 500], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        // A vouch from another node, or from the primary at another shard epoch, counts for nothing.
        let vouch = [shard.id: CoordinatorCore.CaughtUp(epoch: shard.epoch, followers: [replica])]
        _ = try core.heartbeat(from: other, applied: [:], caughtUp: vouch, at: start)
        _ = try core.heartbeat(
            from: primary, applied: [shard.id: 500],
            caughtUp: [shard.id: .init(epoch: shard.epoch + 1, followers: [replica])], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        // A vouch for a node that does not hold the shard adds nothing either.
        _ = try core.heartbeat(
            from: primary, applied: [shard.id: 500], caughtUp: [shard.id: .init(epoch: shard.epoch, followers: [other])],
            at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        _ = try core.heartbeat(from: primary, applied: [shard.id: 500], caughtUp: vouch, at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary, replica])

        // A replica that reports less than before lost data: it leaves the in-sync set until vouched for again.
        _ = try core.heartbeat(from: replica, applied: [shard.id: 10], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        _ = try core.heartbeat(from: replica, applied: [shard.id: 500], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        _ = try core.heartbeat(from: primary, applied: [shard.id: 500], caughtUp: vouch, at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary, replica])

        // The primary dies (the others keep heartbeating): the in-sync replica is promoted, with a new shard epoch.
        for node in core.map.nodes.map(\.id) where node != primary {
            _ = try core.heartbeat(from: node, applied: node == replica ? [shard.id: 500] : [:], at: start + .seconds(15))
        }
        let promoted = try core.tick(at: start + .seconds(21))
        #expect(promoted?.shard(shard.id)?.primary == replica)
        #expect(promoted?.shard(shard.id)?.epoch == shard.epoch + 1)
    }

    @Test("a replica that returns after another node held the shard for it is not in sync until the primary vouches")
    func returningReplica() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        let shard = core.map.shards[0]
        let (primary, replica) = (shard.replicas[0], shard.replicas[1])
        let standIn = core.map.nodes.map(\.id).first { !shard.replicas.contains($0) }!
        // The replica goes silent and down: the third node takes its place, and is vouched for.
        var now = start
        for _ in 0..<30 {
            now += .milliseconds(100)
            _ = try core.heartbeat(from: primary, applied: [shard.id: 100], at: now)
            _ = try core.heartbeat(from: standIn, applied: [shard.id: 100], at: now)
            _ = try core.tick(at: now)
        }
        var current = try #require(core.map.shard(shard.id))
        #expect(current.replicas == [primary, standIn] && current.inSync == [primary])
        _ = try core.heartbeat(
            from: primary, applied: [shard.id: 200],
            caughtUp: [shard.id: .init(epoch: current.epoch, followers: [standIn])], at: now)
        #expect(core.map.shard(shard.id)?.inSync == [primary, standIn])
        // Writes acknowledged with the stand-in; then the replica returns, takes its slot back, and reports
        // the primary's position: it must not join (it may lack what the stand-in acknowledged). The
        // stand-in stays, in sync, until it has.
        _ = try core.heartbeat(from: replica, applied: [shard.id: 200], at: now)
        current = try #require(core.map.shard(shard.id))
        #expect(current.replicas == [primary, replica, standIn])
        #expect(current.inSync == [primary, standIn])
        _ = try core.heartbeat(from: primary, applied: [shard.id: 200], at: now)
        #expect(core.map.shard(shard.id)?.inSync == [primary, standIn])
        _ = try core.heartbeat(
            from: primary, applied: [shard.id: 200],
            caughtUp: [shard.id: .init(epoch: current.epoch, followers: [replica])], at: now)
        #expect(core.map.shard(shard.id)?.inSync == [primary, replica, standIn])
        #expect(try core.completeMoves() == nil, "the replica has not verified its copy")
        _ = try core.heartbeat(from: replica, applied: [shard.id: 200], verified: [shard.id], at: now)
        _ = try core.completeMoves()
        #expect(core.map.shard(shard.id)?.replicas == [primary, replica])
        #expect(core.map.shard(shard.id)?.inSync == [primary, replica])
    }

    @Test("a replica that has not had its primary's writes for longer than maxLag leaves the in-sync set; an idle one stays")
    func timeBoundOnLag() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(
            map: try Self.map(), suspectAfter: .seconds(30), downAfter: .seconds(60), maxLag: .seconds(1), now: start)
        let written = core.map.shards[0]
        let (primary, replica) = (written.replicas[0], written.replicas[1])
        // Another shard on the same two nodes that nobody writes.
        let idle = try #require(core.map.shards.first { $0.id != written.id && $0.replicas == written.replicas })
        func beat(_ node: NodeID, _ writtenPosition: UInt64, at offset: Duration, caughtUp: [ShardID: CoordinatorCore.CaughtUp] = [:]) throws {
            _ = try core.heartbeat(
                from: node, applied: [written.id: writtenPosition, idle.id: 50], caughtUp: caughtUp, at: start + offset)
        }
        func inSync(_ shard: ShardAssignment) -> Set<NodeID> { core.map.shard(shard.id)?.inSync ?? [] }

        // Behind by a few entries, but never for long: in sync (the entry bound, 10,000, is far away).
        var position: UInt64 = 100
        for step in 0..<20 {
            position += 10
            try beat(primary, position, at: .milliseconds(200 * step))
            try beat(replica, position - 5, at: .milliseconds(200 * step + 100))
        }
        #expect(inSync(written) == [primary, replica])
        // The replica stops applying (a paused follower) while the primary goes on: out once its
        // newest covered report is over a second old, though it is only ~60 entries behind.
        let stalled = position - 5
        var offset = Duration.milliseconds(4000)
        while offset < .milliseconds(5000) {
            position += 10
            try beat(primary, position, at: offset)
            try beat(replica, stalled, at: offset + .milliseconds(100))
            offset += .milliseconds(200)
        }
        #expect(position - stalled < 100)
        #expect(inSync(written) == [primary])
        // The idle shard's replica has had everything all along: still in sync.
        #expect(inSync(idle) == [primary, replica])
        // It catches up and its primary vouches: in sync again, and it stays while it keeps up.
        try beat(replica, position, at: offset)
        try beat(primary, position, at: offset, caughtUp: [written.id: .init(epoch: written.epoch, followers: [replica])])
        #expect(inSync(written) == [primary, replica])
        for step in 1...20 {
            position += 10
            try beat(primary, position, at: offset + .milliseconds(200 * step))
            try beat(replica, position, at: offset + .milliseconds(200 * step + 100))
        }
        #expect(inSync(written) == [primary, replica])
        #expect(inSync(idle) == [primary, replica])
    }

    @Test("silence makes a node suspect, then down with a new epoch; a heartbeat brings it back")
    func failureDetection() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .milliseconds(300), downAfter: .seconds(1), now: start)
        let epoch = core.map.epoch
        for t in stride(from: 0, through: 1200, by: 100) {
            let now = start + .milliseconds(t)
            _ = try core.heartbeat(from: "n1", applied: [:], at: now)
            _ = try core.heartbeat(from: "n2", applied: [ShardID(0): 5], at: now)
            let changed = try core.tick(at: now)
            let n3 = try #require(core.map.node("n3"))
            switch t {
            case ..<300: #expect(n3.state == .up, "t=\(t)")
            case 300..<1000: #expect(n3.state == .suspect, "t=\(t)")
            default: #expect(n3.state == .down, "t=\(t)")
            }
            if t == 1000 { #expect(changed != nil) }
        }
        #expect(core.map.epoch > epoch)
        #expect(core.map.shards(ownedBy: "n3").isEmpty, "a down node holds no shards")
        #expect(core.map.shards.allSatisfy { $0.replicas.count == 2 })
        #expect(core.applied["n2"] == [ShardID(0): 5])
        let downEpoch = core.map.epoch
        let back = try core.heartbeat(from: "n3", applied: [:], at: start + .milliseconds(1300))
        #expect(back?.node("n3")?.state == .up)
        #expect(core.map.epoch > downEpoch)
        #expect(throws: ClusterError.self) { try core.heartbeat(from: "nope", applied: [:], at: start) }
    }

    @Test("a node that returns gets back, one shard per pass, the shards it leads in ring order, once in sync and caught up; an operator's failover stands")
    func leadershipReturns() throws {
        let map = try ClusterMap.bootstrap(
            nodes: ["n1", "n2", "n3"].map { ClusterNode(id: NodeID($0), host: "127.0.0.1", dataPort: 1, zone: $0) },
            shardCount: 16, replicationFactor: 3, vnodes: 64)
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: map, suspectAfter: .milliseconds(300), downAfter: .seconds(1), now: start)
        let led = Set(core.map.shards(primaryOn: "n1").map(\.id))
        #expect(led.count >= 2)
        func positions(_ value: UInt64) -> [ShardID: UInt64] {
            Dictionary(uniqueKeysWithValues: core.map.shards.map { ($0.id, value) })
        }
        // n1 goes silent: down, and the others lead its shards.
        var now = start
        for step in 1...12 {
            now = start + .milliseconds(100 * step)
            for node: NodeID in ["n2", "n3"] { _ = try core.heartbeat(from: node, applied: positions(5), at: now) }
            _ = try core.tick(at: now)
        }
        #expect(core.map.node("n1")?.state == .down)
        #expect(core.map.shards(primaryOn: "n1").isEmpty)

        // n1 returns: a replica of its shards again, out of sync, leading nothing yet.
        _ = try core.heartbeat(from: "n1", applied: positions(3), at: now)
        #expect(core.map.node("n1")?.state == .up)
        #expect(core.map.shards(primaryOn: "n1").isEmpty)
        #expect(Set(core.leadershipToReturn.keys) == led)
        // A shard split meanwhile goes back whole: both halves.
        let whole = try #require(led.max())
        let half = try core.split(shard: whole).newShard
        #expect(core.leadershipToReturn[half] == "n1")
        #expect(try core.returnLeadership() == nil, "not in sync yet")
        // The primaries vouch for it; it is still behind them.
        for primary: NodeID in ["n2", "n3"] {
            var vouched: [ShardID: CoordinatorCore.CaughtUp] = [:]
            for shard in core.map.shards(primaryOn: primary) { vouched[shard.id] = .init(epoch: shard.epoch, followers: ["n1"]) }
            _ = try core.heartbeat(from: primary, applied: positions(5), caughtUp: vouched, at: now)
        }
        #expect(core.map.shards.filter { led.contains($0.id) }.allSatisfy { $0.inSync.contains("n1") })
        #expect(try core.returnLeadership() == nil, "behind its primaries")
        // An operator moves one of them to the third node: that choice stands.
        let chosen = try #require(led.min(by: { $0.rawValue < $1.rawValue }))
        let third = try #require(core.map.shard(chosen)?.replicas.first { $0 != "n1" && $0 != core.map.shard(chosen)?.primary })
        _ = try core.failover(shard: chosen, to: third)
        // Caught up: one shard per pass comes back.
        _ = try core.heartbeat(from: "n1", applied: positions(5), at: now)
        var passes = 0
        while try core.returnLeadership() != nil {
            passes += 1
            #expect(core.map.shards(primaryOn: "n1").count == passes)
        }
        #expect(Set(core.map.shards(primaryOn: "n1").map(\.id)) == led.subtracting([chosen]).union([half]))
        #expect(core.map.shard(chosen)?.primary == third)
        #expect(core.leadershipToReturn.isEmpty)
        #expect(core.map.shards.filter { led.contains($0.id) }.allSatisfy { $0.inSync.count == 3 }, "the old primaries stay in sync")
    }

    @Test("a returning node's shards keep the copies that stood in for it, in sync, until it has caught up; then they are dropped")
    func leavingCopiesUntilCaughtUp() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .milliseconds(300), downAfter: .seconds(1), now: start)
        let all = Dictionary(uniqueKeysWithValues: core.map.shards.map { ($0.id, UInt64(5)) })
        func vouch(_ follower: NodeID) throws {
            for primary in core.map.nodes.map(\.id) where primary != follower && core.map.node(primary)?.state == .up {
                var vouched: [ShardID: CoordinatorCore.CaughtUp] = [:]
                for shard in core.map.shards(primaryOn: primary) where shard.replicas.contains(follower) {
                    vouched[shard.id] = .init(epoch: shard.epoch, followers: [follower])
                }
                _ = try core.heartbeat(from: primary, applied: all, caughtUp: vouched, at: now)
            }
        }
        var now = start
        for step in 1...12 {
            now = start + .milliseconds(100 * step)
            for node: NodeID in ["n1", "n2"] { _ = try core.heartbeat(from: node, applied: all, at: now) }
            _ = try core.tick(at: now)
        }
        #expect(core.map.node("n3")?.state == .down)
        // The stand-ins catch up: every shard is whole on n1 and n2.
        try vouch("n1")
        try vouch("n2")
        #expect(core.map.shards.allSatisfy { $0.replicas.count == 2 && $0.inSync.count == 2 })
        let before = core.map

        // n3 returns: its shards list it again, and the copies that stood in stay, in sync, after it.
        _ = try core.heartbeat(from: "n3", applied: [:], at: now)
        let moved = core.map.shards.filter { $0.replicas.contains("n3") }
        #expect(!moved.isEmpty)
        for shard in moved {
            #expect(shard.replicas.count == 3, "\(shard.id): \(shard.replicas)")
            #expect(shard.inSync == Set(shard.replicas).subtracting(["n3"]), "two in-sync copies throughout")
            #expect(shard.primary == before.shard(shard.id)?.primary, "the primary stays")
        }
        #expect(try core.completeMoves() == nil, "n3 has not caught up")
        // n3 catches up: the stand-ins stay until n3 verified its copies (checksums equal to the
        // primaries' at one sequence number), then leave, every shard back to two copies, both in sync.
        try vouch("n3")
        let unverified = core.map
        let early = try core.completeMoves()
        #expect(early == nil, "n3 caught up but has not verified its copies: \(early.map { m in m.shards.filter { unverified.shard($0.id)?.replicas != $0.replicas }.map { "\($0.id): \(unverified.shard($0.id)!.replicas) -> \($0.replicas)" } } ?? [])")
        _ = try core.heartbeat(from: "n3", applied: all, verified: Set(moved.dropFirst().map(\.id)), at: now)
        if moved.count > 1 {
            let done = try #require(try core.completeMoves(), "the verified shards' moves complete")
            #expect(done.shard(moved[0].id)?.replicas.count == 3, "the one not verified keeps its stand-in")
        }
        _ = try core.heartbeat(from: "n3", applied: all, verified: Set(moved.map(\.id)), at: now)
        #expect(try core.completeMoves() != nil)
        #expect(core.map.shards.allSatisfy { $0.replicas.count == 2 && $0.inSync.count == 2 })
        #expect(core.map.shards.filter { $0.replicas.contains("n3") }.map(\.id) == moved.map(\.id))
        #expect(try core.completeMoves() == nil)
    }

    @Test("an added node gets replicas only moved onto it, old copies stay until it caught up, then it leads its ring-order shards")
    func addNode() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        let before = core.map
        let all = Dictionary(uniqueKeysWithValues: before.shards.map { ($0.id, UInt64(7)) })
        let n4 = ClusterNode(id: "n4", host: "127.0.0.1", dataPort: 4, zone: "n4")
        let added = try #require(try core.addNode(n4, at: start))
        #expect(added.node("n4")?.tokens.isEmpty == false, "tokens from the allocator")
        #expect(try core.addNode(n4, at: start) == nil, "announcing it again changes nothing")
        #expect(throws: ClusterError.self) {
            try core.addNode(ClusterNode(id: "n4", host: "10.0.0.9", dataPort: 4, zone: "n4"), at: start)
        }
        let moved = added.shards.filter { $0.replicas.contains("n4") }
        #expect(!moved.isEmpty)
        // strata cluster moves: each of them copying onto n4.
        let copying = MoveReport.moves(in: added)
        #expect(copying.count == moved.count)
        #expect(copying.allSatisfy { $0.phase == .copying && $0.to.contains("n4") && !$0.from.isEmpty && !$0.from.contains("n4") })
        #expect(MoveReport.render(added).contains("copying"))
        for shard in added.shards {
            let old = try #require(before.shard(shard.id))
            // Replicas move only onto the new node; every old copy is still there, in sync, with the same primary.
            #expect(Set(shard.replicas).subtracting(old.replicas).isSubset(of: ["n4"]))
            #expect(Set(old.replicas).isSubset(of: Set(shard.replicas)))
            #expect(shard.inSync == old.inSync)
            #expect(shard.primary == old.primary)
        }
        // n4 catches up (its primaries vouch): the old copies it replaces leave; then it leads its own.
        try Self.vouchForMissing(&core, primaries: ["n1", "n2", "n3"], applied: all, at: start)
        _ = try core.heartbeat(from: "n4", applied: all, at: start)
        #expect(MoveReport.moves(in: core.map).allSatisfy { $0.phase == .dropping || $0.phase == .handingOver })
        #expect(try core.completeMoves() == nil, "n4 caught up but has not verified its copies")
        // A coordinator restarted from the persisted map still waits for the copies to verify.
        var restarted = CoordinatorCore(
            map: try ClusterMap(jsonData: try core.map.jsonData()), suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        #expect(restarted.verifying == core.verifying && !restarted.verifying.isEmpty)
        for node in ["n1", "n2", "n3", "n4"] as [NodeID] { _ = try restarted.heartbeat(from: node, applied: all, at: start) }
        #expect(try restarted.completeMoves() == nil, "still unverified after a restart")
        _ = try core.heartbeat(from: "n4", applied: all, verified: Set(moved.map(\.id)), at: start)
        #expect(try core.completeMoves() != nil)
        #expect(MoveReport.moves(in: core.map).allSatisfy { $0.phase == .leadership && $0.to == ["n4"] })
        #expect(core.map.shards.allSatisfy { $0.replicas.count == 2 && $0.inSync.count == 2 })
        while try core.returnLeadership() != nil {}
        let ring = Placement.ringOrder(of: core.map)
        #expect(core.map.shards.allSatisfy { $0.primary == ring[$0.id]?.first })
        #expect(!core.map.shards(primaryOn: "n4").isEmpty)
        #expect(MoveReport.moves(in: core.map).isEmpty)
        #expect(MoveReport.render(core.map).contains("no moves in progress"))
        let ideal = Double(before.replicationFactor * before.shards.count) / 4
        print("ADD NODE (unit): \(moved.count) replicas moved onto n4, ideal \(ideal), ratio \(Double(moved.count) / ideal)")
    }

    @Test("a shard splits unless it is on the move: the new half is led by the same primary and keeps the in-sync set")
    func split() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        let old = core.map.shards[3]
        let (map, added) = try core.split(shard: old.id)
        #expect(core.map == map && map.shard(added)?.primary == old.primary)
        #expect(map.shard(added)?.inSync == old.inSync, "in-sync followers go on from the parent's log")
        #expect(MoveReport.moves(in: map).isEmpty, "a split moves nothing")
        // While a node joins, a shard that gains it is on the move: no split until the move completed.
        let joined = try #require(try core.addNode(ClusterNode(id: "n4", host: "127.0.0.1", dataPort: 1, zone: "n4"), at: start))
        let moving = try #require(joined.shards.first { $0.replicas.contains("n4") })
        #expect(throws: ClusterError.self) { try core.split(shard: moving.id) }
    }

    @Test("the largest shard its primary reports over the size threshold splits, one per call, and is measured again before it splits again; other nodes' reports do not count")
    func splitOversized() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        let all = Dictionary(uniqueKeysWithValues: core.map.shards.map { ($0.id, UInt64(3)) })
        let big = core.map.shards[2]
        let bigger = core.map.shards[7]
        let follower = try #require(big.replicas.last)
        _ = try core.heartbeat(from: follower, applied: all, sizes: [big.id: 900], at: start)
        #expect(try core.splitOversized(above: 500) == nil, "only the primary's report counts")
        _ = try core.heartbeat(from: try #require(big.primary), applied: all, sizes: [big.id: 900], at: start)
        _ = try core.heartbeat(from: try #require(bigger.primary), applied: all, sizes: [bigger.id: 1200], at: start)
        #expect(try core.splitOversized(above: 2000) == nil)
        let first = try #require(try core.splitOversized(above: 500))
        #expect(first.shards.count == 17 && first.shard(bigger.id)?.range != bigger.range, "the largest first")
        let second = try #require(try core.splitOversized(above: 500))
        #expect(second.shards.count == 18 && second.shard(big.id)?.range != big.range)
        #expect(try core.splitOversized(above: 500) == nil, "split shards wait for a new measurement")
    }

    @Test("a node's weight doubles: replicas move only onto it, old copies stay until it caught up and verified; a weight below 1 is refused")
    func setWeight() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        let before = core.map
        let all = Dictionary(uniqueKeysWithValues: before.shards.map { ($0.id, UInt64(3)) })
        #expect(throws: ClusterError.self) { try core.setWeight("n1", to: 0) }
        #expect(throws: ClusterError.self) { try core.setWeight("nope", to: 2) }
        #expect(try core.setWeight("n1", to: 1) == nil, "the same weight changes nothing")
        let heavier = try #require(try core.setWeight("n1", to: 2))
        #expect(heavier.node("n1")?.weight == 2)
        let gained = heavier.shards.filter { !(before.shard($0.id)?.replicas.contains("n1") ?? true) && $0.replicas.contains("n1") }
        #expect(!gained.isEmpty)
        for shard in heavier.shards {
            let old = try #require(before.shard(shard.id))
            #expect(Set(shard.replicas).subtracting(old.replicas).isSubset(of: ["n1"]), "replicas move only onto n1")
            #expect(shard.inSync == old.inSync, "old copies stay in sync")
        }
        try Self.vouchForMissing(&core, primaries: ["n1", "n2", "n3"], applied: all, at: start)
        #expect(try core.completeMoves() == nil, "n1 has not verified its new copies")
        _ = try core.heartbeat(from: "n1", applied: all, verified: Set(gained.map(\.id)), at: start)
        while try core.completeMoves() != nil {}
        let after = core.map
        #expect(after.shards.allSatisfy { $0.replicas.count == 2 && $0.inSync.count == 2 })
        let share = Double(after.shards.filter { $0.replicas.contains("n1") }.count) / Double(after.shards.count * 2)
        #expect(share > 0.4, "n1 holds about half of the replicas at weight 2 of 4: \(share)")
    }

    @Test("a removed node's shards move off it, its copies in sync until the new ones caught up, its primaries handed over; then it leaves the map")
    func removeNode() throws {
        let map = try ClusterMap.bootstrap(
            nodes: ["n1", "n2", "n3", "n4"].map { ClusterNode(id: NodeID($0), host: "127.0.0.1", dataPort: 1, zone: $0) },
            shardCount: 16, replicationFactor: 2, vnodes: 64)
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: map, suspectAfter: .seconds(1), downAfter: .seconds(2), now: start)
        let all = Dictionary(uniqueKeysWithValues: map.shards.map { ($0.id, UInt64(9)) })
        let held = map.shards.filter { $0.replicas.contains("n4") }.map(\.id)
        #expect(!map.shards(primaryOn: "n4").isEmpty)
        let draining = try #require(try core.removeNode("n4"))
        #expect(draining.node("n4")?.weight == 0)
        for id in held {
            let shard = try #require(draining.shard(id))
            #expect(shard.replicas.contains("n4") && shard.inSync.contains("n4"), "n4's copy stays until the new one caught up")
            #expect(shard.replicas.count == 3)
        }
        #expect(try core.completeMoves() == nil, "the new copies have not caught up")
        #expect(try core.finishRemovals() == nil)
        // The new copies catch up: primaries vouch for the followers they lack.
        try Self.vouchForMissing(&core, primaries: ["n1", "n2", "n3", "n4"], applied: all, at: start)
        for node: NodeID in ["n1", "n2", "n3"] { _ = try core.heartbeat(from: node, applied: all, at: start) }
        #expect(try core.completeMoves() == nil, "the new copies have not verified")
        let everyShard = Set(map.shards.map(\.id))
        for node: NodeID in ["n1", "n2", "n3"] { _ = try core.heartbeat(from: node, applied: all, verified: everyShard, at: start) }
        // n4's shards were led by their in-sync replicas from the start (n4 in sync and up: a planned
        // handover, the new primary drains n4's log first); the copies go in one pass.
        #expect(core.map.shards(primaryOn: "n4").isEmpty)
        #expect(try core.completeMoves() != nil)
        #expect(try core.completeMoves() == nil)
        #expect(!core.map.shards.contains { $0.replicas.contains("n4") })
        #expect(core.map.shards.allSatisfy { $0.replicas.count == 2 && $0.inSync.count == 2 })
        #expect(try core.finishRemovals() != nil)
        #expect(core.map.node("n4") == nil)
        #expect(throws: ClusterError.self) { try core.removeNode("n4") }
        // Three nodes at RF 2: one more may go, not two.
        _ = try core.removeNode("n3")
        #expect(throws: ClusterError.self) { try core.removeNode("n2") }
    }

    @Test("nextTransition: the earliest instant a tick could change a node's state, and a tick there does")
    func nextTransition() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(1), downAfter: .seconds(3), now: start)
        #expect(core.nextTransition() == start + .seconds(1))
        for (offset, node) in ["n1", "n2", "n3"].enumerated() {
            _ = try core.heartbeat(from: NodeID(node), applied: [:], at: start + .milliseconds(100 * (offset + 1)))
        }
        // n1 was heard first: it is the first that could turn suspect.
        let suspectAt = start + .milliseconds(1100)
        #expect(core.nextTransition() == suspectAt)
        #expect(try core.tick(at: suspectAt - .milliseconds(1)) == nil)
        #expect(try core.tick(at: suspectAt) != nil)
        #expect(core.map.node("n1")?.state == .suspect)
        // Now n2's suspect deadline comes before n1's down deadline.
        #expect(core.nextTransition() == start + .milliseconds(1200))
        _ = try core.heartbeat(from: "n2", applied: [:], at: start + .milliseconds(2500))
        _ = try core.heartbeat(from: "n3", applied: [:], at: start + .milliseconds(2500))
        #expect(core.nextTransition() == start + .milliseconds(3100), "n1's down deadline")
        _ = try core.tick(at: start + .milliseconds(3100))
        #expect(core.map.node("n1")?.state == .down)
        #expect(core.nextTransition() == start + .milliseconds(3500), "n2's and n3's suspect deadlines")
    }

    @Test("the map store writes atomically and reads back the same map")
    func mapStore() throws {
        let directory = NSTemporaryDirectory() + "strata-mapstore-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try MapStore(directory: directory)
        #expect(try store.load() == nil)
        let map = try Self.map()
        try store.save(map)
        #expect(try store.load() == map)
        let next = try Placement.target(map: map, change: .setState("n2", .down))
        try store.save(next)
        #expect(try store.load() == next)
        #expect(!FileManager.default.fileExists(atPath: directory + "/map.json.tmp"))
    }

    @Test("status table lists every node with its state and shard counts")
    func statusTable() throws {
        let text = StatusReport.render(try Self.map())
        #expect(text.hasPrefix("map epoch 1, 16 shards, replication factor 2"))
        for node in ["n1", "n2", "n3"] { #expect(text.contains(node)) }
    }
}
