import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import StrataCluster
import StrataStorage
import StrataWire

/// The node's single writer: batches of commands that write are queued here
/// from every connection and executed on one thread, which stages all their
/// writes in one `WriteGroup` and commits it as one RocksDB write. Group
/// commit falls out of the queueing: while one group commits, the next one
/// fills. One writer also means no per-shard locks: sequence numbers are
/// assigned in commit order.
final class WriteQueue: Sendable {
    private struct Request {
        let commands: [ParsedCommand]
        /// The commands as the event loop prepared them, if it could (`CommandExecutor.prepareWrites`).
        let prepared: [PreparedSet]?
        let session: NodeSession
        let allocator: ByteBufferAllocator
        let promise: EventLoopPromise<(ByteBuffer, NodeSession)>

        /// The same error as the reply to every command of the request.
        func errorReplies(_ error: CommandError) -> ByteBuffer {
            var out = allocator.buffer(capacity: 64)
            for _ in commands { RESPEncoder.writeError(error.message, into: &out) }
            return out
        }
    }

    /// What a follower hands the writer.
    enum ReplicationWork: Sendable {
        /// Log entries from shards' primaries, applied in the next group.
        case entries([(shard: ShardID, entry: LogEntry)])
        /// A primary's snapshot of a shard, installed before the next group.
        case snapshot(
            shard: ShardID, hashes: ClosedRange<UInt64>, sequence: UInt64, epoch: UInt64, records: [([UInt8], [UInt8])])
        /// A later page of a snapshot whose first page was installed: its records are added.
        case snapshotPage(shard: ShardID, hashes: ClosedRange<UInt64>, records: [([UInt8], [UInt8])])
        /// A shard the map no longer places here: its data is deleted before the next group (`Keyspace.drop`).
        case drop(shard: ShardID, hashes: ClosedRange<UInt64>)
        /// A shard split off one this node follows, started where its primary started it (`Keyspace.start`),
        /// if it is still unstarted here.
        case startSplit(shard: ShardID, sequence: UInt64, epoch: UInt64)
    }

    private struct Replication {
        let work: ReplicationWork
        let done: @Sendable (Result<Void, StorageError>) -> Void
    }

    private struct State {
        var requests: [Request] = []
        /// The writer's emptied array from its last group, handed back so
        /// taking the queue allocates nothing under the lock.
        var spareRequests: [Request] = []
        var replications: [Replication] = []
        var draining = false
        /// When the writer took the group it is working on (`nil`: idle).
        var groupStarted: ContinuousClock.Instant?
        /// When the oldest queued request or replication work arrived (`nil`: nothing queued).
        var oldestQueued: ContinuousClock.Instant?
    }

    private let executor: CommandExecutor
    private let thread: NIOThreadPool
    private let state = NIOLockedValueBox(State())
    /// The last topology the writer started split shards for (writer thread only).
    private let splitTopology = NIOLockedValueBox<NodeTopology?>(nil)
    /// Whether this node may take client writes now (its coordinator lease is valid).
    private let hasLease: @Sendable () -> Bool

    /// The error client writes get while the node has no lease.
    static let noLease = CommandError(
        message: "TRYAGAIN this node has no valid lease from the coordinator; the shard may be moving, retry")

    /// The error client writes get when the lease expired while they were committed.
    static let changedHands = CommandError(
        message: "TRYAGAIN the shard changed hands during the commit; the write may not survive")
    static let leaseLost = CommandError(
        message: "TRYAGAIN the lease expired while the write was committed; it may or may not survive")

    /// Where each client write with a request id (`REQID`) is logged: at debug
    /// level when committed, at notice when it fails, with `request-id` metadata.
    private let logger: Logger

    init(
        executor: CommandExecutor, hasLease: @escaping @Sendable () -> Bool = { true },
        logger: Logger = Logger(label: "strata.writer")
    ) {
        self.executor = executor
        self.logger = logger
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.hasLease = hasLease
    }

    func start() { thread.start() }

    func shutdown() async throws { try await thread.shutdownGracefully() }

