import NIOConcurrencyHelpers
import StrataStorage

/// The node's in-memory hot set: live records by data key, bounded by bytes,
/// striped by placement hash so threads rarely share a lock.
///
/// Coherence: the single writer updates the cache after every commit (the new
/// record, or removal), so the cache never holds a value older than the last
/// commit of its key. A reader that missed fills the cache only if no commit
/// touched the key's stripe between its fill ticket and its insert, so a
/// slow read can never put back a value a commit has replaced.
/// Eviction is FIFO per stripe (inserts evict the oldest keys first).
final class RecordCache: Sendable {
    private struct Stripe {
        var records: [DataKey: Record] = [:]
        var order: [DataKey] = []
        var orderHead = 0
        var bytes = 0
        var commits: UInt64 = 0
    }

    /// A reader's proof of which commits it has seen in a stripe.
    struct FillTicket {
        fileprivate let stripe: Int
        fileprivate let commits: UInt64
    }

    private let stripes: [NIOLockedValueBox<Stripe>]
    private let bytesPerStripe: Int
    let hits = Counter()
    let misses = Counter()

    /// - Parameter capacityBytes: approximate bound on key and value bytes held (0 disables the cache).
    init(capacityBytes: Int, stripeCount: Int = 64) {
        stripes = (0..<stripeCount).map { _ in NIOLockedValueBox(Stripe()) }
        bytesPerStripe = capacityBytes / stripeCount
    }

    var isEnabled: Bool { bytesPerStripe > 0 }

    private func stripeIndex(_ key: DataKey) -> Int {
        Int(truncatingIfNeeded: (key.hash ^ (key.hash >> 29)) % UInt64(stripes.count))
    }

    private static func cost(_ key: DataKey, _ record: Record) -> Int {
        key.tenant.count + key.key.count + record.value.count + 96
    }

    /// The cached live record, or `nil` when not cached (or expired, then dropped).
    /// `ticket` is set on a miss: pass it to `fill` after reading storage.
    func lookup(_ key: DataKey, now: Int64, ticket: inout FillTicket?) -> Record? {
        guard isEnabled else { return nil }
        let index = stripeIndex(key)
        let found = stripes[index].withLockedValue { stripe -> Record? in
            guard let record = stripe.records[key] else {
                ticket = FillTicket(stripe: index, commits: stripe.commits)
                return nil
            }
            if record.isExpired(at: now) {
                stripe.records[key] = nil
                stripe.bytes -= Self.cost(key, record)
                ticket = FillTicket(stripe: index, commits: stripe.commits)
                return nil
            }
            return record
        }
        if found != nil { hits.add(1) } else { misses.add(1) }
        return found
    }

    /// Caches `record` read from storage, unless a commit touched the stripe since `ticket`.
    func fill(_ key: DataKey, _ record: Record, ticket: FillTicket?) {
        guard let ticket, isEnabled else { return }
        stripes[ticket.stripe].withLockedValue { stripe in
            guard stripe.commits == ticket.commits, stripe.records[key] == nil else { return }
            insert(key, record, into: &stripe)
        }
    }

    /// Applies committed writes: new records replace, `nil` removes. A
    /// replaced key keeps its place in the eviction order.
    func apply(_ committed: some Sequence<(DataKey, Record?)>) {
        guard isEnabled else { return }
        for (key, record) in committed {
            stripes[stripeIndex(key)].withLockedValue { stripe in
                stripe.commits &+= 1
                // A deletion, or a record too big to cache: the key leaves the cache.
                let cost = record.map { Self.cost(key, $0) } ?? .max
                guard let record, cost <= bytesPerStripe else {
                    if let old = stripe.records.removeValue(forKey: key) { stripe.bytes -= Self.cost(key, old) }
                    return
                }
                if let index = stripe.records.index(forKey: key) {
                    stripe.bytes += cost - Self.cost(key, stripe.records.values[index])
                    stripe.records.values[index] = record
                    evict(from: &stripe, toFit: 0)
                } else {
                    insert(key, record, into: &stripe)
                }
            }
        }
    }

    /// Drops every cached record whose placement hash lies in `hashes` (a shard replaced wholesale).
    func removeAll(hashes: ClosedRange<UInt64>) {
        for stripe in stripes {
            stripe.withLockedValue { stripe in
                stripe.commits &+= 1
                for (key, record) in stripe.records where hashes.contains(key.hash) {
                    stripe.records[key] = nil
                    stripe.bytes -= Self.cost(key, record)
                }
            }
        }
    }

    private func insert(_ key: DataKey, _ record: Record, into stripe: inout Stripe) {
        let cost = Self.cost(key, record)
        guard cost <= bytesPerStripe else { return }
        evict(from: &stripe, toFit: cost)
        stripe.records[key] = record
        stripe.order.append(key)
        stripe.bytes += cost
    }

    /// Evicts the oldest keys until `extra` more bytes fit in the stripe.
    private func evict(from stripe: inout Stripe, toFit extra: Int) {
        while stripe.bytes + extra > bytesPerStripe, stripe.orderHead < stripe.order.count {
            let victim = stripe.order[stripe.orderHead]
            stripe.orderHead += 1
            if let evicted = stripe.records.removeValue(forKey: victim) {
                stripe.bytes -= Self.cost(victim, evicted)
            }
        }
        // Removed and re-inserted keys leave stale duplicates in the FIFO; rebuild it before it outgrows the map.
        if stripe.order.count - stripe.orderHead > 2 * stripe.records.count + 1024 {
            stripe.order = Array(stripe.records.keys)
            stripe.orderHead = 0
        } else if stripe.orderHead > 1024, stripe.orderHead * 2 > stripe.order.count {
            stripe.order.removeFirst(stripe.orderHead)
            stripe.orderHead = 0
        }
    }
}
