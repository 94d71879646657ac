import NIOCore
import StrataWire

/// The logic of one RESP server connection, free of sockets and clocks:
/// events go in (bytes received, a batch finished, writability changed, the
/// idle deadline passed, the channel closed), actions come out (run a batch,
/// write, write and close, pause or resume reading, schedule the idle check).
/// The node, the gateway and the coordinator drive it through
/// ``RESPServerHandler``; tests drive it directly with a manual clock.
///
/// One batch runs at a time, so replies keep request order wherever a batch
/// runs (on the event loop, a thread pool or the writer). Input beyond
/// ``Configuration/inputHighWater`` pauses reading until it drains. A
/// malformed frame answers the batch before it, then the protocol error,
/// then closes.
public struct RESPConnectionStateMachine<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    /// The limits and timers of a connection.
    public struct Configuration: Sendable {
        /// Parser limits once the connection is authenticated.
        public var limits: RESPLimits = .default
        /// Parser limits before (CVE-2021-32675: no unbounded pre-auth multibulk).
        public var unauthenticatedLimits: RESPLimits = .unauthenticated
        /// Commands handed to the server in one batch.
        public var maxBatch: Int = 256
        /// Input buffered beyond a frame in progress before reading pauses.
        public var inputHighWater: Int = 4 << 20
        /// Largest reply batch; a connection that would exceed it is closed.
        public var maxOutputBytes: Int = 512 << 20
        /// Close after this long without input (`nil`: never).
        public var idleTimeout: Duration?
        /// Whether the server answers commands at the head of the input in
        /// place (``Step/answerInPlace``), before they are decoded.
        public var answersInPlace = false

        /// The defaults.
        public init() {}
    }

    /// What the connection does next (``next()``).
    public enum Step: Sendable {
        /// Nothing to do until an event.
        case wait
        /// Reading had paused; the input drained: read again.
        case resumeReading
        /// Let the server answer what it can from the head of the input
        /// (``answerInPlace(_:)``), then ask again.
        case answerInPlace
        /// Run these commands; report with ``batchFinished(reply:session:)``.
        case run([RESPCommand])
        /// The input is malformed: write this error, then close.
        case failProtocol(ByteBuffer)
    }

    /// What to do with a finished batch's reply.
    public enum Completion: Sendable, Equatable {
        /// Write it; the connection goes on.
        case write(ByteBuffer)
        /// Write it, then close.
        case writeAndClose(ByteBuffer)
        /// The reply passed the output limit: write this error instead, then close.
        case overflow(ByteBuffer)
        /// The connection closed meanwhile: drop it.
        case discard
    }

    /// What the idle timer does.
    public enum IdleAction: Sendable, Equatable {
        /// Check again after this long.
        case schedule(after: Duration)
        /// The connection was idle for the whole timeout: close it.
        case close
        /// No timer (none configured, or the connection is closing).
        case none
    }

    private enum Phase: Sendable {
        /// Waiting for input or decoding it.
        case reading
        /// A batch is running.
        case running
        /// Only receives pushes; its input is dropped.
        case subscribed
        /// An error or QUIT: the last reply is on its way.
        case closing
        case closed
    }

    /// The limits and timers.
    public let configuration: Configuration
    private var phase = Phase.reading
    private var input: RESPInputBuffer
    private var decoder: RESPCommandDecoder
    private var writable = true
    /// Whether ``Step/answerInPlace`` was offered since the last batch or input.
    private var offeredInPlace = false
    /// A protocol error found after the commands of the running batch.
    private var pendingProtocolError: RESPError?
    private var resumeReading = false
    private var lastInput: Clock.Instant

    /// A connection that just opened.
    /// - Parameters:
    ///   - configuration: Limits and timers.
    ///   - authenticated: Whether it may act without AUTH (it picks the parser limits).
    ///   - now: The clock's reading now.
    public init(configuration: Configuration, authenticated: Bool, now: Clock.Instant) {
        self.configuration = configuration
        input = RESPInputBuffer(highWater: configuration.inputHighWater)
        decoder = RESPCommandDecoder(limits: authenticated ? configuration.limits : configuration.unauthenticatedLimits)
        lastInput = now
    }

    /// The first idle check, when the connection becomes active.
    public func channelActive() -> IdleAction {
        configuration.idleTimeout.map { .schedule(after: $0) } ?? .none
    }

    /// Bytes arrived.
    /// - Returns: Whether to pause reading (the input passed its high-water mark).
    public mutating func received(_ bytes: inout ByteBuffer, now: Clock.Instant) -> Bool {
        lastInput = now
        switch phase {
        case .subscribed, .closing, .closed:
            return false
        case .reading, .running:
            offeredInPlace = false
            return input.append(&bytes)
        }
    }

    /// The socket's writability changed; a full socket stops new batches.
    public mutating func writabilityChanged(isWritable: Bool) {
        writable = isWritable
    }

    /// What to do now: call until it answers ``Step/wait``.
    public mutating func next() -> Step {
        if resumeReading {
            resumeReading = false
            return .resumeReading
        }
        guard case .reading = phase, writable, var buffer = input.bytes else { return .wait }
        if configuration.answersInPlace, !offeredInPlace, decoder.nextGet(in: buffer) != nil {
            offeredInPlace = true
            return .answerInPlace
        }
        var commands: [RESPCommand] = []
        var protocolError: RESPError?
        while commands.count < configuration.maxBatch {
            do {
                guard let command = try decoder.decode(&buffer) else { break }
                commands.append(command)
            } catch {
                protocolError = error
                break
            }
        }
        keep(buffer)
        if commands.isEmpty {
            guard let protocolError else { return resumeReading ? next() : .wait }
            return fail(protocolError)
        }
        pendingProtocolError = protocolError
        if protocolError != nil { input.clear() }
        phase = .running
        offeredInPlace = false
        return .run(commands)
    }

    /// Gives the server the input for ``Step/answerInPlace``; whatever it
    /// consumes (moves the reader index past) is answered.
    public mutating func answerInPlace<Result>(_ body: (inout ByteBuffer) -> Result) -> Result {
        var buffer = input.bytes ?? ByteBuffer()
        defer { keep(buffer) }
        return body(&buffer)
    }

    /// The running batch finished with `reply`.
    /// - Parameters:
    ///   - reply: Its replies, in order.
    ///   - closeAfterReply: Whether the session asked to close (QUIT, an error that closes).
    ///   - authenticated: Whether the session is now authenticated (the parser limits follow it).
    ///   - subscribed: Whether the connection now only receives pushes.
    public mutating func batchFinished(
        reply: ByteBuffer, closeAfterReply: Bool, authenticated: Bool, subscribed: Bool = false
    ) -> Completion {
        guard case .running = phase else { return .discard }
        decoder.limits = authenticated ? configuration.limits : configuration.unauthenticatedLimits
        if reply.readableBytes > configuration.maxOutputBytes {
            phase = .closing
            var out = ByteBuffer()
            RESPEncoder.writeError(
                "ERR reply exceeds the output buffer limit of \(configuration.maxOutputBytes) bytes; closing", into: &out)
            return .overflow(out)
        }
        if closeAfterReply {
            phase = .closing
            return .writeAndClose(reply)
        }
        if let error = pendingProtocolError {
            pendingProtocolError = nil
            phase = .closing
            var out = reply
            RESPEncoder.writeError(error.redisErrorMessage, into: &out)
            return .writeAndClose(out)
        }
        if subscribed {
            phase = .subscribed
            input.clear()
            return .write(reply)
        }
        phase = .reading
        return .write(reply)
    }

    /// The batch could not run (the server is shutting down): answer and close.
    public mutating func batchFailed(message: String) -> Completion {
        guard case .running = phase else { return .discard }
        phase = .closing
        var out = ByteBuffer()
        RESPEncoder.writeError(message, into: &out)
        return .writeAndClose(out)
    }

    /// The idle timer fired at `now`.
    public mutating func idleCheck(now: Clock.Instant) -> IdleAction {
        guard let timeout = configuration.idleTimeout else { return .none }
        switch phase {
        case .closing, .closed, .subscribed:
            return .none
        case .running:
            return .schedule(after: timeout)
        case .reading:
            // A reply backlog still draining counts as activity.
            guard writable else { return .schedule(after: timeout) }
            let idle = lastInput.duration(to: now)
            guard idle >= timeout else { return .schedule(after: timeout - idle) }
            phase = .closing
            return .close
        }
    }

    /// The channel closed.
    public mutating func closed() {
        phase = .closed
        input.clear()
    }

    /// Whether the connection is closing or closed.
    public var isClosing: Bool {
        switch phase {
        case .closing, .closed: return true
        default: return false
        }
    }

    private mutating func keep(_ rest: ByteBuffer) {
        if input.keep(rest) { resumeReading = true }
    }

    private mutating func fail(_ error: RESPError) -> Step {
        phase = .closing
        input.clear()
        var out = ByteBuffer()
        RESPEncoder.writeError(error.redisErrorMessage, into: &out)
        return .failProtocol(out)
    }
}
