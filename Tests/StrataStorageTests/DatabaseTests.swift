import Foundation
import Testing
@testable import StrataStorage

@Suite("Database")
struct DatabaseTests {
    @Test("missing is nil, empty is an empty value, keys are binary-safe")
    func missingEmptyAndBinary() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"))
        defer { db.close() }
        #expect(try db.get([1, 2, 3]) == nil)
        try db.put([0, 0, 1], [])
        #expect(try db.get([0, 0, 1]) == [])
        let binaryKey: [UInt8] = [0, 255, 0, 10, 13, 0]
        let binaryValue: [UInt8] = [0, 0, 0, 0xFF, 0]
        try db.put(binaryKey, binaryValue)
        #expect(try db.get(binaryKey) == binaryValue)
        #expect(try db.get([0, 255, 0, 10, 13]) == nil, "a prefix up to a NUL must not match")
        try db.put([], [7])
        #expect(try db.get([]) == [7])
        try db.delete(binaryKey)
        #expect(try db.get(binaryKey) == nil)
    }

    @Test("compression: LZ4 for flushes and upper levels, the configured one at the bottom; none means none", arguments: [Compression.zstd, .none])
    func compressionPerLevel(_ compression: Compression) throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = recordOptions()
        options.compression = compression
        let db = try Database(path: dir.sub("db"), options: options)
        db.close()
        // RocksDB writes the options it runs with to an OPTIONS file in the database directory.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.sub("db")).filter { $0.hasPrefix("OPTIONS-") }
        let text = try String(contentsOfFile: dir.sub("db") + "/" + #require(files.max()), encoding: .utf8)
        let upper = compression == .zstd ? "kLZ4Compression" : "kNoCompression"
        let bottom = compression == .zstd ? "kZSTD" : "kNoCompression"
        #expect(text.contains("\n  compression=\(upper)\n"))
        #expect(text.contains("\n  bottommost_compression=\(bottom)\n"))
    }

    @Test("a family's own compression applies to every level of it; the other families keep the database's")
    func compressionPerFamily() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = recordOptions()
        options.columnFamilies.append(ColumnFamilyOptions(name: "log", compression: .lz4))
        let db = try Database(path: dir.sub("db"), options: options)
        db.close()
        let log = try optionsSection(of: "log", in: dir.sub("db"))
        #expect(log.contains("\n  compression=kLZ4Compression\n"))
        #expect(log.contains("\n  bottommost_compression=kLZ4Compression\n"))
        let data = try optionsSection(of: "data", in: dir.sub("db"))
        #expect(data.contains("\n  compression=kLZ4Compression\n"))
        #expect(data.contains("\n  bottommost_compression=kZSTD\n"))
    }

    @Test("a family's level-0 compaction trigger moves its write stall triggers with it; the other families keep RocksDB's")
    func level0TriggerPerFamily() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = recordOptions()
        options.columnFamilies.append(ColumnFamilyOptions(name: "log", level0CompactionTrigger: 16))
        let db = try Database(path: dir.sub("db"), options: options)
        db.close()
        let log = try optionsSection(of: "log", in: dir.sub("db"))
        #expect(log.contains("\n  level0_file_num_compaction_trigger=16\n"))
        #expect(log.contains("\n  level0_slowdown_writes_trigger=32\n"))
        #expect(log.contains("\n  level0_stop_writes_trigger=48\n"))
        let data = try optionsSection(of: "data", in: dir.sub("db"))
        #expect(data.contains("\n  level0_file_num_compaction_trigger=4\n"))
        #expect(data.contains("\n  level0_slowdown_writes_trigger=20\n"))
        #expect(data.contains("\n  level0_stop_writes_trigger=36\n"))
    }

    /// The `[CFOptions "family"]` section of the newest OPTIONS file RocksDB
    /// wrote in the database directory `path` (the options it runs with).
    private func optionsSection(of family: String, in path: String) throws -> Substring {
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("OPTIONS-") }
        let text = try String(contentsOfFile: path + "/" + #require(files.max()), encoding: .utf8)
        let start = try #require(text.range(of: "[CFOptions \"\(family)\"]"))
        let rest = text[start.upperBound...]
        return rest[..<(rest.range(of: "\n[")?.lowerBound ?? rest.endIndex)]
    }

    @Test("the cumulative write stall is read from rocksdb.dbstats: zero on a fresh database, parsed to the millisecond")
    func cumulativeStall() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"))
        defer { db.close() }
        try db.put([1], [2])
        #expect(try db.cumulativeStall() == .zero)
        let text = "** DB Stats **\nUptime(secs): 10.0 total, 10.0 interval\nCumulative stall: 01:02:03.456 H:M:S, 1.5 percent\nInterval stall: 00:00:0.000 H:M:S, 0.0 percent\n"
        #expect(Database.cumulativeStall(in: text) == .seconds(3723) + .milliseconds(456))
        #expect(Database.cumulativeStall(in: "Cumulative writes: 0 writes") == nil)
    }

    @Test("column families are separate key spaces")
    func columnFamiliesAreSeparate() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"), options: recordOptions())
        defer { db.close() }
        let meta = try #require(db.columnFamily(named: "meta"))
        #expect(db.columnFamily(named: "nope") == nil)
        try db.put(Array("k"), Array("default"))
        try db.put(Array("k"), Array("meta"), in: meta)
        #expect(try db.get(Array("k")) == Array("default"))
        #expect(try db.get(Array("k"), in: meta) == Array("meta"))
    }

    @Test("errors carry RocksDB's message: a second open of a locked database, a closed database")
    func errors() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"))
        let error = #expect(throws: StorageError.self) { try Database(path: dir.sub("db")) }
        #expect(error?.code == .busy)
        #expect(error?.message.contains("LOCK") == true)
        db.close()
        let closed = #expect(throws: StorageError.self) { try db.get([1]) }
        #expect(closed?.code == .closed)
        var noCreate = StorageOptions()
        noCreate.createIfMissing = false
        let missing = #expect(throws: StorageError.self) { try Database(path: dir.sub("absent"), options: noCreate) }
        #expect(missing?.code == .invalidArgument)
        // After close the lock is released and the database opens again.
        let reopened = try Database(path: dir.sub("db"))
        reopened.close()
    }

    @Test("a write batch applies all its operations")
    func writeBatch() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"))
        defer { db.close() }
        for i in 0..<10 { try db.put([UInt8(i)], [UInt8(i)]) }
        let batch = WriteBatch(for: db)
        try batch.put([100], [1])
        try batch.delete([0])
        try batch.deleteRange(from: [3], to: [6])
        #expect(batch.count == 3)
        try db.write(batch)
        #expect(try db.get([100]) == [1])
        #expect(try db.get([0]) == nil)
        for i in 3..<6 { #expect(try db.get([UInt8(i)]) == nil) }
        for i in [1, 2, 6, 7, 8, 9] { #expect(try db.get([UInt8(i)]) == [UInt8(i)]) }

        let other = try Database(path: dir.sub("other"))
        defer { other.close() }
        let foreign = #expect(throws: StorageError.self) { try other.write(batch) }
        #expect(foreign?.code == .invalidArgument)
    }

    @Test("bounded iteration, forward and reverse")
    func boundedIteration() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"))
        defer { db.close() }
        for i in 0..<50 { try db.put([UInt8(i)], [UInt8(i * 2)]) }
        func collect(_ iterator: RangeIterator) throws -> [UInt8] {
            var keys: [UInt8] = []
            while let entry = try iterator.next() {
                #expect(entry.value == [entry.key[0] &* 2])
                keys.append(entry.key[0])
            }
            return keys
        }
        #expect(try collect(db.makeIterator(from: [10], to: [20])) == Array(10..<20))
        #expect(try collect(db.makeIterator(from: [10], to: [20], reverse: true)) == Array((10..<20).reversed()))
        #expect(try collect(db.makeIterator(from: [45])) == Array(45..<50))
        #expect(try collect(db.makeIterator(to: [3], reverse: true)) == [2, 1, 0])
        #expect(try collect(db.makeIterator(from: [30], to: [30])) == [])
    }

    @Test("a snapshot keeps its view while writes go on, and outlives close()")
    func snapshots() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"))
        for i in 0..<20 { try db.put([UInt8(i)], [1]) }
        let snapshot = try db.snapshot()
        for i in 0..<20 { try db.put([UInt8(i)], [2]) }
        try db.put([200], [2])
        try db.delete([5])
        #expect(try db.get([5], snapshot: snapshot) == [1])
        #expect(try db.get([200], snapshot: snapshot) == nil)
        #expect(try db.get([5]) == nil)
        let iterator = try db.makeIterator(snapshot: snapshot)
        db.close()
        var count = 0
        while let entry = try iterator.next() {
            #expect(entry.value == [1])
            count += 1
        }
        #expect(count == 20)
    }

    @Test("a checkpoint is a consistent copy that opens on its own")
    func checkpoint() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let db = try Database(path: dir.sub("db"), options: recordOptions())
        let meta = try #require(db.columnFamily(named: "meta"))
        for i in 0..<100 { try db.put([UInt8(i)], [UInt8(i)], in: meta) }
        try db.checkpoint(to: dir.sub("backup"))
        try db.put([1], [99], in: meta)
        db.close()
        let copy = try Database(path: dir.sub("backup"), options: recordOptions())
        defer { copy.close() }
        let copyMeta = try #require(copy.columnFamily(named: "meta"))
        #expect(try copy.get([1], in: copyMeta) == [1])
        #expect(try copy.get([99], in: copyMeta) == [99])
        let again = #expect(throws: StorageError.self) { try copy.checkpoint(to: dir.sub("backup")) }
        #expect(again != nil)
    }

    @Test("expired records are invisible to reads and dropped by compaction")
    func expiry() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let store = try openRecordStore(at: dir.sub("db"))
        defer { store.database.close() }
        let now = Record.nowMilliseconds()
        let expired = DataKey(hash: 1, tenant: Array("t"), key: Array("old"))
        let live = DataKey(hash: 2, tenant: Array("t"), key: Array("new"))
        let forever = DataKey(hash: 3, tenant: Array("t"), key: Array("forever"))
        try store.put(expired, Record(value: [1], version: 1, expiresAt: now - 1))
        try store.put(live, Record(value: [2], version: 2, expiresAt: now + 3_600_000))
        try store.put(forever, Record(value: [3], version: 3))
        #expect(try store.get(expired) == nil)
        #expect(try store.get(live)?.value == [2])
        #expect(try store.get(live, now: now + 3_600_000) == nil, "expiry is inclusive of its instant")
        // Still on disk until compaction runs.
        #expect(try store.database.get(expired.encoded(), in: store.family) != nil)
        try store.database.compact(in: store.family)
        #expect(try store.database.get(expired.encoded(), in: store.family) == nil)
        #expect(try store.database.get(live.encoded(), in: store.family) != nil)
        #expect(try store.get(forever) == Record(value: [3], version: 3))
        // A family without the filter keeps raw bytes that look expired.
        let meta = try #require(store.database.columnFamily(named: "meta"))
        try store.database.put([9], Record(value: [], version: 1, expiresAt: now - 1).encoded(), in: meta)
        try store.database.compact(in: meta)
        #expect(try store.database.get([9], in: meta) != nil)
    }

    @Test("memory-only reads: memtable hits, disk-only keys report needsIO until cached")
    func memoryOnlyReads() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var db = try Database(path: dir.sub("db"))
        for i in 0..<1000 { try db.put(Array("key\(i)"), [UInt8](repeating: UInt8(i & 0xFF), count: 100)) }
        #expect(try db.getIfCached(Array("key1")) == .value([UInt8](repeating: 1, count: 100)), "memtable")
        try db.compact() // flushes the memtable into an SST file
        db.close()
        db = try Database(path: dir.sub("db"))
        defer { db.close() }
        #expect(try db.getIfCached(Array("key5")) == .needsIO, "a fresh block cache cannot answer")
        #expect(try db.get(Array("key5")) == [UInt8](repeating: 5, count: 100))
        #expect(try db.getIfCached(Array("key5")) == .value([UInt8](repeating: 5, count: 100)), "now cached")
        try db.put(Array("fresh"), [1])
        #expect(try db.getIfCached(Array("fresh")) == .value([1]))
    }

    @Test("record envelope and data key encodings")
    func encodings() throws {
        let record = Record(value: [0, 1, 2], version: 0x0102_0304_0506_0708, expiresAt: 42, flags: 7)
        let bytes = record.encoded()
        #expect(bytes.count == Record.headerSize + 3)
        #expect(bytes[0] == 1)
        #expect(Array(bytes[1..<9]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try Record(encoded: bytes) == record)
        #expect(throws: StorageError.self) { try Record(encoded: [1, 2, 3]) }
        var wrongFormat = bytes
        wrongFormat[0] = 9
        let bad = #expect(throws: StorageError.self) { try Record(encoded: wrongFormat) }
        #expect(bad?.code == .badFormat)

        let key = DataKey(hash: 0xAABB_CCDD_0011_2233, tenant: [0, 1], key: [0, 0, 9])
        let encoded = try key.encoded()
        #expect(encoded == [0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0x11, 0x22, 0x33, 2, 0, 1, 0, 0, 9])
        #expect(try DataKey(encoded: encoded) == key)
        let tooLong = DataKey(hash: 0, tenant: [UInt8](repeating: 1, count: 256), key: [])
        let error = #expect(throws: StorageError.self) { try tooLong.encoded() }
        #expect(error?.code == .keyTooLong)
        #expect(throws: StorageError.self) { try DataKey(encoded: [0, 0, 0, 0, 0, 0, 0, 0, 5, 1]) }
        #expect(DataKey.bounds(forHashes: 0...UInt64.max).upper == nil)
        #expect(DataKey.bounds(forHashes: 5...9).upper == [0, 0, 0, 0, 0, 0, 0, 10])
        // Keys sharing a placement hash (one hashtag) still hash apart in a table.
        let tagged = (0..<200).map { DataKey(hash: 7, tenant: [1], key: Array("{u}:\($0)".utf8)) }
        #expect(Set(tagged.map(\.hashValue)).count > 190)
    }

    @Test("group commit: concurrent writers all return durable, and the data is there")
    func groupCommit() async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let store = try openRecordStore(at: dir.sub("db"), walSync: .groupCommit(window: .microseconds(100)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    for i in 0..<50 {
                        try store.put(DataKey(hash: UInt64(writer), tenant: [], key: [UInt8(i)]), Record(value: [UInt8(writer)], version: UInt64(i)))
                    }
                }
            }
            try await group.waitForAll()
        }
        store.database.close()
        let reopened = try openRecordStore(at: dir.sub("db"))
        defer { reopened.database.close() }
        let iterator = try reopened.scan()
        var count = 0
        while try iterator.next() != nil { count += 1 }
        #expect(count == 200)
    }
}
