import Foundation
import NIOCore
import StrataCluster
import StrataStorage
import StrataWire

/// Executes RESP commands against the node's keyspace: the logic of the
/// node, free of sockets so tests can drive it directly.
///
/// `execute` blocks on RocksDB: the connection handler calls it on the
/// storage thread pool, never on an event loop.
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

    init(keyspace: Keyspace, topology: TopologyBox, tenants: TenantDirectory, stats: NodeStats, info: ServerInfo) {
        self.keyspace = keyspace
        self.topologyBox = topology
        self.progress = ReplicationProgress(
            topology: topology, localNode: topology.current.localNode,
            lastVersion: { [keyspace] shard in keyspace.lastVersion(of: shard) })
        self.tenants = tenants
        self.stats = stats
        self.info = info
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

    static let writeCommands: Set<String> = [
        "SET", "GETDEL", "DEL", "UNLINK", "MSET", "INCR", "DECR", "INCRBY", "DECRBY", "APPEND",
        "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST",
    ]
    static let inlineCommands: Set<String> = ["GET", "MGET", "EXISTS", "GETVER", "STRLEN", "TTL", "PTTL", "PING", "ECHO"]

    /// Classifies a batch by its most demanding command.
    static func classify(_ commands: [RESPCommand]) -> BatchKind {
        var kind = BatchKind.inlineRead
        for command in commands {
            guard var name = command.arguments.first.map({ CommandName($0).upper }) else { continue }
            // REQID <id> <command ...> runs where its command runs.
            if name == "REQID", command.arguments.count >= 3 { name = CommandName(command.arguments[2]).upper }
            if writeCommands.contains(name) { return .write }
            if !inlineCommands.contains(name) { kind = .blocking }
        }
        return kind
    }

    /// A run on the event loop, for reads memory can answer (`CommandRun/inlineGet`).
    func inlineRun() -> CommandRun {
        CommandRun(executor: self, topology: topologyBox.current, mode: .inline, now: Record.nowMilliseconds())
    }

    /// A blind `SET key value [EX|PX|EXAT|PXAT n]` (one whose outcome does
    /// not depend on what was stored), or one pair of an `MSET`, whose key the
    /// event loop already addressed (hashed, routed, copied) and whose value
    /// and expiry it copied and checked, so the writer thread, the bottleneck
    /// under write load, only stages it.
    struct PreparedSet {
        /// An expiry as the command gave it: EX and PX count from when the write is staged.
        enum Expiry {
            case relative(milliseconds: Int64)
            case absolute(milliseconds: Int64)

            /// SET's `option` (EX, PX, EXAT or PXAT) with its `amount`; Redis's
            /// error for an amount that is not positive or overflows in milliseconds.
            init(option: String, amount: Int64) throws(CommandError) {
                guard amount > 0 else { throw .invalidExpire("set") }
                let inSeconds = option == "EX" || option == "EXAT"
                let (milliseconds, overflow) = inSeconds ? amount.multipliedReportingOverflow(by: 1000) : (amount, false)
                guard !overflow else { throw .invalidExpire("set") }
                self = option == "EX" || option == "PX"
                    ? .relative(milliseconds: milliseconds) : .absolute(milliseconds: milliseconds)
            }

            /// The expiry in milliseconds since the Unix epoch, for a write made at `now`.
            func expiresAt(now: Int64) throws(CommandError) -> Int64 {
                switch self {
                case .absolute(let milliseconds): return milliseconds
                case .relative(let milliseconds):
                    let (sum, overflow) = now.addingReportingOverflow(milliseconds)
                    guard !overflow else { throw .invalidExpire("set") }
                    return sum
                }
            }
        }

        let address: RecordAddress
        let value: [UInt8]
        let expiry: Expiry?
        /// Whether this is the last (for SET the only) write of its command, which then gets its reply.
        var endsCommand = true
    }

    /// On the event loop: the batch's commands prepared for the writer, when
    /// every one is a blind SET (`CommandRun.blindSet`) or an MSET, of local
    /// shards, for a session with a tenant (so nothing in the batch can change
    /// the session or the outcome); otherwise `nil`, and the writer runs the
    /// batch as usual.
    func prepareWrites(_ commands: [RESPCommand], session: Session) -> [PreparedSet]? {
        guard let tenant = session.tenant, !session.isInternal,
            commands.allSatisfy({
                let count = $0.arguments.count
                switch CommandName($0.arguments[0]).upper {
                case "SET": return count == 3 || count == 5
                case "MSET": return count >= 3 && count % 2 == 1
                default: return false
                }
            })
        else { return nil }
        let run = CommandRun(executor: self, topology: topologyBox.current, mode: .inline, now: 0)
        var prepared: [PreparedSet] = []
        prepared.reserveCapacity(commands.count)
        for command in commands {
            // Another option, a bad expiry or a key the loop cannot address (another
            // node's shard, a handover) leaves the batch to the writer, which replies as usual.
            // The check above let only SET and MSET through: the first letter tells them apart.
            if command.arguments[0].readableBytesView.first.map({ $0 | 0x20 }) == UInt8(ascii: "m") {
                guard let pairs = try? run.multiSetPairs(command.arguments, tenant, session) else { return nil }
                prepared += pairs
                continue
            }
            guard let set = try? run.blindSet(command.arguments, tenant, session) else { return nil }
            prepared.append(set)
        }
        return prepared
    }

    /// Stages a batch the event loop prepared (writer mode) and returns its
    /// replies, one per command: all `+OK`, a shared constant, unless a write
    /// fails (then that command's reply is the error, and an MSET stages
    /// none of its pairs after the failed one, as when the writer runs it).
    func stage(
        _ prepared: [PreparedSet], group: WriteGroup, protocolVersion: RESPVersion, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let run = CommandRun(executor: self, topology: topologyBox.current, mode: .writer(group), now: Record.nowMilliseconds())
        // Written only once a write fails: the OKs before it, then every reply.
        var replies: Reply?
        var commands = 0
        var failed = false
        for index in prepared.indices {
            if !failed {
                do {
                    try run.stagePrepared(prepared[index])
                } catch {
                    failed = true
                    stats.errors.add(1)
                    if replies == nil {
                        replies = Reply(buffer: allocator.buffer(capacity: 64 * prepared.count), version: protocolVersion)
                        for _ in 0..<commands { replies!.ok() }
                    }
                    replies!.error(error.message)
                }
            }
            guard prepared[index].endsCommand else { continue }
            if !failed { replies?.ok() }
            failed = false
            commands += 1
        }
        stats.commands.add(UInt64(commands))
        return replies?.buffer ?? RESPEncoder.okReplies(count: commands)
    }

    /// Runs `commands` in order for `session`, appending every reply to `out`.
    /// - Returns: `false` only in `.inline` mode, when a read needed the disk:
    ///   the caller discards `out` and `session` and reruns the batch on the pool.
    func execute(_ commands: [RESPCommand], session: inout Session, into out: inout ByteBuffer, mode: Mode) -> Bool {
        let run = CommandRun(executor: self, topology: topologyBox.current, mode: mode, now: Record.nowMilliseconds())
        // One Reply for the whole batch: moving `out` in and out once keeps the buffer uniquely owned.
        var reply = Reply(buffer: out, version: session.protocolVersion)
        out = ByteBuffer()
        defer { out = reply.buffer }
        for command in commands {
            reply.version = session.protocolVersion
            do {
                try run.execute(command, session: &session, now: run.now, reply: &reply)
            } catch {
                if error.needsIO { return false }
                stats.errors.add(1)
                reply.error(error.message)
                if error.closesConnection { session.closeAfterReply = true }
            }
            if session.closeAfterReply { break }
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

    // MARK: Dispatch

    func execute(_ command: RESPCommand, session: inout Session, now: Int64, reply: inout Reply) throws(CommandError) {
        let args = command.arguments
        guard let first = args.first else { return }
        let name = CommandName(first)

        // Commands allowed before authentication.
        switch name.upper {
        case "AUTH": return try auth(args, session: &session, reply: &reply)
        case "HELLO": return try hello(args, session: &session, reply: &reply)
        case "PING": return try ping(args, session: session, reply: &reply)
        case "QUIT":
            session.closeAfterReply = true
            return reply.ok()
        default: break
        }
        if session.isInternal {
            switch name.upper {
            case "REPLFETCH": return try replicationFetch(args, reply: &reply)
            case "REPLSNAPSHOT": try arity(args, 2, name); return try replicationSnapshot(args[1], reply: &reply)
            case "SHARDCHECKSUM": try arity(args, 2, name); return try shardChecksum(args[1], reply: &reply)
            case "FEED": return try changeFeed(args, tenant: nil, reply: &reply)
            case "DEBUG":
                // DEBUG FOLLOW-PAUSE <ms>: a drill; this node's replicas stop fetching for a while.
                guard args.count == 3, CommandName(args[1]).upper == "FOLLOW-PAUSE" else {
                    throw CommandError(message: "ERR usage: DEBUG FOLLOW-PAUSE <milliseconds>")
                }
                executor.progress.pauseFollowing(for: .milliseconds(min(max(try integer(args[2]), 0), 600_000)))
                return reply.ok()
            default: throw CommandError(message: "ERR internal connections only replicate")
            }
        }
        guard let tenant = session.tenant else { throw .noAuth }

        switch name.upper {
        case "REQID": try requestID(args, tenant, session: &session, now: now, reply: &reply)
        case "WAITSEQ": try arity(args, 4, name); try waitForSequence(args, reply: &reply)
        case "FEED": try changeFeed(args, tenant: tenant, reply: &reply)
        case "GET": try arity(args, 2, name); try get(args[1], tenant, session, now, &reply)
        case "SET": try set(args, tenant, session, now, &reply)
        case "GETVER": try arity(args, 2, name); try getVersion(args[1], tenant, session, now, &reply)
        case "GETDEL": try arity(args, 2, name); try getDelete(args[1], tenant, session, now, &reply)
        case "DEL", "UNLINK": try atLeast(args, 2, name); try delete(args[1...], tenant, session, now, &reply)
        case "EXISTS": try atLeast(args, 2, name); try exists(args[1...], tenant, session, now, &reply)
        case "MGET": try atLeast(args, 2, name); try multiGet(args[1...], tenant, session, now, &reply)
        case "MSET":
            guard args.count >= 3, args.count % 2 == 1 else { throw .arity(name.lower) }
            try multiSet(args, tenant, session, now, &reply)
        case "INCR": try arity(args, 2, name); try incrementBy(args[1], 1, tenant, session, now, &reply)
        case "DECR": try arity(args, 2, name); try incrementBy(args[1], -1, tenant, session, now, &reply)
        case "INCRBY": try arity(args, 3, name); try incrementBy(args[1], try integer(args[2]), tenant, session, now, &reply)
        case "DECRBY":
            try arity(args, 3, name)
            let amount = try integer(args[2])
            guard amount != .min else { throw .overflow }
            try incrementBy(args[1], -amount, tenant, session, now, &reply)
        case "APPEND": try arity(args, 3, name); try append(args[1], args[2], tenant, session, now, &reply)
        case "STRLEN": try arity(args, 2, name); try strlen(args[1], tenant, session, now, &reply)
        case "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
            try atLeast(args, 3, name); try expire(args, name, tenant, session, now, &reply)
        case "TTL", "PTTL": try arity(args, 2, name); try ttl(args[1], milliseconds: name.upper == "PTTL", tenant, session, now, &reply)
        case "PERSIST": try arity(args, 2, name); try persist(args[1], tenant, session, now, &reply)
        case "SCAN": try atLeast(args, 2, name); try scan(args, tenant, now, &reply)
        case "DBSIZE": try arity(args, 1, name); try dbsize(tenant, now, &reply)
        case "ECHO": try arity(args, 2, name); reply.bulk(args[1])
        case "SELECT":
            try arity(args, 2, name)
            guard try integer(args[1]) == 0 else { throw CommandError(message: "ERR DB index is out of range") }
            reply.ok()
        case "CLIENT": try client(args, session: &session, reply: &reply)
        case "COMMAND": try commandInfo(args, reply: &reply)
        case "CONFIG": try config(args, reply: &reply)
        case "INFO": info(args, session: session, now: now, reply: &reply)
        case "READONLY": session.readOnly = true; reply.ok()
        case "READWRITE": session.readOnly = false; reply.ok()
        default:
            let preview = args.dropFirst().prefix(3).map { "'\(String(decoding: $0.readableBytesView.prefix(64), as: UTF8.self))'" }.joined(separator: " ")
            throw CommandError(message: "ERR unknown command '\(String(decoding: first.readableBytesView.prefix(64), as: UTF8.self))', with args beginning with: \(preview)")
        }
    }

    // MARK: Client library support

    /// `REQID <id> <write command ...>`: runs the command once per tenant and id
    /// (within the node's request log window) and answers `[reply, shard, version]`:
    /// the command's reply, the shard it wrote (-1 if none) and that shard's
    /// sequence number after it (the write's version, a read-your-writes token).
    /// A repeated id gets the first attempt's answer without running again
    /// (and, for `acks=all`, waits for the replicas of the shard it wrote).
    /// Only successful attempts are remembered: one refused (`MOVED`,
    /// `TRYAGAIN`) runs again when retried.
    private func requestID(
        _ args: [ByteBuffer], _ tenant: TenantContext, session: inout Session, now: Int64, reply: inout Reply
    ) throws(CommandError) {
        guard args.count >= 3 else { throw .arity("reqid") }
        guard case .writer(let group) = mode, CommandName(args[2]).upper != "REQID" else {
            throw CommandError(message: "ERR REQID wraps one write command")
        }
        let key = RequestLog.Key(tenant: tenant.name, id: Array(args[1].readableBytesView))
        if let earlier = group.requestOutcomes[key] ?? executor.requests.outcome(for: key),
            earlier.shard.map({ topology.map.shard($0)?.primary == topology.localNode }) ?? true
        {
            if let shard = earlier.shard { group.touch(shard) }
            reply.buffer.writeBytes(earlier.reply)
            return
        }
        let mark = group.touched.count
        var inner = Reply(buffer: ByteBuffer(), version: reply.version)
        // A refused or failed command throws: nothing is remembered; the caller sees the plain error.
        try execute(RESPCommand(arguments: Array(args[2...])), session: &session, now: now, reply: &inner)
        let start = reply.buffer.writerIndex
        let shard = group.touched.count > mark ? group.touched.last : nil
        reply.arrayHeader(3)
        reply.buffer.writeImmutableBuffer(inner.buffer)
        reply.integer(shard.map { Int64($0.rawValue) } ?? -1)
        reply.integer(shard.flatMap { group.sequences[$0] }.map { Int64(clamping: $0) } ?? 0)
        let bytes = reply.buffer.getBytes(at: start, length: reply.buffer.writerIndex - start) ?? []
        group.requestOutcomes[key] = RequestLog.Outcome(reply: bytes, shard: shard, at: .now)
    }

    /// `WAITSEQ <shard> <sequence> <timeout ms>`: waits (at most the timeout, up to
    /// one second) until this node has applied `shard` up to `sequence`, and answers
    /// its sequence number then (`-1` when it does not hold the shard). A client
    /// reading from a replica sends it before the read: a position short of its
    /// session token means the replica is behind, and the read goes to the primary.
    private func waitForSequence(_ args: [ByteBuffer], reply: inout Reply) throws(CommandError) {
        let shard = ShardID(UInt32(clamping: try integer(args[1])))
        let wanted = UInt64(clamping: try integer(args[2]))
        let timeout = min(max(try integer(args[3]), 0), 1000)
        guard var last = keyspace.lastVersion(of: shard) else { return reply.integer(-1) }
        if last < wanted, timeout > 0, case .blocking = mode {
            let deadline = ContinuousClock.now + .milliseconds(timeout)
            while last < wanted, ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.001)
                last = keyspace.lastVersion(of: shard) ?? 0
            }
        }
        reply.integer(Int64(clamping: last))
    }

    /// `FEED <shard> <after> [<shard> <after> ...]`: the change feed caches follow.
    /// For each shard, `[shard, through, seq1, tenant1, key1, seq2, tenant2, key2, ...]`: the keys
    /// written after sequence number `after` (up to 1,000 log entries per call), each with
    /// the version it got, and the sequence number to resume after (`through`);
    /// `after` below 0 starts at the end (just `[shard, last]`).
    /// `[shard, -1]` when the log no longer reaches back to `after` and `[shard, -3]` when
    /// `after` is past this node's end (another primary's numbering): a gap the
    /// subscriber cannot fill (it drops what it cached of the shard and starts over);
    /// `[shard, -2]` when this node does not hold the shard. A tenant connection sees
    /// its own keys only; an internal one every tenant's.
    private func changeFeed(_ args: [ByteBuffer], tenant: TenantContext?, reply: inout Reply) throws(CommandError) {
        guard args.count >= 3, (args.count - 1) % 2 == 0 else { throw .arity("feed") }
        reply.arrayHeader((args.count - 1) / 2)
        for index in stride(from: 1, to: args.count, by: 2) {
            let shard = ShardID(UInt32(clamping: try integer(args[index])))
            let after = try integer(args[index + 1])
            guard let last = keyspace.lastVersion(of: shard) else {
                reply.arrayHeader(2)
                reply.integer(Int64(shard.rawValue))
                reply.integer(-2)
                continue
            }
            if after < 0 {
                reply.arrayHeader(2)
                reply.integer(Int64(shard.rawValue))
                reply.integer(Int64(clamping: last))
                continue
            }
            let read: ReplicationLog.Read?
            do {
                read = try keyspace.logEntries(shard, after: UInt64(after), limit: 1000, maxBytes: 4 << 20)
            } catch {
                throw .storage(error)
            }
            guard case .entries(let entries) = read else {
                reply.arrayHeader(2)
                reply.integer(Int64(shard.rawValue))
                reply.integer(read == nil ? -2 : (read == .ahead ? -3 : -1))
                continue
            }
            var changes: [(UInt64, [UInt8], [UInt8])] = []
            var through = UInt64(after)
            for fetched in entries {
                let entry: LogEntry
                do {
                    entry = try LogEntry(sequence: fetched.sequence, payload: fetched.payload)
                } catch {
                    throw .storage(error)
                }
                through = fetched.sequence
                for (key, _) in entry.changes where tenant == nil || key.tenant == tenant!.name {
                    changes.append((fetched.sequence, key.tenant, key.key))
                }
            }
            // Where the subscriber resumes: the last entry this reply covered.
            let resume = through
            reply.arrayHeader(2 + 3 * changes.count)
            reply.integer(Int64(shard.rawValue))
            reply.integer(Int64(clamping: resume))
            for (sequence, tenantName, key) in changes {
                reply.integer(Int64(clamping: sequence))
                reply.bulk(tenantName)
                reply.bulk(key)
            }
        }
    }

    // MARK: Replication

    /// `REPLFETCH node shard after epoch mapEpoch [shard after epoch mapEpoch ...]`:
    /// records that follower `node` has applied each shard up to `after` (its entry
    /// there being of shard epoch `epoch`, 0 if unknown), then answers, for each
    /// shard, `[shard, -5]` when the follower's map has an older epoch for the shard
    /// than this node's (replication with a stale epoch is refused), or an array
    /// `[shard, last, epoch here, seq1, payload1, seq2, payload2, ...]` of the log entries
    /// after `after` (up to 1,000 or about 4 MiB per call), or `[shard, -1, oldest]`
    /// when the log was trimmed past `after`, `[shard, -3]` when `after` is past
    /// this log's end, `[shard, -4]` when the follower's entry there is not this
    /// log's (a former primary's unreplicated tail): the follower needs `REPLSNAPSHOT`; or
    /// `[shard, -2]` when this node does not hold the shard.
    private func replicationFetch(_ args: [ByteBuffer], reply: inout Reply) throws(CommandError) {
        guard args.count >= 6, (args.count - 2) % 4 == 0 else { throw .arity("replfetch") }
        let follower = NodeID(String(decoding: args[1].readableBytesView, as: UTF8.self))
        reply.arrayHeader((args.count - 2) / 4)
        var budget = 4 << 20
        for index in stride(from: 2, to: args.count, by: 4) {
            let shard = ShardID(UInt32(clamping: try integer(args[index])))
            let after = UInt64(clamping: try integer(args[index + 1]))
            let epoch = UInt64(clamping: try integer(args[index + 2]))
            let followerMapEpoch = UInt64(clamping: try integer(args[index + 3]))
            if followerMapEpoch < topology.map.shard(shard)?.epoch ?? 0 {
                reply.arrayHeader(2)
                reply.integer(Int64(shard.rawValue))
                reply.integer(-5)
                continue
            }
            // The epoch is read before the log: a planned failover's new primary drains this
            // log up to `last` once it sees the new epoch, and a group committed before this
            // node adopted that epoch must be in `last` (a later one is refused, see WriteQueue).
            let epochHere = topology.map.shard(shard)?.epoch ?? 0
            let read: ReplicationLog.Read?
            do {
                read = try keyspace.logEntries(shard, after: after, epoch: epoch, limit: 1000, maxBytes: max(budget, 1))
            } catch {
                throw .storage(error)
            }
            switch read {
            case nil:
                reply.arrayHeader(2)
                reply.integer(Int64(shard.rawValue))
                reply.integer(-2)
            case .trimmed(let oldest):
                reply.arrayHeader(3)
                reply.integer(Int64(shard.rawValue))
                reply.integer(-1)
                reply.integer(Int64(clamping: oldest ?? 0))
            case .ahead, .diverged:
                reply.arrayHeader(2)
                reply.integer(Int64(shard.rawValue))
                reply.integer(read == .ahead ? -3 : -4)
            case .entries(let entries):
                // Only a follower whose history was checked (a known epoch) has applied what it claims.
                if epoch != 0 || after == 0 { executor.progress.record(node: follower, shard: shard, position: after) }
                reply.arrayHeader(3 + 2 * entries.count)
                reply.integer(Int64(shard.rawValue))
                reply.integer(Int64(clamping: keyspace.lastVersion(of: shard) ?? 0))
                reply.integer(Int64(clamping: epochHere))
                for entry in entries {
                    reply.integer(Int64(clamping: entry.sequence))
                    reply.bulk(entry.payload)
                    budget -= entry.payload.count
                }
            }
        }
    }

    /// The shard a replication command names, its hash range and last sequence
    /// number here, or an error when this node does not hold it.
    private func heldShard(_ argument: ByteBuffer) throws(CommandError) -> (ShardID, ClosedRange<UInt64>, UInt64) {
        let shard = ShardID(UInt32(clamping: try integer(argument)))
        guard let range = topology.map.shard(shard)?.range, let last = keyspace.lastVersion(of: shard) else {
            throw CommandError(message: "ERR shard \(shard) is not held by this node")
        }
        return (shard, range.start...range.last, last)
    }

    /// `REPLSNAPSHOT shard`: `[sequence, epoch, key1, record1, key2, record2, ...]`,
    /// every record of the shard (encoded data key and envelope), the shard's
    /// sequence number and the epoch of its log entry there, read from one RocksDB snapshot. One reply holds the
    /// whole shard: fine for shards of tens of MiB; streaming in chunks is open work.
    private func replicationSnapshot(_ shardArgument: ByteBuffer, reply: inout Reply) throws(CommandError) {
        let (shard, range, _) = try heldShard(shardArgument)
        var records: [([UInt8], [UInt8])] = []
        let sequence: UInt64
        let epoch: UInt64
        do {
            let snapshot = try keyspace.database.snapshot()
            (sequence, epoch) = try keyspace.log.newest(shard, snapshot: snapshot)
            let iterator = try keyspace.records.rawIterator(hashes: range, snapshot: snapshot)
            while let (key, value) = try iterator.next() { records.append((key, value)) }
        } catch {
            throw .storage(error)
        }
        reply.arrayHeader(2 + 2 * records.count)
        reply.integer(Int64(clamping: sequence))
        reply.integer(Int64(clamping: epoch))
        for (key, value) in records {
            reply.bulk(key)
            reply.bulk(value)
        }
    }

    /// `SHARDCHECKSUM shard`: `[last sequence, record count, checksum]`, the checksum
    /// chaining xxHash64 over every key and record envelope in key order,
    /// to compare a replica with its primary.
    private func shardChecksum(_ shardArgument: ByteBuffer, reply: inout Reply) throws(CommandError) {
        let (_, range, last) = try heldShard(shardArgument)
        // Each record's hash is seeded with the previous one: a chain over the shard in key order.
        var checksum: UInt64 = 0
        var count: Int64 = 0
        do {
            let iterator = try keyspace.records.rawIterator(hashes: range)
            while let (key, value) = try iterator.next() {
                checksum = XXHash64.hash(key + value, seed: checksum)
                count += 1
            }
        } catch {
            throw .storage(error)
        }
        reply.arrayHeader(3)
        reply.integer(Int64(clamping: last))
        reply.integer(count)
        reply.integer(Int64(bitPattern: checksum))
    }

    // MARK: Addressing

    private func address(_ key: ByteBuffer, _ tenant: TenantContext, _ session: Session, write: Bool) throws(CommandError) -> RecordAddress {
        try address(Array(key.readableBytesView), tenant, session, write: write)
    }

    private func address(_ keyBytes: [UInt8], _ tenant: TenantContext, _ session: Session, write: Bool) throws(CommandError) -> RecordAddress {
        let hash = PlacementKey.hash(tenant: tenant.name, key: keyBytes, placement: tenant.colocated ? .colocate : .spread)
        switch topology.route(hash: hash, write: write, readOnly: session.readOnly) {
        case .local(let shard):
            if write, !executor.progress.isHandedOver(shard) {
                throw CommandError(message: "TRYAGAIN shard \(shard) is being handed over to this node; retry")
            }
            return RecordAddress(shard: shard, dataKey: DataKey(hash: hash, tenant: tenant.name, key: keyBytes))
        case .moved(let shard, let address, let epoch):
            throw .moved(shard: Int(shard.rawValue), address: address, epoch: epoch)
        }
    }

    private func read(_ address: RecordAddress, _ now: Int64) throws(CommandError) -> Record? {
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

    /// Reads the record at `address` (unless `needsCurrent` is false: a blind
    /// write), lets `decide` choose a mutation, and stages it in the writer's group.
    private func mutate<Result>(
        _ address: RecordAddress, _ now: Int64, needsCurrent: Bool = true,
        _ decide: (Record?) throws(CommandError) -> (Mutation, Result)
    ) throws(CommandError) -> (Result, UInt64?) {
        guard case .writer(let group) = mode else {
            throw CommandError(message: "ERR internal: write outside the writer thread")
        }
        let current = needsCurrent ? try read(address, now) : nil
        let (mutation, result) = try decide(current)
        do {
            return (result, try group.stage(address, current: current, mutation))
        } catch {
            throw .storage(error)
        }
    }

    // MARK: Strings

    /// `GET key` answered from memory on the event loop (an `.inline` run): `false`, with
    /// nothing written, when it cannot be (a read that needs the disk, a key of another
    /// node's shard, a connection without a tenant), and the caller runs it the usual way.
    func inlineGet(_ key: UnsafeRawBufferPointer, session: Session, reply: inout Reply) -> Bool {
        guard case .inline = mode, let tenant = session.tenant, !session.isInternal else { return false }
        let hash = PlacementKey.hash(tenant: tenant.name, key: key, placement: tenant.colocated ? .colocate : .spread)
        // A foreign shard (MOVED) is the normal path's to answer.
        guard case .local(let shard) = topology.route(hash: hash, write: false, readOnly: session.readOnly) else {
            return false
        }
        // A hot-set hit is answered from the cached bytes, without building a key or a record.
        var ticket: RecordCache.FillTicket?
        if let hot = tenant.name.withUnsafeBytes({ keyspace.cache.lookup(hash: hash, tenant: $0, key: key, now: now, ticket: &ticket) }) {
            stats.countRead(hit: true)
            hot.withValue { reply.bulk($0) }
            return true
        }
        let address = RecordAddress(shard: shard, dataKey: DataKey(hash: hash, tenant: tenant.name, key: Array(key)))
        let record: Record?
        do {
            switch try keyspace.storageReadIfCached(address, now: now, ticket: ticket) {
            case .record(let found): record = found
            case .missing: record = nil
            case .needsIO: return false
            }
        } catch {
            return false
        }
        stats.countRead(hit: record != nil)
        reply.bulkOrNull(record?.value)
        return true
    }

    private func get(_ key: ByteBuffer, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let record = try read(try address(key, tenant, session, write: false), now)
        stats.countRead(hit: record != nil)
        reply.bulkOrNull(record?.value)
    }

    private func getVersion(_ key: ByteBuffer, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let record = try read(try address(key, tenant, session, write: false), now)
        stats.countRead(hit: record != nil)
        guard let record else { return reply.null() }
        reply.arrayHeader(2)
        reply.bulk(record.value)
        reply.integer(Int64(bitPattern: record.version))
    }

    private func set(_ args: [ByteBuffer], _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        guard args.count >= 3 else { throw .arity("set") }
        // No options, or only an expiry: the same staging as a batch the event loop prepared.
        if let blind = try blindSet(args, tenant, session) {
            try stagePrepared(blind)
            return reply.ok()
        }
        var options = SetOptions()
        var i = 3
        while i < args.count {
            let option = CommandName(args[i]).upper
            func argument() throws(CommandError) -> ByteBuffer {
                guard i + 1 < args.count else { throw .syntax }
                i += 1
                return args[i]
            }
            switch option {
            case "NX" where !options.onlyIfExists: options.onlyIfMissing = true
            case "XX" where !options.onlyIfMissing: options.onlyIfExists = true
            case "GET": options.returnOld = true
            case "KEEPTTL" where options.expiry == nil: options.keepTTL = true
            case "EX", "PX", "EXAT", "PXAT":
                guard options.expiry == nil, !options.keepTTL else { throw .syntax }
                let amount = try integer(try argument())
                options.expiry = try CommandExecutor.PreparedSet.Expiry(option: option, amount: amount).expiresAt(now: now)
            case "IFVERSION":
                guard options.ifVersion == nil else { throw .syntax }
                let version = try integer(try argument())
                guard version >= 0 else { throw CommandError(message: "ERR IFVERSION must be a non-negative version") }
                options.ifVersion = UInt64(version)
            default: throw .syntax
            }
            i += 1
        }
        let value = Array(args[2].readableBytesView)
        let target = try address(args[1], tenant, session, write: true)
        let needsCurrent = options.ifVersion != nil || options.onlyIfMissing || options.onlyIfExists || options.returnOld || options.keepTTL
        let (outcome, _) = try mutate(target, now, needsCurrent: needsCurrent) { (current: Record?) throws(CommandError) -> (Mutation, (applied: Bool, old: Record?)) in
            if let expected = options.ifVersion, (current?.version ?? 0) != expected {
                throw .versionMismatch(current: current?.version ?? 0)
            }
            if options.onlyIfMissing && current != nil { return (.keep, (false, current)) }
            if options.onlyIfExists && current == nil { return (.keep, (false, current)) }
            let expiresAt = options.keepTTL ? current?.expiresAt : options.expiry
            return (.put(value: value, expiresAt: expiresAt, flags: 0), (true, current))
        }
        stats.writes.add(1)
        if options.returnOld {
            reply.bulkOrNull(outcome.old?.value)
        } else if outcome.applied {
            reply.ok()
        } else {
            reply.null()
        }
    }

    /// The arguments of a blind SET, checked and addressed: `SET key value`
    /// with no option or only an expiry (EX, PX, EXAT or PXAT), so it writes
    /// whatever was stored. `nil` for any other options (which `set` parses).
    /// Used on the event loop (`CommandExecutor.prepareWrites`) and, by
    /// `set`, on the writer; a bad expiry throws the error `set` would.
    func blindSet(_ args: [ByteBuffer], _ tenant: TenantContext, _ session: Session) throws(CommandError)
        -> CommandExecutor.PreparedSet?
    {
        var expiry: CommandExecutor.PreparedSet.Expiry?
        switch args.count {
        case 3:
            break
        case 5:
            let option = CommandName(args[3]).upper
            guard option == "EX" || option == "PX" || option == "EXAT" || option == "PXAT" else { return nil }
            expiry = try CommandExecutor.PreparedSet.Expiry(option: option, amount: try integer(args[4]))
        default:
            return nil
        }
        return CommandExecutor.PreparedSet(
            address: try address(args[1], tenant, session, write: true), value: Array(args[2].readableBytesView),
            expiry: expiry)
    }

    /// Stages a blind SET (writer mode): the record, with its expiry counted
    /// from now for EX and PX, whatever was there (the caller replies `+OK`).
    func stagePrepared(_ prepared: CommandExecutor.PreparedSet) throws(CommandError) {
        guard case .writer(let group) = mode else {
            throw CommandError(message: "ERR internal: write outside the writer thread")
        }
        let expiresAt = try prepared.expiry.map { (expiry) throws(CommandError) in try expiry.expiresAt(now: now) }
        do {
            _ = try group.stage(prepared.address, current: nil, .put(value: prepared.value, expiresAt: expiresAt, flags: 0))
        } catch {
            throw .storage(error)
        }
        stats.writes.add(1)
    }

    private func getDelete(_ key: ByteBuffer, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let (old, _) = try mutate(try address(key, tenant, session, write: true), now) { current in
            (current == nil ? .keep : .delete, current)
        }
        stats.writes.add(1)
        reply.bulkOrNull(old?.value)
    }

    private func delete(_ keys: ArraySlice<ByteBuffer>, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let targets = try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: true) }
        var removed: Int64 = 0
        for target in targets {
            let (existed, _) = try mutate(target, now) { current in (current == nil ? .keep : .delete, current != nil) }
            if existed { removed += 1 }
        }
        stats.writes.add(UInt64(targets.count))
        reply.integer(removed)
    }

    private func exists(_ keys: ArraySlice<ByteBuffer>, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let targets = try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: false) }
        var count: Int64 = 0
        for target in targets where try read(target, now) != nil { count += 1 }
        reply.integer(count)
    }

    private func multiGet(_ keys: ArraySlice<ByteBuffer>, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let targets = try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: false) }
        var values: [[UInt8]?] = []
        values.reserveCapacity(targets.count)
        for target in targets {
            let record = try read(target, now)
            stats.countRead(hit: record != nil)
            values.append(record?.value)
        }
        reply.arrayHeader(values.count)
        for value in values { reply.bulkOrNull(value) }
    }

    private func multiSet(_ args: [ByteBuffer], _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        for pair in try multiSetPairs(args, tenant, session) { try stagePrepared(pair) }
        reply.ok()
    }

    /// The pairs of `MSET key value [key value ...]`, every key addressed
    /// before any is written (a MOVED leaves nothing staged): on the event
    /// loop (`CommandExecutor.prepareWrites`) and, by `multiSet`, on the writer.
    func multiSetPairs(_ args: [ByteBuffer], _ tenant: TenantContext, _ session: Session) throws(CommandError)
        -> [CommandExecutor.PreparedSet]
    {
        var pairs: [CommandExecutor.PreparedSet] = []
        pairs.reserveCapacity(args.count / 2)
        for i in stride(from: 1, to: args.count, by: 2) {
            pairs.append(
                CommandExecutor.PreparedSet(
                    address: try address(args[i], tenant, session, write: true), value: Array(args[i + 1].readableBytesView),
                    expiry: nil, endsCommand: i + 2 >= args.count))
        }
        return pairs
    }

    private func incrementBy(_ key: ByteBuffer, _ amount: Int64, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let (result, _) = try mutate(try address(key, tenant, session, write: true), now) { (current: Record?) throws(CommandError) -> (Mutation, Int64) in
            let base: Int64
            if let current {
                guard let parsed = parseInteger(current.value[...]) else { throw .notInteger }
                base = parsed
            } else {
                base = 0
            }
            let (sum, overflow) = base.addingReportingOverflow(amount)
            guard !overflow else { throw .overflow }
            return (.put(value: Array(String(sum).utf8), expiresAt: current?.expiresAt, flags: 0), sum)
        }
        stats.writes.add(1)
        reply.integer(result)
    }

    private func append(_ key: ByteBuffer, _ suffix: ByteBuffer, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let suffixBytes = Array(suffix.readableBytesView)
        let (length, _) = try mutate(try address(key, tenant, session, write: true), now) { current in
            let value = (current?.value ?? []) + suffixBytes
            return (.put(value: value, expiresAt: current?.expiresAt, flags: 0), value.count)
        }
        stats.writes.add(1)
        reply.integer(Int64(length))
    }

    private func strlen(_ key: ByteBuffer, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let record = try read(try address(key, tenant, session, write: false), now)
        reply.integer(Int64(record?.value.count ?? 0))
    }

    // MARK: Expiry

    private func expire(_ args: [ByteBuffer], _ name: CommandName, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let amount = try integer(args[2])
        var condition: String?
        for option in args.dropFirst(3) {
            let flag = CommandName(option).upper
            guard ["NX", "XX", "GT", "LT"].contains(flag) else { throw CommandError(message: "ERR Unsupported option \(flag)") }
            if let condition, condition != flag {
                throw CommandError(message: "ERR NX and XX, GT or LT options at the same time are not compatible")
            }
            condition = flag
        }
        let unit: Int64 = name.upper.hasPrefix("P") ? 1 : 1000
        let (scaled, overflow) = amount.multipliedReportingOverflow(by: unit)
        guard !overflow else { throw .invalidExpire(name.lower) }
        let absolute: Int64
        if name.upper.hasSuffix("AT") {
            absolute = scaled
        } else {
            let (sum, addOverflow) = now.addingReportingOverflow(scaled)
            guard !addOverflow else { throw .invalidExpire(name.lower) }
            absolute = sum
        }
        let (changed, _) = try mutate(try address(args[1], tenant, session, write: true), now) { (current: Record?) throws(CommandError) -> (Mutation, Bool) in
            guard let current else { return (.keep, false) }
            switch condition {
            case "NX": if current.expiresAt != nil { return (.keep, false) }
            case "XX": if current.expiresAt == nil { return (.keep, false) }
            case "GT": if current.expiresAt == nil || absolute <= current.expiresAt! { return (.keep, false) }
            case "LT": if let existing = current.expiresAt, absolute >= existing { return (.keep, false) }
            default: break
            }
            if absolute <= now { return (.delete, true) }
            return (.put(value: current.value, expiresAt: absolute, flags: current.flags), true)
        }
        stats.writes.add(1)
        reply.integer(changed ? 1 : 0)
    }

    private func ttl(_ key: ByteBuffer, milliseconds: Bool, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        guard let record = try read(try address(key, tenant, session, write: false), now) else { return reply.integer(-2) }
        guard let expiresAt = record.expiresAt else { return reply.integer(-1) }
        let remaining = max(expiresAt - now, 0)
        reply.integer(milliseconds ? remaining : (remaining + 500) / 1000)
    }

    private func persist(_ key: ByteBuffer, _ tenant: TenantContext, _ session: Session, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        let (changed, _) = try mutate(try address(key, tenant, session, write: true), now) { current in
            guard let current, current.expiresAt != nil else { return (.keep, false) }
            return (.put(value: current.value, expiresAt: nil, flags: current.flags), true)
        }
        reply.integer(changed ? 1 : 0)
    }

    // MARK: Keyspace

    /// SCAN cursor: the placement hash to resume at (0 = start, and 0 again when done).
    /// Keys sharing one hash are returned in the same reply, so a cursor never splits them.
    private func scan(_ args: [ByteBuffer], _ tenant: TenantContext, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        guard let cursor = UInt64(String(decoding: args[1].readableBytesView, as: UTF8.self)) else {
            throw CommandError(message: "ERR invalid cursor")
        }
        var count = 10
        var pattern: [UInt8]?
        var i = 2
        while i < args.count {
            let option = CommandName(args[i]).upper
            guard i + 1 < args.count else { throw .syntax }
            switch option {
            case "COUNT":
                let value = try integer(args[i + 1])
                guard value >= 1 else { throw .syntax }
                count = Int(min(value, 100_000))
            case "MATCH": pattern = Array(args[i + 1].readableBytesView)
            case "TYPE": break
            default: throw .syntax
            }
            i += 2
        }
        var keys: [[UInt8]] = []
        var nextCursor: UInt64 = 0
        // Examine at most 10 × COUNT records per call so one SCAN stays short.
        var budget = count * 10
        scanning: for range in topology.localPrimaryRanges where range.upperBound >= cursor {
            let start = max(range.lowerBound, cursor)
            let iterator: RecordIterator
            do {
                iterator = try keyspace.records.scan(hashes: start...range.upperBound, now: now)
            } catch {
                throw .storage(error)
            }
            var lastHash: UInt64?
            while true {
                let next: (key: DataKey, record: Record)?
                do { next = try iterator.next() } catch { throw .storage(error) }
                guard let (dataKey, _) = next else { break }
                if let lastHash, dataKey.hash != lastHash, keys.count >= count || budget <= 0 {
                    nextCursor = dataKey.hash
                    break scanning
                }
                lastHash = dataKey.hash
                budget -= 1
                guard dataKey.tenant == tenant.name else { continue }
                if let pattern, !GlobPattern.matches(pattern: pattern[...], string: dataKey.key[...]) { continue }
                keys.append(dataKey.key)
            }
        }
        reply.arrayHeader(2)
        reply.bulk(Array(String(nextCursor).utf8))
        reply.arrayHeader(keys.count)
        for key in keys { reply.bulk(key) }
    }

    /// DBSIZE: the tenant's live keys on this node. O(keys on the node).
    private func dbsize(_ tenant: TenantContext, _ now: Int64, _ reply: inout Reply) throws(CommandError) {
        reply.integer(Int64(try countKeys(of: tenant.name, now: now)))
    }

    func countKeys(of tenant: [UInt8], now: Int64) throws(CommandError) -> Int {
        var total = 0
        for range in topology.localPrimaryRanges {
            do {
                let iterator = try keyspace.records.scan(hashes: range, now: now)
                while let (dataKey, _) = try iterator.next() {
                    if dataKey.tenant == tenant { total += 1 }
                }
            } catch {
                throw .storage(error)
            }
        }
        return total
    }

    // MARK: Connection

    private func auth(_ args: [ByteBuffer], session: inout Session, reply: inout Reply) throws(CommandError) {
        let tenantName: [UInt8]
        let secret: [UInt8]
        switch args.count {
        case 2: (tenantName, secret) = (Array("default".utf8), Array(args[1].readableBytesView))
        case 3: (tenantName, secret) = (Array(args[1].readableBytesView), Array(args[2].readableBytesView))
        default: throw .arity("auth")
        }
        try authenticate(tenantName, secret, session: &session)
        reply.ok()
    }

    private func authenticate(_ tenantName: [UInt8], _ secret: [UInt8], session: inout Session) throws(CommandError) {
        if tenantName.elementsEqual(TenantDirectory.internalUser.utf8) {
            guard tenants.isInternalSecret(secret) else {
                stats.authFailures.add(1)
                throw .wrongPass
            }
            session.tenant = nil
            session.isInternal = true
            session.authenticated = true
            return
        }
        guard let context = tenants.authenticate(tenant: tenantName, secret: secret) else {
            stats.authFailures.add(1)
            throw .wrongPass
        }
        session.tenant = context
        session.authenticated = true
    }

    private func hello(_ args: [ByteBuffer], session: inout Session, reply: inout Reply) throws(CommandError) {
        var version = session.protocolVersion
        var i = 1
        if args.count > 1 {
            guard let requested = try? integer(args[1]) else {
                throw CommandError(message: "ERR Protocol version is not an integer or out of range")
            }
            guard requested == 2 || requested == 3 else { throw CommandError(message: "NOPROTO unsupported protocol version") }
            version = requested == 3 ? .resp3 : .resp2
            i = 2
        }
        var name: [UInt8]?
        while i < args.count {
            switch CommandName(args[i]).upper {
            case "AUTH":
                guard i + 2 < args.count else { throw .syntax }
                try authenticate(Array(args[i + 1].readableBytesView), Array(args[i + 2].readableBytesView), session: &session)
                i += 3
            case "SETNAME":
                guard i + 1 < args.count else { throw .syntax }
                name = Array(args[i + 1].readableBytesView)
                i += 2
            default: throw .syntax
            }
        }
        guard session.tenant != nil else { throw CommandError(message: "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time") }
        if let name { session.name = name }
        session.protocolVersion = version
        reply.version = version
        reply.mapHeader(7)
        reply.bulk("server"); reply.bulk("strata")
        reply.bulk("version"); reply.bulk(ServerInfo.version)
        reply.bulk("proto"); reply.integer(version == .resp3 ? 3 : 2)
        reply.bulk("id"); reply.integer(Int64(session.id))
        reply.bulk("mode"); reply.bulk(topology.map.nodes.count > 1 ? "cluster" : "standalone")
        reply.bulk("role"); reply.bulk("master")
        reply.bulk("modules"); reply.arrayHeader(0)
    }

    private func ping(_ args: [ByteBuffer], session: Session, reply: inout Reply) throws(CommandError) {
        switch args.count {
        case 1: reply.simple("PONG")
        case 2: reply.bulk(args[1])
        default: throw .arity("ping")
        }
    }

    private func client(_ args: [ByteBuffer], session: inout Session, reply: inout Reply) throws(CommandError) {
        guard args.count >= 2 else { throw .arity("client") }
        switch CommandName(args[1]).upper {
        case "SETNAME":
            guard args.count == 3 else { throw .arity("client|setname") }
            let name = Array(args[2].readableBytesView)
            guard !name.contains(where: { $0 <= 32 || $0 >= 127 }) else {
                throw CommandError(message: "ERR Client names cannot contain spaces, newlines or special characters.")
            }
            session.name = name.isEmpty ? nil : name
            reply.ok()
        case "GETNAME": reply.bulkOrNull(session.name)
        case "ACKS":
            // Strata's own: when this connection's writes are acknowledged.
            guard args.count == 3 else { throw .arity("client|acks") }
            switch CommandName(args[2]).upper {
            case "ALL": session.acksAll = true
            case "LEADER": session.acksAll = false
            default: throw CommandError(message: "ERR CLIENT ACKS takes ALL or LEADER")
            }
            reply.ok()
        case "ID": reply.integer(Int64(session.id))
        case "SETINFO": reply.ok()
        default: throw CommandError(message: "ERR unknown subcommand '\(String(decoding: args[1].readableBytesView, as: UTF8.self))'. Try CLIENT HELP.")
        }
    }

    private func commandInfo(_ args: [ByteBuffer], reply: inout Reply) throws(CommandError) {
        let sub = args.count > 1 ? CommandName(args[1]).upper : ""
        switch sub {
        case "COUNT": reply.integer(Int64(CommandTable.entries.count))
        case "DOCS": reply.mapHeader(0)
        case "", "INFO":
            let names = args.count > 2 ? args.dropFirst(2).map { CommandName($0).lower } : CommandTable.entries.map(\.name)
            reply.arrayHeader(names.count)
            for name in names {
                guard let entry = CommandTable.entries.first(where: { $0.name == name }) else { reply.null(); continue }
                reply.arrayHeader(6)
                reply.bulk(entry.name)
                reply.integer(Int64(entry.arity))
                reply.arrayHeader(entry.flags.count)
                for flag in entry.flags { reply.simple(flag) }
                reply.integer(entry.firstKey); reply.integer(entry.lastKey); reply.integer(entry.step)
            }
        default: throw CommandError(message: "ERR unknown subcommand '\(sub.lowercased())'. Try COMMAND HELP.")
        }
    }

    private func config(_ args: [ByteBuffer], reply: inout Reply) throws(CommandError) {
        guard args.count >= 2 else { throw .arity("config") }
        switch CommandName(args[1]).upper {
        case "GET":
            guard args.count >= 3 else { throw .arity("config|get") }
            var matched: [(String, String)] = []
            for pattern in args.dropFirst(2) {
                let bytes = Array(pattern.readableBytesView)
                for (key, value) in info.configValues where GlobPattern.matches(pattern: bytes[...], string: Array(key.utf8)[...], caseInsensitive: true) {
                    if !matched.contains(where: { $0.0 == key }) { matched.append((key, value)) }
                }
            }
            reply.mapHeader(matched.count)
            for (key, value) in matched { reply.bulk(key); reply.bulk(value) }
        case "SET", "RESETSTAT", "REWRITE":
            throw CommandError(message: "ERR CONFIG is read-only on Strata; change cluster.json and restart")
        default: throw .syntax
        }
    }

    private func info(_ args: [ByteBuffer], session: Session, now: Int64, reply: inout Reply) {
        let sections = args.dropFirst().map { CommandName($0).lower }
        let text = info.render(
            sections: sections, stats: stats, topology: topology, keyspace: keyspace, progress: executor.progress,
            tenant: session.tenant
        ) { tenant in
            (try? countKeys(of: tenant, now: now)) ?? 0
        }
        reply.bulk(text)
    }

    // MARK: Argument parsing

    private func arity(_ args: [ByteBuffer], _ count: Int, _ name: CommandName) throws(CommandError) {
        guard args.count == count else { throw .arity(name.lower) }
    }

    private func atLeast(_ args: [ByteBuffer], _ count: Int, _ name: CommandName) throws(CommandError) {
        guard args.count >= count else { throw .arity(name.lower) }
    }

    private func integer(_ buffer: ByteBuffer) throws(CommandError) -> Int64 {
        guard let value = buffer.readableBytesView.withContiguousStorageIfAvailable({ parseInteger($0[...]) }) ?? parseInteger(Array(buffer.readableBytesView)[...]) else {
            throw .notInteger
        }
        return value
    }
}

