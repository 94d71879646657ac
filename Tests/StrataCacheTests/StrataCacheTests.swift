import Synchronization
import Testing

@testable import StrataCache

@Suite("Cache engine")
struct StrataCacheTests {
    typealias Cache = StrataCache<String, String, ManualClock>

    static func cache(_ clock: ManualClock, policy: CachePolicy = CachePolicy(jitter: 0), maxBytes: Int = 1 << 20) -> Cache {
        Cache(maxBytes: maxBytes, policy: policy, clock: clock) { key, value in key.utf8.count + (value?.utf8.count ?? 0) + 32 }
    }

    struct Failure: Error {}

    @Test("1,000 concurrent readers of a missing key, then of a hard-expired one, cause exactly one load each time")
    func coalescing() async throws {
        let clock = ManualClock()
        let cache = Self.cache(clock, policy: CachePolicy(softTTL: .seconds(10), hardTTL: .seconds(20), jitter: 0))
        let loads = Counter()
        for round in 0..<2 {
            let gate = Gate()
            let results = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        try await cache.get("hot") { _ in
                            loads.increment()
                            await gate.wait()
                            return Loaded(value: "v\(round)", version: UInt64(round + 1))
                        }
                    }
                }
                // Every reader has joined the one load before it finishes.
                #expect(await eventually { cache.statistics.coalescedWaits == 999 * (round + 1) })
                gate.release()
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(results.count == 1000 && results.allSatisfy { $0 == "v\(round)" })
            #expect(loads.value == round + 1)
            clock.advance(by: .seconds(21))  // past the hard TTL
        }
    }

    @Test("during soft expiry every reader gets the stale value at once and exactly one refresh runs")
    func staleWhileRevalidate() async throws {
        let clock = ManualClock()
        let cache = Self.cache(clock, policy: CachePolicy(softTTL: .seconds(10), hardTTL: .seconds(60), jitter: 0))
        _ = try await cache.get("k") { _ in Loaded(value: "old", version: 1) }
        clock.advance(by: .seconds(11))
        let gate = Gate()
        let refreshes = Counter()
        // The refresh is held open: every read still answers (stale) without waiting for it.
        for _ in 0..<100 {
            let value = try await cache.get("k") { _ in
                refreshes.increment()
                await gate.wait()
                return Loaded(value: "new", version: 2)
            }
            #expect(value == "old")
        }
        #expect(cache.statistics.staleServed == 100)
        gate.release()
        #expect(await eventually { cache.peek("k")?.value == "new" })
        #expect(refreshes.value == 1)
        #expect(try await cache.get("k") { _ in Loaded(value: "unused", version: 3) } == "new")
    }

    @Test("stale-if-error serves within its window and fails after it; a failed load fails its waiters once and does not poison the key")
    func staleIfError() async throws {
        let clock = ManualClock()
        let cache = Self.cache(
            clock, policy: CachePolicy(softTTL: .seconds(10), hardTTL: .seconds(20), staleIfError: .seconds(30), jitter: 0))
        _ = try await cache.get("k") { _ in Loaded(value: "good", version: 1) }
        clock.advance(by: .seconds(25))  // past hard, within stale-if-error
        #expect(try await cache.get("k") { _ in throw Failure() } == "good")
        clock.advance(by: .seconds(30))  // past hard + stale-if-error
        await #expect(throws: Failure.self) { try await cache.get("k") { _ in throw Failure() } }

        // Ten waiters of one failing load: each gets the error once; the next read loads again.
        let gate = Gate()
        let attempts = Counter()
        let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do {
                        _ = try await cache.get("broken") { _ in
                            attempts.increment()
                            await gate.wait()
                            throw Failure()
                        }
                        return false
                    } catch is Failure {
                        return true
                    }
                }
            }
            #expect(await eventually { cache.statistics.coalescedWaits >= 9 })
            gate.release()
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 10 && attempts.value == 1)
        #expect(try await cache.get("broken") { _ in Loaded(value: "fixed", version: 1) } == "fixed")
    }

    @Test("jittered TTLs spread the expiry of entries filled together")
    func jitter() async throws {
        let clock = ManualClock()
        let cache = Self.cache(clock, policy: CachePolicy(softTTL: .seconds(10), hardTTL: .seconds(10), jitter: 0.2))
        for i in 0..<1000 { cache.put("k\(i)", value: "v", version: 1) }
        var expiredAt: [Int] = []  // how many had expired at each half second from 7.5 s to 12.5 s
        clock.advance(by: .milliseconds(7500))
        for _ in 0...10 {
            let loads = Counter()
            for i in 0..<1000 where cache.peek("k\(i)") != nil {
                _ = try await cache.get("k\(i)") { _ in
                    loads.increment()
                    return Loaded(value: "v", version: 1)
                }
            }
            expiredAt.append(loads.value)
            // A reloaded entry gets a fresh TTL (at least 8 s): it does not expire again in this window.
            clock.advance(by: .milliseconds(500))
        }
        #expect(expiredAt.first == 0, "nothing expires before 8 s: \(expiredAt)")
        #expect(expiredAt.filter { $0 > 0 }.count >= 6, "expiries spread over the ±20 % window: \(expiredAt)")
        #expect(expiredAt.allSatisfy { $0 < 400 }, "no thundering herd at one instant: \(expiredAt)")
    }

    @Test("a fill racing an invalidation or a write never stores the old version; versions never go back")
    func versionFencing() async throws {
        let clock = ManualClock()
        let cache = Self.cache(clock)
        // A load starts (it will return version 5), a write of version 6 lands, then the load finishes.
        let gate = Gate()
        let reader = Task {
            try await cache.get("k") { _ in
                await gate.wait()
                return Loaded(value: "from-storage-v5", version: 5)
            }
        }
        #expect(await eventually { cache.statistics.loads == 1 })
        cache.put("k", value: "written-v6", version: 6)
        gate.release()
        _ = try await reader.value
        #expect(cache.peek("k")?.version == 6 && cache.peek("k")?.value == "written-v6")

        // An invalidation during a load: the load's result is not stored.
        let gate2 = Gate()
        let reader2 = Task {
            try await cache.get("j") { _ in
                await gate2.wait()
                return Loaded(value: "old", version: 3)
            }
        }
        #expect(await eventually { cache.statistics.loads == 2 })
        cache.invalidate("j")
        gate2.release()
        _ = try await reader2.value
        #expect(cache.peek("j") == nil)

        // Never back to an older version.
        cache.put("v", value: "ten", version: 10)
        cache.put("v", value: "nine", version: 9)
        #expect(cache.peek("v")?.version == 10)
        cache.invalidate("v", olderThan: 10)
        #expect(cache.peek("v")?.version == 10, "the held version is not older than 10")
        cache.invalidate("v", olderThan: 11)
        #expect(cache.peek("v") == nil)
    }

    @Test("eviction keeps the byte bound")
    func byteBound() async throws {
        let clock = ManualClock()
        let cache = Self.cache(clock, maxBytes: 16 * 1_000)
        for i in 0..<5_000 { cache.put("key\(i)", value: String(repeating: "x", count: 60), version: 1) }
        let stats = cache.statistics
        #expect(stats.bytes <= 16 * 1_000 && stats.bytes > 8 * 1_000, "\(stats)")
        #expect(stats.evictions > 4_000 && stats.entries < 200)
    }

    @Test("misses are cached for the negative TTL; a cancelled caller does not cancel the load for the others")
    func negativeCachingAndCancellation() async throws {
        let clock = ManualClock()
        let cache = Self.cache(clock, policy: CachePolicy(softTTL: .seconds(10), hardTTL: .seconds(20), negativeTTL: .seconds(2), jitter: 0))
        let loads = Counter()
        let missing: @Sendable (String) async throws -> Loaded<String> = { _ in
            loads.increment()
            return Loaded(value: nil, version: 0)
        }
        #expect(try await cache.get("nothing", load: missing) == nil)
        #expect(try await cache.get("nothing", load: missing) == nil)
        #expect(loads.value == 1)
        clock.advance(by: .seconds(3))
        #expect(try await cache.get("nothing", load: missing) == nil)
        #expect(loads.value == 2)

        let gate = Gate()
        let load: @Sendable (String) async throws -> Loaded<String> = { _ in
            await gate.wait()
            return Loaded(value: "shared", version: 1)
        }
        let first = Task { try await cache.get("c", load: load) }
        let second = Task { try await cache.get("c", load: load) }
        #expect(await eventually { cache.statistics.coalescedWaits >= 1 })
        first.cancel()
        gate.release()
        #expect(try await second.value == "shared")
        #expect(cache.peek("c")?.value == "shared")
    }

    @Test("XFetch refreshes a fresh entry early as its expiry nears (scaled by its load time); off, it never does")
    func earlyRefresh() async throws {
        let clock = ManualClock()
        for beta in [1.0, nil] {
            let cache = Self.cache(clock, policy: CachePolicy(softTTL: .seconds(10), hardTTL: .seconds(20), jitter: 0, earlyRefreshBeta: beta))
            let loads = Counter()
            let load: @Sendable (String) async throws -> Loaded<String> = { _ in
                loads.increment()
                clock.advance(by: .seconds(1))  // a load takes 1 s: δ = 1 s
                return Loaded(value: "v", version: 1)
            }
            _ = try await cache.get("x", load: load)
            clock.advance(by: .milliseconds(8500))  // 0.5 s before the soft expiry
            for _ in 0..<50 { _ = try await cache.get("x", load: load) }
            if beta == nil {
                #expect(loads.value == 1)
            } else {
                #expect(await eventually { loads.value >= 2 })
            }
            clock.advance(by: .seconds(100))
        }
    }
}
