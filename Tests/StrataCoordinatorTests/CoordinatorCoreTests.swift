import Foundation
import Testing
import StrataCluster
@testable import StrataCoordinator

@Suite("Coordinator core")
struct CoordinatorCoreTests {
    static func map() throws -> ClusterMap {
        try ClusterMap.bootstrap(
            nodes: ["n1", "n2", "n3"].map { ClusterNode(id: NodeID($0), host: "127.0.0.1", dataPort: 1, zone: $0) },
            shardCount: 16, replicationFactor: 2, vnodes: 64)
    }

    @Test("a replica joins the in-sync set once it reports its primary's position, and leaves it when it lags too far")
    func inSyncSet() throws {
        let start = ContinuousClock.Instant.now
        var core = CoordinatorCore(map: try Self.map(), suspectAfter: .seconds(10), downAfter: .seconds(20), now: start)
        core.maxInSyncLag = 100
        core.joinSlack = 10
        let shard = core.map.shards[0]
        let (primary, replica) = (shard.replicas[0], shard.replicas[1])
        #expect(core.map.shard(shard.id)?.inSync.contains(replica) == true)

        // Too far behind: out.
        _ = try core.heartbeat(from: primary, applied: [shard.id: 500], at: start)
        let epoch = core.map.epoch
        #expect(try core.heartbeat(from: replica, applied: [shard.id: 399], at: start) != nil)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        #expect(core.map.epoch == epoch + 1 && core.map.shard(shard.id)?.epoch == shard.epoch)
        // Behind but within the lag bound: still out until it is within the join slack.
        _ = try core.heartbeat(from: replica, applied: [shard.id: 480], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        _ = try core.heartbeat(from: replica, applied: [shard.id: 490], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary, replica])

        // A replica that reports less than before lost data: it leaves the in-sync set.
        _ = try core.heartbeat(from: replica, applied: [shard.id: 10], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary])
        _ = try core.heartbeat(from: replica, applied: [shard.id: 500], at: start)
        #expect(core.map.shard(shard.id)?.inSync == [primary, replica])

        // The primary dies (the others keep heartbeating): the in-sync replica is promoted, with a new shard epoch.
        for node in core.map.nodes.map(\.id) where node != primary {
            _ = try core.heartbeat(from: node, applied: node == replica ? [shard.id: 500] : [:], at: start + .seconds(15))
        }
        let promoted = try core.tick(at: start + .seconds(21))
        #expect(promoted?.shard(shard.id)?.primary == replica)
        #expect(promoted?.shard(shard.id)?.epoch == shard.epoch + 1)
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
