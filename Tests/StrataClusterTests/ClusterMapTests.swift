import Foundation
import Testing
import StrataCluster

private func sampleMap(seed: UInt64 = 8, nodeCount: Int = 5) throws -> ClusterMap {
    var generator = SeededGenerator(seed: seed)
    return try ClusterMap.bootstrap(nodes: randomNodes(nodeCount, zones: 3, using: &generator), shardCount: 64, replicationFactor: 3)
}

private func json(_ text: String) -> Data { Data(text.utf8) }

@Suite("Cluster map")
struct ClusterMapTests {
    @Test("JSON round trip and stable bytes")
    func roundTrip() throws {
        let map = try sampleMap()
        // A map with history: a node down, then a newcomer, so epochs and in-sync sets differ.
        let changed = try Placement.target(
            map: Placement.target(map: map, change: .setState(map.nodes[0].id, .down)),
            change: .add(ClusterNode(id: "zz-new", host: "10.9.9.9", dataPort: 7001, zone: "zone-1", weight: 2)))
        for original in [map, changed] {
            let data = try original.jsonData()
            let decoded = try ClusterMap(jsonData: data)
            #expect(decoded == original)
            #expect(try decoded.jsonData() == data)
            #expect(try original.jsonData() == data)
        }
    }

    @Test("a split halves a shard's range under a new id on the same nodes, placed from the same ring position (so nothing moves), with the next epochs; its JSON round-trips")
    func split() throws {
        let map = try sampleMap()
        let old = map.shards[5]
        let (split, added) = try map.splitting(old.id)
        #expect(added == ShardID(64), "ids are never reused: the next after the largest")
        #expect(split.epoch == map.epoch + 1 && split.shards.count == map.shards.count + 1)
        let lower = try #require(split.shard(old.id))
        let upper = try #require(split.shard(added))
        #expect(lower.range.start == old.range.start && upper.range.last == old.range.last)
        #expect(lower.range.last &+ 1 == upper.range.start)
        #expect(lower.replicas == old.replicas && upper.replicas == old.replicas)
        #expect(lower.epoch == old.epoch + 1 && upper.epoch == lower.epoch)
        #expect(lower.inSync == old.inSync && upper.inSync == old.inSync)
        #expect(upper.parent == old.id && upper.placement == old.range.start && lower.parent == nil)
        #expect(split.shard(forHash: upper.range.start).id == added && split.shard(forHash: lower.range.last).id == old.id)
        // Nothing moves: the ring places the new half where the whole was, now and after a change.
        #expect(Placement.ringOrder(of: split)[added] == Placement.ringOrder(of: map)[old.id])
        let changed = try Placement.target(map: split, change: .setState(map.nodes[0].id, .down))
        #expect(changed.shard(added)?.replicas == changed.shard(old.id)?.replicas)
        #expect(changed.shard(added)?.parent == old.id && changed.shard(added)?.placement == old.range.start)
        let data = try split.jsonData()
        #expect(try ClusterMap(jsonData: data) == split)
        #expect(String(decoding: data, as: UTF8.self).contains("\"placement\" : \""))
        #expect(!String(decoding: try map.jsonData(), as: UTF8.self).contains("placement"), "unsplit maps are unchanged")
        #expect(throws: ClusterError.self) { try map.splitting(ShardID(999)) }
    }

