import Foundation
import Testing
@testable import StrataStorage

/// Random operation sequences against a `Dictionary` model: put (with and
/// without expiry), delete, atomic batches, shard range deletes, time passing,
/// compaction and close/reopen. After every step reads agree with the model.
@Suite("Record store against a model")
struct RecordModelTests {
    // Logical time far in the future keeps the compaction filter (wall clock)
    // from dropping records the model still considers live; records that expire
    // in the real past are expired for both.
    static let logicalStart = Record.nowMilliseconds() + 10 * 365 * 86_400_000

    struct Universe {
        var hashes: [UInt64]
        var tenants: [[UInt8]] = [Array("a"), Array("b"), [], [0, 0xFF]]
        var keys: [[UInt8]] = [Array("k"), Array("key"), [0], [0, 0], [0xFF, 0, 1], [], Array("{tag}x")]

        init(rng: inout SplitMix64) {
            hashes = [0, 1, UInt64.max, UInt64.max - 1, 1 << 63, (1 << 63) - 1, (1 << 60) * 3] + (0..<9).map { _ in rng.next() }
        }

        func randomKey(_ rng: inout SplitMix64) -> DataKey {
            DataKey(hash: hashes.randomElement(using: &rng)!, tenant: tenants.randomElement(using: &rng)!, key: keys.randomElement(using: &rng)!)
        }
    }

    struct Model {
        var records: [DataKey: Record] = [:]
        func visible(_ key: DataKey, now: Int64) -> Record? {
            guard let record = records[key], !record.isExpired(at: now) else { return nil }
            return record
        }
        func live(in hashes: ClosedRange<UInt64>, now: Int64) throws -> [(key: DataKey, record: Record)] {
            try records.filter { hashes.contains($0.key.hash) && !$0.value.isExpired(at: now) }
                .map { (key: $0.key, record: $0.value) }
                .sorted { try $0.key.encoded().lexicographicallyPrecedes($1.key.encoded()) }
        }
    }

    static func scanAll(_ store: RecordStore, hashes: ClosedRange<UInt64>, reverse: Bool, now: Int64) throws -> [(key: DataKey, record: Record)] {
        let iterator = try store.scan(hashes: hashes, reverse: reverse, now: now)
        var out: [(key: DataKey, record: Record)] = []
        while let entry = try iterator.next() { out.append(entry) }
        return out
    }

    static func assertAgrees(_ store: RecordStore, _ model: Model, now: Int64, comment: String) throws {
        let expected = try model.live(in: 0...UInt64.max, now: now)
        let actual = try scanAll(store, hashes: 0...UInt64.max, reverse: false, now: now)
        #expect(actual.map(\.key) == expected.map(\.key), "\(comment)")
        #expect(actual.map(\.record) == expected.map(\.record), "\(comment)")
        for (key, _) in model.records {
            #expect(try store.get(key, now: now) == model.visible(key, now: now), "\(comment) key \(key)")
        }
    }

