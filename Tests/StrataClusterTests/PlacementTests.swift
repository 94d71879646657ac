import Testing
import StrataCluster

/// Checks what must hold between a map and its successor after `added` joined:
/// replicas move only onto the new node, primaries change only to nodes in sync, and epochs
/// and in-sync sets follow the replica lists.
private func checkAddition(old: ClusterMap, new: ClusterMap, added: NodeID) -> (moved: Int, slots: Int) {
    var moved = 0
    var slots = 0
    for (before, after) in zip(old.shards, new.shards) {
        #expect(before.id == after.id && before.range == after.range)
        slots += before.replicas.count
        let gained = Set(after.replicas).subtracting(before.replicas)
        #expect(gained.isSubset(of: [added]), "shard \(after.id) moved between old nodes: \(before.replicas) → \(after.replicas)")
        moved += gained.count
        // The newcomer holds no data yet: a primary changes only to a node that was in sync,
        // or to the newcomer when no node of the new list was (RF 1: the shard moves).
        if before.primary != after.primary {
            let anyInSync = after.replicas.contains { before.inSync.contains($0) }
            #expect(anyInSync ? before.inSync.contains(after.primary!) : after.primary == added)
        }
        if before.replicas == after.replicas {
            #expect(after == before)
        } else {
            #expect(after.epoch == before.epoch + 1)
            #expect(after.inSync == before.inSync.intersection(after.replicas))
        }
    }
    return (moved, slots)
}

@Suite("Placement")
struct PlacementTests {
    @Test("bootstrap: every shard gets RF distinct nodes, all in sync, epochs 1")
    func bootstrap() throws {
        var generator = SeededGenerator(seed: 1)
        let nodes = randomNodes(7, using: &generator)
        let map = try ClusterMap.bootstrap(nodes: nodes)
        #expect(map.epoch == 1 && map.replicationFactor == 3 && map.vnodes == 256)
        #expect(map.shards.count == 64)
        for shard in map.shards {
            #expect(shard.replicas.count == 3 && Set(shard.replicas).count == 3)
            #expect(shard.inSync == Set(shard.replicas))
            #expect(shard.epoch == 1)
            let ring = Placement.ring(of: map.nodes, vnodes: 256)
            #expect(shard.replicas == ring.replicaSet(forToken: shard.range.start, replicationFactor: 3))
        }
        #expect(nodes.reduce(0) { $0 + map.shards(ownedBy: $1.id).count } == 64 * 3)
        #expect(nodes.reduce(0) { $0 + map.shards(primaryOn: $1.id).count } == 64)
    }

