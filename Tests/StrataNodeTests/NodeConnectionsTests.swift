import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
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

        init() throws {
            var options = StorageOptions()
            options.columnFamilies = Keyspace.families
            database = try Database(path: directory, options: options)
            let topology = TopologyBox(try NodeTopology.standalone(host: "127.0.0.1", port: 6379, shardCount: 8))
            let keyspace = try Keyspace(database: database, shards: topology.current.localShards, cacheBytes: 1 << 20)
            let executor = CommandExecutor(
                keyspace: keyspace, topology: topology, tenants: TenantDirectory(config: [:], defaultAccess: .always),
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
