import Foundation
import StrataStorage
import Synchronization

/// A hot-set record and its key in one allocation: the tenant, key and value
/// bytes follow the header, so a lookup touches one object, not a key, a
/// record and two arrays. Immutable once made, so it may be read from any
/// thread after the cache's lock is released (hence `@unchecked Sendable`).
struct HotRecord: @unchecked Sendable {
    /// What precedes the bytes: the key's hashes, the record's fields and the byte counts.
    struct Header {
        /// The cache's hash of the key (`RecordCache.tag`).
        let tag: Int
        /// The key's placement hash (for dropping a shard's range).
        let placementHash: UInt64
        /// `Record.version`.
        let version: UInt64
        /// `Record.expiresAt`.
        let expiresAt: Int64?
        /// `Record.flags`.
        let flags: UInt8
        /// Bytes of tenant, then of key, then of value, in that order after the header.
        let tenantCount: Int
        let keyCount: Int
        let valueCount: Int
    }

    private let storage: ManagedBuffer<Header, UInt8>

    /// A copy of `key` and `record`.
    init(tag: Int, key: DataKey, record: Record) {
        let header = Header(
            tag: tag, placementHash: key.hash, version: record.version, expiresAt: record.expiresAt, flags: record.flags,
            tenantCount: key.tenant.count, keyCount: key.key.count, valueCount: record.value.count)
        storage = .create(minimumCapacity: header.tenantCount + header.keyCount + header.valueCount) { _ in header }
        storage.withUnsafeMutablePointerToElements { base in
            var at = UnsafeMutableRawPointer(base)
            func copy(_ bytes: [UInt8]) {
                bytes.withUnsafeBytes { source in
                    if let from = source.baseAddress { at.copyMemory(from: from, byteCount: source.count) }
                    at += source.count
                }
            }
            copy(key.tenant)
            copy(key.key)
            copy(record.value)
        }
    }

    /// Whether `self` and `other` are the same cached entry (not merely equal).
    static func === (lhs: HotRecord, rhs: HotRecord) -> Bool { lhs.storage === rhs.storage }

    private var fields: Header { storage.withUnsafeMutablePointerToHeader { $0.pointee } }

    /// The cache's hash of the key.
    var tag: Int { storage.withUnsafeMutablePointerToHeader { $0.pointee.tag } }

    /// The placement hash of the key.
    var placementHash: UInt64 { storage.withUnsafeMutablePointerToHeader { $0.pointee.placementHash } }

    /// The version of the write that produced the record.
    var version: UInt64 { storage.withUnsafeMutablePointerToHeader { $0.pointee.version } }

    /// Whether the record is expired at `now` (milliseconds since the Unix epoch).
    func isExpired(at now: Int64) -> Bool {
        guard let expiresAt = storage.withUnsafeMutablePointerToHeader({ $0.pointee.expiresAt }) else { return false }
        return expiresAt <= now
    }

    /// Calls `body` with the value bytes (valid only during the call).
    func withValue<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        storage.withUnsafeMutablePointers { header, bytes in
            let start = header.pointee.tenantCount + header.pointee.keyCount
            return body(UnsafeRawBufferPointer(start: bytes + start, count: header.pointee.valueCount))
        }
    }

    /// The record as a value.
    var record: Record {
        let fields = self.fields
        return Record(value: withValue { Array($0) }, version: fields.version, expiresAt: fields.expiresAt, flags: fields.flags)
    }

    /// Bytes the cache counts for the entry: key, value and a fixed overhead.
    var cost: Int {
        storage.withUnsafeMutablePointerToHeader { RecordCache.cost(keyBytes: $0.pointee.tenantCount + $0.pointee.keyCount, valueBytes: $0.pointee.valueCount) }
    }

    /// Whether this is the record of `tenant` and `key`.
    fileprivate func matches(tenant: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> Bool {
        storage.withUnsafeMutablePointers { header, bytes in
            guard header.pointee.tenantCount == tenant.count, header.pointee.keyCount == key.count else { return false }
            return RecordCache.equal(UnsafeRawPointer(bytes), tenant) && RecordCache.equal(UnsafeRawPointer(bytes + tenant.count), key)
        }
    }
}

