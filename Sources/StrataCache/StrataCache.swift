import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How long entries stay fresh, usable and stale, per cache (or per tenant in the gateway).
public struct CachePolicy: Sendable, Hashable {
    /// Fresh for this long after a load or write: served without asking storage.
    public var softTTL: Duration
    /// Usable for this long: between `softTTL` and `hardTTL` the entry is served
    /// stale while one background refresh runs; after it, a read waits for a load.
    public var hardTTL: Duration
    /// After `hardTTL`, a failing load still serves the stale value for this long (stale-if-error).
    public var staleIfError: Duration
    /// Misses (the key does not exist) are cached this long; `.zero` turns negative caching off.
    public var negativeTTL: Duration
    /// Each TTL is scaled by a random factor in `1 ± jitter`, so entries filled together do not expire together.
    public var jitter: Double
    /// XFetch's β for probabilistic early refresh (`nil`: off): a fresh entry is refreshed
    /// early with a probability that grows as its soft expiry nears, scaled by its load time.
    public var earlyRefreshBeta: Double?

    /// A policy; the defaults suit a read-mostly key-value cache.
    public init(
        softTTL: Duration = .seconds(30), hardTTL: Duration = .seconds(300), staleIfError: Duration = .seconds(60),
        negativeTTL: Duration = .seconds(5), jitter: Double = 0.1, earlyRefreshBeta: Double? = nil
    ) {
        self.softTTL = softTTL
        self.hardTTL = max(hardTTL, softTTL)
        self.staleIfError = staleIfError
        self.negativeTTL = negativeTTL
        self.jitter = min(max(jitter, 0), 0.5)
        self.earlyRefreshBeta = earlyRefreshBeta
    }
}

/// What a load found: the value (`nil`: the key does not exist) and its storage version.
public struct Loaded<Value: Sendable>: Sendable {
    /// The value, or `nil` for a key that does not exist.
    public var value: Value?
    /// The storage version of the value (0 for a missing key).
    public var version: UInt64
    /// When storage expires the key (its TTL there): the entry is never served past it.
    public var expiresIn: Duration?

    /// A load result.
    public init(value: Value?, version: UInt64, expiresIn: Duration? = nil) {
        self.value = value
        self.version = version
        self.expiresIn = expiresIn
    }
}

/// Counters of a cache's activity.
public struct CacheStatistics: Sendable, Hashable {
    /// Reads served from a fresh entry (negative entries included).
    public var hits = 0
    /// Reads that found no usable entry and waited for a load.
    public var misses = 0
    /// Reads served a stale entry (during a refresh, or because the load failed).
    public var staleServed = 0
    /// Reads that joined a load another read had started.
    public var coalescedWaits = 0
    /// Loads run (blocking and background).
    public var loads = 0
    /// Loads that failed.
    public var loadFailures = 0
    /// Entries evicted to keep the byte bound.
    public var evictions = 0
    /// Bytes held now.
    public var bytes = 0
    /// Entries held now.
    public var entries = 0

    /// All counters zero.
    public init() {}

    /// Adds every counter of `other` to these (sums over stripes, tenants, caches).
    public mutating func add(_ other: CacheStatistics) {
        hits += other.hits
        misses += other.misses
        staleServed += other.staleServed
        coalescedWaits += other.coalescedWaits
        loads += other.loads
        loadFailures += other.loadFailures
        evictions += other.evictions
        bytes += other.bytes
        entries += other.entries
    }
}

