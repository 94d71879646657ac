import NIOCore
import StrataCluster
import NIOPosix
import StrataServer
import StrataWire

/// The node behind its connections' `RESPServerHandler`: parses each batch
/// with the command table and runs it where its commands belong — reads that
/// memory can answer on the event loop (RocksDB's memory-only read tier
/// never touches the disk), other reads on the storage pool, writes on the
/// single writer thread — and answers runs of `GET`s in place from the input.
final class NodeConnections: RESPServer {
    typealias Session = NodeSession

    let executor: CommandExecutor
    private let pool: NIOThreadPool
    private let writer: WriteQueue

    init(executor: CommandExecutor, pool: NIOThreadPool, writer: WriteQueue) {
        self.executor = executor
        self.pool = pool
        self.writer = writer
    }

    func execute(_ batch: [RESPCommand], session: NodeSession, connection: Channel) -> BatchResult<NodeSession> {
        let started = ContinuousClock.now
        let parsed = batch.map { CommandTable.node.parse($0) }
        let kind = CommandExecutor.classify(parsed)
        let result = run(parsed, kind: kind, session: session, connection: connection)
        let duration = executor.metrics.batchDuration(kind)
        // Counted for the tenant the batch began under (a batch that AUTHs is counted from the next one on).
        let series = session.tenant.map { executor.metrics.tenant($0.name) }
        if let series {
            series.commands.increment(by: Int64(batch.count))
            series.requestBytes.increment(by: Int64(batch.reduce(0) { $0 + $1.arguments.reduce(0) { $0 + $1.readableBytes } }))
        }
        switch result {
        case .done(let reply, _):
            NodeMetrics.record(duration, since: started)
            series?.replyBytes.increment(by: Int64(reply.readableBytes))
        case .later(let future):
            future.whenSuccess { (reply, _) in
                NodeMetrics.record(duration, since: started)
                series?.replyBytes.increment(by: Int64(reply.readableBytes))
            }
        }
        return result
    }

    /// Runs a parsed batch of class `kind`, in segments when it holds `WAITSEQ`s.
    private func run(
        _ parsed: [ParsedCommand], kind: CommandExecutor.BatchKind, session: NodeSession, connection: Channel
    ) -> BatchResult<NodeSession> {
        // A WAITSEQ (a session's replica read: WAITSEQ, then the read) holds the rest of the
        // batch until this replica applied its shard that far, or its time is up. A pipeline
        // may carry several: the batch runs in segments, each from one WAITSEQ to the next.
        guard session.tenant != nil, parsed.contains(where: { Self.sequenceWait($0) != nil }) else {
            return dispatch(parsed, kind: kind, session: session, connection: connection)
        }
        let starts = parsed.indices.filter { $0 == 0 || Self.sequenceWait(parsed[$0]) != nil }
        let eventLoop = connection.eventLoop
        var result = eventLoop.makeSucceededFuture((connection.allocator.buffer(capacity: 0), session))
        for (index, start) in starts.enumerated() {
            let segment = Array(parsed[start..<(index + 1 < starts.count ? starts[index + 1] : parsed.endIndex)])
            result = result.flatMap { (before, session) in
                self.heldForSequence(segment[0], session: session, connection: connection).flatMap {
                    self.dispatch(segment, kind: CommandExecutor.classify(segment), session: session, connection: connection)
                        .future(on: eventLoop)
                }.map { (replies, session) in
                    var all = before
                    var replies = replies
                    all.writeBuffer(&replies)
                    return (all, session)
                }
            }
        }
        return .later(result)
    }

    /// The shard, sequence number and timeout of a `WAITSEQ` that may wait.
    private static func sequenceWait(_ command: ParsedCommand) -> (ShardID, UInt64, Int64)? {
        guard case .success(.waitForSequence(let shard, let sequence, let timeout)) = command.parsed, timeout > 0 else { return nil }
        return (ShardID(UInt32(clamping: shard)), UInt64(clamping: sequence), min(timeout, maxSequenceWait))
    }

