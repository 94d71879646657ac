import Foundation
import NIOCore
import NIOEmbedded
import StrataServer
import StrataWire
import Testing
@testable import StrataGateway

/// The gateway's connections on an NIO testing channel: the commands it
/// answers without storage (the session model, RESP3, transactions queued,
/// introspection); no cluster, no sockets.
@Suite("Gateway connections on a testing channel")
struct GatewayConnectionsTests {
    static func channel() async throws -> (NIOAsyncTestingChannel, String) {
        let directory = NSTemporaryDirectory() + "strata-gateway-handler-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/cluster.json"
        try Data("""
            {"coordinator": {"host": "127.0.0.1", "port": 1, "dataDir": "\(directory)/coordinator"},
             "nodes": [{"id": "n1", "host": "127.0.0.1", "dataPort": 2, "dataDir": "\(directory)/n1"}],
             "caches": [{"id": "c1", "host": "127.0.0.1", "port": 3}],
             "tenants": {"demo": {"secretHash": "sha256:cd577fe2561ebff23505db0bb006300c7cdecbd46bc0e03c449afafaca2c25bf"}}}
            """.utf8).write(to: URL(fileURLWithPath: path))
        let core = GatewayCore(configuration: try GatewayConfiguration(clusterConfigPath: path, id: "c1")) { _ in }
        let channel = NIOAsyncTestingChannel()
        let session = GatewaySession(client: ClientSession(id: 7, peer: "test", isLoopback: false), defaultRoute: nil)
        try await channel.pipeline.addHandler(
            RESPServerHandler(server: GatewayConnections(gateway: core), session: session, configuration: .gateway))
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379))
        return (channel, directory)
    }

    static func send(_ channel: NIOAsyncTestingChannel, _ commands: [[String]], replies count: Int) async throws -> [RESPValue] {
        var input = ByteBuffer()
        for command in commands {
            RESPCommand(arguments: command.map { ByteBuffer(string: $0) }).respValue.encode(into: &input, version: .resp2)
        }
        try await channel.writeInbound(input)
        var buffer = ByteBuffer()
        var decoder = RESPDecoder()
        var values: [RESPValue] = []
        for _ in 0..<2000 where values.count < count {
            while var out = try await channel.readOutbound(as: ByteBuffer.self) { buffer.writeBuffer(&out) }
            while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
            if values.count < count { try await Task.sleep(for: .milliseconds(1)) }
        }
        return values
    }

    @Test("before AUTH only AUTH, HELLO, RESET and QUIT (PING too is refused, as in Redis); a wrong secret is WRONGPASS; HELLO 3 AUTH answers a RESP3 map")
    func authentication() async throws {
        let (channel, directory) = try await Self.channel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let replies = try await Self.send(
            channel, [["PING"], ["GET", "k"], ["AUTH", "demo", "wrong"], ["AUTH", "default", "anything"], ["HELLO", "3", "AUTH", "demo", "demo-secret"], ["CLIENT", "ID"], ["MULTI"], ["SET", "k", "v"], ["DISCARD"], ["COMMAND", "COUNT"]],
            replies: 10)
        #expect(replies[0] == .errorMessage("NOAUTH Authentication required."))
        #expect(replies[1] == .errorMessage("NOAUTH Authentication required."))
        #expect(replies[2] == .errorMessage("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(replies[3] == .errorMessage("WRONGPASS invalid username-password pair or user is disabled."), "the default tenant needs its secret too")
        guard case .map(let hello) = replies[4] else {
            Issue.record("HELLO 3 answers a map: \(replies[4])")
            return
        }
        #expect(hello.contains { $0.key == .bulk("proto") && $0.value == .integer(3) })
        #expect(replies[5] == .integer(7))
        #expect(replies[6] == .simple("OK"))
        #expect(replies[7] == .simple("QUEUED"))
        #expect(replies[8] == .simple("OK"))
        #expect(replies[9] == .integer(Int64(CommandTable.gateway.specs.count)))
        _ = try await channel.finish()
    }
}
