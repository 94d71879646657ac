import CRocksDB
import Foundation

/// Owns every C object of one open RocksDB database and frees them in `deinit`.
///
/// `@unchecked Sendable` is safe here: the pointers are set once in `init` and
/// never change; RocksDB's `DB`, column family handles, and the read/write
/// options (only read after creation) are documented thread-safe for concurrent
/// use; the C objects are freed only in `deinit`, when no thread holds a
/// reference any more. The group committer synchronises itself.
final class DatabaseHandle: @unchecked Sendable {
    let db: OpaquePointer
    let families: [OpaquePointer]
    let familyNames: [String]
    let readOptions: OpaquePointer
    /// Reads that never touch the disk (`kBlockCacheTier`).
    let memoryOnlyReadOptions: OpaquePointer
    let writeOptions: OpaquePointer
    private let dbOptions: OpaquePointer
    private let familyOptions: [OpaquePointer]
    private let tableOptions: OpaquePointer
    private let blockCache: OpaquePointer
    private let expiryFilter: OpaquePointer
    private let groupCommitter: GroupCommitter?

    init(path: String, options: StorageOptions) throws(StorageError) {
        var specs = options.columnFamilies
        if !specs.contains(where: { $0.name == "default" }) {
            specs.insert(ColumnFamilyOptions(name: "default"), at: 0)
        } else if let index = specs.firstIndex(where: { $0.name == "default" }), index != 0 {
            specs.insert(specs.remove(at: index), at: 0)
        }
        var seen = Set<String>()
        for spec in specs where !seen.insert(spec.name).inserted {
            throw StorageError(code: .invalidArgument, message: "column family \(spec.name) listed twice")
        }
        // RocksDB refuses to open a database without all of its families: open
        // the ones the caller did not name with default options.
        for name in Self.existingFamilies(at: path) where !seen.contains(name) {
            specs.append(ColumnFamilyOptions(name: name))
            seen.insert(name)
        }

        let blockCache = rocksdb_cache_create_lru(max(options.blockCacheBytes, 0))!
        let tableOptions = rocksdb_block_based_options_create()!
        rocksdb_block_based_options_set_block_cache(tableOptions, blockCache)
        rocksdb_block_based_options_set_filter_policy(tableOptions, rocksdb_filterpolicy_create_bloom(10))
        let expiryFilter = makeExpiryCompactionFilter()

        func makeOptions(_ spec: ColumnFamilyOptions?) -> OpaquePointer {
            let o = rocksdb_options_create()!
            rocksdb_options_set_create_if_missing(o, options.createIfMissing ? 1 : 0)
            rocksdb_options_set_create_missing_column_families(o, options.createIfMissing ? 1 : 0)
            let bottom = spec?.compression ?? options.compression
            let upper = spec?.compression ?? (bottom == .none ? Compression.none : options.upperLevelCompression)
            rocksdb_options_set_compression(o, Int32(upper.rocksdbValue))
            rocksdb_options_set_bottommost_compression(o, Int32(bottom.rocksdbValue))
            rocksdb_options_set_write_buffer_size(o, max(options.writeBufferBytes, 1 << 20))
            rocksdb_options_set_max_background_jobs(o, Int32(max(options.backgroundJobs, 1)))
            rocksdb_options_set_block_based_table_factory(o, tableOptions)
            if let trigger = spec?.level0CompactionTrigger {
                let files = min(max(trigger, 1), 1 << 20)
                rocksdb_options_set_level0_file_num_compaction_trigger(o, Int32(files))
                rocksdb_options_set_level0_slowdown_writes_trigger(o, Int32(files + 16))
                rocksdb_options_set_level0_stop_writes_trigger(o, Int32(files + 32))
            }
            if spec?.dropsExpiredRecords == true {
                rocksdb_options_set_compaction_filter(o, expiryFilter)
            }
            return o
        }
        let dbOptions = makeOptions(nil)
        let familyOptions = specs.map { makeOptions($0) }
        let familyNames = specs.map(\.name)

        var handles = [OpaquePointer?](repeating: nil, count: specs.count)
        let opened: OpaquePointer?
        do throws(StorageError) {
            opened = try withCStringArray(familyNames) { names throws(StorageError) in
                try familyOptions.map { Optional($0) }.withUnsafeBufferPointer { (optionPointers) throws(StorageError) in
                    try rocksCall("open \(path)") {
                        rocksdb_open_column_families(
                            dbOptions, path, Int32(specs.count), names,
                            optionPointers.baseAddress, &handles, $0
                        )
                    }
                }
            }
        } catch {
            Self.destroyOptions(dbOptions, familyOptions, tableOptions, blockCache, expiryFilter)
            throw error
        }
        guard let opened else {
            Self.destroyOptions(dbOptions, familyOptions, tableOptions, blockCache, expiryFilter)
            throw StorageError(code: .other, message: "open \(path): RocksDB returned no database")
        }
        self.blockCache = blockCache
        self.tableOptions = tableOptions
        self.expiryFilter = expiryFilter
        self.dbOptions = dbOptions
        self.familyOptions = familyOptions
        self.familyNames = familyNames
        db = opened
        families = handles.map { $0! }
        readOptions = rocksdb_readoptions_create()
        memoryOnlyReadOptions = rocksdb_readoptions_create()
        rocksdb_readoptions_set_read_tier(memoryOnlyReadOptions, 1)
        writeOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(writeOptions, options.walSync == .everyWrite ? 1 : 0)
        if case .groupCommit(let window) = options.walSync {
            groupCommitter = GroupCommitter(window: window)
        } else {
            groupCommitter = nil
        }
    }