    @Test("the same configuration always yields the same map, byte for byte", arguments: sweep([3, 17, 100], quick: [3, 17]))
    func determinism(nodeCount: Int) throws {
        var generator = SeededGenerator(seed: UInt64(nodeCount))
        let nodes = randomNodes(nodeCount, zones: 3, using: &generator)
        let first = try ClusterMap.bootstrap(nodes: nodes, shardCount: 64, replicationFactor: 3)
        let second = try ClusterMap.bootstrap(nodes: nodes.shuffled(using: &generator), shardCount: 64, replicationFactor: 3)
        #expect(first == second)
        #expect(try first.jsonData() == second.jsonData())
        let addition = ClusterNode(id: "extra", host: "h", dataPort: 1, zone: "zone-2")
        #expect(
            try Placement.target(map: first, change: .add(addition)).jsonData()
                == Placement.target(map: second, change: .add(addition)).jsonData())
    }

    @Test("placement is pinned: changing it silently would reshuffle every cluster on upgrade")
    func goldenPlacement() throws {
        let nodes = ["a", "b", "c", "d"].enumerated().map { index, id in
            ClusterNode(id: NodeID(id), host: "127.0.0.1", dataPort: UInt16(7000 + index), zone: "z\(index % 2)")
        }
        let map = try ClusterMap.bootstrap(nodes: nodes, shardCount: 8, replicationFactor: 2, vnodes: 16)
        let replicas = map.shards.map { $0.replicas.map(\.rawValue).joined(separator: ",") }
        #expect(replicas == GOLDEN)
        // The first RF nodes (in id order) keep their hash tokens; later ones are allocated.
        #expect(map.node("a")?.tokens == HashRing.tokens(of: "a", count: 16).sorted())
        #expect(map.node("c")?.tokens.first == GOLDEN_FIRST_TOKEN_OF_C)
    }

    @Test("JSON layout: sorted keys, hex ranges, sorted in-sync sets, nodes and shards by id")
    func jsonLayout() throws {
        let nodes = [
            ClusterNode(id: "n2", host: "h2", dataPort: 2, zone: "b"),
            ClusterNode(id: "n1", host: "h1", dataPort: 1, metricsPort: 9, zone: "a", state: .suspect),
        ]
        let map = try ClusterMap.bootstrap(nodes: nodes, shardCount: 2, replicationFactor: 2, vnodes: 4)
        let text = String(decoding: try map.jsonData(), as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["epoch", "nodes", "replicationFactor", "shards", "vnodes"])
        let shards = try #require(object["shards"] as? [[String: Any]])
        let range = try #require(shards[1]["range"] as? [String: String])
        #expect(range == ["start": "8000000000000000", "last": "ffffffffffffffff"])
        #expect(shards[0]["inSync"] as? [String] == ["n1", "n2"])
        let encodedNodes = try #require(object["nodes"] as? [[String: Any]])
        #expect(encodedNodes.map { $0["id"] as? String } == ["n1", "n2"])
        #expect(encodedNodes[1]["metricsPort"] == nil)
        #expect(encodedNodes[0]["state"] as? String == "suspect")
        // Tokens: base64 of the big-endian 64-bit tokens, ascending, that decode back.
        let tokens = try #require(encodedNodes[0]["tokens"] as? String)
        let bytes = try #require(Data(base64Encoded: tokens))
        #expect(bytes.count == 4 * 8)
        let first = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(first == map.nodes[0].tokens[0] && map.nodes[0].tokens == map.nodes[0].tokens.sorted())
        #expect(try ClusterMap(jsonData: map.jsonData()) == map)
        // Keys appear in sorted order in the bytes themselves.
        let epoch = try #require(text.range(of: "\"epoch\""))
        let nodesKey = try #require(text.range(of: "\"nodes\""))
        let rf = try #require(text.range(of: "\"replicationFactor\""))
        #expect(epoch.lowerBound < nodesKey.lowerBound && nodesKey.lowerBound < rf.lowerBound)
    }

    @Test("decoding normalizes order and defaults node fields")
    func decodingNormalizes() throws {
        let text = """
            {"epoch": 7, "replicationFactor": 2, "vnodes": 8,
             "nodes": [{"id": "b", "host": "hb", "dataPort": 2}, {"id": "a", "host": "ha", "dataPort": 1, "zone": "z"}],
             "shards": [
               {"id": 1, "range": {"start": "8000000000000000", "last": "ffffffffffffffff"}, "replicas": ["b", "a"], "epoch": 3, "inSync": ["b", "a"]},
               {"id": 0, "range": {"start": "0", "last": "7fffffffffffffff"}, "replicas": ["a"], "epoch": 1, "inSync": []}
             ]}
            """
        let map = try ClusterMap(jsonData: json(text))
        #expect(map.nodes.map(\.id) == ["a", "b"])
        #expect(map.node("b") == ClusterNode(id: "b", host: "hb", dataPort: 2, zone: "default", weight: 1, state: .up))
        #expect(map.shards.map(\.id) == [ShardID(0), ShardID(1)])
        #expect(map.shard(forHash: .max).id == ShardID(1))
        #expect(map.primary(for: ShardID(1))?.id == "b")
        #expect(try ClusterMap(jsonData: map.jsonData()) == map)
    }

    @Test(
        "invalid maps are rejected",
        arguments: [
            // gap between the two ranges
            #"[{"id": 0, "range": {"start": "0", "last": "10"}, "replicas": ["a"], "epoch": 1, "inSync": []}, {"id": 1, "range": {"start": "12", "last": "ffffffffffffffff"}, "replicas": ["a"], "epoch": 1, "inSync": []}]"#,
            // replica that is not a node
            #"[{"id": 0, "range": {"start": "0", "last": "ffffffffffffffff"}, "replicas": ["ghost"], "epoch": 1, "inSync": []}]"#,
            // in-sync node that is not a replica
            #"[{"id": 0, "range": {"start": "0", "last": "ffffffffffffffff"}, "replicas": ["a"], "epoch": 1, "inSync": ["b"]}]"#,
            // repeated replica
            #"[{"id": 0, "range": {"start": "0", "last": "ffffffffffffffff"}, "replicas": ["a", "a"], "epoch": 1, "inSync": []}]"#,
            // repeated shard id
            #"[{"id": 0, "range": {"start": "0", "last": "10"}, "replicas": ["a"], "epoch": 1, "inSync": []}, {"id": 0, "range": {"start": "11", "last": "ffffffffffffffff"}, "replicas": ["a"], "epoch": 1, "inSync": []}]"#,
            // malformed hex
            #"[{"id": 0, "range": {"start": "0x0", "last": "ffffffffffffffff"}, "replicas": ["a"], "epoch": 1, "inSync": []}]"#,
            // too many hex digits
            #"[{"id": 0, "range": {"start": "0", "last": "0ffffffffffffffff"}, "replicas": ["a"], "epoch": 1, "inSync": []}]"#,
            // last before start
            #"[{"id": 0, "range": {"start": "5", "last": "4"}, "replicas": ["a"], "epoch": 1, "inSync": []}]"#,
        ])
    func invalidMaps(shards: String) {
        let text = """
            {"epoch": 1, "replicationFactor": 1, "vnodes": 8,
             "nodes": [{"id": "a", "host": "h", "dataPort": 1}, {"id": "b", "host": "h", "dataPort": 2}],
             "shards": \(shards)}
            """
        #expect(throws: DecodingError.self) { try ClusterMap(jsonData: json(text)) }
    }

    @Test("lookups: shard by hash, by id, primary, replicas, shards per node")
    func lookups() throws {
        let map = try sampleMap(seed: 3, nodeCount: 9)
        var generator = SeededGenerator(seed: 12)
        var hashes: [UInt64] = [0, .max]
        for shard in map.shards { hashes += [shard.range.start, shard.range.last] }
        hashes += (0..<1000).map { _ in generator.next() }
        for hash in hashes {
            let shard = map.shard(forHash: hash)
            #expect(shard.range.contains(hash))
            #expect(map.shards.filter { $0.range.contains(hash) } == [shard])
            #expect(map.layout.shard(forHash: hash) == shard.id)
        }
        for shard in map.shards {
            #expect(map.shard(shard.id) == shard)
            #expect(map.primary(for: shard.id)?.id == shard.replicas[0])
            #expect(map.replicas(for: shard.id)?.map(\.id) == shard.replicas)
        }
        #expect(map.shard(ShardID(64)) == nil)
        #expect(map.primary(for: ShardID(999)) == nil)
        #expect(map.replicas(for: ShardID(999)) == nil)
        #expect(map.node("ghost") == nil)
        for node in map.nodes {
            let owned = map.shards(ownedBy: node.id)
            #expect(owned == map.shards.filter { $0.replicas.contains(node.id) })
            #expect(map.shards(primaryOn: node.id).allSatisfy { owned.contains($0) })
        }
        #expect(map.shards(ownedBy: "ghost").isEmpty)
    }

    @Test("maxLagMs: 10 s by default; below two heartbeat intervals it is refused with a clear error")
    func maxLagSetting() throws {
        var config = ClusterConfig(
            coordinator: .init(host: "127.0.0.1", port: 1, heartbeatIntervalMs: 100),
            nodes: [.init(id: "n1", host: "127.0.0.1", dataPort: 2, dataDir: "/tmp/n1")])
        #expect(config.maxLag == .seconds(10))
        config.maxLagMs = 200
        try config.validate()
        #expect(config.maxLag == .milliseconds(200))
        config.maxLagMs = 150
        #expect { try config.validate() } throws: { error in
            (error as? ClusterError)?.code == .invalidConfiguration
                && (error as? ClusterError)?.message.contains("maxLagMs must be between 200") == true
        }
    }

    @Test("errors are values with a code and a message")
    func errors() {
        let error = ClusterError(.unknownNode, "cannot remove node x: not in the map")
        #expect(error.code == .unknownNode)
        #expect(error.description == "unknownNode: cannot remove node x: not in the map")
        #expect(error != ClusterError(.duplicateNode, error.message))
    }
}

/// Replica sets of the pinned configuration, recorded from this implementation.
private let GOLDEN_FIRST_TOKEN_OF_C: UInt64 = 572_117_723_430_944_322
private let GOLDEN = ["a,b", "a,d", "b,c", "b,c", "a,b", "a,d", "a,d", "b,a"]
