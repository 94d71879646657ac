import NIOCore
import NIOPosix
import StrataWire

/// Limits that apply to each client connection.
public struct ConnectionLimits: Sendable {
    /// Parser limits once a connection may act for a tenant.
    public var parser: RESPLimits = .default
    /// Parser limits before a required AUTH.
    public var unauthenticatedParser: RESPLimits = .unauthenticated
    /// Commands handed to the storage pool in one batch (pipelined commands share one hop).
    public var maxBatch: Int = 256
    /// Input buffered beyond a frame in progress before the connection stops reading.
    public var inputHighWater: Int = 4 << 20
    /// Largest reply batch; a connection that would exceed it is closed.
    public var maxOutputBytes: Int = 512 << 20
    /// Creates the default limits.
    public init() {}
}

/// One client connection: buffers input, decodes pipelined commands, and runs
/// each batch where it belongs: reads that memory can answer on the event loop
/// (RocksDB's memory-only read tier never touches the disk), other reads on
/// the storage pool, writes on the single writer thread. Replies go out in
/// request order. Only one batch per connection is in flight at a time, so
/// replies keep request order; the next batch starts when the socket is writable.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let executor: CommandExecutor
    private let pool: NIOThreadPool
    private let writer: WriteQueue
    private let limits: ConnectionLimits
    private var decoder: RESPCommandDecoder
    private var input: RESPInputBuffer
    private var session: Session
    private var inFlight = false
    private var closing = false
    /// Closes the connection after this long without a command (`nil`: never).
    private let idleTimeout: TimeAmount?
    /// Whether a command arrived since the last idle check.
    private var activeSinceCheck = false
    private var idleCheck: Scheduled<Void>?

    init(
        executor: CommandExecutor, pool: NIOThreadPool, writer: WriteQueue, limits: ConnectionLimits, session: Session,
        idleTimeout: TimeAmount? = nil
    ) {
        self.executor = executor
        self.pool = pool
        self.writer = writer
        self.limits = limits
        self.session = session
        self.idleTimeout = idleTimeout
        self.input = RESPInputBuffer(highWater: limits.inputHighWater)
        self.decoder = RESPCommandDecoder(limits: session.tenant == nil ? limits.unauthenticatedParser : limits.parser)
    }

    func channelActive(context: ChannelHandlerContext) {
        executor.stats.connectedClients.add(1)
        scheduleIdleCheck(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        executor.stats.connectedClients.add(-1)
        closing = true
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    /// The idle timeout, checked by one timer per period rather than per read and
    /// write: a connection is closed when a whole period passed without input, no
    /// command is running and no reply backlog is draining (so it closes between one
    /// and two periods after its last command).
    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        guard let idleTimeout, !closing else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(in: idleTimeout) {
            let (handler, context) = bound.value
            handler.idleCheck = nil
            guard !handler.closing else { return }
            if handler.activeSinceCheck || handler.inFlight || !context.channel.isWritable {
                handler.activeSinceCheck = false
                handler.scheduleIdleCheck(context: context)
            } else {
                handler.executor.stats.idleClosed.add(1)
                handler.closing = true
                context.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        activeSinceCheck = true
        var bytes = unwrapInboundIn(data)
        if input.append(&bytes) { context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in } }
    }

    /// Keeps what is left of the input after decoding, reading again once it is small enough.
    private func keepInput(_ rest: ByteBuffer, context: ChannelHandlerContext) {
        if input.keep(rest) { context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        processIfIdle(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { processIfIdle(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        closing = true
        context.close(promise: nil)
    }

    private func processIfIdle(context: ChannelHandlerContext) {
        guard !inFlight, !closing, context.channel.isWritable, var buffer = input.bytes else { return }
        // Replies written on this pass and not yet flushed; one flush at the end sends them all.
        var unflushed = false
        defer {
            keepInput(buffer, context: context)
            if unflushed { context.flush() }
        }
        // Stops when the socket's buffer is full; channelWritabilityChanged resumes.
        while !closing, context.channel.isWritable {
            if answerInlineGets(context: context, buffer: &buffer) { unflushed = true }
            var commands: [RESPCommand] = []
            var protocolError: RESPError?
            while commands.count < limits.maxBatch {
                do {
                    guard let command = try decoder.decode(&buffer) else { break }
                    commands.append(command)
                } catch {
                    protocolError = error
                    break
                }
            }
            if commands.isEmpty {
                if let protocolError { failProtocol(context: context, error: protocolError) }
                return
            }

            let executor = self.executor
            let session = self.session
            let allocator = context.channel.allocator
            let batch = commands
            let future: EventLoopFuture<(ByteBuffer, Session)>
            switch CommandExecutor.classify(batch) {
            case .write:
                // Plain SETs are addressed here, off the writer thread.
                let prepared = executor.prepareWrites(batch, session: session)
                future = writer.submit(batch, prepared: prepared, session: session, allocator: allocator, on: context.eventLoop)
            case .inlineRead:
                var inlineSession = session
                var out = allocator.buffer(capacity: 64 * batch.count)
                if executor.execute(batch, session: &inlineSession, into: &out, mode: .inline) {
                    // Answered from memory: no hop, no future; go on with the input.
                    guard finish(context: context, reply: out, session: inlineSession, protocolError: protocolError, flush: false)
                    else { return }
                    unflushed = true
                    continue
                }
                future = runBlocking(batch, session: session, allocator: allocator, eventLoop: context.eventLoop)
            case .blocking:
                future = runBlocking(batch, session: session, allocator: allocator, eventLoop: context.eventLoop)
            }
            inFlight = true
            if unflushed {
                // Earlier replies go out now, not after the hop.
                context.flush()
                unflushed = false
            }
            keepInput(buffer, context: context)
            future.assumeIsolated().whenComplete { result in
                self.inFlight = false
                switch result {
                case .success(let (reply, session)):
                    if self.finish(context: context, reply: reply, session: session, protocolError: protocolError, flush: true) {
                        self.processIfIdle(context: context)
                    }
                case .failure:
                    self.closing = true
                    var out = context.channel.allocator.buffer(capacity: 64)
                    RESPEncoder.writeError("ERR server is shutting down", into: &out)
                    context.writeAndFlush(self.wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                }
            }
            // The completion owns the input from here (it may already have run and consumed more).
            buffer = input.bytes ?? ByteBuffer()
            return
        }
    }

    /// The hot path: whole `GET`s at the head of the input that memory can answer,
    /// answered from the input bytes in place (no command is built). Stops at the
    /// first command that is not such a GET (the batch path takes it from there) or
    /// after 256 KiB of replies (the caller checks the socket's writability).
    /// - Returns: Whether replies were written (not flushed).
    private func answerInlineGets(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> Bool {
        guard session.tenant != nil, !session.isInternal, decoder.nextGet(in: buffer) != nil else { return false }
        let run = executor.inlineRun()
        var reply = Reply(buffer: context.channel.allocator.buffer(capacity: 256), version: session.protocolVersion)
        var answered = 0
        while reply.buffer.readableBytes < 256 << 10, let get = decoder.nextGet(in: buffer) {
            let done = buffer.withUnsafeReadableBytes { bytes in
                run.inlineGet(UnsafeRawBufferPointer(rebasing: bytes[get.key]), session: session, reply: &reply)
            }
            guard done else { break }
            buffer.moveReaderIndex(forwardBy: get.consumed)
            answered += 1
        }
        guard answered > 0 else { return false }
        executor.stats.commands.add(UInt64(answered))
        context.write(wrapOutboundOut(reply.buffer), promise: nil)
        return true
    }

    /// Sends a batch's replies and adopts the session it left.
    /// - Returns: Whether the connection goes on reading commands (not closing).
    private func finish(
        context: ChannelHandlerContext, reply: ByteBuffer, session: Session, protocolError: RESPError?, flush: Bool
    ) -> Bool {
        var out = reply
        if out.readableBytes > limits.maxOutputBytes {
            out.clear()
            RESPEncoder.writeError("ERR reply exceeds the output buffer limit of \(limits.maxOutputBytes) bytes; closing", into: &out)
            executor.stats.outputOverflowClosed.add(1)
            closing = true
            context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return false
        }
        let wasAuthorized = self.session.tenant != nil
        self.session = session
        if !wasAuthorized, session.tenant != nil { decoder.limits = limits.parser }
        if session.closeAfterReply {
            closing = true
            context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return false
        }
        if flush {
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        } else {
            context.write(wrapOutboundOut(out), promise: nil)
        }
        if let protocolError {
            failProtocol(context: context, error: protocolError)
            return false
        }
        return true
    }

    private func runBlocking(_ batch: [RESPCommand], session: Session, allocator: ByteBufferAllocator, eventLoop: EventLoop) -> EventLoopFuture<(ByteBuffer, Session)> {
        let executor = self.executor
        return pool.runIfActive(eventLoop: eventLoop) { () -> (ByteBuffer, Session) in
            var session = session
            var out = allocator.buffer(capacity: 64 * batch.count)
            _ = executor.execute(batch, session: &session, into: &out, mode: .blocking)
            return (out, session)
        }
    }

    private func failProtocol(context: ChannelHandlerContext, error: RESPError) {
        executor.stats.protocolErrors.add(1)
        closing = true
        input.clear()
        var out = context.channel.allocator.buffer(capacity: 128)
        RESPEncoder.writeError(error.redisErrorMessage, into: &out)
        context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
