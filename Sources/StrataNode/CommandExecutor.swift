import NIOCore
import StrataCluster
import StrataServer
import StrataStorage
import StrataWire

/// Executes parsed commands against the node's keyspace: the logic of the
/// node, free of sockets so tests can drive it directly. The commands
/// themselves are in the family files (`StringCommands`, `KeyspaceCommands`,
/// `ConnectionCommands`, `TransactionCommands`, `ReplicationCommands`).
///
/// `execute` may block on RocksDB in `.blocking` and `.writer` mode: the
/// connection calls it on the storage pool or the writer thread, and on an
/// event loop only in `.inline` mode (memory only).
final class CommandExecutor: Sendable {
    let keyspace: Keyspace
    let topologyBox: TopologyBox
    let tenants: TenantDirectory
    let stats: NodeStats
    let info: ServerInfo
    /// Followers' positions and the `acks=all` writes waiting on them.
    let progress: ReplicationProgress
    /// Recent `REQID` request ids and their replies, so a retried write is applied once.
    let requests = RequestLog()
    /// Followers' fetches waiting for this node's next commit.
    let commits = CommitSignal()
    /// The node's health, for `INFO`.
    let health = HealthProbe()
    /// The node's metrics (the keyspace's).
    var metrics: NodeMetrics { keyspace.metrics }
    /// The largest value a write may produce (APPEND, SETRANGE), the node's bulk limit.
    let maxValueBytes: Int
    /// How fast and how many shards this node copies (`CONFIG SET` changes them).
    let transfer: TransferSettings
    /// What this node has taken in of the shards it is copying (`COPYPROGRESS`).
    let copyProgress = CopyProgress()

    init(
        keyspace: Keyspace, topology: TopologyBox, tenants: TenantDirectory, stats: NodeStats, info: ServerInfo,
        maxValueBytes: Int = RESPLimits.default.maxBulkLength, transfer: TransferSettings = TransferSettings(bytesPerSecond: nil, maxCopyingShards: nil)
    ) {
        self.transfer = transfer
        self.keyspace = keyspace
        self.topologyBox = topology
        self.progress = ReplicationProgress(
            topology: topology, localNode: topology.current.localNode,
            lastVersion: { [keyspace] shard in keyspace.lastVersion(of: shard) })
        self.tenants = tenants
        self.stats = stats
        // Held fetches answer under a new map (a shard may have changed hands).
        topology.onReplace { [commits] in commits.wakeAll() }
        self.info = info
        self.maxValueBytes = maxValueBytes
    }

    /// How a batch is run: which reads may block and whether writes are allowed.
    enum Mode {
        /// On an event loop: reads from memory only; a read that needs the disk aborts the batch.
        case inline
        /// On the storage pool: reads may block; no writes.
        case blocking
        /// On the writer thread: reads see the group's staged writes; writes are staged in it.
        case writer(WriteGroup)
    }

    /// Where a batch of commands must run.
    enum BatchKind: Equatable {
        /// Only memory-servable reads and connection commands: try on the event loop.
        case inlineRead
        /// Reads that may block, scans, AUTH and other control commands: the storage pool.
        case blocking
        /// At least one write: the writer thread.
        case write
    }

    /// Classifies a batch by its most demanding command, from the command
    /// table's flags (`write`: the writer; `eventLoop`: memory may answer it).
    /// A command that failed to parse is answered anywhere.
    static func classify(_ commands: [ParsedCommand]) -> BatchKind {
        var kind = BatchKind.inlineRead
        for command in commands {
            guard case .success(let parsed) = command.parsed, var flags = command.spec?.flags else { continue }
            // REQID <id> <command ...> runs where its command runs.
            if case .requestID(_, let inner) = parsed { flags = inner.flags }
            if flags.contains(.write) { return .write }
            if !flags.contains(.eventLoop) { kind = .blocking }
        }
        return kind
    }

    /// A run on the event loop, for reads memory can answer (`CommandRun/inlineGet`).
    func inlineRun() -> CommandRun {
        CommandRun(executor: self, topology: topologyBox.current, mode: .inline, now: Record.nowMilliseconds())
    }

