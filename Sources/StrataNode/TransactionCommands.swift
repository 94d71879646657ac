import NIOCore
import StrataServer
import StrataStorage
import StrataWire

/// `WATCH`, `WATCHPOINT`, `WATCHVER` and `EXEC` (`MULTI`'s queueing and
/// `DISCARD` are the shared `SessionCommands`). A transaction's keys live on
/// one shard; `EXEC` runs on the writer thread, so its commands are staged in
/// one write group and committed in one RocksDB batch: atomic, and isolated
/// from every other write.
///
/// A watch remembers a *watch point*: the key's version (the shard sequence
/// number of its last write) when it exists, else the shard's sequence number
/// then. `EXEC` aborts when the key was written after it — also by the
/// watching client, and also when it was set and deleted again meanwhile (the
/// shard's log says so; a log trimmed past the watch point aborts, to be
/// safe), or when it expired meanwhile, as in Redis.
extension CommandRun {
    /// Runs `command` if it is a transaction command.
    /// - Returns: Whether it was one.
    func transactions(
        _ command: Command, _ tenant: TenantContext, session: inout NodeSession, reply: inout Reply
    ) throws(CommandError) -> Bool {
        switch command {
        case .watch(let keys):
            try SessionCommands.checkWatch(session: session)
            for key in keys {
                // The primary's version: the one EXEC compares with.
                let point = try watchPoint(try address(key, tenant, session, write: true))
                session.client.watched.append(WatchedKey(key: ByteBuffer(bytes: key.readableBytesView), point: point))
            }
            reply.ok()
        case .watchVersions(let pairs):
            try SessionCommands.checkWatch(session: session)
            for pair in pairs {
                _ = try address(pair.key, tenant, session, write: true)
                session.client.watched.append(WatchedKey(key: ByteBuffer(bytes: pair.key.readableBytesView), point: pair.point))
            }
            reply.ok()
        case .watchPoint(let key):
            reply.integer(try watchPoint(try address(key, tenant, session, write: true)).wire)
        case .exec:
            try exec(tenant, session: &session, reply: &reply)
        default:
            return false
        }
        return true
    }

    private func exec(_ tenant: TenantContext, session: inout NodeSession, reply: inout Reply) throws(CommandError) {
        let (transaction, watched) = try SessionCommands.takeTransaction(session: &session)
        _ = try writerGroup()
        var keys = watched.map(\.key)
        for queued in transaction.queued {
            if let spec = queued.spec { keys += spec.keyArguments(queued.arguments) }
        }
        // One shard, led here: otherwise nothing runs (CROSSSHARD, MOVED, TRYAGAIN).
        _ = try sameShardAddresses(keys, tenant, session, write: true)
        for key in watched where try changed(try address(key.key, tenant, session, write: true), since: key.point) {
            return reply.nullArray()
        }
        reply.arrayHeader(transaction.queued.count)
        for queued in transaction.queued {
            reply.version = session.client.protocolVersion
            do {
                try execute(queued, session: &session, reply: &reply)
            } catch {
                stats.errors.add(1)
                reply.error(error.message)
            }
        }
    }

    /// The watch point of the key at `address`: its version when it exists,
    /// else the shard's sequence number (read first: a write landing between
    /// the two reads can only make `EXEC` abort, never miss a change).
    func watchPoint(_ address: RecordAddress) throws(CommandError) -> WatchPoint {
        let sequence: UInt64
        if case .writer(let group) = mode {
            sequence = group.sequences[address.shard] ?? 0
        } else {
            sequence = keyspace.lastVersion(of: address.shard) ?? 0
        }
        return try read(address).map { .version($0.version) } ?? .absent(since: sequence)
    }

    /// Whether the key at `address` was written, deleted or expired after
    /// `point` (on the writer, staged writes included).
    private func changed(_ address: RecordAddress, since point: WatchPoint) throws(CommandError) -> Bool {
        let group = try writerGroup()
        do {
            // Expired records too: one that expired since the watch changed.
            let record = try group.read(address, now: .min)
            switch point {
            case .version(let version):
                guard let record else { return true }
                return record.version != version || record.isExpired(at: now)
            case .absent(let sequence):
                // An expired record older than the point was there, expired, at the watch.
                if let record { return record.version > sequence }
                if group.isStaged(address.dataKey) { return true }
                // Gone: written (and deleted) after the point if the shard's log
                // has the key after it; a log trimmed past it cannot say.
                guard case .entries(let entries)? = try keyspace.logEntries(
                    address.shard, after: sequence, limit: .max, maxBytes: .max)
                else { return true }
                for entry in entries where try LogEntry(sequence: entry.sequence, payload: entry.payload).changes.contains(where: {
                    $0.key == address.dataKey
                }) {
                    return true
                }
                return false
            }
        } catch {
            throw .storage(error)
        }
    }
}