/// Options of one SET command.
private struct SetOptions {
    var onlyIfMissing = false
    var onlyIfExists = false
    var returnOld = false
    var keepTTL = false
    var expiry: Int64?
    var ifVersion: UInt64?
}

/// Parses a decimal Int64 the way Redis does: optional `-`, digits, no spaces, no leading `+`.
func parseInteger<C: Collection>(_ bytes: C) -> Int64? where C.Element == UInt8 {
    guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
    var index = bytes.startIndex
    var negative = false
    if bytes[index] == UInt8(ascii: "-") {
        negative = true
        index = bytes.index(after: index)
        guard index != bytes.endIndex else { return nil }
    }
    var magnitude: UInt64 = 0
    while index != bytes.endIndex {
        let byte = bytes[index]
        guard byte >= 48, byte <= 57 else { return nil }
        let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times.addingReportingOverflow(UInt64(byte - 48))
        guard !o1, !o2 else { return nil }
        magnitude = sum
        index = bytes.index(after: index)
    }
    if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { return nil }
    return Int64(magnitude)
}

/// A command or option name, compared case-insensitively.
struct CommandName {
    let upper: String
    var lower: String { upper.lowercased() }

    init(_ buffer: ByteBuffer) {
        let view = buffer.readableBytesView
        upper = String(unsafeUninitializedCapacity: view.count) { out in
            var i = 0
            for byte in view {
                out[i] = (byte >= 97 && byte <= 122) ? byte - 32 : byte
                i += 1
            }
            return i
        }
    }
}
