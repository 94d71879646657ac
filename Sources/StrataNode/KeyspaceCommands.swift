import NIOCore
import StrataCluster
import StrataStorage
import StrataWire

/// Commands on keys whatever their value: DEL, EXISTS, TOUCH, the EXPIRE
/// family, TTL, EXPIRETIME, PERSIST, TYPE, SCAN, KEYS, RENAME, COPY,
/// RANDOMKEY, DBSIZE, FLUSHDB and FLUSHALL. Commands over the whole keyspace
/// see the tenant's keys in the shards this node leads.
extension CommandRun {
    /// Runs `command` if it is a keyspace command.
    /// - Returns: Whether it was one.
    func keys(_ command: Command, _ tenant: TenantContext, _ session: NodeSession, _ reply: inout Reply) throws(CommandError) -> Bool {
        switch command {
        case .delete(let keys):
            let targets = try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: true) }
            var removed: Int64 = 0
            for target in targets {
                let existed = try mutate(target) { current in (current == nil ? .keep : .delete, current != nil) }
                if existed { removed += 1 }
            }
            stats.writes.add(UInt64(targets.count))
            reply.integer(removed)
        case .exists(let keys), .touch(let keys):
            let targets = try keys.map { (key) throws(CommandError) in try address(key, tenant, session, write: false) }
            var count: Int64 = 0
            for target in targets where try read(target) != nil { count += 1 }
            reply.integer(count)
        case .expire(let expire):
            try self.expire(expire, tenant, session, &reply)
        case .timeToLive(let key, let milliseconds):
            guard let record = try read(try address(key, tenant, session, write: false)) else { reply.integer(-2); return true }
            guard let expiresAt = record.expiresAt else { reply.integer(-1); return true }
            let remaining = max(expiresAt - now, 0)
            reply.integer(milliseconds ? remaining : (remaining + 500) / 1000)
        case .expireTime(let key, let milliseconds):
            guard let record = try read(try address(key, tenant, session, write: false)) else { reply.integer(-2); return true }
            guard let expiresAt = record.expiresAt else { reply.integer(-1); return true }
            // Rounded to the nearest second, as Redis does ((ms + 500) / 1000, without its overflow).
            reply.integer(milliseconds ? expiresAt : expiresAt / 1000 + (expiresAt % 1000 >= 500 ? 1 : 0))
        case .persist(let key):
            let changed = try mutate(try address(key, tenant, session, write: true)) { current in
                guard let current, current.expiresAt != nil else { return (.keep, false) }
                return (.put(value: current.value, expiresAt: nil, flags: current.flags), true)
            }
            reply.integer(changed ? 1 : 0)
        case .type(let key):
            reply.simple(try read(try address(key, tenant, session, write: false)) == nil ? "none" : "string")
        case .scan(let scan):
            try self.scan(scan, tenant, &reply)
        case .keys(let pattern):
            let bytes = Array(pattern.readableBytesView)
            var found: [[UInt8]] = []
            try forEachKey(of: tenant) { (key: DataKey) throws(CommandError) in
                if GlobPattern.matches(pattern: bytes[...], string: key.key[...]) { found.append(key.key) }
                return true
            }
            reply.arrayHeader(found.count)
            for key in found { reply.bulk(key) }
        case .rename(let from, let to, let onlyIfNew):
            try rename(from, to, onlyIfNew: onlyIfNew, tenant, session, &reply)
        case .copy(let from, let to, let replace):
            let targets = try sameShardAddresses([from, to], tenant, session, write: true)
            guard let source = try read(targets[0]) else { reply.integer(0); return true }
            if try read(targets[1]) != nil, !replace { reply.integer(0); return true }
            try mutate(targets[1]) { _ in (.put(value: source.value, expiresAt: source.expiresAt, flags: source.flags), ()) }
            stats.writes.add(1)
            reply.integer(1)
        case .randomKey:
            reply.bulkOrNull(try randomKey(tenant))
        case .dbSize:
            var count: Int64 = 0
            try forEachKey(of: tenant) { (_: DataKey) throws(CommandError) in
                count += 1
                return true
            }
            reply.integer(count)
        case .flush:
            var doomed: [DataKey] = []
            try forEachKey(of: tenant) { (key: DataKey) throws(CommandError) in
                doomed.append(key)
                return true
            }
            for key in doomed {
                try mutate(try address(key.key, tenant, session, write: true)) { current in (current == nil ? .keep : .delete, ()) }
            }
            stats.writes.add(UInt64(doomed.count))
            reply.ok()
        default:
            return false
        }
        return true
    }

    /// EXPIRE and friends, with Redis's order of checks: the amount's
    /// overflow first, then the key, then the conditions; an expiry in the past deletes.
    private func expire(_ expire: ExpireCommand, _ tenant: TenantContext, _ session: NodeSession, _ reply: inout Reply) throws(CommandError) {
        var when = expire.amount
        if !expire.milliseconds {
            guard when <= Int64.max / 1000, when >= Int64.min / 1000 else { throw .invalidExpire(expire.name) }
            when *= 1000
        }
        let base = expire.absolute ? 0 : now
        guard when <= Int64.max - base else { throw .invalidExpire(expire.name) }
        when += base
        let conditions = expire.conditions
        let now = self.now
        let changed = try mutate(try address(expire.key, tenant, session, write: true)) {
            (current: Record?) throws(CommandError) -> (Mutation, Bool) in
            guard let current else { return (.keep, false) }
            let existing = current.expiresAt
            if conditions.contains(.ifNone), existing != nil { return (.keep, false) }
            if conditions.contains(.ifSome), existing == nil { return (.keep, false) }
            if conditions.contains(.ifGreater), existing == nil || when <= existing! { return (.keep, false) }
            if conditions.contains(.ifLess), let existing, when >= existing { return (.keep, false) }
            if when <= now { return (.delete, true) }
            return (.put(value: current.value, expiresAt: when, flags: current.flags), true)
        }
        stats.writes.add(1)
        reply.integer(changed ? 1 : 0)
    }

    private func rename(
        _ from: ByteBuffer, _ to: ByteBuffer, onlyIfNew: Bool, _ tenant: TenantContext, _ session: NodeSession,
        _ reply: inout Reply
    ) throws(CommandError) {
        let targets = try sameShardAddresses([from, to], tenant, session, write: true)
        guard let source = try read(targets[0]) else { throw .noSuchKey }
        var renamed = false
        let destinationTaken = onlyIfNew && from != to ? try read(targets[1]) != nil : false
        if from != to, !destinationTaken {
            try mutate(targets[1]) { _ in (.put(value: source.value, expiresAt: source.expiresAt, flags: source.flags), ()) }
            try mutate(targets[0]) { current in (current == nil ? .keep : .delete, ()) }
            stats.writes.add(2)
            renamed = true
        }
        if onlyIfNew { reply.integer(renamed ? 1 : 0) } else { reply.ok() }
    }

    /// SCAN cursor: the placement hash to resume at (0 = start, and 0 again when done).
    /// Keys sharing one hash are returned in the same reply, so a cursor never splits them.
    private func scan(_ scan: ScanCommand, _ tenant: TenantContext, _ reply: inout Reply) throws(CommandError) {
        let pattern = scan.pattern.map { Array($0.readableBytesView) }
        let typeMatches = scan.type.map { CommandArguments.keyword($0) == "STRING" } ?? true
        var keys: [[UInt8]] = []
        var nextCursor: UInt64 = 0
        var lastHash: UInt64?
        // Examine at most 10 × COUNT records per call so one SCAN stays short.
        var budget = scan.count * 10
        let count = scan.count
        let others: (DataKey) -> Bool = { key in
            budget -= 1
            guard budget <= 0, key.hash != lastHash else { return true }
            nextCursor = key.hash
            return false
        }
        try forEachKey(of: tenant, from: scan.cursor, through: scan.rangeEnd ?? .max, otherTenants: others) {
            (key: DataKey) throws(CommandError) in
            if let lastHash, key.hash != lastHash, keys.count >= count || budget <= 0 {
                nextCursor = key.hash
                return false
            }
            lastHash = key.hash
            budget -= 1
            guard typeMatches else { return true }
            if let pattern, !GlobPattern.matches(pattern: pattern[...], string: key.key[...]) { return true }
            keys.append(key.key)
            return true
        }
        reply.arrayHeader(2)
        reply.bulk(Array(String(nextCursor).utf8))
        reply.arrayHeader(keys.count)
        for key in keys { reply.bulk(key) }
    }

    /// A key of `tenant` from a random position of the ring onwards (wrapping), or `nil`.
    private func randomKey(_ tenant: TenantContext) throws(CommandError) -> [UInt8]? {
        let start = UInt64.random(in: 0...UInt64.max)
        var found: [UInt8]?
        try forEachKey(of: tenant, from: start) { (key: DataKey) throws(CommandError) in
            found = key.key
            return false
        }
        if found == nil, start > 0 {
            try forEachKey(of: tenant, through: start - 1) { (key: DataKey) throws(CommandError) in
                found = key.key
                return false
            }
        }
        return found
    }

    /// The live keys of `tenant` in this node's primary ranges within
    /// `start...end`, in RocksDB's key order (placement hash first), until
    /// `body` returns false. On the writer the group's staged writes are
    /// merged in, so a transaction sees its own writes. Other tenants' records
    /// are skipped, each shown to `otherTenants`, which may stop the walk (a SCAN's budget).
    func forEachKey(
        of tenant: TenantContext, from start: UInt64 = 0, through end: UInt64 = .max,
        otherTenants: (DataKey) -> Bool = { _ in true }, _ body: (DataKey) throws(CommandError) -> Bool
    ) throws(CommandError) {
        let ranges = topology.localPrimaryRanges.filter { $0.upperBound >= start && $0.lowerBound <= end }
        var staged: [(key: DataKey, record: Record?)] = []
        if case .writer(let group) = mode {
            // The group also holds what replication applies to replica shards here: only the primaries' keys count.
            staged = group.staged(tenant: tenant.name).filter { entry in
                entry.key.hash >= start && entry.key.hash <= end && ranges.contains { $0.contains(entry.key.hash) }
            }
        }
        var next = 0
        // Staged keys before `key` go first; returns false when `body` stopped.
        func flushStaged(before key: DataKey?) throws(CommandError) -> Bool {
            while next < staged.count, key.map({ staged[next].key.encodedPrecedes($0) }) ?? true {
                defer { next += 1 }
                guard let record = staged[next].record, !record.isExpired(at: now) else { continue }
                guard try body(staged[next].key) else { return false }
            }
            return true
        }
        for range in ranges {
            let iterator: RecordIterator
            do {
                iterator = try keyspace.records.scan(hashes: max(range.lowerBound, start)...min(range.upperBound, end), now: now)
            } catch {
                throw .storage(error)
            }
            while true {
                let found: (key: DataKey, record: Record)?
                do { found = try iterator.next() } catch { throw .storage(error) }
                guard let (dataKey, _) = found else { break }
                guard try flushStaged(before: dataKey) else { return }
                guard dataKey.tenant == tenant.name else {
                    guard otherTenants(dataKey) else { return }
                    continue
                }
                if next < staged.count, staged[next].key == dataKey { continue }
                guard try body(dataKey) else { return }
            }
        }
        _ = try flushStaged(before: nil)
    }
}