/// The node's in-memory hot set: live records by data key, bounded by bytes,
/// striped so threads rarely share a lock.
///
/// Coherence: the single writer updates the cache after every commit (the new
/// record, or removal), so the cache never holds a value older than the last
/// commit of its key. A reader that missed fills the cache only if no commit
/// touched the key's stripe between its fill ticket and its insert, so a
/// slow read can never put back a value a commit has replaced.
/// Eviction is FIFO per stripe (inserts evict the oldest keys first; a
/// rewritten key keeps its place).
///
/// Each stripe is an open-addressing table (linear probing, at most half
/// full) of `HotRecord`s, placed by a seeded hash of the placement hash and
/// the key bytes: keys that share a placement hash (a `{hashtag}`, a
/// colocated tenant) still spread, and crafted keys cannot pile up on one
/// slot.
final class RecordCache: Sendable {
    private struct Slot {
        var record: HotRecord?
        /// `record`'s tag, so most probes compare without touching the record.
        var tag: Int
        /// `record`'s position in the stripe's FIFO (logical: `fifoBase` + index).
        var order: Int

        static var empty: Slot { Slot(record: nil, tag: 0, order: 0) }
    }

    /// One stripe's table and FIFO; used only under the stripe's lock.
    private struct Stripe: ~Copyable {
        var slots: UnsafeMutablePointer<Slot>
        /// A power of two.
        var capacity: Int
        var count = 0
        /// The records in insertion order; `nil` where one was removed.
        var fifo: [HotRecord?] = []
        /// The logical position of `fifo[0]`.
        var fifoBase = 0
        /// The index in `fifo` of the oldest record not yet evicted.
        var fifoHead = 0
        var bytes = 0
        /// Commits that touched the stripe (fences fills).
        var commits: UInt64 = 0

        init(capacity: Int = 16) {
            self.capacity = capacity
            slots = .allocate(capacity: capacity)
            slots.initialize(repeating: .empty, count: capacity)
        }

        deinit {
            slots.deinitialize(count: capacity)
            slots.deallocate()
        }

        /// The slot holding the record of `tenant` and `key`.
        func find(tag: Int, _ key: KeyBytes) -> Int? {
            let mask = capacity - 1
            var index = tag & mask
            while let record = slots[index].record {
                if slots[index].tag == tag, record.matches(tenant: key.tenant, key: key.key) { return index }
                index = (index + 1) & mask
            }
            return nil
        }

        /// The slot holding exactly `record`.
        func find(identical record: HotRecord) -> Int? {
            let mask = capacity - 1
            var index = record.tag & mask
            while let held = slots[index].record {
                if held === record { return index }
                index = (index + 1) & mask
            }
            return nil
        }

        /// Removes the record in slot `index`.
        mutating func remove(at index: Int) {
            guard let record = slots[index].record else { return }
            bytes -= record.cost
            let position = slots[index].order - fifoBase
            if position >= 0, position < fifo.count { fifo[position] = nil }
            slots[index] = .empty
            count -= 1
            // Backward-shift deletion: pull later records of the probe run into the hole.
            let mask = capacity - 1
            var hole = index
            var next = (index + 1) & mask
            while slots[next].record != nil {
                let home = slots[next].tag & mask
                let stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next)
                if !stays {
                    slots[hole] = slots[next]
                    slots[next] = .empty
                    hole = next
                }
                next = (next + 1) & mask
            }
        }

        /// Puts `record` in the first free slot of its probe run.
        private mutating func place(_ record: HotRecord, tag: Int, order: Int) {
            let mask = capacity - 1
            var index = tag & mask
            while slots[index].record != nil { index = (index + 1) & mask }
            slots[index] = Slot(record: record, tag: tag, order: order)
        }

        private mutating func grow() {
            let old = slots
            let oldCapacity = capacity
            capacity *= 2
            slots = .allocate(capacity: capacity)
            slots.initialize(repeating: .empty, count: capacity)
            for index in 0..<oldCapacity {
                if let record = old[index].record { place(record, tag: old[index].tag, order: old[index].order) }
            }
            old.deinitialize(count: oldCapacity)
            old.deallocate()
        }