    /// For every sampled (N, RF) with 4096 shards: the exact invariants of
    /// `checkAddition`, then the amount moved. The new node should take its fair
    /// share, S·RF/(N+1) replicas; the issue bounds it by 1.1 × S·RF/N.
    /// `TokenAllocator` gives it about its fair share of the ring; sampling that
    /// share with shard starts adds Poisson noise (16 % at N = 100, RF 1), so
    /// the test asserts a four-sigma bound on the count, the 1.1 on the
    /// fraction of replica slots that changed, and 1.1 on average over all sampled N.
    @Test("adding a node moves replicas only onto it, its fair share of them")
    func addition() throws {
        let shardCount = 4096
        var ratios: [Int: [Double]] = [:]
        for (nodeCount, replicationFactor) in sampledConfigurations {
            var generator = SeededGenerator(seed: UInt64(nodeCount * 131 + replicationFactor))
            let nodes = randomNodes(nodeCount + 1, using: &generator)
            let newcomer = nodes[nodeCount]
            let old = try ClusterMap.bootstrap(
                nodes: Array(nodes.prefix(nodeCount)), shardCount: shardCount, replicationFactor: replicationFactor)
            let new = try Placement.target(map: old, change: .add(newcomer))
            #expect(new.epoch == old.epoch + 1)
            #expect(new.node(newcomer.id).map { ClusterNode(id: $0.id, host: $0.host, dataPort: $0.dataPort, metricsPort: $0.metricsPort, zone: $0.zone) } == newcomer)
            #expect(new.node(newcomer.id)?.tokens.count == 256)
            let (moved, slots) = checkAddition(old: old, new: new, added: newcomer.id)
            #expect(moved == new.shards(ownedBy: newcomer.id).count)

            let n = Double(nodeCount)
            let rf = Double(min(replicationFactor, nodeCount))
            let fairShare = Double(shardCount) * rf / (n + 1)
            #expect(Double(moved) <= fourSigmaBound(expected: fairShare),
                    "N \(nodeCount) RF \(replicationFactor): moved \(moved), fair share \(fairShare)")
            // The metric read literally: replica-slot changes / total slots ≤ 1.1 × RF/N.
            #expect(Double(moved) / Double(slots) <= 1.1 * rf / n, "N \(nodeCount) RF \(replicationFactor)")
            ratios[replicationFactor, default: []].append(Double(moved) / (Double(shardCount) * rf / n))
        }
        for (replicationFactor, values) in ratios {
            let mean = values.reduce(0, +) / Double(values.count)
            #expect(mean <= 1.1, "RF \(replicationFactor): moved / (S·RF/N) averages \(mean)")
        }
    }

    @Test("adding a node with zones still moves replicas only onto it", arguments: sweep([3, 6, 10, 25, 60], quick: [3, 6, 10]))
    func zonedAddition(nodeCount: Int) throws {
        var generator = SeededGenerator(seed: UInt64(nodeCount * 17))
        var nodes = randomNodes(nodeCount + 1, zones: 3, using: &generator)
        nodes[nodeCount].zone = ["zone-0", "zone-2", "zone-new"][nodeCount % 3]
        for replicationFactor in 1...4 {
            let old = try ClusterMap.bootstrap(
                nodes: Array(nodes.prefix(nodeCount)), shardCount: 1024, replicationFactor: replicationFactor)
            let new = try Placement.target(map: old, change: .add(nodes[nodeCount]))
            _ = checkAddition(old: old, new: new, added: nodes[nodeCount].id)
        }
    }

    @Test("removing a node moves only its replicas and keeps the others", arguments: sweep([4, 10, 40], quick: [4, 10]))
    func removal(nodeCount: Int) throws {
        var generator = SeededGenerator(seed: UInt64(nodeCount * 3))
        let nodes = randomNodes(nodeCount, zones: 2, using: &generator)
        let old = try ClusterMap.bootstrap(nodes: nodes, shardCount: 1024, replicationFactor: 3)
        let leaving = nodes[1].id
        let new = try Placement.target(map: old, change: .remove(leaving))
        #expect(new.node(leaving) == nil)
        #expect(new.shards(ownedBy: leaving).isEmpty)
        for (before, after) in zip(old.shards, new.shards) {
            #expect(Set(before.replicas).subtracting([leaving]).isSubset(of: after.replicas))
            #expect((before == after) == !before.replicas.contains(leaving))
        }
        // The reverse of an addition: adding it back with its tokens restores the replica sets;
        // where it was primary, an in-sync node leads until it has caught up.
        let back = try Placement.target(map: new, change: .add(old.node(leaving)!))
        #expect(back.shards.map { Set($0.replicas) } == old.shards.map { Set($0.replicas) })
        for (before, after) in zip(new.shards, back.shards) { #expect(before.inSync.contains(after.primary!)) }
    }

    @Test("down leaves the ring, suspect does not, up restores the placement")
    func states() throws {
        var generator = SeededGenerator(seed: 21)
        let nodes = randomNodes(6, using: &generator)
        let id = nodes[2].id
        let start = try ClusterMap.bootstrap(nodes: nodes, shardCount: 256, replicationFactor: 2)

        let suspect = try Placement.target(map: start, change: .setState(id, .suspect))
        #expect(suspect.epoch == 2)
        #expect(suspect.node(id)?.state == .suspect)
        #expect(suspect.shards == start.shards)

        let down = try Placement.target(map: suspect, change: .setState(id, .down))
        #expect(down.epoch == 3)
        #expect(down.shards(ownedBy: id).isEmpty)
        for (before, after) in zip(start.shards, down.shards) where before.replicas.contains(id) {
            #expect(after.epoch == 2)
            #expect(!after.inSync.contains(id))
            #expect(after.inSync == Set(before.replicas).subtracting([id]))
        }

        let up = try Placement.target(map: down, change: .setState(id, .up))
        #expect(up.epoch == 4)
        #expect(up.shards.map { Set($0.replicas) } == start.shards.map { Set($0.replicas) })
        for (before, after) in zip(start.shards, up.shards) where before.replicas.contains(id) {
            #expect(after.epoch == 3)
            #expect(!after.inSync.contains(id), "a returning node must catch up before it is in sync")
            #expect(after.primary != id, "and must not lead before it is")
        }
        // Once in sync again, the next change puts the ring's order back.
        #expect(start.shards.contains { $0.primary == id })

        // Promotion prefers the most caught-up in-sync replica.
        let three = try ClusterMap.bootstrap(nodes: nodes, shardCount: 64, replicationFactor: 3)
        let shard = three.shards[0]
        let (leader, second, third) = (shard.replicas[0], shard.replicas[1], shard.replicas[2])
        let promoted = try Placement.target(
            map: three, change: .setState(leader, .down), applied: [second: [shard.id: 5], third: [shard.id: 9]])
        #expect(promoted.shard(shard.id)?.primary == third)
        #expect(promoted.shard(shard.id)?.epoch == shard.epoch + 1)
    }

    @Test("ineffective changes return the map unchanged; invalid ones throw")
    func changeErrors() throws {
        var generator = SeededGenerator(seed: 4)
        let nodes = randomNodes(4, using: &generator)
        let map = try ClusterMap.bootstrap(nodes: nodes, shardCount: 16, replicationFactor: 2)
        #expect(try Placement.target(map: map, change: .add(nodes[0])) == map)
        #expect(try Placement.target(map: map, change: .setState(nodes[0].id, .up)) == map)

        var moved = nodes[0]
        moved.host = "elsewhere"
        #expect { try Placement.target(map: map, change: .add(moved)) } throws: { ($0 as? ClusterError)?.code == .duplicateNode }
        #expect { try Placement.target(map: map, change: .remove("ghost")) } throws: { ($0 as? ClusterError)?.code == .unknownNode }
        #expect { try Placement.target(map: map, change: .setState("ghost", .down)) } throws: {
            ($0 as? ClusterError)?.code == .unknownNode
        }
        var negative = ClusterNode(id: "neg", host: "h", dataPort: 1)
        negative.weight = -1
        #expect { try Placement.target(map: map, change: .add(negative)) } throws: {
            ($0 as? ClusterError)?.code == .invalidConfiguration
        }
    }

    @Test("bootstrap rejects invalid parameters")
    func bootstrapErrors() {
        let node = ClusterNode(id: "a", host: "h", dataPort: 1)
        for (shards, rf, vnodes) in [(0, 3, 256), (64, 0, 256), (64, 3, 0)] {
            #expect { try ClusterMap.bootstrap(nodes: [node], shardCount: shards, replicationFactor: rf, vnodes: vnodes) } throws: {
                ($0 as? ClusterError)?.code == .invalidConfiguration
            }
        }
        #expect { try ClusterMap.bootstrap(nodes: [node, node]) } throws: { ($0 as? ClusterError)?.code == .duplicateNode }
    }

    @Test("fewer placed nodes than RF: every shard on all of them; none: no replicas")
    func underReplicated() throws {
        let nodes = [ClusterNode(id: "a", host: "h", dataPort: 1), ClusterNode(id: "b", host: "h", dataPort: 2)]
        let map = try ClusterMap.bootstrap(nodes: nodes, shardCount: 8, replicationFactor: 3)
        #expect(map.shards.allSatisfy { Set($0.replicas) == ["a", "b"] })
        let one = try Placement.target(map: map, change: .setState("a", .down))
        #expect(one.shards.allSatisfy { $0.replicas == ["b"] && $0.inSync == ["b"] })
        let none = try Placement.target(map: one, change: .setState("b", .down))
        #expect(none.shards.allSatisfy { $0.replicas.isEmpty && $0.inSync.isEmpty })
        #expect(none.primary(for: ShardID(0)) == nil)
        #expect(none.replicas(for: ShardID(0)) == [])
    }
}