    /// Queues replication work; `done` runs after it is committed (or failed).
    func apply(_ work: ReplicationWork, done: @escaping @Sendable (Result<Void, StorageError>) -> Void) {
        let startDrain = state.withLockedValue { state -> Bool in
            if state.oldestQueued == nil { state.oldestQueued = .now }
            state.replications.append(Replication(work: work, done: done))
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { scheduleDrain() }
    }

    /// Queues replication work and waits until it is committed (or failed).
    func apply(_ work: ReplicationWork) async throws(StorageError) {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, StorageError>, Never>) in
            apply(work) { continuation.resume(returning: $0) }
        }
        try result.get()
    }

    /// How long the writer has been on its current group (`nil` when idle), for health.
    var busyFor: Duration? {
        state.withLockedValue { $0.groupStarted }.map { ContinuousClock.now - $0 }
    }

    private func scheduleDrain() {
        thread.submit { workState in
            guard case .active = workState else {
                self.failAll(CommandError(message: "ERR server is shutting down"))
                return
            }
            self.drain()
        }
    }

    /// Queues a batch (with its prepared form, if any); the future completes
    /// with its replies and the updated session after the commit.
    func submit(
        _ commands: [ParsedCommand], prepared: [PreparedSet]? = nil, session: NodeSession,
        allocator: ByteBufferAllocator, on eventLoop: EventLoop
    ) -> EventLoopFuture<(ByteBuffer, NodeSession)> {
        let promise = eventLoop.makePromise(of: (ByteBuffer, NodeSession).self)
        let startDrain = state.withLockedValue { state -> Bool in
            if state.oldestQueued == nil { state.oldestQueued = .now }
            state.requests.append(
                Request(commands: commands, prepared: prepared, session: session, allocator: allocator, promise: promise))
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { scheduleDrain() }
        return promise.futureResult
    }

    private func drain() {
        while true {
            var (requests, replications, queued) = state.withLockedValue {
                state -> ([Request], [Replication], ContinuousClock.Instant?) in
                var taken: [Request] = []
                swap(&taken, &state.spareRequests)
                swap(&taken, &state.requests)
                let replications = state.replications
                state.replications = []
                if taken.isEmpty && replications.isEmpty {
                    state.draining = false
                    state.groupStarted = nil
                } else {
                    state.groupStarted = .now
                }
                let queued = state.oldestQueued
                state.oldestQueued = nil
                return (taken, replications, queued)
            }
            if requests.isEmpty && replications.isEmpty { return }
            if let queued { NodeMetrics.record(executor.metrics.queueDelay, since: queued) }
            // Snapshots are installed first, each in its own batch; log entries join the group.
            var pending: [Replication] = []
            var entries: [(shard: ShardID, entry: LogEntry)] = []
            for replication in replications {
                switch replication.work {
                case .snapshot(let shard, let hashes, let sequence, let epoch, let records):
                    do {
                        try executor.keyspace.installSnapshot(
                            shard, hashes: hashes, sequence: sequence, epoch: epoch, records: records)
                        executor.commits.committed([shard])
                        replication.done(.success(()))
                    } catch {
                        replication.done(.failure(error))
                    }
                case .snapshotPage(_, let hashes, let records):
                    do {
                        try executor.keyspace.addSnapshotRecords(hashes, records: records)
                        replication.done(.success(()))
                    } catch {
                        replication.done(.failure(error))
                    }
                case .drop(let shard, let hashes):
                    // Still not placed here (a map adopted since may have brought it back).
                    guard !executor.topologyBox.current.localShards.contains(shard) else {
                        replication.done(.success(()))
                        continue
                    }
                    do {
                        try executor.keyspace.drop(shard, hashes: hashes)
                        replication.done(.success(()))
                    } catch {
                        replication.done(.failure(error))
                    }
                case .startSplit(let shard, let sequence, let epoch):
                    do {
                        if executor.keyspace.isUnstarted(shard) { try executor.keyspace.start(shard, at: sequence, epoch: epoch) }
                        replication.done(.success(()))
                    } catch {
                        replication.done(.failure(error))
                    }
                case .entries(let received):
                    entries += received
                    pending.append(replication)
                }
            }
            // One topology for the whole group: a shard split by a newer map starts here, between groups.
            let topology = executor.topologyBox.current
            let splitFailure = startSplits(topology)
            // Client writes need the lease, checked once per group right before it is built.
            let leased = requests.isEmpty || (splitFailure == nil && hasLease())
            let map = topology.map
            let expectedWrites = requests.reduce(0) { $0 + $1.commands.count } + entries.reduce(0) { $0 + $1.entry.changes.count }
            let group = executor.keyspace.beginGroup(epochs: { map.shard($0)?.epoch ?? 0 }, expectedWrites: expectedWrites)
            for (shard, entry) in entries { _ = group.apply(entry, to: shard) }
            var results: [(ByteBuffer, NodeSession)] = []
            results.reserveCapacity(requests.count)
            // Per request that waits for its replicas (acks=all): the shards it wrote.
            var replicated: [Int: Set<ShardID>] = [:]
            // Per request: where its writes are in `group.touched`.
            var wrote: [Range<Int>] = []
            wrote.reserveCapacity(requests.count)
            // By index, not `for in`: a copy of a request would retain each of its references.
            for index in requests.indices {
                var session = requests[index].session
                var out: ByteBuffer
                let mark = group.touched.count
                if let splitFailure {
                    out = requests[index].errorReplies(splitFailure)
                } else if !leased {
                    out = requests[index].errorReplies(Self.noLease)
                } else if let prepared = requests[index].prepared {
                    out = executor.stage(
                        prepared, group: group, topology: topology, protocolVersion: session.client.protocolVersion,
                        allocator: requests[index].allocator)
                } else {
                    out = requests[index].allocator.buffer(capacity: 64 * requests[index].commands.count)
                    _ = executor.execute(
                        requests[index].commands, session: &session, into: &out, mode: .writer(group), topology: topology)
                }
                if leased, session.waitsForReplicas, group.touched.count > mark {
                    replicated[index] = Set(group.touched[mark...])
                }
                results.append((out, session))
                wrote.append(mark..<group.touched.count)
            }
            do {
                let started = ContinuousClock.now
                try executor.keyspace.commit(group)
                NodeMetrics.record(executor.metrics.commitTime, since: started)
                executor.metrics.groupWrites.record(expectedWrites)
                executor.commits.committed(group.dirtyShards)
                for replication in pending { replication.done(.success(())) }
                // A stall during the commit may have outlasted the lease: then a replica may
                // already lead, and these writes cannot be acknowledged.
                if !requests.isEmpty, leased, !hasLease() {
                    for index in requests.indices { results[index] = (requests[index].errorReplies(Self.leaseLost), requests[index].session) }
                    replicated = [:]
                }
                // A new map during the commit may have handed a written shard to another node (a
                // planned failover drains this log only up to what it saw): such writes cannot be acknowledged.
                let now = executor.topologyBox.current
                let moved = group.touchedShards.filter { now.map.shard($0)?.primary != now.localNode }
                if !moved.isEmpty {
                    for (index, range) in wrote.enumerated() where group.touched[range].contains(where: moved.contains) {
                        results[index] = (requests[index].errorReplies(Self.changedHands), requests[index].session)
                        replicated[index] = nil
                    }
                }
                // Request ids are remembered only for writes answered as done.
                if moved.isEmpty, !requests.isEmpty, !leased || hasLease() {
                    executor.requests.remember(group.requestOutcomes)
                    logRequests(group, "write committed", level: .debug)
                } else {
                    logRequests(group, "write committed during a lease expiry or a map change: its client may have been told to retry", level: .notice)
                }
            } catch {
                logRequests(group, "write failed: \(error)", level: .notice)
                for replication in pending { replication.done(.failure(error)) }
                // Nothing of the group was written: every command of it fails.
                let failure = CommandError.storage(error)
                for index in requests.indices { results[index] = (requests[index].errorReplies(failure), requests[index].session) }
                replicated = [:]
            }
            // acks=all requests answer once their replicas have the group's entries.
            for (index, shards) in replicated {
                let request = requests[index]
                let result = results[index]
                executor.progress.wait(for: shards.map { ($0, group.sequences[$0]!) }) { outcome in
                    switch outcome {
                    case .success:
                        request.promise.succeed(result)
                    case .failure(let error):
                        request.promise.succeed((request.errorReplies(error), result.1))
                    }
                }
            }
            complete(&requests, results, except: replicated)
        }
    }

    /// Starts the shards a new topology split off shards this node leads
    /// (`Keyspace.startSplits`), once per topology and while some wait for their
    /// parent's handoff, and lets them take writes; the error for the group's
    /// client writes when that failed (it is tried again with the next group).
    private func startSplits(_ topology: NodeTopology) -> CommandError? {
        let progress = executor.progress
        let waiting = progress.splitting
        guard splitTopology.withLockedValue({ $0 }) !== topology || !waiting.isEmpty else { return nil }
        let handoffs = progress.handoffs
        let keyspace = executor.keyspace
        do {
            for (shard, sequence) in try keyspace.startSplits(in: topology, ready: { handoffs[$0] == nil }) {
                logger.info("started split shard \(shard) at sequence \(sequence)")
            }
        } catch {
            logger.error("cannot start split shards", metadata: ["error": "\(error)"])
            return CommandError.storage(error)
        }
        // Started, or split off an empty parent (it starts at 0 as it is), once the parent has no handoff.
        for (shard, parent) in waiting where handoffs[parent] == nil {
            if !keyspace.isUnstarted(shard) || (keyspace.lastVersion(of: parent) ?? 0) == 0 { progress.startedSplit(shard) }
        }
        splitTopology.withLockedValue { $0 = topology }
        return nil
    }

    /// Logs each request id of `group` with its tenant, shard and the shard's sequence number after the group.
    private func logRequests(_ group: WriteGroup, _ message: @autoclosure () -> String, level: Logger.Level) {
        guard logger.logLevel <= level, !group.requestOutcomes.isEmpty else { return }
        for (key, outcome) in group.requestOutcomes {
            var metadata: Logger.Metadata = [
                "request-id": "\(String(decoding: key.id, as: UTF8.self))",
                "tenant": "\(String(decoding: key.tenant, as: UTF8.self))",
            ]
            if let shard = outcome.shard {
                metadata["shard"] = "\(shard)"
                metadata["sequence"] = "\(group.sequences[shard] ?? 0)"
            }
            logger.log(level: level, "\(message())", metadata: metadata)
        }
    }

    /// Hands results back with one task per event loop rather than one
    /// cross-thread wake-up per request (the requests at the indices in
    /// `except` are answered elsewhere). The requests go along and are
    /// released on their loops, which allocated their commands: `requests`
    /// is empty afterwards, so the writer thread does not spend its time freeing them.
    private func complete(_ requests: inout [Request], _ results: [(ByteBuffer, NodeSession)], except: [Int: Set<ShardID>]) {
        var byLoop: [ObjectIdentifier: (EventLoop, [(Request, (ByteBuffer, NodeSession))])] = [:]
        for index in requests.indices where except[index] == nil {
            let loop = requests[index].promise.futureResult.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append((requests[index], results[index]))
        }
        requests.removeAll(keepingCapacity: true)
        state.withLockedValue { state in
            if state.spareRequests.capacity < requests.capacity { swap(&state.spareRequests, &requests) }
        }
        for (loop, completions) in byLoop.values {
            loop.execute {
                for (request, result) in completions { request.promise.succeed(result) }
            }
        }
    }

    private func failAll(_ error: CommandError) {
        let (requests, replications) = state.withLockedValue { state -> ([Request], [Replication]) in
            let taken = (state.requests, state.replications)
            state.requests.removeAll()
            state.replications.removeAll()
            state.draining = false
            return taken
        }
        for request in requests { request.promise.fail(error) }
        for replication in replications {
            replication.done(.failure(StorageError(code: .invalidArgument, message: error.message)))
        }
    }
}
