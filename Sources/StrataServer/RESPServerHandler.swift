import NIOCore
import StrataWire

/// Where a batch's replies come from: at once, or later from another thread.
public enum BatchResult<Session: Sendable>: Sendable {
    /// The batch ran here; its replies and the session it left.
    case done(ByteBuffer, Session)
    /// The batch runs elsewhere (a thread pool, the writer, a task).
    case later(EventLoopFuture<(ByteBuffer, Session)>)
}

/// A server behind ``RESPServerHandler``: it runs batches of commands for a
/// connection's session. The handler and the state machine do the rest
/// (buffering, decoding, ordering, backpressure, idle timeouts, closing).
public protocol RESPServer: AnyObject, Sendable {
    /// The server's per-connection state.
    associatedtype Session: ServerSession

    /// Runs `batch` for `session` on the connection's event loop, or hands it elsewhere.
    func execute(_ batch: [RESPCommand], session: Session, connection: Channel) -> BatchResult<Session>

    /// Answers what it can from the head of `input` without decoding it (a
    /// run of `GET`s answered from memory), moving the reader index past what
    /// it answered and writing the replies to `out`. The default answers nothing.
    func answerInPlace(_ input: inout ByteBuffer, session: Session, into out: inout ByteBuffer)

    /// A connection opened or closed (for counters).
    func connectionCountChanged(by delta: Int)

    /// A connection was closed by its idle timeout, its output limit or a protocol error (for counters).
    func connectionRefused(_ reason: RESPServerHandlerCloseReason)
}

extension RESPServer {
    /// Answers nothing in place.
    public func answerInPlace(_ input: inout ByteBuffer, session: Session, into out: inout ByteBuffer) {}
    /// Counts nothing.
    public func connectionCountChanged(by delta: Int) {}
    /// Counts nothing.
    public func connectionRefused(_ reason: RESPServerHandlerCloseReason) {}
}

/// Why the handler closed a connection on its own.
public enum RESPServerHandlerCloseReason: Sendable {
    /// Idle for the whole timeout.
    case idle
    /// A malformed frame or a broken parser limit.
    case protocolError
    /// A reply larger than the output limit.
    case outputLimit
}

/// The thin NIO handler every Strata server uses: it feeds channel events to
/// a ``RESPConnectionStateMachine`` and carries out its actions against the
/// channel and the ``RESPServer``.
public final class RESPServerHandler<Server: RESPServer>: ChannelInboundHandler {
    /// Bytes in.
    public typealias InboundIn = ByteBuffer
    /// Bytes out.
    public typealias OutboundOut = ByteBuffer

    private let server: Server
    private var machine: RESPConnectionStateMachine<ContinuousClock>
    private var session: Server.Session
    private var idleTask: Scheduled<Void>?

    /// A handler for one connection.
    /// - Parameters:
    ///   - server: The server that runs its commands.
    ///   - session: The connection's initial session.
    ///   - configuration: Limits and timers.
    public init(server: Server, session: Server.Session, configuration: RESPConnectionStateMachine<ContinuousClock>.Configuration) {
        self.server = server
        self.session = session
        machine = RESPConnectionStateMachine(
            configuration: configuration, authenticated: session.isAuthenticated, now: .now)
    }

    /// Counts the connection and starts its idle timer.
    public func channelActive(context: ChannelHandlerContext) {
        server.connectionCountChanged(by: 1)
        machine.writabilityChanged(isWritable: context.channel.isWritable)
        apply(machine.channelActive(), context: context)
        context.fireChannelActive()
    }

    /// Stops the timer and forgets the input.
    public func channelInactive(context: ChannelHandlerContext) {
        server.connectionCountChanged(by: -1)
        machine.closed()
        idleTask?.cancel()
        idleTask = nil
        context.fireChannelInactive()
    }

    /// Buffers input; pauses reading past the high-water mark.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if machine.received(&bytes, now: .now) {
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
    }

    /// Runs what the input holds.
    public func channelReadComplete(context: ChannelHandlerContext) {
        process(context: context)
    }

    /// Resumes when the socket drains.
    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        machine.writabilityChanged(isWritable: context.channel.isWritable)
        if context.channel.isWritable { process(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// Closes on any channel error.
    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        machine.closed()
        context.close(promise: nil)
    }

    private func process(context: ChannelHandlerContext) {
        // Replies written on this pass and not yet flushed; one flush at the end sends them all.
        var unflushed = false
        defer { if unflushed { context.flush() } }
        while true {
            switch machine.next() {
            case .wait:
                return
            case .resumeReading:
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            case .answerInPlace:
                var out = context.channel.allocator.buffer(capacity: 256)
                let session = self.session
                machine.answerInPlace { input in server.answerInPlace(&input, session: session, into: &out) }
                if out.readableBytes > 0 {
                    context.write(wrapOutboundOut(out), promise: nil)
                    unflushed = true
                }
            case .failProtocol(let error):
                server.connectionRefused(.protocolError)
                unflushed = false
                writeAndClose(error, context: context)
                return
            case .run(let batch):
                switch server.execute(batch, session: session, connection: context.channel) {
                case .done(let reply, let session):
                    guard finish(reply, session: session, flush: false, context: context) else {
                        unflushed = false
                        return
                    }
                    unflushed = true
                case .later(let future):
                    if unflushed {
                        // Earlier replies go out now, not after the hop.
                        context.flush()
                        unflushed = false
                    }
                    future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                        switch result {
                        case .success(let (reply, session)):
                            if self.finish(reply, session: session, flush: true, context: context) {
                                self.process(context: context)
                            }
                        case .failure:
                            if case .writeAndClose(let out) = self.machine.batchFailed(message: "ERR server is shutting down") {
                                self.writeAndClose(out, context: context)
                            }
                        }
                    }
                    return
                }
            }
        }
    }

    /// Adopts the session a batch left and writes its replies.
    /// - Returns: Whether the connection goes on.
    private func finish(_ reply: ByteBuffer, session: Server.Session, flush: Bool, context: ChannelHandlerContext) -> Bool {
        self.session = session
        let completion = machine.batchFinished(
            reply: reply, closeAfterReply: session.client.closeAfterReply, authenticated: session.isAuthenticated,
            subscribed: session.isSubscribed)
        switch completion {
        case .discard:
            return false
        case .writeAndClose(let out):
            writeAndClose(out, context: context)
            return false
        case .overflow(let out):
            server.connectionRefused(.outputLimit)
            writeAndClose(out, context: context)
            return false
        case .write(let out):
            if flush {
                context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            } else {
                context.write(wrapOutboundOut(out), promise: nil)
            }
            return true
        }
    }

    private func writeAndClose(_ out: ByteBuffer, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func apply(_ action: RESPConnectionStateMachine<ContinuousClock>.IdleAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            return
        case .close:
            server.connectionRefused(.idle)
            context.close(promise: nil)
        case .schedule(let after):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            idleTask = context.eventLoop.scheduleTask(in: TimeAmount(after)) {
                let (handler, context) = bound.value
                handler.idleTask = nil
                handler.apply(handler.machine.idleCheck(now: .now), context: context)
            }
        }
    }
}

/// The limits and timers of a server's connections.
public typealias ConnectionConfiguration = RESPConnectionStateMachine<ContinuousClock>.Configuration
