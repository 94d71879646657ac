import NIOCore
import StrataCluster
import StrataStorage
import StrataWire

/// The string commands: GET, GETVER, SET and its forms, GETDEL, GETEX, MGET,
/// MSET, MSETNX, INCR and friends, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE.
extension CommandRun {
    /// Runs `command` if it is a string command.
    /// - Returns: Whether it was one.
    func strings(_ command: Command, _ tenant: TenantContext, _ session: NodeSession, _ reply: inout Reply) throws(CommandError) -> Bool {
        switch command {
        case .get(let key):
            let record = try read(try address(key, tenant, session, write: false))
            stats.countRead(hit: record != nil)
            reply.bulkOrNull(record?.value)
        case .getVersion(let key):
            let record = try read(try address(key, tenant, session, write: false))
            stats.countRead(hit: record != nil)
            guard let record else { reply.null(); return true }
            reply.arrayHeader(2)
            reply.bulk(record.value)
            reply.integer(Int64(bitPattern: record.version))
        case .set(let set):
            try self.set(set, tenant, session, &reply)
        case .getDelete(let key):
            let old = try mutate(try address(key, tenant, session, write: true)) { current in
                (current == nil ? .keep : .delete, current)
            }
            stats.writes.add(1)
            reply.bulkOrNull(old?.value)
        case .getExpire(let key, let expiry):
            try getExpire(key, expiry, tenant, session, &reply)
        case .multiGet(let keys):
            let targets = try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: false) }
            var values: [[UInt8]?] = []
            values.reserveCapacity(targets.count)
            for target in targets {
                let record = try read(target)
                stats.countRead(hit: record != nil)
                values.append(record?.value)
            }
            reply.arrayHeader(values.count)
            for value in values { reply.bulkOrNull(value) }
        case .multiSet(let pairs, let onlyIfNoneExist):
            if onlyIfNoneExist { return try multiSetIfNoneExist(pairs, tenant, session, &reply) }
            for pair in try multiSetPairs(pairs, tenant, session) { try stagePrepared(pair) }
            reply.ok()
        case .incrementBy(let key, let amount):
            let result = try mutate(try address(key, tenant, session, write: true)) {
                (current: Record?) throws(CommandError) -> (Mutation, Int64) in
                let base: Int64
                if let current {
                    guard let parsed = parseInteger(current.value) else { throw .notInteger }
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
        case .incrementByFloat(let key, let amount):
            let result = try mutate(try address(key, tenant, session, write: true)) {
                (current: Record?) throws(CommandError) -> (Mutation, [UInt8]) in
                var base: Float80 = 0
                if let current {
                    guard let parsed = CommandArguments.longDouble(current.value) else { throw .notFloat }
                    base = parsed
                }
                let sum = base + amount
                guard !sum.isNaN, !sum.isInfinite else { throw CommandError(message: "ERR increment would produce NaN or Infinity") }
                let text = Array(formatLongDouble(sum).utf8)
                return (.put(value: text, expiresAt: current?.expiresAt, flags: 0), text)
            }
            stats.writes.add(1)
            reply.bulk(result)
        case .append(let key, let suffix):
            let suffixBytes = Array(suffix.readableBytesView)
            let maxBytes = executor.maxValueBytes
            let length = try mutate(try address(key, tenant, session, write: true)) {
                (current: Record?) throws(CommandError) -> (Mutation, Int) in
                let value = (current?.value ?? []) + suffixBytes
                guard value.count <= maxBytes else { throw Self.stringTooLong }
                return (.put(value: value, expiresAt: current?.expiresAt, flags: 0), value.count)
            }
            stats.writes.add(1)
            reply.integer(Int64(length))
        case .stringLength(let key):
            let record = try read(try address(key, tenant, session, write: false))
            reply.integer(Int64(record?.value.count ?? 0))
        case .getRange(let key, let start, let end):
            let value = try read(try address(key, tenant, session, write: false))?.value ?? []
            reply.bulk(Array(Self.substring(value, start: start, end: end)))
        case .setRange(let key, let offset, let value):
            try setRange(key, offset: offset, value, tenant, session, &reply)
        default:
            return false
        }
        return true
    }