    @Test("random operations agree with a Dictionary model across reopen", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomSequences(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let universe = Universe(rng: &rng)
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.sub("db")
        var store = try openRecordStore(at: path)
        var model = Model()
        var now = Self.logicalStart
        var version: UInt64 = 0

        func randomRecord(_ rng: inout SplitMix64) -> Record {
            version += 1
            let expiresAt: Int64?
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: expiresAt = now + Int64.random(in: 1...2_000, using: &rng)
            case 1: expiresAt = Record.nowMilliseconds() - 1 // expired in real time too
            default: expiresAt = nil
            }
            let value = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return Record(value: value, version: version, expiresAt: expiresAt, flags: UInt8.random(in: 0...3, using: &rng))
        }

        for step in 0..<400 {
            let comment = "seed \(seed) step \(step)"
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<40:
                let key = universe.randomKey(&rng)
                let record = randomRecord(&rng)
                try store.put(key, record)
                model.records[key] = record
            case 40..<55:
                let key = universe.randomKey(&rng)
                try store.delete(key)
                model.records[key] = nil
            case 55..<70:
                let batch = WriteBatch(for: store.database)
                var staged = model
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let key = universe.randomKey(&rng)
                    if Bool.random(using: &rng) {
                        let record = randomRecord(&rng)
                        try batch.put(key, record, in: store.family)
                        staged.records[key] = record
                    } else {
                        try batch.delete(key, in: store.family)
                        staged.records[key] = nil
                    }
                }
                try store.database.write(batch)
                model = staged
            case 70..<78:
                var a = universe.hashes.randomElement(using: &rng)!
                var b = Bool.random(using: &rng) ? universe.hashes.randomElement(using: &rng)! : rng.next()
                if a > b { swap(&a, &b) }
                try store.deleteRange(hashes: a...b)
                model.records = model.records.filter { !(a...b).contains($0.key.hash) }
            case 78..<88:
                now += Int64.random(in: 1...1_500, using: &rng)
            case 88..<93:
                try store.database.compact(in: store.family)
            case 93..<97:
                store.database.close()
                store = try openRecordStore(at: path)
            default:
                try Self.assertAgrees(store, model, now: now, comment: comment)
            }
            let probe = universe.randomKey(&rng)
            #expect(try store.get(probe, now: now) == model.visible(probe, now: now), "\(comment)")
        }
        try Self.assertAgrees(store, model, now: now, comment: "seed \(seed) before reopen")
        store.database.close()
        store = try openRecordStore(at: path)
        try Self.assertAgrees(store, model, now: now, comment: "seed \(seed) after reopen")
        store.database.close()
    }

    @Test("encodedPrecedes and append(to:) agree with the encoded bytes", arguments: [1, 2, 3] as [UInt64])
    func encodingShortcuts(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let universe = Universe(rng: &rng)
        for _ in 0..<2000 {
            let a = universe.randomKey(&rng)
            let b = universe.randomKey(&rng)
            let (ea, eb) = (try a.encoded(), try b.encoded())
            #expect(a.encodedPrecedes(b) == ea.lexicographicallyPrecedes(eb), "\(a) vs \(b)")
            var appended: [UInt8] = [7]
            try a.append(to: &appended)
            #expect(appended == [7] + ea && a.encodedCount == ea.count)
            let record = Record(
                value: (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                version: rng.next(), expiresAt: rng.next() % 2 == 0 ? nil : Int64(bitPattern: rng.next()),
                flags: UInt8(truncatingIfNeeded: rng.next()))
            var envelope: [UInt8] = []
            record.append(to: &envelope)
            #expect(envelope == record.encoded() && record.encodedCount == envelope.count)
        }
        let long = DataKey(hash: 1, tenant: [UInt8](repeating: 1, count: 256), key: [])
        var bytes: [UInt8] = []
        #expect(throws: StorageError.self) { try long.append(to: &bytes) }
    }

    @Test("iterating a shard's hash range returns exactly its keys, in order and in reverse")
    func shardRangeIteration() throws {
        var rng = SplitMix64(seed: 42)
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let store = try openRecordStore(at: dir.sub("db"))
        defer { store.database.close() }
        let shardCount: UInt64 = 16
        let width = UInt64.max / shardCount + 1
        let shards: [ClosedRange<UInt64>] = (0..<shardCount).map { i in
            (i * width)...(i == shardCount - 1 ? UInt64.max : (i + 1) * width - 1)
        }
        var model = Model()
        // Boundary hashes of every shard plus random ones.
        var hashes = shards.flatMap { [$0.lowerBound, $0.upperBound] }
        hashes += (0..<300).map { _ in rng.next() }
        for (i, hash) in hashes.enumerated() {
            let key = DataKey(hash: hash, tenant: Array(i % 3 == 0 ? "a" : "b"), key: withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) })
            let record = Record(value: [UInt8(i & 0xFF)], version: UInt64(i))
            try store.put(key, record)
            model.records[key] = record
        }
        var seen = 0
        for shard in shards {
            let expected = try model.live(in: shard, now: 0)
            let forward = try Self.scanAll(store, hashes: shard, reverse: false, now: 0)
            let backward = try Self.scanAll(store, hashes: shard, reverse: true, now: 0)
            #expect(forward.map(\.key) == expected.map(\.key), "shard \(shard)")
            #expect(backward.map(\.key) == expected.reversed().map(\.key), "shard \(shard)")
            #expect(forward.allSatisfy { shard.contains($0.key.hash) })
            seen += forward.count
        }
        #expect(seen == model.records.count)
    }
}
