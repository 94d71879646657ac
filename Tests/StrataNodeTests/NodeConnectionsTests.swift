import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import StrataCluster
import StrataServer
import StrataStorage
import StrataWire
import Testing
@testable import StrataNode

/// The node's connections on an NIO testing channel: the real executor,
/// RocksDB in a temporary directory, the storage pool and the writer; no sockets.
@Suite("Node connections on a testing channel", .serialized)
struct NodeConnectionsTests {
    final class Node {
        let directory = NSTemporaryDirectory() + "strata-node-handler-\(UUID().uuidString)"
        let database: Database
        let connections: NodeConnections
        let pool = NIOThreadPool(numberOfThreads: 1)
        let writer: WriteQueue

        /// A node of `topology` (by default a standalone one); `internalSecret` lets a test AUTH as `@internal`.
        init(topology: NodeTopology? = nil, internalSecret: String? = nil) throws {
            var options = StorageOptions()
            options.columnFamilies = Keyspace.families
            database = try Database(path: directory, options: options)
            let topology = TopologyBox(try topology ?? NodeTopology.standalone(host: "127.0.0.1", port: 6379, shardCount: 8))
            let keyspace = try Keyspace(database: database, shards: topology.current.localShards, cacheBytes: 1 << 20)
            let executor = CommandExecutor(
                keyspace: keyspace, topology: topology,
                tenants: TenantDirectory(config: [:], defaultAccess: .always, internalSecret: internalSecret),
                stats: NodeStats(), info: ServerInfo(host: "127.0.0.1", port: 6379, dataDir: directory, maxClients: 10, idleTimeoutSeconds: 0))
            writer = WriteQueue(executor: executor)
            pool.start()
            writer.start()
            connections = NodeConnections(executor: executor, pool: pool, writer: writer)
        }

        func channel() async throws -> NIOAsyncTestingChannel {
            let channel = NIOAsyncTestingChannel()
            let session = NodeSession(
                client: ClientSession(id: 1, peer: "test", isLoopback: true),
                defaultTenant: connections.executor.tenants.defaultTenant(isLoopback: true))
            var configuration = ConnectionConfiguration()
            configuration.answersInPlace = true
            try await channel.pipeline.addHandler(RESPServerHandler(server: connections, session: session, configuration: configuration))
            try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379))
            return channel
        }

        func close() async throws {
            try await writer.shutdown()
            try await pool.shutdownGracefully()
            database.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func replies(_ channel: NIOAsyncTestingChannel, count: Int) async throws -> [RESPValue] {
        var buffer = ByteBuffer()
        var decoder = RESPDecoder()
        var values: [RESPValue] = []
        for _ in 0..<5000 where values.count < count {
            while var out = try await channel.readOutbound(as: ByteBuffer.self) { buffer.writeBuffer(&out) }
            while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
            if values.count < count { try await Task.sleep(for: .milliseconds(1)) }
        }
        return values
    }

    @Test("a pipeline through the writer, the event loop (in place and decoded) and the storage pool keeps its order; HELLO 3 switches to RESP3")
    func pipeline() async throws {
        let node = try Node()
        let channel = try await node.channel()
        var input = ByteBuffer()
        for command in [["SET", "k", "v"], ["GET", "k"], ["GET", "missing"], ["SCAN", "0"], ["INCR", "n"], ["GET", "n"], ["HELLO", "3"], ["GET", "missing"], ["NOSUCH"]] {
            RESPCommand(arguments: command.map { ByteBuffer(string: $0) }).respValue.encode(into: &input, version: .resp2)
        }
        try await channel.writeInbound(input)
        let replies = try await Self.replies(channel, count: 9)
        #expect(replies.count == 9)
        #expect(replies[0] == .simple("OK"))
        #expect(replies[1] == .bulk("v"))
        #expect(replies[2] == .null)
        #expect(replies[3].arrayCount == 2)
        #expect(replies[4] == .integer(1))
        #expect(replies[5] == .bulk("1"))
        guard case .map = replies[6] else {
            Issue.record("HELLO 3 answers a map: \(replies[6])")
            return
        }
        #expect(replies[7] == .null)
        if case .error(let message) = replies[8] { #expect(String(buffer: message).hasPrefix("ERR unknown command 'NOSUCH'")) } else { Issue.record("unknown command") }
        _ = try await channel.finish()
        try await node.close()
    }

    @Test("a node that a follower's fetch showed a newer epoch of a shard answers TRYAGAIN for its keys instead of MOVED to where its stale map points")
    func staleMapRefusesToRedirect() async throws {
        let nodes = ["n1", "n2"].map { ClusterNode(id: NodeID($0), host: "127.0.0.1", dataPort: $0 == "n1" ? 6379 : 6380) }
        let map = try ClusterMap.bootstrap(nodes: nodes, shardCount: 8, replicationFactor: 1, vnodes: 16)
        let node = try Node(topology: NodeTopology(map: map, localNode: "n1"), internalSecret: "secret")
        // A key n2 leads: this node answers MOVED with the shard's epoch.
        let key = try #require((0..<1000).map { "key\($0)" }.first { key in
            let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread)
            return map.shard(forHash: hash).primary == "n2"
        })
        let shard = map.shard(forHash: PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread))
        func send(_ commands: [[String]], on channel: NIOAsyncTestingChannel) async throws -> [RESPValue] {
            var input = ByteBuffer()
            for command in commands {
                RESPCommand(arguments: command.map { ByteBuffer(string: $0) }).respValue.encode(into: &input, version: .resp2)
            }
            try await channel.writeInbound(input)
            return try await Self.replies(channel, count: commands.count)
        }
        func text(_ value: RESPValue) -> String {
            if case .error(let message) = value { return String(buffer: message) }
            return "\(value)"
        }
        let client = try await node.channel()
        var replies = try await send([["GET", key], ["SET", key, "v"]], on: client)
        #expect(replies.allSatisfy { text($0).hasPrefix("MOVED \(shard.id.rawValue) 127.0.0.1:6380 \(shard.epoch)") }, "\(replies)")

        // A follower whose map has the shard at a later epoch fetches from this node.
        let follower = try await node.channel()
        replies = try await send(
            [["AUTH", "@internal", "secret"], ["REPLFETCH", "n2", String(shard.id.rawValue), "0", "0", String(shard.epoch + 1)]],
            on: follower)
        #expect(replies[0] == .simple("OK"))
        replies = try await send([["GET", key], ["SET", key, "v"]], on: client)
        #expect(replies.allSatisfy { text($0).hasPrefix("TRYAGAIN shard \(shard.id.rawValue) moved on") }, "\(replies)")
        _ = try await client.finish()
        _ = try await follower.finish()
        try await node.close()
    }

    @Test("MULTI/EXEC on the writer: queued replies, then the results as one array")
    func transaction() async throws {
        let node = try Node()
        let channel = try await node.channel()
        var input = ByteBuffer()
        for command in [["MULTI"], ["SET", "{t}a", "1"], ["INCR", "{t}a"], ["EXEC"]] {
            RESPCommand(arguments: command.map { ByteBuffer(string: $0) }).respValue.encode(into: &input, version: .resp2)
        }
        try await channel.writeInbound(input)
        let replies = try await Self.replies(channel, count: 4)
        #expect(replies == [.simple("OK"), .simple("QUEUED"), .simple("QUEUED"), .array([.simple("OK"), .integer(2)])])
        _ = try await channel.finish()
        try await node.close()
    }
}

extension RESPValue {
    var arrayCount: Int? {
        if case .array(let items) = self { return items.count }
        return nil
    }
}