    /// Succeeds when `command`, if it is a `WAITSEQ` outside a transaction, may
    /// run: this node applied the shard that far, or the timeout passed.
    private func heldForSequence(_ command: ParsedCommand, session: NodeSession, connection: Channel) -> EventLoopFuture<Void> {
        guard session.client.transaction == nil, let (shard, wanted, timeout) = Self.sequenceWait(command) else {
            return connection.eventLoop.makeSucceededVoidFuture()
        }
        let reached: @Sendable () -> Bool = { [keyspace = executor.keyspace] in (keyspace.lastVersion(of: shard) ?? .max) >= wanted }
        guard !reached() else { return connection.eventLoop.makeSucceededVoidFuture() }
        return waitForSequence(shard, reached: reached, deadline: .now() + .milliseconds(timeout), connection: connection)
    }

    /// Runs a parsed batch of class `kind` where its commands belong (see the type's comment).
    private func dispatch(
        _ parsed: [ParsedCommand], kind: CommandExecutor.BatchKind, session: NodeSession, connection: Channel
    ) -> BatchResult<NodeSession> {
        let eventLoop = connection.eventLoop
        let allocator = connection.allocator
        if parsed.count == 1, session.client.transaction == nil, case .success(let command) = parsed[0].parsed {
            switch command {
            case .replicationFetch(let follower, let shards, let wait?, _) where wait > 0 && session.isInternal:
                let shardIDs = shards.map { ShardID(UInt32(clamping: $0.shard)) }
                return .later(held(parsed, shards: shardIDs, wait: wait, session: session, connection: connection) {
                    $0.fetchFindsNothing(follower, shards)
                })
            case .feed(let positions, let wait?) where wait > 0 && (session.isInternal || session.tenant != nil):
                let shardIDs = positions.map { ShardID(UInt32(clamping: $0.shard)) }
                return .later(held(parsed, shards: shardIDs, wait: wait, session: session, connection: connection) {
                    $0.feedFindsNothing(positions)
                })
            default: break
            }
        }
        switch kind {
        case .write:
            // Plain SETs and MSETs are addressed here, off the writer thread.
            let prepared = executor.prepareWrites(parsed, session: session)
            return .later(writer.submit(parsed, prepared: prepared, session: session, allocator: allocator, on: eventLoop))
        case .inlineRead:
            var inlineSession = session
            var out = allocator.buffer(capacity: 64 * parsed.count)
            if executor.execute(parsed, session: &inlineSession, into: &out, mode: .inline) {
                return .done(out, inlineSession)
            }
            // A read needed the disk: the whole batch runs again on the pool.
            return .later(runBlocking(parsed, session: session, allocator: allocator, eventLoop: eventLoop))
        case .blocking:
            return .later(runBlocking(parsed, session: session, allocator: allocator, eventLoop: eventLoop))
        }
    }

    /// The hot path: whole `GET`s at the head of the input that memory can
    /// answer, answered from the input bytes in place (no command is built).
    /// Stops at the first command that is not such a GET or after 256 KiB of replies.
    func answerInPlace(_ input: inout ByteBuffer, session: NodeSession, into out: inout ByteBuffer) {
        guard session.tenant != nil, !session.isInternal, session.client.transaction == nil else { return }
        let started = ContinuousClock.now
        let decoder = RESPCommandDecoder(limits: .default)
        let run = executor.inlineRun()
        var reply = Reply(buffer: out, version: session.client.protocolVersion)
        out = ByteBuffer()
        defer { out = reply.buffer }
        var answered = 0
        var requestBytes = 0
        let replyStart = reply.buffer.readableBytes
        while reply.buffer.readableBytes < 256 << 10, let get = decoder.nextGet(in: input) {
            let done = input.withUnsafeReadableBytes { bytes in
                run.inlineGet(UnsafeRawBufferPointer(rebasing: bytes[get.key]), session: session, reply: &reply)
            }
            guard done else { break }
            input.moveReaderIndex(forwardBy: get.consumed)
            answered += 1
            requestBytes += 3 + get.key.count  // the arguments, as for other commands: GET and the key
        }
        guard answered > 0, let tenant = session.tenant else { return }
        NodeMetrics.record(executor.metrics.batchDuration(.inlineRead), since: started)
        executor.stats.commands.add(UInt64(answered))
        let series = executor.metrics.tenant(tenant.name)
        series.commands.increment(by: Int64(answered))
        series.requestBytes.increment(by: Int64(requestBytes))
        series.replyBytes.increment(by: Int64(reply.buffer.readableBytes - replyStart))
    }

