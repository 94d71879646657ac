import Testing
import StrataStorage
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
        #expect(cached * (210 + 96) <= 64 * 1024 + 4 * 400, "about 64 KiB of entries at most")
        // The newest write of every cached key is what is served.
        for i in 0..<500 {
            if let record = cache.lookup(key(i), now: 0, ticket: &ticket) { #expect(record.version == 19 && record.value.count == 210) }
        }
    }

    @Test("batches are classified by their most demanding command")
    func classification() {
        func kind(_ names: [String]) -> CommandExecutor.BatchKind {
            CommandExecutor.classify(names.map { StrataWireCommand($0) })
        }
        #expect(kind(["GET", "get", "MGET"]) == .inlineRead)
        #expect(kind(["GET", "SCAN"]) == .blocking)
        #expect(kind(["GET", "set", "SCAN"]) == .write)
        #expect(kind(["AUTH"]) == .blocking)
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
