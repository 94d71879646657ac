import NIOCore
import StrataServer
import StrataStorage
import StrataWire

/// `WATCH`, `WATCHVER` and `EXEC` (`MULTI`'s queueing and `DISCARD` are the
/// shared `SessionCommands`). A transaction's keys live on one shard; `EXEC`
/// runs on the writer thread, so its commands are staged in one write group
/// and committed in one RocksDB batch: atomic, and isolated from every other write.
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
                let record = try read(try address(key, tenant, session, write: true))
                session.client.watched.append(WatchedKey(key: ByteBuffer(bytes: key.readableBytesView), version: record?.version ?? 0))
            }
            reply.ok()
        case .watchVersions(let pairs):
            try SessionCommands.checkWatch(session: session)
            for pair in pairs {
                _ = try address(pair.key, tenant, session, write: true)
                session.client.watched.append(WatchedKey(key: ByteBuffer(bytes: pair.key.readableBytesView), version: pair.version))
            }
            reply.ok()
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
        for key in watched {
            let record = try read(try address(key.key, tenant, session, write: true))
            guard (record?.version ?? 0) == key.version else { return reply.nullArray() }
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
}