    static let stringTooLong = CommandError(message: "ERR string exceeds maximum allowed size (proto-max-bulk-len)")

    /// GETRANGE's slice, with Redis's rules for negative and out-of-range indexes.
    static func substring(_ value: [UInt8], start: Int64, end: Int64) -> ArraySlice<UInt8> {
        let length = Int64(value.count)
        if start < 0 && end < 0 && start > end { return [] }
        var start = start < 0 ? length + start : start
        var end = end < 0 ? length + end : end
        start = max(start, 0)
        end = max(end, 0)
        if end >= length { end = length - 1 }
        guard start <= end, length > 0 else { return [] }
        return value[Int(start)...Int(end)]
    }

    /// SET, SETNX, SETEX, PSETEX and GETSET.
    private func set(_ set: SetCommand, _ tenant: TenantContext, _ session: NodeSession, _ reply: inout Reply) throws(CommandError) {
        let target = try address(set.key, tenant, session, write: true)
        if set.isBlind {
            try stagePrepared(PreparedSet(
                address: target, value: Array(set.value.readableBytesView), expiry: set.expiry, command: set.name))
            return reply.ok()
        }
        let value = Array(set.value.readableBytesView)
        // Redis checks the expiry before the key and the conditions.
        let newExpiry = set.expiry == .keepTTL ? nil : try set.expiry?.expiresAt(now: now, command: set.name)
        let outcome = try mutate(target) { (current: Record?) throws(CommandError) -> (Mutation, (applied: Bool, old: Record?)) in
            if let expected = set.ifVersion, (current?.version ?? 0) != expected {
                throw .versionMismatch(current: current?.version ?? 0)
            }
            switch set.condition {
            case .ifAbsent where current != nil: return (.keep, (false, current))
            case .ifPresent where current == nil: return (.keep, (false, current))
            default: break
            }
            let expiresAt = set.expiry == .keepTTL ? current?.expiresAt : newExpiry
            return (.put(value: value, expiresAt: expiresAt, flags: 0), (true, current))
        }
        stats.writes.add(1)
        switch set.reply {
        case .oldValue: reply.bulkOrNull(outcome.old?.value)
        case .integer: reply.integer(outcome.applied ? 1 : 0)
        case .ok: if outcome.applied { reply.ok() } else { reply.null() }
        }
    }

    /// GETEX: the value, and the expiry changed; Redis checks the expiry only when the key exists.
    private func getExpire(
        _ key: ByteBuffer, _ expiry: GetExpiry?, _ tenant: TenantContext, _ session: NodeSession, _ reply: inout Reply
    ) throws(CommandError) {
        let target = try address(key, tenant, session, write: true)
        let now = self.now
        let current = try mutate(target) { (current: Record?) throws(CommandError) -> (Mutation, Record?) in
            guard let current else { return (.keep, nil) }
            switch expiry {
            case nil:
                return (.keep, current)
            case .persist:
                guard current.expiresAt != nil else { return (.keep, current) }
                return (.put(value: current.value, expiresAt: nil, flags: current.flags), current)
            case .set(let option, let amount):
                let parsed = try SetExpiry(option: option, amount: try CommandArguments.integer(amount), command: "getex")
                guard let expiresAt = try parsed.expiresAt(now: now, command: "getex") else { return (.keep, current) }
                if case .absolute = parsed, expiresAt <= now { return (.delete, current) }
                return (.put(value: current.value, expiresAt: expiresAt, flags: current.flags), current)
            }
        }
        if expiry != nil { stats.writes.add(1) }
        reply.bulkOrNull(current?.value)
    }

    /// MSETNX: every key on one shard; sets them all only if none exists.
    private func multiSetIfNoneExist(
        _ pairs: ArraySlice<ByteBuffer>, _ tenant: TenantContext, _ session: NodeSession, _ reply: inout Reply
    ) throws(CommandError) -> Bool {
        let keys = stride(from: pairs.startIndex, to: pairs.endIndex, by: 2).map { pairs[$0] }
        let targets = try sameShardAddresses(keys, tenant, session, write: true)
        for target in targets where try read(target) != nil {
            reply.integer(0)
            return true
        }
        for pair in try multiSetPairs(pairs, tenant, session) { try stagePrepared(pair) }
        reply.integer(1)
        return true
    }

