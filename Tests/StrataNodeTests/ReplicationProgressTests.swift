import StrataCluster
import Synchronization
import Testing

@testable import StrataNode

@Suite("Replication progress")
struct ReplicationProgressTests {
    /// A 3-node RF 2 map in which `n1` leads shard 0 and `n2` is its replica, in sync or not.
    static func map(inSync: Set<NodeID>) throws -> (ClusterMap, ShardID) {
        let nodes = ["n1", "n2", "n3"].map { ClusterNode(id: NodeID($0), host: "127.0.0.1", dataPort: 1) }
        let base = try ClusterMap.bootstrap(nodes: nodes, shardCount: 1, replicationFactor: 2, vnodes: 16)
        var shard = base.shards[0]
        shard.replicas = ["n1", "n2"]
        shard.inSync = inSync
        let map = try ClusterMap(epoch: base.epoch, nodes: base.nodes, shards: [shard], replicationFactor: 2, vnodes: 16)
        return (map, shard.id)
    }

    @Test("a follower is vouched for only once it applied every write acknowledged with acks=all, and then counts for every write")
    func vouching() throws {
        let (map, shard) = try Self.map(inSync: ["n1", "n2"])
        let box = TopologyBox(NodeTopology(map: map, localNode: "n1"))
        let last = Mutex<UInt64>(10)
        let progress = ReplicationProgress(
            topology: box, localNode: "n1", lastVersion: { _ in last.withLock { $0 } })
        let outcomes = Mutex<[Int: Bool]>([:])
        func write(_ id: Int, sequence: UInt64) {
            progress.wait(for: [(shard, sequence)]) { result in
                outcomes.withLock { $0[id] = (try? result.get()) != nil }
            }
        }

        // In sync: a write at 12 is acknowledged once n2 applied 12.
        last.withLock { $0 = 12 }
        write(1, sequence: 12)
        progress.record(node: "n2", shard: shard, position: 11)
        #expect(outcomes.withLock { $0[1] } == nil)
        progress.record(node: "n2", shard: shard, position: 12)
        #expect(outcomes.withLock { $0[1] } == true)

        // The coordinator takes n2 out and n3 joins the shard (not in sync): nothing is vouched for until n3
        // applied everything acknowledged (12), though n3's own position counts only from its fetches.
        var shardNow = map.shards[0]
        shardNow.replicas = ["n1", "n3"]
        shardNow.inSync = ["n1"]
        shardNow.epoch += 1
        _ = box.replace(with: NodeTopology(
            map: try ClusterMap(epoch: map.epoch + 1, nodes: map.nodes, shards: [shardNow], replicationFactor: 2, vnodes: 16),
            localNode: "n1"))
        #expect(progress.caughtUp().isEmpty)
        progress.record(node: "n3", shard: shard, position: 11)
        #expect(progress.caughtUp().isEmpty)
        progress.record(node: "n3", shard: shard, position: 12)
        let vouched = progress.caughtUp()
        #expect(vouched.count == 1 && vouched.first?.followers == ["n3"] && vouched.first?.epoch == shardNow.epoch)

        // The map has one in-sync replica: acks=all fails rather than trusting the primary alone.
        write(2, sequence: 13)
        #expect(outcomes.withLock { $0[2] } == false)

        // The coordinator adds n3: a write waits for it.
        shardNow.inSync = ["n1", "n3"]
        _ = box.replace(with: NodeTopology(
            map: try ClusterMap(epoch: map.epoch + 2, nodes: map.nodes, shards: [shardNow], replicationFactor: 2, vnodes: 16),
            localNode: "n1"))
        #expect(progress.caughtUp().isEmpty, "a follower the map counts in sync needs no vouch")
        write(3, sequence: 14)
        progress.evaluate()
        #expect(outcomes.withLock { $0[3] } == nil)
        progress.record(node: "n3", shard: shard, position: 14)
        #expect(outcomes.withLock { $0[3] } == true)
    }

    @Test("a shard split off one this node leads takes no writes until the writer started it; one it does not lead is not held")
    func splitTakesNoWritesUntilStarted() throws {
        let (map, shard) = try Self.map(inSync: ["n1", "n2"])
        let (split, added) = try map.splitting(shard)
        let box = TopologyBox(NodeTopology(map: map, localNode: "n1"))
        let progress = ReplicationProgress(topology: box, localNode: "n1", lastVersion: { _ in 20 })
        progress.adopt(previous: map, current: split)
        #expect(!progress.isHandedOver(added) && progress.isHandedOver(shard))
        #expect(progress.splitting == [added: shard])
        progress.startedSplit(added)
        #expect(progress.isHandedOver(added))
        let follower = ReplicationProgress(topology: TopologyBox(NodeTopology(map: map, localNode: "n2")), localNode: "n2", lastVersion: { _ in 20 })
        follower.adopt(previous: map, current: split)
        #expect(follower.splitting.isEmpty)
    }

    @Test("a vouched follower not yet in the map's in-sync set is waited for; a new leadership forgets old positions")
    func vouchedFollowerCounts() throws {
        let (map, shard) = try Self.map(inSync: ["n1", "n2"])
        var assignment = map.shards[0]
        assignment.replicas = ["n1", "n2", "n3"]
        assignment.inSync = ["n1", "n2", "n3"]
        let rf3 = try ClusterMap(epoch: map.epoch, nodes: map.nodes, shards: [assignment], replicationFactor: 3, vnodes: 16)
        let box = TopologyBox(NodeTopology(map: rf3, localNode: "n1"))
        let progress = ReplicationProgress(topology: box, localNode: "n1", lastVersion: { _ in 20 })
        let outcome = Mutex<Bool?>(nil)

        // n3 falls out of sync; it catches up and is vouched for; the map still says {n1, n2}.
        assignment.inSync = ["n1", "n2"]
        _ = box.replace(with: NodeTopology(
            map: try ClusterMap(epoch: rf3.epoch + 1, nodes: rf3.nodes, shards: [assignment], replicationFactor: 3, vnodes: 16),
            localNode: "n1"))
        progress.record(node: "n3", shard: shard, position: 20)
        #expect(progress.caughtUp().first?.followers == ["n3"])
        progress.wait(for: [(shard, 21)]) { result in outcome.withLock { $0 = (try? result.get()) != nil } }
        progress.record(node: "n2", shard: shard, position: 21)
        #expect(outcome.withLock { $0 } == nil, "n3 was vouched for: the write waits for it too")
        progress.record(node: "n3", shard: shard, position: 21)
        #expect(outcome.withLock { $0 } == true)

        // A new shard epoch (a new leadership) forgets positions: n2's old report does not count.
        assignment.epoch += 1
        _ = box.replace(with: NodeTopology(
            map: try ClusterMap(epoch: rf3.epoch + 2, nodes: rf3.nodes, shards: [assignment], replicationFactor: 3, vnodes: 16),
            localNode: "n1"))
        outcome.withLock { $0 = nil }
        progress.wait(for: [(shard, 21)]) { result in outcome.withLock { $0 = (try? result.get()) != nil } }
        #expect(outcome.withLock { $0 } == nil)
        progress.record(node: "n2", shard: shard, position: 21)
        #expect(outcome.withLock { $0 } == true)
    }
}
