import NIOCore
import NIOEmbedded
import StrataServer
import StrataWire
import Testing

/// A server for handler tests: answers every command with its name, a
/// command named `SLOW` later on another thread (the reply order must hold),
/// `QUIT` with OK and a close.
final class EchoServer: RESPServer {
    struct Session: ServerSession {
        var client = ClientSession(id: 1, peer: "test", isLoopback: true)
        var isAuthenticated: Bool { true }
        var isInternal: Bool { false }
        mutating func resetIdentity() {}
    }

    func execute(_ batch: [RESPCommand], session: Session, connection: Channel) -> BatchResult<Session> {
        var session = session
        var out = ByteBuffer()
        var slow = false
        for command in batch {
            let name = String(buffer: command.arguments[0]).uppercased()
            if name == "QUIT" {
                session.client.closeAfterReply = true
                RESPEncoder.writeOK(into: &out)
                break
            }
            if name == "SLOW" { slow = true }
            RESPEncoder.writeSimpleString(name, into: &out)
        }
        guard slow else { return .done(out, session) }
        let promise = connection.eventLoop.makePromise(of: (ByteBuffer, Session).self)
        let reply = (out, session)
        Task {
            try? await Task.sleep(for: .milliseconds(20))
            promise.succeed(reply)
        }
        return .later(promise.futureResult)
    }
}

@Suite("RESP server handler on a testing channel")
struct RESPServerHandlerTests {
    static func channel(_ configure: (inout ConnectionConfiguration) -> Void = { _ in }) async throws -> NIOAsyncTestingChannel {
        var configuration = ConnectionConfiguration()
        configure(&configuration)
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(
            RESPServerHandler(server: EchoServer(), session: EchoServer.Session(), configuration: configuration))
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379))
        return channel
    }

    /// Everything written so far, as text.
    static func written(_ channel: NIOAsyncTestingChannel, atLeast count: Int) async throws -> String {
        var text = ""
        for _ in 0..<2000 {
            while let out = try await channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: out) }
            if text.utf8.count >= count { return text }
            try await Task.sleep(for: .milliseconds(1))
        }
        return text
    }

    @Test("pipelined commands answered at once and later on another thread keep request order")
    func ordering() async throws {
        let channel = try await Self.channel { $0.maxBatch = 1 }
        try await channel.writeInbound(ByteBuffer(string: "PING\r\nSLOW\r\nECHO\r\nSLOW\r\nLAST\r\n"))
        let text = try await Self.written(channel, atLeast: 33)
        #expect(text == "+PING\r\n+SLOW\r\n+ECHO\r\n+SLOW\r\n+LAST\r\n")
        _ = try await channel.finish()
    }

    @Test("QUIT answers and closes the channel")
    func quit() async throws {
        let channel = try await Self.channel()
        try await channel.writeInbound(ByteBuffer(string: "PING\r\nQUIT\r\nPING\r\n"))
        let text = try await Self.written(channel, atLeast: 12)
        #expect(text == "+PING\r\n+OK\r\n")
        try await channel.closeFuture.get()
    }

    @Test("a malformed frame gets a protocol error after the earlier replies, and the channel closes")
    func protocolError() async throws {
        let channel = try await Self.channel()
        try await channel.writeInbound(ByteBuffer(string: "PING\r\n*1\r\n$x\r\n"))
        let text = try await Self.written(channel, atLeast: 20)
        #expect(text.hasPrefix("+PING\r\n-ERR Protocol error"))
        try await channel.closeFuture.get()
    }
}
