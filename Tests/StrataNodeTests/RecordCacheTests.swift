import NIOCore
import Testing
import StrataCluster
import StrataStorage
import StrataWire
@testable import StrataNode

@Suite("Record cache")
struct RecordCacheTests {
    func key(_ i: Int) -> DataKey { DataKey(hash: UInt64(i) &* 0x9E37_79B9_7F4A_7C15, tenant: Array("t".utf8), key: Array("k\(i)".utf8)) }

    @Test("a fill after a commit to the stripe is refused, so a slow read cannot restore an old value")
    func fencedFill() {
        let cache = RecordCache(capacityBytes: 1 << 20, stripeCount: 1)
        var ticket: RecordCache.FillTicket?
        #expect(cache.lookup(key(1), now: 0, ticket: &ticket) == nil)
        // A commit lands between the reader's storage read and its fill.
        cache.apply([(key(1), Record(value: [2], version: 2))])
        cache.fill(key(1), Record(value: [1], version: 1), ticket: ticket)
        var unused: RecordCache.FillTicket?
        #expect(cache.lookup(key(1), now: 0, ticket: &unused)?.version == 2)
        // A deletion likewise.
        cache.apply([(key(1), nil)])
        cache.fill(key(1), Record(value: [1], version: 1), ticket: ticket)
        #expect(cache.lookup(key(1), now: 0, ticket: &unused) == nil)
        // Without an intervening commit the fill is kept.
        var fresh: RecordCache.FillTicket?
        _ = cache.lookup(key(3), now: 0, ticket: &fresh)
        cache.fill(key(3), Record(value: [3], version: 7), ticket: fresh)
        #expect(cache.lookup(key(3), now: 0, ticket: &unused)?.version == 7)
    }

