import Foundation
import NIOCore
import StrataCluster
import StrataStorage
import StrataWire

/// Strata's protocol between its own parts: the client library's `REQID`
/// and `WAITSEQ`, the change feed (`FEED`), and the internal replication
/// commands (`REPLFETCH`, `REPLSNAPSHOT`, `SHARDCHECKSUM`, `DEBUG FOLLOW-PAUSE`).
extension CommandRun {
    /// Runs `command` if it is one of the client library's commands.
    /// - Returns: Whether it was one.
    func clientProtocol(
        _ command: Command, _ tenant: TenantContext, session: inout NodeSession, reply: inout Reply
    ) throws(CommandError) -> Bool {
        switch command {
        case .requestID(let id, let inner): try requestID(id, inner, tenant, session: &session, reply: &reply)
        case .waitForSequence(let shard, _, _):
            try waitForSequence(shard: shard, reply: &reply)
        case .feed(let positions, _): try changeFeed(positions, tenant: tenant, reply: &reply)
        default: return false
        }
        return true
    }

    /// Runs a command of an internal (`@internal`) connection.
    func replication(_ command: Command, reply: inout Reply) throws(CommandError) {
        switch command {
        case .replicationFetch(let follower, let shards, _, let maxBytes):
            try replicationFetch(follower, shards, maxBytes: maxBytes.map { Int(clamping: $0) } ?? 4 << 20, reply: &reply)
        case .replicationSnapshot(let shard, nil): try replicationSnapshot(shard, reply: &reply)
        case .replicationSnapshot(let shard, let chunk?):
            try replicationSnapshotChunk(shard, after: chunk.after, maxBytes: Int(clamping: chunk.maxBytes), reply: &reply)
        case .shardChecksum(let shard, let asOf): try shardChecksum(shard, asOf: asOf, reply: &reply)
        case .shardSize(let shard): try shardSize(shard, reply: &reply)
        case .copyProgress: copyProgress(reply: &reply)
        case .feed(let positions, _): try changeFeed(positions, tenant: nil, reply: &reply)
        case .debugFollowPause(let milliseconds):
            executor.progress.pauseFollowing(for: .milliseconds(milliseconds))
            reply.ok()
        case .configSet(let pairs):
            for (name, value) in pairs { try executor.transfer.set(String(buffer: name), to: String(buffer: value)) }
            reply.ok()
        case .configGet(let patterns):
            configGet(patterns, reply: &reply)
        default: throw CommandError(message: "ERR internal connections only replicate")
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
        _ id: ByteBuffer, _ inner: ParsedCommand, _ tenant: TenantContext, session: inout NodeSession, reply: inout Reply
    ) throws(CommandError) {
        guard case .writer(let group) = mode else {
            throw CommandError(message: "ERR REQID wraps one write command")
        }
        let key = RequestLog.Key(tenant: tenant.name, id: Array(id.readableBytesView))
        if let earlier = group.requestOutcomes[key] ?? executor.requests.outcome(for: key),
            earlier.shard.map({ topology.map.shard($0)?.primary == topology.localNode }) ?? true
        {
            if let shard = earlier.shard { group.touch(shard) }
            reply.buffer.writeBytes(earlier.reply)
            return
        }
        let mark = group.touched.count
        var innerReply = Reply(buffer: ByteBuffer(), version: reply.version)
        // A refused or failed command throws: nothing is remembered; the caller sees the plain error.
        try execute(inner, session: &session, reply: &innerReply)
        let start = reply.buffer.writerIndex
        let shard = group.touched.count > mark ? group.touched.last : nil
        reply.arrayHeader(3)
        reply.buffer.writeImmutableBuffer(innerReply.buffer)
        reply.integer(shard.map { Int64($0.rawValue) } ?? -1)
        reply.integer(shard.flatMap { group.sequences[$0] }.map { Int64(clamping: $0) } ?? 0)
        let bytes = reply.buffer.getBytes(at: start, length: reply.buffer.writerIndex - start) ?? []
        group.requestOutcomes[key] = RequestLog.Outcome(reply: bytes, shard: shard, at: .now)
        if let shard { group.noteRequest(key.id, shard: shard) }
    }

    /// `WAITSEQ <shard> <sequence> <timeout ms>`: answers this node's sequence
    /// number for `shard` (`-1` when it does not hold the shard), from memory.
    /// The wait happens before: `NodeConnections` holds the batch from each
    /// WAITSEQ on until the node has applied the shard up to `sequence` (woken
    /// by the commits, at most the timeout, up to one second). A client reading from a
    /// replica sends it before the read: a position short of its session token
    /// means the replica is behind, and the read goes to the primary.
    private func waitForSequence(shard rawShard: Int64, reply: inout Reply) throws(CommandError) {
        let shard = ShardID(UInt32(clamping: rawShard))
        guard let last = keyspace.lastVersion(of: shard) else { return reply.integer(-1) }
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
    private func changeFeed(_ positions: [(shard: Int64, after: Int64)], tenant: TenantContext?, reply: inout Reply) throws(CommandError) {
        reply.arrayHeader(positions.count)
        for position in positions {
            let shard = ShardID(UInt32(clamping: position.shard))
            let after = position.after
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
    /// after `after` (up to 1,000 or about `maxBytes` per call), or `[shard, -1, oldest]`
    /// when the log was trimmed past `after`, `[shard, -3]` when `after` is past
    /// this log's end, `[shard, -4]` when the follower's entry there is not this
    /// log's (a former primary's unreplicated tail): the follower needs `REPLSNAPSHOT`; or
    /// `[shard, -2]` when this node does not hold the shard.
    private func replicationFetch(
        _ followerName: ByteBuffer, _ requested: [ReplicationFetchShard], maxBytes: Int, reply: inout Reply
    ) throws(CommandError) {
        let follower = NodeID(String(decoding: followerName.readableBytesView, as: UTF8.self))
        reply.arrayHeader(requested.count)
        var budget = maxBytes
        for request in requested {
            let shard = ShardID(UInt32(clamping: request.shard))
            let after = UInt64(clamping: request.after)
            let epoch = UInt64(clamping: request.epoch)
            let followerMapEpoch = UInt64(clamping: request.mapEpoch)
            executor.topologyBox.noteEpoch(followerMapEpoch, of: shard)
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

    /// Whether a follower's fetch would find nothing new in any of its shards
    /// (each at this node's last sequence and epoch, under the current map), so
    /// a `REPLFETCH … WAIT` may be held. When it is, the follower's positions
    /// are recorded now, as the fetch would (`acks=all` writes waiting on them go on).
    func fetchFindsNothing(_ followerName: ByteBuffer, _ requested: [ReplicationFetchShard]) -> Bool {
        let follower = NodeID(String(decoding: followerName.readableBytesView, as: UTF8.self))
        let map = topology.map
        for request in requested {
            let shard = ShardID(UInt32(clamping: request.shard))
            guard let assignment = map.shard(shard), assignment.primary == topology.localNode,
                UInt64(clamping: request.mapEpoch) == assignment.epoch,
                let (sequence, epoch) = keyspace.position(of: shard),
                sequence == UInt64(clamping: request.after), epoch == UInt64(clamping: request.epoch)
            else { return false }
        }
        for request in requested where request.epoch != 0 || request.after == 0 {
            executor.progress.record(
                node: follower, shard: ShardID(UInt32(clamping: request.shard)), position: UInt64(clamping: request.after))
        }
        return true
    }

    /// Whether a change feed request would find nothing: every shard is held
    /// here and at the position asked for (a negative position, asking where
    /// the shard is, is answered at once).
    func feedFindsNothing(_ positions: [(shard: Int64, after: Int64)]) -> Bool {
        positions.allSatisfy { position in
            position.after >= 0
                && keyspace.lastVersion(of: ShardID(UInt32(clamping: position.shard))) == UInt64(position.after)
        }
    }

    /// The shard a replication command names, its hash range and last sequence
    /// number here, or an error when this node does not hold it.
    private func heldShard(_ argument: Int64) throws(CommandError) -> (ShardID, ClosedRange<UInt64>, UInt64) {
        let shard = ShardID(UInt32(clamping: argument))
        guard let range = topology.map.shard(shard)?.range, let last = keyspace.lastVersion(of: shard) else {
            throw CommandError(message: "ERR shard \(shard) is not held by this node")
        }
        return (shard, range.start...range.last, last)
    }

    /// `REPLSNAPSHOT shard`: `[sequence, epoch, key1, record1, key2, record2, ...]`,
    /// every record of the shard (encoded data key and envelope), the shard's
    /// sequence number and the epoch of its log entry there, read from one RocksDB snapshot. One reply holds the
    /// whole shard (for tools and small shards); followers take it in pages (`replicationSnapshotChunk`).
    private func replicationSnapshot(_ shardArgument: Int64, reply: inout Reply) throws(CommandError) {
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

    /// `REPLSNAPSHOT shard CHUNK after maxBytes`: `[sequence, epoch, next, key1,
    /// record1, ...]`, the records of the shard whose encoded keys sort after
    /// `after` (empty: from the start), up to about `maxBytes`, read from one
    /// RocksDB snapshot with the shard's sequence number and log epoch at it;
    /// `next` is the last key sent when more follow, empty when this page ends the
    /// shard. Pages come from different snapshots: a follower installs them all,
    /// then replays the log from the first page's sequence number, which brings
    /// every key to its state at the log's end (`ReplicaFollower.installSnapshot`).
    private func replicationSnapshotChunk(_ shardArgument: Int64, after: [UInt8], maxBytes: Int, reply: inout Reply) throws(CommandError) {
        let (shard, range, _) = try heldShard(shardArgument)
        var records: [([UInt8], [UInt8])] = []
        var more = false
        let sequence: UInt64
        let epoch: UInt64
        do {
            let snapshot = try keyspace.database.snapshot()
            (sequence, epoch) = try keyspace.log.newest(shard, snapshot: snapshot)
            let iterator = try keyspace.records.rawIterator(hashes: range, after: after, snapshot: snapshot)
            var bytes = 0
            while let (key, value) = try iterator.next() {
                if bytes >= maxBytes, !records.isEmpty {
                    more = true
                    break
                }
                records.append((key, value))
                bytes += key.count + value.count
            }
        } catch {
            throw .storage(error)
        }
        reply.arrayHeader(3 + 2 * records.count)
        reply.integer(Int64(clamping: sequence))
        reply.integer(Int64(clamping: epoch))
        reply.bulk(more ? records.last!.0 : [])
        for (key, value) in records {
            reply.bulk(key)
            reply.bulk(value)
        }
    }

    /// `SHARDSIZE shard`: `[records, bytes]` of this node's copy (keys and envelopes as stored), from one snapshot.
    private func shardSize(_ shardArgument: Int64, reply: inout Reply) throws(CommandError) {
        let (_, range, _) = try heldShard(shardArgument)
        var records = 0
        var bytes = 0
        do {
            let iterator = try keyspace.records.rawIterator(hashes: range)
            while let (key, value) = try iterator.next() {
                records += 1
                bytes += key.count + value.count
            }
        } catch {
            throw .storage(error)
        }
        reply.arrayHeader(2)
        reply.integer(Int64(records))
        reply.integer(Int64(bytes))
    }

    /// `COPYPROGRESS`: `[shard, bytes, records, milliseconds, total records, total bytes]` per shard
    /// this node is copying, by shard id (totals -1 until the primary answered `SHARDSIZE`).
    private func copyProgress(reply: inout Reply) {
        let now = ContinuousClock.now
        let shards = executor.copyProgress.current.sorted { $0.key < $1.key }
        reply.arrayHeader(shards.count)
        for (shard, progress) in shards {
            reply.arrayHeader(6)
            reply.integer(Int64(shard.rawValue))
            reply.integer(Int64(progress.bytes))
            reply.integer(Int64(progress.records))
            reply.integer(Int64((now - progress.started) / .milliseconds(1)))
            reply.integer(Int64(progress.total?.records ?? -1))
            reply.integer(Int64(progress.total?.bytes ?? -1))
        }
    }

    /// `SHARDCHECKSUM shard [ASOF ms]`: `[sequence, record count, checksum]` of
    /// this node's copy, from one RocksDB snapshot (`Keyspace.checksum`); records
    /// expiring at or before `ASOF` are left out (default 0: none).
    private func shardChecksum(_ shardArgument: Int64, asOf: Int64, reply: inout Reply) throws(CommandError) {
        let (shard, range, _) = try heldShard(shardArgument)
        let sum: ShardChecksum
        do {
            sum = try keyspace.checksum(of: shard, hashes: range, asOf: asOf)
        } catch {
            throw .storage(error)
        }
        reply.arrayHeader(3)
        reply.integer(Int64(clamping: sum.sequence))
        reply.integer(Int64(sum.records))
        reply.integer(Int64(bitPattern: sum.checksum))
    }

}
