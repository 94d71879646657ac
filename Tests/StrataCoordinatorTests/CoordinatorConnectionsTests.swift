import Foundation
import NIOCore
import NIOEmbedded
import StrataCluster
import StrataServer
import StrataWire
import Testing
@testable import StrataCoordinator

/// The coordinator's connections on an NIO testing channel: the map, the
/// shared session model, a subscription's first push; no sockets.
@Suite("Coordinator connections on a testing channel")
struct CoordinatorConnectionsTests {
    @Test("HELLO 3 answers a map; CLUSTER EPOCH and MAP; SUBSCRIBE pushes the map and the connection takes no more commands")
    func commands() async throws {
        let directory = NSTemporaryDirectory() + "strata-coordinator-handler-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try ClusterConfig(
            coordinator: .init(host: "127.0.0.1", port: 0, dataDir: directory),
            nodes: [.init(id: "n1", host: "127.0.0.1", dataPort: 1, dataDir: directory + "/n1")], replicationFactor: 1, shardCount: 4, vnodes: 16)
        let configuration = try CoordinatorServer.Configuration(config: config)
        let coordinator = try CoordinatorServer(configuration: configuration, logger: .init(label: "test"))
        let (channel, replies) = try await Self.replies(
            to: [["HELLO", "3"], ["CLUSTER", "EPOCH"], ["CLUSTER", "MAP"], ["CLUSTER", "NOPE"], ["CLUSTER", "SUBSCRIBE"], ["PING"]],
            coordinator: coordinator, configuration: configuration)
        #expect(replies.count == 5, "PING after SUBSCRIBE gets no answer")
        guard case .map = replies[0] else {
            Issue.record("HELLO 3 answers a map")
            return
        }
        #expect(replies[1] == .integer(Int64(coordinator.map.epoch)))
        guard case .bulkString(let json) = replies[2] else {
            Issue.record("CLUSTER MAP answers JSON")
            return
        }
        #expect(try ClusterMap(jsonData: Data(json.readableBytesView)).epoch == coordinator.map.epoch)
        #expect(replies[3] == .errorMessage("ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."))
        #expect(replies[4].arrayCount == 2)
        _ = try await channel.finish()
    }
}

extension CoordinatorConnectionsTests {
    @Test("AUTH and HELLO AUTH take cluster.json's tenant and internal secrets and refuse wrong ones; HELLO reports the Redis version matched")
    func authentication() async throws {
        let directory = NSTemporaryDirectory() + "strata-coordinator-auth-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = try ClusterConfig(
            coordinator: .init(host: "127.0.0.1", port: 0, dataDir: directory),
            nodes: [.init(id: "n1", host: "127.0.0.1", dataPort: 1, dataDir: directory + "/n1")], replicationFactor: 1, shardCount: 4, vnodes: 16,
            tenants: ["demo": .init(secretHash: TenantSecret.hash(Array("demo-secret".utf8)))])
        config.internalSecret = "cluster-secret"
        let configuration = try CoordinatorServer.Configuration(config: config)
        let coordinator = try CoordinatorServer(configuration: configuration, logger: .init(label: "test"))
        let commands = [
            ["AUTH", "demo", "demo-secret"], ["CLIENT", "INFO"], ["AUTH", "demo", "wrong"], ["AUTH", "nobody", "demo-secret"],
            ["AUTH", "@internal", "cluster-secret"], ["AUTH", "@internal", "demo-secret"], ["AUTH", "just-a-password"],
            ["HELLO", "3", "AUTH", "demo", "demo-secret"], ["HELLO", "3", "AUTH", "demo", "nope"], ["CLUSTER", "EPOCH"],
        ]
        let (channel, replies) = try await Self.replies(to: commands, coordinator: coordinator, configuration: configuration)
        try #require(replies.count == commands.count)
        let wrongPass = RESPValue.errorMessage(CommandError.wrongPass.message)
        #expect(replies[0] == .simple("OK"))
        guard case .bulkString(let info) = replies[1] else {
            Issue.record("CLIENT INFO answers a line")
            return
        }
        #expect(String(buffer: info).contains(" user=demo "))
        #expect(replies[2] == wrongPass)
        #expect(replies[3] == wrongPass)
        #expect(replies[4] == .simple("OK"))
        #expect(replies[5] == wrongPass)
        #expect(replies[6] == wrongPass, "no default tenant secret is configured")
        guard case .map(let hello) = replies[7] else {
            Issue.record("HELLO 3 AUTH answers a map")
            return
        }
        let fields = Dictionary(uniqueKeysWithValues: hello.compactMap { pair -> (String, RESPValue)? in
            guard case .bulkString(let name) = pair.key else { return nil }
            return (String(buffer: name), pair.value)
        })
        #expect(fields["version"] == .bulk(ServerIdentity.redisVersion))
        #expect(fields["strata_version"] == .bulk(ServerIdentity.strataVersion))
        #expect(replies[8] == wrongPass)
        #expect(replies[9] == .integer(Int64(coordinator.map.epoch)))
        _ = try await channel.finish()
    }
}

extension CoordinatorConnectionsTests {
    /// Sends `commands` (pipelined, RESP2) to a coordinator connection on a testing channel and decodes every reply.
    static func replies(
        to commands: [[String]], coordinator: CoordinatorServer, configuration: CoordinatorServer.Configuration
    ) async throws -> (NIOAsyncTestingChannel, [RESPValue]) {
        let channel = NIOAsyncTestingChannel()
        let session = CoordinatorSession(client: ClientSession(id: 1, peer: "test", isLoopback: true))
        try await channel.pipeline.addHandler(
            RESPServerHandler(
                server: CoordinatorConnections(coordinator: coordinator, credentials: configuration.credentials), session: session,
                configuration: .init()))
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 7000))
        var input = ByteBuffer()
        for command in commands {
            RESPCommand(arguments: command.map { ByteBuffer(string: $0) }).respValue.encode(into: &input, version: .resp2)
        }
        try await channel.writeInbound(input)
        var buffer = ByteBuffer()
        while var out = try await channel.readOutbound(as: ByteBuffer.self) { buffer.writeBuffer(&out) }
        var decoder = RESPDecoder()
        var replies: [RESPValue] = []
        while let value = try decoder.decode(buffer: &buffer) { replies.append(value) }
        return (channel, replies)
    }
}

extension RESPValue {
    var arrayCount: Int? {
        if case .array(let items) = self { return items.count }
        return nil
    }
}