    /// SETRANGE: overwrites from `offset`, zero-padding a shorter value; keeps the expiry.
    private func setRange(
        _ key: ByteBuffer, offset: Int64, _ value: ByteBuffer, _ tenant: TenantContext, _ session: NodeSession,
        _ reply: inout Reply
    ) throws(CommandError) {
        let patch = Array(value.readableBytesView)
        let maxBytes = executor.maxValueBytes
        let length = try mutate(try address(key, tenant, session, write: true)) {
            (current: Record?) throws(CommandError) -> (Mutation, Int) in
            guard !patch.isEmpty else { return (.keep, current?.value.count ?? 0) }
            let (end, overflow) = offset.addingReportingOverflow(Int64(patch.count))
            guard !overflow, end <= Int64(maxBytes) else { throw Self.stringTooLong }
            var bytes = current?.value ?? []
            if bytes.count < Int(end) { bytes += [UInt8](repeating: 0, count: Int(end) - bytes.count) }
            bytes.replaceSubrange(Int(offset)..<Int(end), with: patch)
            return (.put(value: bytes, expiresAt: current?.expiresAt, flags: current?.flags ?? 0), bytes.count)
        }
        if !patch.isEmpty { stats.writes.add(1) }
        reply.integer(Int64(length))
    }

    // MARK: The event loop's fast paths

    /// `GET key` answered from memory on the event loop (an `.inline` run): `false`, with
    /// nothing written, when it cannot be (a read that needs the disk, a key of another
    /// node's shard, a connection without a tenant), and the caller runs it the usual way.
    func inlineGet(_ key: UnsafeRawBufferPointer, session: NodeSession, reply: inout Reply) -> Bool {
        guard case .inline = mode, let tenant = session.tenant, !session.isInternal, session.client.transaction == nil else {
            return false
        }
        let hash = PlacementKey.hash(tenant: tenant.name, key: key, placement: tenant.colocated ? .colocate : .spread)
        // A foreign shard (MOVED) is the normal path's to answer.
        guard case .local(let shard) = topology.route(hash: hash, write: false, readOnly: session.readOnly) else {
            return false
        }
        // A hot-set hit is answered from the cached bytes, without building a key or a record.
        var ticket: RecordCache.FillTicket?
        if let hot = tenant.name.withUnsafeBytes({ keyspace.cache.lookup(hash: hash, tenant: $0, key: key, now: now, ticket: &ticket) }) {
            stats.countRead(hit: true)
            executor.metrics.shard(shard).reads.increment()
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
        executor.metrics.shard(shard).reads.increment()
        reply.bulkOrNull(record?.value)
        return true
    }

    /// The pairs of `MSET key value [key value ...]`, every key addressed
    /// before any is written (a MOVED leaves nothing staged): on the event
    /// loop (`CommandExecutor.prepareWrites`) and, by MSET, on the writer.
    func multiSetPairs(_ pairs: ArraySlice<ByteBuffer>, _ tenant: TenantContext, _ session: NodeSession) throws(CommandError)
        -> [PreparedSet]
    {
        var prepared: [PreparedSet] = []
        prepared.reserveCapacity(pairs.count / 2)
        for index in stride(from: pairs.startIndex, to: pairs.endIndex, by: 2) {
            prepared.append(PreparedSet(
                address: try address(pairs[index], tenant, session, write: true),
                value: Array(pairs[index + 1].readableBytesView), expiry: nil, endsCommand: index + 2 >= pairs.endIndex))
        }
        return prepared
    }

    /// Stages a blind SET (writer mode): the record, with its expiry counted
    /// from now for EX and PX, whatever was there (the caller replies `+OK`).
    func stagePrepared(_ prepared: PreparedSet) throws(CommandError) {
        let group = try writerGroup()
        let expiresAt = try prepared.expiry.flatMap { (expiry) throws(CommandError) in try expiry.expiresAt(now: now, command: prepared.command) }
        let address = try rerouted(prepared.address)
        do {
            _ = try group.stage(address, current: nil, .put(value: prepared.value, expiresAt: expiresAt, flags: 0))
        } catch {
            throw .storage(error)
        }
        stats.writes.add(1)
    }
}
