import NIOCore
import StrataStorage
import StrataWire

/// A blind `SET key value [EX|PX|EXAT|PXAT n]` (one whose outcome does not
/// depend on what was stored), or one pair of an `MSET`, whose key the event
/// loop already addressed (hashed, routed, copied) and whose value and expiry
/// it copied and checked, so the writer thread, the bottleneck under write
/// load, only stages it. The same parsed `SetCommand` the writer would run,
/// specialised: not a second parser.
struct PreparedSet {
    let address: RecordAddress
    let value: [UInt8]
    /// EX and PX count from when the write is staged.
    let expiry: SetExpiry?
    /// Whether this is the last (for SET the only) write of its command, which then gets its reply.
    var endsCommand = true
    /// The command's name, for its errors (`set`, `setex`, `psetex`, `mset`).
    var command = "set"
}

extension CommandExecutor {
    /// On the event loop: the batch's commands prepared for the writer, when
    /// every one is a blind SET or an MSET, of local shards, for a session
    /// with a tenant and no open transaction (so nothing in the batch can
    /// change the session or the outcome); otherwise `nil`, and the writer
    /// runs the batch as usual.
    func prepareWrites(_ commands: [ParsedCommand], session: NodeSession) -> [PreparedSet]? {
        guard let tenant = session.tenant, !session.isInternal, session.client.transaction == nil else { return nil }
        let run = CommandRun(executor: self, topology: topologyBox.current, mode: .inline, now: 0)
        var prepared: [PreparedSet] = []
        prepared.reserveCapacity(commands.count)
        for command in commands {
            // Anything else, or a key the loop cannot address (another node's shard,
            // a hand-over), leaves the batch to the writer, which replies as usual.
            switch command.parsed {
            case .success(.set(let set)) where set.isBlind:
                guard let address = try? run.address(set.key, tenant, session, write: true) else { return nil }
                prepared.append(PreparedSet(
                    address: address, value: Array(set.value.readableBytesView), expiry: set.expiry, command: set.name))
            case .success(.multiSet(let pairs, onlyIfNoneExist: false)):
                guard let pairs = try? run.multiSetPairs(pairs, tenant, session) else { return nil }
                prepared += pairs
            default:
                return nil
            }
        }
        return prepared
    }

    /// Stages a batch the event loop prepared (writer mode) and returns its
    /// replies, one per command: all `+OK`, a shared constant, unless a write
    /// fails (then that command's reply is the error, and an MSET stages
    /// none of its pairs after the failed one, as when the writer runs it).
    /// A key whose shard `topology` (the group's) has split since the event
    /// loop routed it is routed again.
    func stage(
        _ prepared: [PreparedSet], group: WriteGroup, topology: NodeTopology, protocolVersion: RESPVersion,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let run = CommandRun(executor: self, topology: topology, mode: .writer(group), now: Record.nowMilliseconds())
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
                    metrics.tenant(prepared[index].address.dataKey.tenant).errors.increment()
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
}
