import Foundation
import NIOCore
import StrataClient
import StrataCluster
import StrataWire
import Testing

/// The gateway's command set on a real three-node cluster: RESP3, binary
/// keys, SCAN cursors, commands over the whole keyspace, transactions.
@Suite("Cache gateway commands", .serialized)
struct GatewayCommandTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func keys(of reply: RESPValue) -> [[UInt8]] {
        (reply.elements ?? []).compactMap { if case .bulkString(let key) = $0 { Array(key.readableBytesView) } else { nil } }
    }

    @Test("keys of every byte value 0-255 round-trip through gateway MSET, MGET, SCAN (real cursors, COUNT), KEYS, DEL and the client", .timeLimit(.minutes(2)))
    func binaryKeys() async throws {
        let cluster = try ClusterTests.Cluster.start(internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        let (path, processes) = try GatewayTests.gateways(cluster, ids: ["g1"])
        defer { for process in processes { process.stop() } }
        let gateway = try processes[0].client()
        // One key per byte value, and one holding all 256 bytes.
        var keys = (0...255).map { [UInt8($0)] }
        keys.append((0...255).map { UInt8($0) })
        let values = keys.indices.map { index -> [UInt8] in [0, 13, 10, 255, UInt8(index % 256)] }
        #expect(try gateway.call([Self.bytes("MSET")] + zip(keys, values).flatMap { [$0, $1] }).text == "OK")
        let fetched = try #require(try gateway.call([Self.bytes("MGET")] + keys).elements)
        #expect(fetched.count == keys.count)
        for (reply, value) in zip(fetched, values) {
            guard case .bulkString(let got) = reply else { Issue.record("missing value"); continue }
            #expect(Array(got.readableBytesView) == value)
        }
        // SCAN walks the ring shard by shard; COUNT bounds each page.
        var cursor = "0"
        var scanned: [[UInt8]] = []
        var pages = 0
        repeat {
            let reply = try #require(try gateway.call("SCAN", cursor, "COUNT", "10").elements)
            cursor = try #require(reply[0].text)
            let page = Self.keys(of: reply[1])
            #expect(page.count <= 30, "a page holds about COUNT keys")
            scanned += page
            pages += 1
        } while cursor != "0"
        #expect(pages > 10)
        #expect(Set(scanned) == Set(keys))
        #expect(scanned.count == keys.count, "each key once")
        // MATCH filters by bytes: a whole walk finds the one key 0xFF and no other.
        var matched: [[UInt8]] = []
        cursor = "0"
        repeat {
            let reply = try #require(
                try gateway.call([Self.bytes("SCAN"), Array(cursor.utf8), Self.bytes("MATCH"), [0xFF], Self.bytes("COUNT"), Self.bytes("100")]).elements)
            cursor = try #require(reply[0].text)
            matched += Self.keys(of: reply[1])
        } while cursor != "0"
        #expect(matched == [[0xFF]], "MATCH filters by bytes")
        #expect(Set(Self.keys(of: try gateway.call("KEYS", "*"))) == Set(keys))
        #expect(try gateway.call("DBSIZE").int == Int64(keys.count))
        // The client reads the same bytes.
        let client = try StrataClient(configuration: .init(clusterConfigPath: path))
        let direct = try await client.multiGet(keys.map { StrataKey($0) })
        #expect(direct == values.map { Optional($0) })
        var clientScanned: Set<[UInt8]> = []
        for try await key in client.scan() { clientScanned.insert(key.bytes) }
        #expect(clientScanned == Set(keys))
        #expect(try gateway.call([Self.bytes("DEL")] + keys).int == Int64(keys.count))
        #expect(try gateway.call("DBSIZE").int == 0)
        #expect(try #require(try gateway.call([Self.bytes("MGET")] + keys).elements).allSatisfy(\.isNull))
    }

    @Test("HELLO 3 on the gateway answers a map; RESP3 replies (null, maps); transactions, CROSSSHARD, RENAME, FLUSHDB", .timeLimit(.minutes(2)))
    func resp3AndTransactions() async throws {
        let cluster = try ClusterTests.Cluster.start(internalSecret: ReplicationTests.secret)
        defer { cluster.cleanup() }
        let (_, processes) = try GatewayTests.gateways(cluster, ids: ["g1"])
        defer { for process in processes { process.stop() } }
        let gateway = try processes[0].client()
        guard case .map(let hello) = try gateway.call("HELLO", "3") else {
            Issue.record("HELLO 3 must answer a RESP3 map")
            return
        }
        #expect(hello.contains { $0.key.text == "proto" && $0.value.int == 3 })
        #expect(hello.contains { $0.key.text == "mode" && $0.value.text == "cache" })
        #expect(try gateway.call("GET", "nothing") == .null)
        guard case .map = try gateway.call("CONFIG", "GET", "save") else {
            Issue.record("CONFIG GET answers a map in RESP3")
            return
        }
        // A transaction on one shard ({t}), executed atomically on its primary.
        #expect(try gateway.call("MULTI").text == "OK")
        #expect(try gateway.call("SET", "{t}a", "1").text == "QUEUED")
        #expect(try gateway.call("INCR", "{t}b").text == "QUEUED")
        #expect(try gateway.call("GET", "{t}a").text == "QUEUED")
        let results = try #require(try gateway.call("EXEC").elements)
        #expect(results.map(\.text) == ["OK", nil, "1"])
        #expect(results[1].int == 1)
        // WATCH: a write from another connection between WATCH and EXEC aborts it.
        let other = try processes[0].client()
        #expect(try gateway.call("WATCH", "{t}a").text == "OK")
        #expect(try other.call("SET", "{t}a", "changed").text == "OK")
        #expect(try gateway.call("MULTI").text == "OK")
        #expect(try gateway.call("SET", "{t}a", "mine").text == "QUEUED")
        #expect(try gateway.call("EXEC").isNull)
        #expect(try gateway.call("GET", "{t}a").text == "changed")
        // Unchanged, it goes through.
        #expect(try gateway.call("WATCH", "{t}a").text == "OK")
        #expect(try gateway.call("MULTI").text == "OK")
        #expect(try gateway.call("SET", "{t}a", "mine").text == "QUEUED")
        #expect(try gateway.call("EXEC").elements?.first?.text == "OK")
        #expect(try gateway.call("GET", "{t}a").text == "mine")
        // Keys on two shards: refused, nothing runs.
        #expect(try gateway.call("MULTI").text == "OK")
        #expect(try gateway.call("SET", "x1", "1").text == "QUEUED")
        #expect(try gateway.call("SET", "x2", "2").text == "QUEUED")
        let map = try cluster.map()
        func shard(_ key: String) -> ShardID { map.shard(forHash: PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread)).id }
        if shard("x1") != shard("x2") {
            #expect(try gateway.call("EXEC").text?.hasPrefix("CROSSSHARD") == true)
            #expect(try gateway.call("GET", "x1").isNull)
        } else {
            _ = try gateway.call("EXEC")
        }
        // Queue-time errors abort the transaction.
        #expect(try gateway.call("MULTI").text == "OK")
        #expect(try gateway.call("GET").isError)
        #expect(try gateway.call("EXEC").text == "EXECABORT Transaction discarded because of previous errors.")
        // RENAME within a shard; across shards CROSSSHARD.
        #expect(try gateway.call("RENAME", "{t}a", "{t}c").text == "OK")
        #expect(try gateway.call("GET", "{t}c").text == "mine")
        #expect(try gateway.call("GET", "{t}a") == .null)
        #expect(try gateway.call("SET", "y1", "v").text == "OK")
        if shard("y1") != shard("y2") {
            #expect(try gateway.call("RENAME", "y1", "y2").text?.hasPrefix("CROSSSHARD") == true)
        }
        #expect(try gateway.call("TYPE", "y1").text == "string")
        #expect(try gateway.call("SETEX", "ttl", "100", "v").text == "OK")
        #expect((try gateway.call("TTL", "ttl").int ?? 0) > 90)
        // FLUSHDB empties the tenant everywhere, and the gateway's cache with it.
        #expect(try gateway.call("GET", "y1").text == "v")
        #expect(try gateway.call("FLUSHDB").text == "OK")
        #expect(try gateway.call("DBSIZE").int == 0)
        #expect(try gateway.call("GET", "y1") == .null)
        #expect(try gateway.call("RANDOMKEY") == .null)
    }
}