        /// Inserts `record` (whose key is not cached), evicting the oldest records to stay within `limit` bytes.
        mutating func insert(_ record: HotRecord, limit: Int) {
            let cost = record.cost
            guard cost <= limit else { return }
            evict(toFit: cost, limit: limit)
            if (count + 1) * 2 > capacity { grow() }
            place(record, tag: record.tag, order: fifoBase + fifo.count)
            fifo.append(record)
            count += 1
            bytes += cost
        }

        /// Replaces the record in slot `index` with `record` (the same key), which keeps its FIFO place.
        mutating func replace(at index: Int, with record: HotRecord, limit: Int) {
            guard let old = slots[index].record else { return }
            bytes += record.cost - old.cost
            slots[index].record = record
            let position = slots[index].order - fifoBase
            if position >= 0, position < fifo.count { fifo[position] = record }
            evict(toFit: 0, limit: limit)
        }

        /// Evicts the oldest records until `extra` more bytes fit under `limit`.
        mutating func evict(toFit extra: Int, limit: Int) {
            while bytes + extra > limit, fifoHead < fifo.count {
                let victim = fifo[fifoHead]
                // Drop the FIFO's reference too, or evicted records stay in memory until the FIFO is compacted.
                fifo[fifoHead] = nil
                fifoHead += 1
                if let victim, let index = find(identical: victim) { remove(at: index) }
            }
            if fifo.count - fifoHead > 2 * count + 1024 {
                // Mostly holes (removed keys): rebuild the FIFO from the live records, in order.
                var kept: [HotRecord?] = []
                kept.reserveCapacity(count)
                for position in fifoHead..<fifo.count {
                    guard let record = fifo[position], let index = find(identical: record) else { continue }
                    slots[index].order = kept.count
                    kept.append(record)
                }
                fifo = kept
                fifoBase = 0
                fifoHead = 0
            } else if fifoHead > 1024, fifoHead * 2 > fifo.count {
                fifo.removeFirst(fifoHead)
                fifoBase += fifoHead
                fifoHead = 0
            }
        }

