/// The S3-FIFO eviction policy (Yang et al., SOSP 2023) over byte-sized
/// entries: a small FIFO (10 % of the bytes) admits new keys, a main FIFO
/// (90 %) holds keys seen again, and a ghost FIFO remembers recently evicted
/// keys (no values) so a key that comes back goes straight to main. Each entry
/// has a 2-bit access counter: leaving the small queue it moves to main if it
/// was read since insertion; at main's tail it gets another lap while its
/// counter is above zero. One-hit wonders leave quickly, so scans do not
/// flush the hot set as they do with LRU.
///
/// Not thread-safe: `StrataCache` guards each stripe's policy with a lock.
struct S3FIFO<Key: Hashable> {
    private struct Slot {
        var key: Key
        var size: Int
        var frequency: UInt8
        var inMain: Bool
    }

    /// Slots by key; the queues hold keys, and stale queue items (keys that
    /// moved or left) are skipped when they reach a tail.
    private var slots: [Key: Slot] = [:]
    private var small = Ring<Key>()
    private var main = Ring<Key>()
    private var ghost = Ring<Key>()
    private var ghostSet: Set<Key> = []
    private var smallBytes = 0
    private var mainBytes = 0
    /// The byte budget.
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Bytes held.
    var bytes: Int { smallBytes + mainBytes }
    /// Entries held.
    var count: Int { slots.count }

    /// Whether `key` is held.
    func contains(_ key: Key) -> Bool { slots[key] != nil }

    /// Notes a read of `key`.
    mutating func touch(_ key: Key) {
        // One lookup for a key already at the top count (the hot ones), in place otherwise.
        guard let frequency = slots[key]?.frequency, frequency < 3 else { return }
        slots[key]?.frequency = frequency + 1
    }

    /// Adds `key` (or updates its size) and returns the keys evicted to make room.
    mutating func insert(_ key: Key, size: Int) -> [Key] {
        if var slot = slots[key] {
            if slot.inMain { mainBytes += size - slot.size } else { smallBytes += size - slot.size }
            slot.size = size
            slots[key] = slot
        } else if ghostSet.remove(key) != nil {
            slots[key] = Slot(key: key, size: size, frequency: 0, inMain: true)
            main.append(key)
            mainBytes += size
        } else {
            slots[key] = Slot(key: key, size: size, frequency: 0, inMain: false)
            small.append(key)
            smallBytes += size
        }
        var evicted: [Key] = []
        while bytes > capacity, let victim = evict() { evicted.append(victim) }
        return evicted
    }

    /// Forgets `key` (an invalidation, not an eviction).
    mutating func remove(_ key: Key) {
        guard let slot = slots.removeValue(forKey: key) else { return }
        if slot.inMain { mainBytes -= slot.size } else { smallBytes -= slot.size }
    }

    /// Evicts one entry and returns its key.
    private mutating func evict() -> Key? {
        while !slots.isEmpty {
            if smallBytes > capacity / 10 || mainBytes == 0 {
                guard let key = small.popFirst() else { break }
                guard var slot = slots[key], !slot.inMain else { continue }
                if slot.frequency > 0 {
                    // Read again while on probation: into main.
                    slot.inMain = true
                    slot.frequency = 0
                    slots[key] = slot
                    smallBytes -= slot.size
                    mainBytes += slot.size
                    main.append(key)
                } else {
                    slots[key] = nil
                    smallBytes -= slot.size
                    rememberGhost(key)
                    return key
                }
            } else {
                guard let key = main.popFirst() else { break }
                guard var slot = slots[key], slot.inMain else { continue }
                if slot.frequency > 0 {
                    slot.frequency -= 1
                    slots[key] = slot
                    main.append(key)
                } else {
                    slots[key] = nil
                    mainBytes -= slot.size
                    return key
                }
            }
        }
        return nil
    }

    /// The ghost queue holds about as many keys as main holds entries.
    private mutating func rememberGhost(_ key: Key) {
        ghost.append(key)
        ghostSet.insert(key)
        let limit = max(slots.count, 16)
        while ghostSet.count > limit, let old = ghost.popFirst() { ghostSet.remove(old) }
    }
}

/// Plain LRU over byte-sized entries: the baseline the benchmarks compare against.
public struct LRUPolicy<Key: Hashable> {
    private var order: [Key: (size: Int, stamp: UInt64)] = [:]
    private var queue = Ring<(Key, UInt64)>()
    private var clock: UInt64 = 0
    private(set) var bytes = 0
    let capacity: Int

    /// An LRU holding at most `capacity` bytes.
    public init(capacity: Int) { self.capacity = max(capacity, 1) }

    /// Whether `key` is held; a hit moves it to the front.
    public mutating func access(_ key: Key) -> Bool {
        guard let entry = order[key] else { return false }
        clock += 1
        order[key] = (entry.size, clock)
        queue.append((key, clock))
        compact()
        return true
    }

    /// Adds `key`, evicting the least recently used entries beyond the budget.
    public mutating func insert(_ key: Key, size: Int) {
        clock += 1
        bytes += size - (order[key]?.size ?? 0)
        order[key] = (size, clock)
        queue.append((key, clock))
        while bytes > capacity, let (victim, stamp) = queue.popFirst() {
            guard let entry = order[victim], entry.stamp == stamp else { continue }
            order[victim] = nil
            bytes -= entry.size
        }
        compact()
    }

    /// Drops queue items of keys accessed since (keeps the queue near the entry count).
    private mutating func compact() {
        guard queue.count > 4 * max(order.count, 64) else { return }
        var fresh = Ring<(Key, UInt64)>()
        while let (key, stamp) = queue.popFirst() {
            if order[key]?.stamp == stamp { fresh.append((key, stamp)) }
        }
        queue = fresh
    }
}

/// A FIFO queue over a growable circular buffer.
struct Ring<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: max(16, storage.count * 2))
        for index in 0..<count { bigger[index] = storage[(head + index) % storage.count] }
        storage = bigger
        head = 0
    }
}