/// Strata's cache engine: bounded by bytes, striped locks, S3-FIFO eviction,
/// soft and hard TTLs with stale-while-revalidate, stale-if-error, TTL jitter,
/// optional XFetch early refresh, negative caching, request coalescing (at most
/// one load per key in flight) and version fencing (an entry never goes back
/// to an older version; a load that began before an invalidation of its key
/// cannot store its result). No I/O: the caller passes the loader. Time comes
/// from `clock`, so tests drive it by hand.
public final class StrataCache<Key: Hashable & Sendable, Value: Sendable, C: Clock>: Sendable
where C.Duration == Duration {
    private struct Entry {
        var value: Value?
        var version: UInt64
        var softExpiry: C.Instant
        var hardExpiry: C.Instant
        /// When storage expires the key: never served (not even stale) past it.
        var limit: C.Instant?
        /// How long the load that filled it took (XFetch's δ).
        var loadTime: Duration
    }

    /// One load in flight for a key.
    private struct Flight {
        let id: UInt64
        let task: Task<Loaded<Value>, Error>
        /// The key was invalidated (or written) while the load ran: its result must not be stored.
        var fenced = false
    }

    private struct Stripe {
        var entries: [Key: Entry] = [:]
        var policy: S3FIFO<Key>
        var flights: [Key: Flight] = [:]
        var statistics = CacheStatistics()
    }

    /// One lock and its share of the cache.
    private final class Locked: Sendable {
        let mutex: Mutex<Stripe>
        init(capacity: Int) { mutex = Mutex(Stripe(policy: S3FIFO(capacity: capacity))) }
    }

    private let stripes: [Locked]
    private let policy: CachePolicy
    private let clock: C
    private let size: @Sendable (Key, Value?) -> Int
    private let nextFlight = Atomic<UInt64>(0)

    /// A cache of at most `maxBytes` (as `size` counts them), split into `stripes` locks.
    public init(
        maxBytes: Int, policy: CachePolicy, clock: C, stripes: Int = 16,
        size: @escaping @Sendable (Key, Value?) -> Int
    ) {
        let count = max(stripes, 1)
        self.stripes = (0..<count).map { _ in Locked(capacity: maxBytes / count) }
        self.policy = policy
        self.clock = clock
        self.size = size
    }

    private func stripe(_ key: Key) -> Locked {
        var hasher = Hasher()
        hasher.combine(key)
        return stripes[Int(UInt(bitPattern: hasher.finalize()) % UInt(stripes.count))]
    }

    private func jittered(_ duration: Duration) -> Duration {
        guard policy.jitter > 0 else { return duration }
        return duration * Double.random(in: (1 - policy.jitter)...(1 + policy.jitter))
    }

    /// What `get` does after looking at the entry.
    private enum Step {
        case value(Value?)
        case wait(Task<Loaded<Value>, Error>)
    }

    /// The value of `key` (`nil`: it does not exist), loading it with `load` when no
    /// usable entry is held. Concurrent reads of one key share one load; a stale
    /// entry is served at once while one background refresh runs.
    public func get(_ key: Key, load: @escaping @Sendable (Key) async throws -> Loaded<Value>) async throws -> Value? {
        try await getVersioned(key, load: load).value
    }

    /// Like `get`, with the version of the value served.
    // Pre-specialized for the byte keys and values of the gateway and the near-cache: callers in
    // other modules cannot specialize this generic class, and unspecialized key lookups cost 3x.
    @_specialize(exported: true, where Key == CacheKey, Value == [UInt8], C == ContinuousClock)
    public func getVersioned(_ key: Key, load: @escaping @Sendable (Key) async throws -> Loaded<Value>) async throws
        -> Loaded<Value>
    {
        let now = clock.now
        let step = stripe(key).mutex.withLock { stripe -> (Step, Loaded<Value>?) in
            if let entry = stripe.entries[key], entry.limit.map({ now < $0 }) ?? true {
                let served = Loaded(value: entry.value, version: entry.version)
                if now < entry.softExpiry {
                    stripe.statistics.hits += 1
                    stripe.policy.touch(key)
                    if let beta = policy.earlyRefreshBeta, stripe.flights[key] == nil,
                        earlyRefreshDue(entry, now: now, beta: beta)
                    {
                        startFlight(key, load: load, in: &stripe)
                    }
                    return (.value(entry.value), served)
                }
                if now < entry.hardExpiry {
                    // Stale while revalidating: served now; one refresh in the background.
                    stripe.statistics.staleServed += 1
                    stripe.policy.touch(key)
                    if stripe.flights[key] == nil { startFlight(key, load: load, in: &stripe) }
                    return (.value(entry.value), served)
                }
            }
            stripe.statistics.misses += 1
            if let flight = stripe.flights[key] {
                stripe.statistics.coalescedWaits += 1
                return (.wait(flight.task), nil)
            }
            return (.wait(startFlight(key, load: load, in: &stripe)), nil)
        }
        switch step {
        case (.value, let served?): return served
        case (.value(let value), nil): return Loaded(value: value, version: 0)
        case (.wait(let task), _): return try await task.value
        }
    }

    /// XFetch: refresh early when `now − δ·β·ln(U) ≥ soft expiry`, U uniform in (0, 1].
    private func earlyRefreshDue(_ entry: Entry, now: C.Instant, beta: Double) -> Bool {
        let u = Double.random(in: Double.leastNonzeroMagnitude...1)
        let lead = entry.loadTime * (beta * -log(u))
        return now.advanced(by: lead) >= entry.softExpiry
    }

    /// Starts the one load of `key` (the stripe lock is held); it stores its result when it ends.
    @discardableResult
    private func startFlight(
        _ key: Key, load: @escaping @Sendable (Key) async throws -> Loaded<Value>, in stripe: inout Stripe
    ) -> Task<Loaded<Value>, Error> {
        let id = nextFlight.add(1, ordering: .relaxed).newValue
        stripe.statistics.loads += 1
        // Unstructured: a caller that is cancelled does not cancel the load for the others.
        let task = Task<Loaded<Value>, Error> {
            let started = self.clock.now
            do {
                let loaded = try await load(key)
                self.finish(key, id: id, loaded: loaded, took: started.duration(to: self.clock.now))
                return loaded
            } catch {
                return try self.failed(key, id: id, error: error)
            }
        }
        stripe.flights[key] = Flight(id: id, task: task)
        return task
    }

    /// Stores a load's result unless it was fenced or is older than what is held.
    private func finish(_ key: Key, id: UInt64, loaded: Loaded<Value>, took: Duration) {
        let now = clock.now
        stripe(key).mutex.withLock { stripe in
            guard let flight = stripe.flights[key], flight.id == id else { return }
            stripe.flights[key] = nil
            guard !flight.fenced else { return }
            store(key, loaded, loadTime: took, now: now, in: &stripe)
        }
    }

    /// A failed load: waiters get the stale value while within stale-if-error, else the error (once each).
    private func failed(_ key: Key, id: UInt64, error: Error) throws -> Loaded<Value> {
        let now = clock.now
        let stale = stripe(key).mutex.withLock { stripe -> Loaded<Value>? in
            if let flight = stripe.flights[key], flight.id == id { stripe.flights[key] = nil }
            stripe.statistics.loadFailures += 1
            guard let entry = stripe.entries[key], now < entry.hardExpiry.advanced(by: policy.staleIfError),
                entry.limit.map({ now < $0 }) ?? true
            else {
                return nil
            }
            stripe.statistics.staleServed += 1
            return Loaded(value: entry.value, version: entry.version)
        }
        if let stale { return stale }
        throw error
    }

    private func store(_ key: Key, _ loaded: Loaded<Value>, loadTime: Duration, now: C.Instant, in stripe: inout Stripe) {
        if let held = stripe.entries[key], held.version > loaded.version { return }
        let negative = loaded.value == nil
        if negative, policy.negativeTTL <= .zero {
            stripe.entries[key] = nil
            stripe.policy.remove(key)
            return
        }
        var soft = jittered(negative ? policy.negativeTTL : policy.softTTL)
        var hard = negative ? soft : max(jittered(policy.hardTTL), soft)
        if let expiresIn = loaded.expiresIn {
            soft = min(soft, expiresIn)
            hard = min(hard, expiresIn)
        }
        stripe.entries[key] = Entry(
            value: loaded.value, version: loaded.version, softExpiry: now.advanced(by: soft),
            hardExpiry: now.advanced(by: hard), limit: loaded.expiresIn.map { now.advanced(by: $0) }, loadTime: loadTime)
        let evicted = stripe.policy.insert(key, size: size(key, loaded.value))
        for victim in evicted where victim != key { stripe.entries[victim] = nil }
        if evicted.contains(key) { stripe.entries[key] = nil }
        stripe.statistics.evictions += evicted.count
    }

    /// Write-through: takes the value a write stored at `version` (`nil`: deleted),
    /// unless a newer version is held. A load in flight for the key cannot store after this.
    // Pre-specialized for the byte keys and values of the gateway and the near-cache: callers in
    // other modules cannot specialize this generic class, and unspecialized key lookups cost 3x.
    @_specialize(exported: true, where Key == CacheKey, Value == [UInt8], C == ContinuousClock)
    public func put(_ key: Key, value: Value?, version: UInt64) {
        let now = clock.now
        stripe(key).mutex.withLock { stripe in
            stripe.flights[key]?.fenced = true
            store(key, Loaded(value: value, version: version), loadTime: .zero, now: now, in: &stripe)
        }
    }

    /// Drops `key` if the held version is older than `version` (any version when `nil`);
    /// a load in flight for it cannot store its result.
    // Pre-specialized for the byte keys and values of the gateway and the near-cache: callers in
    // other modules cannot specialize this generic class, and unspecialized key lookups cost 3x.
    @_specialize(exported: true, where Key == CacheKey, Value == [UInt8], C == ContinuousClock)
    public func invalidate(_ key: Key, olderThan version: UInt64? = nil) {
        stripe(key).mutex.withLock { stripe in
            stripe.flights[key]?.fenced = true
            if let version, let held = stripe.entries[key], held.version >= version { return }
            stripe.entries[key] = nil
            stripe.policy.remove(key)
        }
    }

    /// Drops every entry whose key matches (a change-feed gap: their staleness is unknown).
    public func invalidateAll(where matches: (Key) -> Bool) {
        for stripe in stripes {
            stripe.mutex.withLock { stripe in
                for key in stripe.entries.keys where matches(key) {
                    stripe.entries[key] = nil
                    stripe.policy.remove(key)
                }
                for key in stripe.flights.keys where matches(key) { stripe.flights[key]?.fenced = true }
            }
        }
    }

    /// The value held for `key` if it is fresh, counted as a hit (`nil`: not held or not
    /// fresh; call `get`). Never waits: for serving from memory on an event loop.
    // Pre-specialized for the byte keys and values of the gateway and the near-cache: callers in
    // other modules cannot specialize this generic class, and unspecialized key lookups cost 3x.
    @_specialize(exported: true, where Key == CacheKey, Value == [UInt8], C == ContinuousClock)
    public func fresh(_ key: Key) -> Loaded<Value>? {
        let now = clock.now
        return stripe(key).mutex.withLock { stripe in
            guard let entry = stripe.entries[key], now < entry.softExpiry, entry.limit.map({ now < $0 }) ?? true else {
                return nil
            }
            if policy.earlyRefreshBeta != nil, earlyRefreshDue(entry, now: now, beta: policy.earlyRefreshBeta!) { return nil }
            stripe.statistics.hits += 1
            stripe.policy.touch(key)
            return Loaded(value: entry.value, version: entry.version)
        }
    }

    /// The value and version held for `key` (fresh or stale), without loading.
    public func peek(_ key: Key) -> Loaded<Value>? {
        stripe(key).mutex.withLock { stripe in stripe.entries[key].map { Loaded(value: $0.value, version: $0.version) } }
    }

    /// Counters summed over the stripes.
    public var statistics: CacheStatistics {
        var total = CacheStatistics()
        for stripe in stripes {
            stripe.mutex.withLock { stripe in
                var counted = stripe.statistics
                counted.bytes = stripe.policy.bytes
                counted.entries = stripe.entries.count
                total.add(counted)
            }
        }
        return total
    }
}