        /// Every cached record.
        func all() -> [HotRecord] {
            (0..<capacity).compactMap { slots[$0].record }
        }
    }

    /// A key's tenant and key bytes, valid while the caller holds them; handed
    /// into a stripe's lock, which only compares them.
    private struct KeyBytes: @unchecked Sendable {
        let tenant: UnsafeRawBufferPointer
        let key: UnsafeRawBufferPointer
    }

    /// A reader's proof of which commits it has seen in a stripe.
    struct FillTicket {
        fileprivate let stripe: Int
        fileprivate let tag: Int
        fileprivate let commits: UInt64
    }

    private final class StripeBox: Sendable {
        let state = Mutex(Stripe())
    }

    private let stripes: [StripeBox]
    private let bytesPerStripe: Int
    let hits = AtomicCounter()
    let misses = AtomicCounter()

    /// - Parameter capacityBytes: approximate bound on key and value bytes held (0 disables the cache).
    init(capacityBytes: Int, stripeCount: Int = 64) {
        stripes = (0..<max(stripeCount, 1)).map { _ in StripeBox() }
        bytesPerStripe = capacityBytes / max(stripeCount, 1)
    }

    var isEnabled: Bool { bytesPerStripe > 0 }

    /// Bytes counted for an entry with `keyBytes` of tenant and key and
    /// `valueBytes` of value: those plus a fixed overhead, measured (process
    /// RSS over 200,000 entries, 10- to 1,000-byte values) at 165–180 bytes:
    /// the record allocation's header and malloc rounding, its slot in a table
    /// kept at most half full, and its place in the FIFO.
    static func cost(keyBytes: Int, valueBytes: Int) -> Int { keyBytes + valueBytes + 176 }

    /// Bytes counted for caching `record` under `key`.
    private static func cost(_ key: DataKey, _ record: Record) -> Int {
        cost(keyBytes: key.tenant.count + key.key.count, valueBytes: record.value.count)
    }

    /// The cache's hash of a key: seeded per process, over the placement hash and the key bytes.
    static func tag(hash: UInt64, key: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(hash)
        hasher.combine(bytes: key)
        return hasher.finalize()
    }

    fileprivate static func equal(_ stored: UnsafeRawPointer, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return memcmp(stored, base, bytes.count) == 0
    }

    private func stripeIndex(_ tag: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(UInt(bitPattern: tag)) >> 40) % stripes.count
    }

    private static func withBytes<Result>(_ key: DataKey, _ body: (KeyBytes) -> Result) -> Result {
        key.tenant.withUnsafeBytes { tenant in key.key.withUnsafeBytes { body(KeyBytes(tenant: tenant, key: $0)) } }
    }

    /// The cached live record, or `nil` when not cached (or expired, then dropped).
    /// `ticket` is set on a miss: pass it to `fill` after reading storage.
    func lookup(_ key: DataKey, now: Int64, ticket: inout FillTicket?) -> Record? {
        Self.withBytes(key) { bytes in
            lookup(hash: key.hash, tenant: bytes.tenant, key: bytes.key, now: now, ticket: &ticket)
        }?.record
    }

    /// The cached live record of `tenant` and `key` (placement hash `hash`),
    /// without building a `DataKey`; see `lookup(_:now:ticket:)`.
    func lookup(
        hash: UInt64, tenant: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, now: Int64, ticket: inout FillTicket?
    ) -> HotRecord? {
        guard isEnabled else { return nil }
        let tag = Self.tag(hash: hash, key: key)
        let index = stripeIndex(tag)
        let bytes = KeyBytes(tenant: tenant, key: key)
        var missed: FillTicket?
        let found = stripes[index].state.withLock { stripe -> HotRecord? in
            guard let slot = stripe.find(tag: tag, bytes) else {
                missed = FillTicket(stripe: index, tag: tag, commits: stripe.commits)
                return nil
            }
            let record = stripe.slots[slot].record!
            if record.isExpired(at: now) {
                stripe.remove(at: slot)
                missed = FillTicket(stripe: index, tag: tag, commits: stripe.commits)
                return nil
            }
            return record
        }
        ticket = missed
        if found != nil { hits.add(1) } else { misses.add(1) }
        return found
    }

    /// Caches `record` read from storage, unless a commit touched the stripe since `ticket`.
    func fill(_ key: DataKey, _ record: Record, ticket: FillTicket?) {
        guard let ticket, isEnabled,
            Self.cost(key, record) <= bytesPerStripe
        else { return }
        let made = HotRecord(tag: ticket.tag, key: key, record: record)
        let limit = bytesPerStripe
        Self.withBytes(key) { bytes in
            stripes[ticket.stripe].state.withLock { stripe in
                guard stripe.commits == ticket.commits, stripe.find(tag: ticket.tag, bytes) == nil
                else { return }
                stripe.insert(made, limit: limit)
            }
        }
    }

    /// Applies committed writes: new records replace, `nil` removes. A
    /// replaced key keeps its place in the eviction order.
    func apply(_ committed: some Sequence<(DataKey, Record?)>) {
        for (key, record) in committed { apply(key, record) }
    }

    /// Applies one committed write of `key`: `record` replaces (keeping the
    /// key's place in the eviction order), `nil` removes.
    func apply(_ key: DataKey, _ record: Record?) {
        guard isEnabled else { return }
        let limit = bytesPerStripe
        let tag = key.key.withUnsafeBytes { Self.tag(hash: key.hash, key: $0) }
        // A deletion, or a record too big to cache: the key leaves the cache.
        let made = record.flatMap { record in
            Self.cost(key, record) <= limit
                ? HotRecord(tag: tag, key: key, record: record) : nil
        }
        Self.withBytes(key) { bytes in
            stripes[stripeIndex(tag)].state.withLock { stripe in
                stripe.commits &+= 1
                let slot = stripe.find(tag: tag, bytes)
                switch (slot, made) {
                case (let slot?, let made?): stripe.replace(at: slot, with: made, limit: limit)
                case (let slot?, nil): stripe.remove(at: slot)
                case (nil, let made?): stripe.insert(made, limit: limit)
                case (nil, nil): break
                }
            }
        }
    }

    /// Drops every cached record whose placement hash lies in `hashes` (a shard replaced wholesale).
    func removeAll(hashes: ClosedRange<UInt64>) {
        for box in stripes {
            box.state.withLock { stripe in
                stripe.commits &+= 1
                for record in stripe.all()
                where hashes.contains(record.placementHash) {
                    if let slot = stripe.find(identical: record) { stripe.remove(at: slot) }
                }
            }
        }
    }
}