    /// Runs a write, then waits until the WAL policy makes it durable.
    @inline(__always)
    func durableWrite(_ body: () throws(StorageError) -> Void) throws(StorageError) {
        try body()
        if let groupCommitter {
            try groupCommitter.awaitSync { () throws(StorageError) in
                try rocksCall("sync WAL") { rocksdb_flush_wal(db, 1, $0) }
            }
        }
    }

    deinit {
        for family in families { rocksdb_column_family_handle_destroy(family) }
        rocksdb_close(db)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_readoptions_destroy(memoryOnlyReadOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        Self.destroyOptions(dbOptions, familyOptions, tableOptions, blockCache, expiryFilter)
    }

    /// The column families of the database at `path`; empty when there is none yet.
    private static func existingFamilies(at path: String) -> [String] {
        let options = rocksdb_options_create()
        defer { rocksdb_options_destroy(options) }
        var count = 0
        var errorMessage: UnsafeMutablePointer<CChar>? = nil
        let names = rocksdb_list_column_families(options, path, &count, &errorMessage)
        if let errorMessage {
            // No database there yet (or unreadable): opening reports the real error.
            rocksdb_free(errorMessage)
            return []
        }
        guard let names else { return [] }
        defer { rocksdb_list_column_families_destroy(names, count) }
        return (0..<count).compactMap { names[$0].map { String(cString: $0) } }
    }

    private static func destroyOptions(
        _ dbOptions: OpaquePointer, _ familyOptions: [OpaquePointer], _ tableOptions: OpaquePointer,
        _ blockCache: OpaquePointer, _ expiryFilter: OpaquePointer
    ) {
        rocksdb_options_destroy(dbOptions)
        for o in familyOptions { rocksdb_options_destroy(o) }
        // Options hold their own references to the table factory and cache.
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_cache_destroy(blockCache)
        rocksdb_compactionfilter_destroy(expiryFilter)
    }
}

extension Compression {
    var rocksdbValue: Int {
        // The values of c.h's anonymous compression enum.
        switch self {
        case .none: return 0
        case .lz4: return 4
        case .zstd: return 7
        }
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings`, freed afterwards.
private func withCStringArray<T>(
    _ strings: [String],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws(StorageError) -> T
) throws(StorageError) -> T {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    let constCopies = copies.map { UnsafePointer($0) }
    return try constCopies.withUnsafeBufferPointer { (buffer) throws(StorageError) -> T in try body(buffer.baseAddress!) }
}
