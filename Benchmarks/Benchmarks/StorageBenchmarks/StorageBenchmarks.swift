// StrataStorage's Database against the same loops written straight against
// RocksDB's C API: 100-byte values, 1M keys, random reads, identical options.
// Both get loops read one shared, prefilled, compacted database whose data fits
// the block cache, so they differ only in the code path.
// Each iteration is 1,000 operations (scalingFactor .kilo).
import Benchmark
import CRocksDB
import Foundation
@_spi(Benchmarks) import StrataStorage

let keyCount = 1_000_000
let value = [UInt8](repeating: 0x5A, count: 100)
let keys: [[UInt8]] = (0..<keyCount).map { Array(String(format: "key%012d", $0).utf8) }

/// A deterministic random key index stream, the same for both loops.
struct KeyStream {
    var state: UInt64
    mutating func next() -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(keyCount))
    }
}

func scratchDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "strata-bench-\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    return path
}

func wrapperOptions() -> StorageOptions {
    var options = StorageOptions()
    options.compression = .zstd
    options.upperLevelCompression = .lz4
    options.blockCacheBytes = 64 << 20
    options.writeBufferBytes = 64 << 20
    options.walSync = .noSync
    return options
}

/// The raw C database, opened with the options `wrapperOptions()` gives the wrapper.
final class RawDatabase: @unchecked Sendable {
    // Used from one benchmark thread at a time.
    let db: OpaquePointer
    let writeOptions = rocksdb_writeoptions_create()!
    let path: String

    init(path: String) {
        self.path = path
        let options = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_set_compression(options, 4) // LZ4 for flushes and upper levels,
        rocksdb_options_set_bottommost_compression(options, 7) // zstd at the bottom, as the wrapper
        rocksdb_options_set_write_buffer_size(options, 64 << 20)
        rocksdb_options_set_max_background_jobs(options, 2)
        let table = rocksdb_block_based_options_create()!
        let cache = rocksdb_cache_create_lru(64 << 20)
        rocksdb_block_based_options_set_block_cache(table, cache)
        rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom(10))
        rocksdb_options_set_block_based_table_factory(options, table)
        var error: UnsafeMutablePointer<CChar>? = nil
        db = rocksdb_open(options, path, &error)!
        precondition(error == nil)
        rocksdb_writeoptions_set_sync(writeOptions, 0)
    }

    func put(_ key: [UInt8], _ value: [UInt8]) {
        var error: UnsafeMutablePointer<CChar>? = nil
        key.withUnsafeBufferPointer { k in
            value.withUnsafeBufferPointer { v in
                rocksdb_put(db, writeOptions, UnsafeRawPointer(k.baseAddress!).assumingMemoryBound(to: CChar.self), k.count,
                            UnsafeRawPointer(v.baseAddress!).assumingMemoryBound(to: CChar.self), v.count, &error)
            }
        }
        precondition(error == nil)
    }

    func close() {
        rocksdb_close(db)
        try? FileManager.default.removeItem(atPath: path)
    }
}

nonisolated(unsafe) var wrapperDB: Database?
nonisolated(unsafe) var rawDB: RawDatabase?
/// One prefilled database read by both get loops, so they see the same files and cache.
nonisolated(unsafe) var sharedReadDB: Database?

func sharedDatabase() throws -> Database {
    if let sharedReadDB { return sharedReadDB }
    var options = wrapperOptions()
    options.blockCacheBytes = 512 << 20 // the whole data set fits: reads measure the code path, not the disk
    let db = try Database(path: scratchDirectory("get-shared"), options: options)
    for key in keys { try db.put(key, value) }
    try db.compact()
    // Warm the block cache once for both loops.
    for key in keys { _ = try db.get(key) }
    sharedReadDB = db
    return db
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .cpuTotal],
        warmupIterations: 20,
        scalingFactor: .kilo,
        maxDuration: .seconds(4),
        maxIterations: 2_000,
        // Committed regression bound, per 1,000 operations at p90: 20 ms (20 µs per get or put;
        // measured runs take a few µs); `baseline check --check-absolute` fails beyond it.
        thresholds: [.wallClock: .init(absolute: [.p90: 20_000_000])]
    )

    Benchmark("put wrapper") { benchmark in
        var stream = KeyStream(state: 1)
        let db = wrapperDB!
        for _ in benchmark.scaledIterations {
            try db.put(keys[stream.next()], value)
        }
    } setup: {
        wrapperDB = try Database(path: scratchDirectory("put-wrapper"), options: wrapperOptions())
    } teardown: {
        wrapperDB?.close()
        try? FileManager.default.removeItem(atPath: wrapperDB!.path)
        wrapperDB = nil
    }

    Benchmark("put raw C") { benchmark in
        var stream = KeyStream(state: 1)
        let db = rawDB!
        for _ in benchmark.scaledIterations {
            db.put(keys[stream.next()], value)
        }
    } setup: {
        rawDB = RawDatabase(path: scratchDirectory("put-raw"))
    } teardown: {
        rawDB?.close()
        rawDB = nil
    }

    Benchmark("get wrapper (random, 1M keys)") { benchmark in
        var stream = KeyStream(state: 7)
        let db = try sharedDatabase()
        var bytes = 0
        for _ in benchmark.scaledIterations {
            bytes &+= try db.get(keys[stream.next()])?.count ?? 0
        }
        blackHole(bytes)
    } setup: {
        _ = try sharedDatabase()
    }

    Benchmark("get raw C (random, 1M keys)") { benchmark in
        var stream = KeyStream(state: 7)
        let db = try sharedDatabase()
        var bytes = 0
        try db.withUnsafeRocksDB { handle, _ in
            let readOptions = rocksdb_readoptions_create()
            defer { rocksdb_readoptions_destroy(readOptions) }
            for _ in benchmark.scaledIterations {
                var error: UnsafeMutablePointer<CChar>? = nil
                var length = 0
                let result = keys[stream.next()].withUnsafeBufferPointer { k in
                    rocksdb_get(handle, readOptions, UnsafeRawPointer(k.baseAddress!).assumingMemoryBound(to: CChar.self), k.count, &length, &error)
                }
                precondition(error == nil)
                if let result { rocksdb_free(result) }
                bytes &+= length
            }
        }
        blackHole(bytes)
    } setup: {
        _ = try sharedDatabase()
    }
}