    /// Runs `commands` in order for `session`, appending every reply to `out`,
    /// routed by `topology` (the writer's for its group; `nil`: the current one).
    /// - Returns: `false` only in `.inline` mode, when a read needed the disk:
    ///   the caller discards `out` and `session` and reruns the batch on the pool.
    func execute(
        _ commands: [ParsedCommand], session: inout NodeSession, into out: inout ByteBuffer, mode: Mode,
        topology: NodeTopology? = nil
    ) -> Bool {
        let run = CommandRun(
            executor: self, topology: topology ?? topologyBox.current, mode: mode, now: Record.nowMilliseconds())
        // One Reply for the whole batch: moving `out` in and out once keeps the buffer uniquely owned.
        var reply = Reply(buffer: out, version: session.client.protocolVersion)
        out = ByteBuffer()
        defer { out = reply.buffer }
        for command in commands {
            reply.version = session.client.protocolVersion
            do {
                try run.execute(command, session: &session, reply: &reply)
            } catch {
                if error.needsIO { return false }
                stats.errors.add(1)
                if let tenant = session.tenant { metrics.tenant(tenant.name).errors.increment() }
                reply.error(error.message)
                if error.closesConnection { session.client.closeAfterReply = true }
            }
            if session.client.closeAfterReply { break }
        }
        // Counted only here: an inline batch that falls back to the pool is counted once.
        stats.commands.add(UInt64(commands.count))
        return true
    }
}

/// One batch's execution: the command implementations, with the batch's mode and clock.
struct CommandRun {
    let executor: CommandExecutor
    /// The topology for the whole batch, so its commands route consistently.
    let topology: NodeTopology
    let mode: CommandExecutor.Mode
    let now: Int64

    var keyspace: Keyspace { executor.keyspace }
    var tenants: TenantDirectory { executor.tenants }
    var stats: NodeStats { executor.stats }
    var info: ServerInfo { executor.info }

    /// The node as `HELLO` names it.
    var identity: ServerIdentity {
        ServerIdentity(mode: topology.map.nodes.count > 1 ? "cluster" : "standalone")
    }

    /// Runs one command: admission (AUTH, internal), `MULTI` queueing, the
    /// shared connection commands, then the node's own, by family.
    func execute(_ parsed: ParsedCommand, session: inout NodeSession, reply: inout Reply) throws(CommandError) {
        try SessionCommands.admit(parsed, session: &session)
        if let queued = SessionCommands.queueInTransaction(parsed, session: &session) { return reply.value(queued) }
        let command = try parsed.parsed.get()
        if let answer = try SessionCommands.execute(
            command, session: &session, table: .node, identity: identity,
            authenticate: { (credentials, session) throws(CommandError) in try authenticate(credentials, session: &session) })
        {
            // HELLO answers in the protocol it chose.
            reply.version = session.client.protocolVersion
            return reply.value(answer)
        }
        if session.isInternal { return try replication(command, reply: &reply) }
        guard let tenant = session.tenant else { throw .noAuth }
        if try strings(command, tenant, session, &reply) { return }
        if try keys(command, tenant, session, &reply) { return }
        if try connection(command, session: &session, reply: &reply) { return }
        if try transactions(command, tenant, session: &session, reply: &reply) { return }
        if try clientProtocol(command, tenant, session: &session, reply: &reply) { return }
        throw CommandError.unknownCommand(parsed.arguments.map { $0.readableBytesView })
    }

    // MARK: Addressing

    /// The record `key` of `tenant` addresses, if its shard is served here for
    /// this access (otherwise `MOVED`, or `TRYAGAIN` during a hand-over).
    func address(_ key: ByteBuffer, _ tenant: TenantContext, _ session: NodeSession, write: Bool) throws(CommandError) -> RecordAddress {
        try address(Array(key.readableBytesView), tenant, session, write: write)
    }

    func address(_ keyBytes: [UInt8], _ tenant: TenantContext, _ session: NodeSession, write: Bool) throws(CommandError) -> RecordAddress {
        let hash = placementHash(keyBytes, tenant)
        switch topology.route(hash: hash, write: write, readOnly: session.readOnly) {
        case .local(let shard):
            if write, !executor.progress.isHandedOver(shard) {
                throw CommandError(message: "TRYAGAIN shard \(shard) is being handed over to this node; retry")
            }
            return RecordAddress(shard: shard, dataKey: DataKey(hash: hash, tenant: tenant.name, key: keyBytes))
        case .moved(let shard, let address, let epoch):
            throw movedError(shard: shard, address: address, epoch: epoch)
        }
    }