    func connectionCountChanged(by delta: Int) {
        executor.stats.connectedClients.add(Int64(delta))
    }

    func connectionRefused(_ reason: RESPServerHandlerCloseReason) {
        switch reason {
        case .idle: executor.stats.idleClosed.add(1)
        case .protocolError: executor.stats.protocolErrors.add(1)
        case .outputLimit: executor.stats.outputOverflowClosed.add(1)
        }
    }

    /// Succeeds once `reached` holds (checked after each commit of `shard`) or at `deadline`.
    private func waitForSequence(
        _ shard: ShardID, reached: @escaping @Sendable () -> Bool, deadline: NIODeadline, connection: Channel
    ) -> EventLoopFuture<Void> {
        let remaining = deadline - .now()
        guard remaining > .zero else { return connection.eventLoop.makeSucceededVoidFuture() }
        let (id, woken) = executor.commits.wait(for: [shard], on: connection.eventLoop, atMost: remaining)
        if reached() { executor.commits.cancel(id) }
        return woken.flatMap {
            reached() ? connection.eventLoop.makeSucceededVoidFuture()
                : self.waitForSequence(shard, reached: reached, deadline: deadline, connection: connection)
        }
    }

    /// The longest a `WAITSEQ` holds its batch, in milliseconds.
    static let maxSequenceWait: Int64 = 1_000

    /// The longest a fetch or feed request is held.
    static let maxFetchWait: Int64 = 5_000

    /// `REPLFETCH … WAIT ms` and `FEED WAIT ms …`: runs the command at once if
    /// `findsNothing` says it would find something, else when one of its
    /// shards commits, the map changes, or `wait` is up. The waiter is
    /// registered before the check, so a commit between the two is not missed.
    private func held(
        _ parsed: [ParsedCommand], shards: [ShardID], wait: Int64, session: NodeSession, connection: Channel,
        findsNothing: (CommandRun) -> Bool
    ) -> EventLoopFuture<(ByteBuffer, NodeSession)> {
        let eventLoop = connection.eventLoop
        let allocator = connection.allocator
        let (id, woken) = executor.commits.wait(
            for: Set(shards), on: eventLoop, atMost: .milliseconds(min(wait, Self.maxFetchWait)))
        if !findsNothing(executor.inlineRun()) { executor.commits.cancel(id) }
        return woken.flatMap { self.runBlocking(parsed, session: session, allocator: allocator, eventLoop: eventLoop) }
    }

    private func runBlocking(
        _ batch: [ParsedCommand], session: NodeSession, allocator: ByteBufferAllocator, eventLoop: EventLoop
    ) -> EventLoopFuture<(ByteBuffer, NodeSession)> {
        let executor = self.executor
        return pool.runIfActive(eventLoop: eventLoop) { () -> (ByteBuffer, NodeSession) in
            var session = session
            var out = allocator.buffer(capacity: 64 * batch.count)
            _ = executor.execute(batch, session: &session, into: &out, mode: .blocking)
            return (out, session)
        }
    }
}

extension BatchResult {
    /// The result as a future on `eventLoop`.
    func future(on eventLoop: EventLoop) -> EventLoopFuture<(ByteBuffer, Session)> {
        switch self {
        case .done(let buffer, let session): eventLoop.makeSucceededFuture((buffer, session))
        case .later(let future): future
        }
    }
}