    @Test("expired records are not served; the byte bound holds under many inserts")
    func expiryAndBound() {
        let cache = RecordCache(capacityBytes: 64 * 1024, stripeCount: 4)
        cache.apply([(key(1), Record(value: [1], version: 1, expiresAt: 100))])
        var ticket: RecordCache.FillTicket?
        #expect(cache.lookup(key(1), now: 99, ticket: &ticket)?.value == [1])
        #expect(cache.lookup(key(1), now: 100, ticket: &ticket) == nil)
        // Rewrites with growing values: replacing a key in place must evict to stay in bounds too.
        for round in 0..<20 {
            let size = 20 + 10 * round
            cache.apply((0..<500).map { (key($0), Record(value: [UInt8](repeating: UInt8(round), count: size), version: UInt64(round))) })
        }
        var cached = 0
        for i in 0..<500 where cache.lookup(key(i), now: 0, ticket: &ticket) != nil { cached += 1 }
        #expect(cached > 0)
        // Every entry counts at least its 3 key bytes ("t" and "k0") and 210 value bytes.
        #expect(cached * RecordCache.cost(keyBytes: 3, valueBytes: 210) <= 64 * 1024 + 4 * 400, "about 64 KiB of entries at most")
        // The newest write of every cached key is what is served.
        for i in 0..<500 {
            if let record = cache.lookup(key(i), now: 0, ticket: &ticket) { #expect(record.version == 19 && record.value.count == 210) }
        }
    }

    @Test("keys that share a placement hash (a hashtag, a colocated tenant) are told apart by their bytes")
    func sharedPlacementHash() {
        let cache = RecordCache(capacityBytes: 1 << 20, stripeCount: 2)
        let keys = (0..<300).map { DataKey(hash: 42, tenant: Array("t".utf8), key: Array("{user}:\($0)".utf8)) }
        cache.apply(keys.enumerated().map { ($1, Record(value: Array("v\($0)".utf8), version: UInt64($0 + 1))) })
        // Another tenant with the same key bytes and hash is another record.
        let other = DataKey(hash: 42, tenant: Array("u".utf8), key: keys[7].key)
        var ticket: RecordCache.FillTicket?
        #expect(cache.lookup(other, now: 0, ticket: &ticket) == nil)
        #expect(ticket != nil)
        for (i, key) in keys.enumerated() {
            #expect(cache.lookup(key, now: 0, ticket: &ticket)?.value == Array("v\(i)".utf8))
            // The raw-bytes lookup the inline GET path uses agrees.
            let raw = key.tenant.withUnsafeBytes { tenant in
                key.key.withUnsafeBytes { cache.lookup(hash: 42, tenant: tenant, key: $0, now: 0, ticket: &ticket) }
            }
            #expect(raw?.version == UInt64(i + 1))
            #expect(raw?.withValue { Array($0) } == Array("v\(i)".utf8))
        }
        // Removing every other key leaves the rest reachable (deletion keeps probe runs intact).
        cache.apply(keys.enumerated().filter { $0.offset % 2 == 0 }.map { ($0.element, nil) })
        for (i, key) in keys.enumerated() {
            let found = cache.lookup(key, now: 0, ticket: &ticket)
            #expect(i % 2 == 0 ? found == nil : found?.version == UInt64(i + 1))
        }
    }

    @Test("random writes, deletions, fills and shard drops: the cache never serves anything but the newest committed record")
    func agreesWithModel() {
        var rng = SplitMix64(seed: 7)
        let cache = RecordCache(capacityBytes: 48 * 1024, stripeCount: 4)
        var model: [Int: Record] = [:]
        var version: UInt64 = 0
        // Few distinct hashes, so probe runs are long and deletions shift them.
        func key(_ i: Int) -> DataKey { DataKey(hash: UInt64(i % 37) << 58, tenant: [1], key: Array("key-\(i)".utf8)) }
        for step in 0..<20_000 {
            let i = Int(rng.next() % 600)
            switch rng.next() % 10 {
            case 0..<5:
                version += 1
                let record = Record(value: [UInt8](repeating: UInt8(step & 0xFF), count: Int(rng.next() % 200)), version: version)
                model[i] = record
                cache.apply([(key(i), record)])
            case 5..<7:
                model[i] = nil
                cache.apply([(key(i), nil)])
            case 7..<9:
                // A reader that missed fills from "storage" (the model).
                var ticket: RecordCache.FillTicket?
                if cache.lookup(key(i), now: 0, ticket: &ticket) == nil, let stored = model[i] {
                    cache.fill(key(i), stored, ticket: ticket)
                }
            default:
                // A shard (a quarter of the hash space) replaced wholesale: its keys leave the cache.
                let start = (rng.next() % 4) << 62
                cache.removeAll(hashes: start...(start | (1 << 62 - 1)))
                var ticket: RecordCache.FillTicket?
                for j in 0..<600 where (key(j).hash >> 62) == (start >> 62) {
                    #expect(cache.lookup(key(j), now: 0, ticket: &ticket) == nil)
                }
            }
            var ticket: RecordCache.FillTicket?
            if let cached = cache.lookup(key(i), now: 0, ticket: &ticket) { #expect(cached == model[i]) }
        }
        var ticket: RecordCache.FillTicket?
        var held = 0
        for i in 0..<600 {
            if let cached = cache.lookup(key(i), now: 0, ticket: &ticket) {
                #expect(cached == model[i])
                held += 1
            }
        }
        #expect(held > 0)
    }

    @Test("readers racing the writer's commits and evictions see only whole records, never an older version than they saw")
    func concurrentReaders() async {
        // Small enough that commits keep evicting, so readers hold records the cache has dropped.
        let cache = RecordCache(capacityBytes: 32 * 1024, stripeCount: 4)
        let keys = (0..<200).map { DataKey(hash: UInt64($0 % 7), tenant: [1], key: Array("key-\($0)".utf8)) }
        func value(_ version: UInt64) -> [UInt8] { Array("v\(version)-".utf8) + [UInt8](repeating: UInt8(version & 0xFF), count: Int(version % 50)) }
        await withTaskGroup(of: (whole: Bool, hits: Int).self) { group in
            group.addTask {
                for version in UInt64(1)...300 {
                    cache.apply(keys.map { ($0, Record(value: value(version), version: version)) })
                }
                return (true, 1)
            }
            for _ in 0..<3 {
                group.addTask {
                    var seen = [UInt64](repeating: 0, count: keys.count)
                    var whole = true
                    var hits = 0
                    for round in 0..<20_000 {
                        let index = round % keys.count
                        var ticket: RecordCache.FillTicket?
                        guard let record = cache.lookup(keys[index], now: 0, ticket: &ticket) else { continue }
                        whole = whole && record.value == value(record.version) && record.version >= seen[index]
                        seen[index] = record.version
                        hits += 1
                    }
                    return (whole, hits)
                }
            }
            for await result in group {
                #expect(result.whole)
                #expect(result.hits > 0)
            }
        }
    }

    @Test("batches are classified by their most demanding command")
    func classification() {
        func kind(_ commands: [[String]]) -> CommandExecutor.BatchKind {
            CommandExecutor.classify(commands.map { CommandTable.node.parse(RESPCommand(arguments: $0.map { ByteBuffer(string: $0) })) })
        }
        #expect(kind([["GET", "k"], ["get", "k"], ["MGET", "a", "b"]]) == .inlineRead)
        #expect(kind([["GET", "k"], ["SCAN", "0"]]) == .blocking)
        #expect(kind([["GET", "k"], ["set", "k", "v"], ["SCAN", "0"]]) == .write)
        #expect(kind([["AUTH", "secret"]]) == .blocking)
        // A command that failed to parse is answered anywhere; REQID runs where its command runs.
        #expect(kind([["GET"], ["NOSUCH"]]) == .inlineRead)
        #expect(kind([["REQID", "1", "SET", "k", "v"]]) == .write)
        #expect(kind([["MULTI"], ["EXEC"]]) == .write)
    }

    @Test("glob patterns as Redis matches them")
    func glob() {
        func m(_ p: String, _ s: String) -> Bool { GlobPattern.matches(pattern: Array(p.utf8)[...], string: Array(s.utf8)[...]) }
        #expect(m("*", "anything"))
        #expect(m("user:*", "user:42"))
        #expect(!m("user:*", "users:42"))
        #expect(m("h?llo", "hello"))
        #expect(m("h[ae]llo", "hallo"))
        #expect(!m("h[^e]llo", "hello"))
        #expect(m("h[a-c]llo", "hbllo"))
        #expect(m("\\*x", "*x"))
        #expect(!m("\\*x", "ax"))
        #expect(m("a*b*c", "aXXbYYc"))
        #expect(!m("a*b*c", "aXXbYY"))
    }
}