    /// `address` routed again for a write by this run's topology, when its shard
    /// is no longer the one the key's hash is in (a map that split the shard
    /// came between the event loop's routing and the writer).
    func rerouted(_ address: RecordAddress) throws(CommandError) -> RecordAddress {
        let hash = address.dataKey.hash
        guard topology.layout.shard(forHash: hash) != address.shard else { return address }
        switch topology.route(hash: hash, write: true, readOnly: false) {
        case .local(let shard):
            if !executor.progress.isHandedOver(shard) {
                throw CommandError(message: "TRYAGAIN shard \(shard) is being handed over to this node; retry")
            }
            return RecordAddress(shard: shard, dataKey: address.dataKey)
        case .moved(let shard, let address, let epoch):
            throw movedError(shard: shard, address: address, epoch: epoch)
        }
    }

    /// The error for a key served elsewhere: `MOVED`, or `TRYAGAIN` when a peer showed this node a newer epoch of the shard.
    private func movedError(shard: ShardID, address: String, epoch: UInt64) -> CommandError {
        // A peer already showed a newer epoch of this shard: the map here is stale, and its
        // MOVED could send the client back to a node that redirects here. Retry instead.
        if let newer = executor.topologyBox.newerEpoch(of: shard, than: epoch) {
            return CommandError(
                message: "TRYAGAIN shard \(shard) moved on (epoch \(newer)) and this node's map (epoch \(epoch)) has not caught up; retry")
        }
        return .moved(shard: Int(shard.rawValue), address: address, epoch: epoch)
    }

    /// The placement hash of `key` for `tenant`.
    func placementHash(_ key: [UInt8], _ tenant: TenantContext) -> UInt64 {
        PlacementKey.hash(tenant: tenant.name, key: key, placement: tenant.colocated ? .colocate : .spread)
    }

    /// Addresses keys that must share one shard (RENAME, COPY, MSETNX, a
    /// transaction): `CROSSSHARD` before any routing when they do not.
    func sameShardAddresses(_ keys: [ByteBuffer], _ tenant: TenantContext, _ session: NodeSession, write: Bool)
        throws(CommandError) -> [RecordAddress]
    {
        let map = topology.map
        var shard: ShardID?
        for key in keys {
            let here = map.shard(forHash: placementHash(Array(key.readableBytesView), tenant)).id
            if let shard, shard != here { throw .crossShard }
            shard = here
        }
        return try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: write) }
    }

    // MARK: Reading and writing

    /// The record at `address` (counted as a read of its shard), or `nil`.
    func read(_ address: RecordAddress) throws(CommandError) -> Record? {
        let record = try lookUp(address)
        executor.metrics.shard(address.shard).reads.increment()
        return record
    }

    private func lookUp(_ address: RecordAddress) throws(CommandError) -> Record? {
        do {
            switch mode {
            case .inline:
                switch try keyspace.readIfCached(address, now: now) {
                case .record(let record): return record
                case .missing: return nil
                case .needsIO: throw CommandError.needsDisk
                }
            case .blocking:
                return try keyspace.read(address, now: now)
            case .writer(let group):
                return try group.read(address, now: now)
            }
        } catch let error as CommandError {
            throw error
        } catch {
            throw .storage(error)
        }
    }

    /// The writer's group; a write outside the writer thread is a bug.
    func writerGroup() throws(CommandError) -> WriteGroup {
        guard case .writer(let group) = mode else {
            throw CommandError(message: "ERR internal: write outside the writer thread")
        }
        return group
    }

    /// Reads the record at `address` (unless `needsCurrent` is false: a blind
    /// write), lets `decide` choose a mutation, and stages it in the writer's group.
    func mutate<Result>(
        _ address: RecordAddress, needsCurrent: Bool = true,
        _ decide: (Record?) throws(CommandError) -> (Mutation, Result)
    ) throws(CommandError) -> Result {
        let group = try writerGroup()
        let current = needsCurrent ? try read(address) : nil
        let (mutation, result) = try decide(current)
        do {
            _ = try group.stage(address, current: current, mutation)
        } catch {
            throw .storage(error)
        }
        return result
    }
}
