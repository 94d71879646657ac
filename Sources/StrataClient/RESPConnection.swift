import NIOCore
import NIOPosix
import StrataCluster
import StrataWire
import Synchronization

/// One RESP2 connection to a node (or any Redis-protocol server), pipelined:
/// many requests may be in flight; replies are matched to them in order. A
/// request whose deadline passes is failed with `timeout` at once; its reply,
/// when it comes, is dropped. Public for load generators that speak plain RESP
/// (`strata bench` against Redis); applications use `StrataClient`.
public final class RESPConnection: Sendable {
    let channel: Channel
    let node: NodeID
    private let handler: ReplyHandler
    private let outstanding = Atomic<Int>(0)

    private init(channel: Channel, node: NodeID, handler: ReplyHandler) {
        self.channel = channel
        self.node = node
        self.handler = handler
    }

    /// Requests sent and not answered yet (for least-outstanding routing and pool choice).
    var inFlight: Int { outstanding.load(ordering: .relaxed) }

    /// Whether the connection can still carry requests.
    var isActive: Bool { channel.isActive }

    /// Connects to `host:port` within `timeout`.
    /// Connects to `host:port` within `timeout` (`node` names it in errors).
    public static func connect(
        host: String, port: Int, node: NodeID, group: EventLoopGroup, timeout: Duration
    ) async throws -> RESPConnection {
        let handler = ReplyHandler(node: node)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: port).get()
            return RESPConnection(channel: channel, node: node, handler: handler)
        } catch {
            throw StrataError(.unavailable, "cannot connect to \(host):\(port): \(error)", node: node)
        }
    }

    /// Sends one command and waits for its reply, at most until `deadline`.
    public func send(_ arguments: [ByteBuffer], deadline: ContinuousClock.Instant) async throws -> RESPValue {
        var buffer = channel.allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.readableBytes + 16 })
        RESPEncoder.writeArrayHeader(count: arguments.count, into: &buffer)
        for argument in arguments { RESPEncoder.writeBulkString(argument, into: &buffer) }
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        outstanding.add(1, ordering: .relaxed)
        let remaining = deadline - .now
        let request = buffer
        let loop = channel.eventLoop
        let handler = self.handler
        let channel = self.channel
        if loop.inEventLoop {
            handler.enqueue(promise, buffer: request, timeout: remaining, channel: channel)
        } else {
            loop.execute { handler.enqueue(promise, buffer: request, timeout: remaining, channel: channel) }
        }
        defer { outstanding.subtract(1, ordering: .relaxed) }
        return try await promise.futureResult.get()
    }

    /// Sends one command given as strings (UTF-8) and waits for its reply, at most until `deadline`.
    public func send(_ arguments: [String], deadline: ContinuousClock.Instant) async throws -> RESPValue {
        try await send(arguments.map { ByteBuffer(string: $0) }, deadline: deadline)
    }

    /// Sends several commands back to back (in this order on the wire) and waits for all replies.
    public func send(pipelined commands: [[ByteBuffer]], deadline: ContinuousClock.Instant) async throws -> [RESPValue] {
        var futures: [EventLoopFuture<RESPValue>] = []
        let remaining = deadline - .now
        var requests: [(EventLoopPromise<RESPValue>, ByteBuffer)] = []
        for arguments in commands {
            var buffer = channel.allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.readableBytes + 16 })
            RESPEncoder.writeArrayHeader(count: arguments.count, into: &buffer)
            for argument in arguments { RESPEncoder.writeBulkString(argument, into: &buffer) }
            let promise = channel.eventLoop.makePromise(of: RESPValue.self)
            requests.append((promise, buffer))
            futures.append(promise.futureResult)
        }
        outstanding.add(commands.count, ordering: .relaxed)
        defer { outstanding.subtract(commands.count, ordering: .relaxed) }
        let handler = self.handler
        let channel = self.channel
        let enqueued = requests
        channel.eventLoop.execute {
            for (promise, buffer) in enqueued { handler.enqueue(promise, buffer: buffer, timeout: remaining, channel: channel) }
        }
        var replies: [RESPValue] = []
        for future in futures { replies.append(try await future.get()) }
        return replies
    }

    /// Waits for the next value the server sends unasked (a subscription push), until `deadline`.
    public func receive(deadline: ContinuousClock.Instant) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let remaining = deadline - .now
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute { handler.enqueue(promise, buffer: nil, timeout: remaining, channel: channel) }
        return try await promise.futureResult.get()
    }

    /// Closes the connection; requests in flight fail with `unavailable`.
    public func close() {
        channel.close(mode: .all, promise: nil)
    }
}

/// Matches replies to requests in order. Every method runs on the channel's
/// event loop (`RESPConnection.send` hops there), which is what makes the
/// unchecked `Sendable` sound.
private final class ReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = RESPValue

    private struct Pending {
        let promise: EventLoopPromise<RESPValue>
        var timer: Scheduled<Void>?
        var expired = false
    }

    private let node: NodeID
    private var pending = CircularBuffer<Pending>()
    /// Counts requests so a timer finds its own entry.
    private var firstID: UInt64 = 0
    private var closed = false

    init(node: NodeID) { self.node = node }

    /// Queues `promise` for the next reply, sending `buffer` first (`nil`: a push is awaited).
    func enqueue(_ promise: EventLoopPromise<RESPValue>, buffer: ByteBuffer?, timeout: Duration, channel: Channel) {
        guard !closed, channel.isActive else {
            promise.fail(StrataError(.unavailable, "connection to the node is closed", node: node))
            return
        }
        let id = firstID + UInt64(pending.count)
        var entry = Pending(promise: promise)
        entry.timer = channel.eventLoop.scheduleTask(in: .nanoseconds(max(Int64(timeout / .nanoseconds(1)), 0))) { [self] in
            self.expire(id)
        }
        pending.append(entry)
        if let buffer { channel.writeAndFlush(buffer, promise: nil) }
    }

    private func expire(_ id: UInt64) {
        guard id >= firstID, id - firstID < UInt64(pending.count) else { return }
        let index = pending.index(pending.startIndex, offsetBy: Int(id - firstID))
        guard !pending[index].expired else { return }
        pending[index].expired = true
        pending[index].promise.fail(StrataError(.timeout, "no reply before the deadline", node: node))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let entry = pending.popFirst() else { return }
        firstID += 1
        entry.timer?.cancel()
        if !entry.expired { entry.promise.succeed(value) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(StrataError(.unavailable, "connection to the node closed", node: node))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(StrataError(.unavailable, "connection to the node failed: \(error)", node: node))
        context.close(promise: nil)
    }

    private func failAll(_ error: StrataError) {
        closed = true
        while let entry = pending.popFirst() {
            firstID += 1
            entry.timer?.cancel()
            if !entry.expired { entry.promise.fail(error) }
        }
    }
}
