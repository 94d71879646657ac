import NIOCore
import StrataServer
import StrataWire
import Testing

/// The connection state machine driven by hand: bytes in, steps out, instants
/// advanced by the test (the machine never reads a clock), no sockets.
@Suite("RESP connection state machine")
struct RESPConnectionStateMachineTests {
    typealias Machine = RESPConnectionStateMachine<ContinuousClock>

    let start = ContinuousClock.now

    func machine(_ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
        var configuration = Machine.Configuration()
        configure(&configuration)
        return Machine(configuration: configuration, authenticated: true, now: start)
    }

    static func wire(_ commands: [String]...) -> ByteBuffer {
        var out = ByteBuffer()
        for command in commands { RESPCommand(arguments: command.map { ByteBuffer(string: $0) }).respValue.encode(into: &out, version: .resp2) }
        return out
    }

    static func names(_ step: Machine.Step) -> [String]? {
        guard case .run(let batch) = step else { return nil }
        return batch.map { String(buffer: $0.arguments[0]) }
    }

    static func isWait(_ step: Machine.Step) -> Bool {
        if case .wait = step { return true }
        return false
    }

    @Test("one batch at a time: input arriving while a batch runs waits for it, so replies keep request order")
    func ordering() {
        var machine = machine()
        var bytes = Self.wire(["GET", "a"], ["SET", "b", "1"])
        #expect(!machine.received(&bytes, now: start))
        #expect(Self.names(machine.next()) == ["GET", "SET"])
        // A running batch holds everything that comes after it.
        var more = Self.wire(["PING"])
        #expect(!machine.received(&more, now: start))
        #expect(Self.isWait(machine.next()))
        #expect(Self.isWait(machine.next()))
        #expect(machine.batchFinished(reply: ByteBuffer(string: "+1\r\n+2\r\n"), closeAfterReply: false, authenticated: true)
            == .write(ByteBuffer(string: "+1\r\n+2\r\n")))
        #expect(Self.names(machine.next()) == ["PING"])
        #expect(machine.batchFinished(reply: ByteBuffer(string: "+PONG\r\n"), closeAfterReply: false, authenticated: true)
            == .write(ByteBuffer(string: "+PONG\r\n")))
        #expect(Self.isWait(machine.next()), "nothing left")
    }

    @Test("a partial command waits for the rest; batches are capped at maxBatch")
    func partialAndBatchCap() {
        var machine = machine { $0.maxBatch = 2 }
        var whole = Self.wire(["A"], ["B"], ["C"])
        var first = whole.readSlice(length: whole.readableBytes - 3)!
        _ = machine.received(&first, now: start)
        #expect(Self.names(machine.next()) == ["A", "B"])
        _ = machine.batchFinished(reply: ByteBuffer(), closeAfterReply: false, authenticated: true)
        #expect(Self.isWait(machine.next()), "C is not whole yet")
        _ = machine.received(&whole, now: start)
        #expect(Self.names(machine.next()) == ["C"])
    }

    @Test("backpressure: input past the high-water mark pauses reading; reading resumes once it drains")
    func backpressure() {
        var machine = machine { $0.inputHighWater = 64 }
        var bytes = Self.wire(["SET", "k", String(repeating: "x", count: 100)])
        #expect(machine.received(&bytes, now: start), "pause reading")
        #expect(Self.names(machine.next()) == ["SET"], "the batch takes the input")
        guard case .resumeReading = machine.next() else {
            Issue.record("the input drained below the mark: reading resumes")
            return
        }
        #expect(Self.isWait(machine.next()), "nothing more until the batch finishes")
    }

    @Test("a socket that cannot take more stops new batches until it drains")
    func writability() {
        var machine = machine()
        machine.writabilityChanged(isWritable: false)
        var bytes = Self.wire(["PING"])
        _ = machine.received(&bytes, now: start)
        #expect(Self.isWait(machine.next()))
        machine.writabilityChanged(isWritable: true)
        #expect(Self.names(machine.next()) == ["PING"])
    }

    @Test("idle timeout: closes only after a whole timeout without input, never during a batch or a draining reply")
    func idle() {
        var machine = machine { $0.idleTimeout = .seconds(10) }
        #expect(machine.channelActive() == .schedule(after: .seconds(10)))
        var bytes = Self.wire(["PING"])
        _ = machine.received(&bytes, now: start.advanced(by: .seconds(4)))
        // Input 4 s in: at 10 s the connection has been idle 6 s.
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(10))) == .schedule(after: .seconds(4)))
        #expect(Self.names(machine.next()) == ["PING"])
        // A running batch is activity.
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(100))) == .schedule(after: .seconds(10)))
        _ = machine.batchFinished(reply: ByteBuffer(), closeAfterReply: false, authenticated: true)
        // A reply still draining is activity too.
        machine.writabilityChanged(isWritable: false)
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(200))) == .schedule(after: .seconds(10)))
        machine.writabilityChanged(isWritable: true)
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(200))) == .close)
        #expect(machine.isClosing)
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(300))) == .none)
    }

    @Test("no idle timeout configured: no timer")
    func noIdleTimeout() {
        var machine = machine()
        #expect(machine.channelActive() == .none)
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(3600))) == .none)
    }

    @Test("a malformed frame: the commands before it are answered, then the error, then the connection closes")
    func protocolErrorAfterCommands() {
        var machine = machine()
        var bytes = Self.wire(["PING"])
        bytes.writeString("*1\r\n$abc\r\n")
        _ = machine.received(&bytes, now: start)
        #expect(Self.names(machine.next()) == ["PING"])
        guard case .writeAndClose(let out) = machine.batchFinished(
            reply: ByteBuffer(string: "+PONG\r\n"), closeAfterReply: false, authenticated: true)
        else {
            Issue.record("the reply and the error go out, then the connection closes")
            return
        }
        let text = String(buffer: out)
        #expect(text.hasPrefix("+PONG\r\n-ERR Protocol error"))
        #expect(Self.isWait(machine.next()))
    }

    @Test("a malformed frame first: the error at once, then close; later input is ignored")
    func protocolErrorFirst() {
        var machine = machine()
        var bytes = ByteBuffer(string: "*2\r\n$-5\r\n")
        _ = machine.received(&bytes, now: start)
        guard case .failProtocol(let error) = machine.next() else {
            Issue.record("expected a protocol failure")
            return
        }
        #expect(String(buffer: error).hasPrefix("-ERR Protocol error"))
        var more = Self.wire(["PING"])
        _ = machine.received(&more, now: start)
        #expect(Self.isWait(machine.next()))
    }

    @Test("before AUTH the strict parser limits apply; after, the normal ones")
    func unauthenticatedLimits() {
        var machine = Machine(configuration: .init(), authenticated: false, now: start)
        var big = Self.wire(["AUTH", String(repeating: "s", count: 20_000)])
        _ = machine.received(&big, now: start)
        guard case .failProtocol = machine.next() else {
            Issue.record("a 20 KB argument before AUTH breaks the unauthenticated limit")
            return
        }
        var authenticated = Machine(configuration: .init(), authenticated: false, now: start)
        var auth = Self.wire(["AUTH", "secret"])
        _ = authenticated.received(&auth, now: start)
        #expect(Self.names(authenticated.next()) == ["AUTH"])
        _ = authenticated.batchFinished(reply: ByteBuffer(string: "+OK\r\n"), closeAfterReply: false, authenticated: true)
        var bigAfter = Self.wire(["SET", "k", String(repeating: "v", count: 20_000)])
        _ = authenticated.received(&bigAfter, now: start)
        #expect(Self.names(authenticated.next()) == ["SET"])
    }

    @Test("QUIT closes after its reply; an oversized reply is replaced by an error and closes")
    func closing() {
        var quitting = machine()
        var quit = Self.wire(["QUIT"], ["PING"])
        _ = quitting.received(&quit, now: start)
        #expect(Self.names(quitting.next()) == ["QUIT", "PING"])
        #expect(quitting.batchFinished(reply: ByteBuffer(string: "+OK\r\n"), closeAfterReply: true, authenticated: true)
            == .writeAndClose(ByteBuffer(string: "+OK\r\n")))
        #expect(Self.isWait(quitting.next()))

        var limited = machine { $0.maxOutputBytes = 16 }
        var get = Self.wire(["GET", "big"])
        _ = limited.received(&get, now: start)
        _ = limited.next()
        guard case .overflow(let error) = limited.batchFinished(
            reply: ByteBuffer(repeating: 0x41, count: 17), closeAfterReply: false, authenticated: true)
        else {
            Issue.record("a reply over the limit closes the connection")
            return
        }
        #expect(String(buffer: error).contains("output buffer limit"))
    }

    @Test("GETs at the head of the input are offered in place once; what is not answered there is decoded")
    func inPlace() {
        var machine = machine { $0.answersInPlace = true }
        var bytes = Self.wire(["GET", "a"], ["GET", "b"], ["SET", "c", "1"])
        _ = machine.received(&bytes, now: start)
        guard case .answerInPlace = machine.next() else {
            Issue.record("a GET at the head is offered in place")
            return
        }
        // The server answers one GET in place.
        machine.answerInPlace { input in
            var decoder = RESPCommandDecoder()
            _ = try? decoder.decode(&input)
        }
        #expect(Self.names(machine.next()) == ["GET", "SET"], "not offered twice in a row")
    }

    @Test("a subscribed connection drops its input and has no idle timer")
    func subscribed() {
        var machine = machine { $0.idleTimeout = .seconds(1) }
        var bytes = Self.wire(["CLUSTER", "SUBSCRIBE"])
        _ = machine.received(&bytes, now: start)
        _ = machine.next()
        #expect(machine.batchFinished(reply: ByteBuffer(string: "*0\r\n"), closeAfterReply: false, authenticated: true, subscribed: true)
            == .write(ByteBuffer(string: "*0\r\n")))
        var more = Self.wire(["PING"])
        _ = machine.received(&more, now: start)
        #expect(Self.isWait(machine.next()))
        #expect(machine.idleCheck(now: start.advanced(by: .seconds(60))) == .none)
    }
}
