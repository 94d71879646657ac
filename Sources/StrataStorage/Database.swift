import CRocksDB
import Synchronization

/// A column family of an open `Database`, named at open time.
public struct ColumnFamily: Hashable, Sendable {
    /// Position in the database's family list; `default` is 0.
    let index: Int
    /// The family's name.
    public let name: String

    /// RocksDB's always-present `"default"` column family.
    public static let `default` = ColumnFamily(index: 0, name: "default")
}

/// A RocksDB database: binary-safe keys and values, column families, atomic
/// batches, range deletes, bounded iterators, snapshots and checkpoints.
///
/// Thread safety: every method may be called from any thread at the same time
/// (RocksDB's database object is thread-safe). Methods block on disk I/O and,
/// with a syncing `WALSyncPolicy`, on fsync: never call them on an event-loop
/// thread. `close()` stops new calls at once; the files are released when the
/// last iterator and snapshot that still use them are gone.
public final class Database: Sendable {
    private let state: Mutex<DatabaseHandle?>
    /// The path the database was opened at.
    public let path: String
    /// The options it was opened with.
    public let options: StorageOptions
    /// The column families it was opened with, `default` first.
    public let columnFamilies: [ColumnFamily]

    /// Opens (and, with `createIfMissing`, creates) the database at `path`.
    /// - Throws: `StorageError` with RocksDB's message (`.busy` when another
    ///   process holds it, `.invalidArgument` for bad options, `.io`, …).
    public init(path: String, options: StorageOptions = StorageOptions()) throws(StorageError) {
        let handle = try DatabaseHandle(path: path, options: options)
        self.path = path
        self.options = options
        self.columnFamilies = handle.familyNames.enumerated().map { ColumnFamily(index: $0.offset, name: $0.element) }
        self.state = Mutex(handle)
    }

    /// The column family named `name`, or `nil` if the database has none by that name.
    public func columnFamily(named name: String) -> ColumnFamily? {
        columnFamilies.first { $0.name == name }
    }

    /// Closes the database. Later calls throw `.closed`. Idempotent.
    public func close() {
        // Dropping the last reference closes RocksDB (in DatabaseHandle.deinit);
        // open iterators and snapshots keep their own reference until they go.
        let handle = state.withLock { state -> DatabaseHandle? in
            let handle = state
            state = nil
            return handle
        }
        _ = handle
    }

    /// Whether `close()` has been called.
    public var isClosed: Bool { state.withLock { $0 == nil } }

    /// The open handle, for one operation on the calling thread.
    ///
    /// Also turns RocksDB's per-thread perf counters off on this thread:
    /// nothing reads them, and with them on every key comparison in a
    /// memtable insert or lookup pays a thread-local lookup into the shared
    /// library (over a tenth of the writer thread's time under SET load).
    @inline(__always)
    func openHandle() throws(StorageError) -> DatabaseHandle {
        guard let handle = state.withLock({ $0 }) else {
            throw StorageError(code: .closed, message: "database at \(path) is closed")
        }
        rocksdb_set_perf_level(Int32(rocksdb_disable))
        return handle
    }

    // MARK: Point operations

    /// The value stored under `key`, or `nil` when there is none.
    /// - Parameter snapshot: read as of this snapshot instead of the latest state.
    public func get(_ key: [UInt8], in family: ColumnFamily = .default, snapshot: Snapshot? = nil) throws(StorageError) -> [UInt8]? {
        let handle = try openHandle()
        let readOptions = snapshot?.readOptions ?? handle.readOptions
        let slice = try withCBytes(key) { (pointer, count) throws(StorageError) in
            try rocksCall("get") { rocksdb_get_pinned_cf(handle.db, readOptions, handle.families[family.index], pointer, count, $0) }
        }
        guard let slice else { return nil }
        defer { rocksdb_pinnableslice_destroy(slice) }
        var length = 0
        guard let value = rocksdb_pinnableslice_value(slice, &length) else { return [] }
        return Array(UnsafeRawBufferPointer(start: value, count: length))
    }

    /// What a non-blocking read found.
    public enum CachedRead: Sendable, Equatable {
        /// The key's value, read from memory.
        case value([UInt8])
        /// The key is absent (known from memory: memtables, cached blocks, bloom filters).
        case missing
        /// Answering would need disk I/O; use `get` off the latency-critical thread.
        case needsIO
    }

    /// Reads `key` only from memory (memtables and the block cache), never
    /// touching the disk: safe on an event-loop thread. Returns `.needsIO` when
    /// the answer is not in memory.
    public func getIfCached(_ key: [UInt8], in family: ColumnFamily = .default) throws(StorageError) -> CachedRead {
        let handle = try openHandle()
        var errorMessage: UnsafeMutablePointer<CChar>? = nil
        let slice = try withCBytes(key) { (pointer, count) throws(StorageError) in
            rocksdb_get_pinned_cf(handle.db, handle.memoryOnlyReadOptions, handle.families[family.index], pointer, count, &errorMessage)
        }
        if let errorMessage {
            let status = String(cString: errorMessage)
            rocksdb_free(errorMessage)
            // RocksDB reports Status::Incomplete ("Result incomplete: …") when the memory-only tier cannot answer.
            if status.hasPrefix("Result incomplete") || status.hasPrefix("Incomplete") { return .needsIO }
            throw StorageError.fromRocksDB(operation: "get", status: status)
        }
        guard let slice else { return .missing }
        defer { rocksdb_pinnableslice_destroy(slice) }
        var length = 0
        guard let value = rocksdb_pinnableslice_value(slice, &length) else { return .value([]) }
        return .value(Array(UnsafeRawBufferPointer(start: value, count: length)))
    }

    /// Stores `value` under `key`, durable as the `WALSyncPolicy` says when it returns.
    public func put(_ key: [UInt8], _ value: [UInt8], in family: ColumnFamily = .default) throws(StorageError) {
        let handle = try openHandle()
        try handle.durableWrite { () throws(StorageError) in
            try withCBytes(key) { (k, kn) throws(StorageError) in
                try withCBytes(value) { (v, vn) throws(StorageError) in
                    try rocksCall("put") { rocksdb_put_cf(handle.db, handle.writeOptions, handle.families[family.index], k, kn, v, vn, $0) }
                }
            }
        }
    }

    /// Removes `key` (no error when absent).
    public func delete(_ key: [UInt8], in family: ColumnFamily = .default) throws(StorageError) {
        let handle = try openHandle()
        try handle.durableWrite { () throws(StorageError) in
            try withCBytes(key) { (k, kn) throws(StorageError) in
                try rocksCall("delete") { rocksdb_delete_cf(handle.db, handle.writeOptions, handle.families[family.index], k, kn, $0) }
            }
        }
    }

    /// Removes every key in `[start, end)`.
    public func deleteRange(from start: [UInt8], to end: [UInt8], in family: ColumnFamily = .default) throws(StorageError) {
        let handle = try openHandle()
        try handle.durableWrite { () throws(StorageError) in
            try withCBytes(start) { (s, sn) throws(StorageError) in
                try withCBytes(end) { (e, en) throws(StorageError) in
                    try rocksCall("deleteRange") {
                        rocksdb_delete_range_cf(handle.db, handle.writeOptions, handle.families[family.index], s, sn, e, en, $0)
                    }
                }
            }
        }
    }

    /// Applies every operation of `batch` atomically: after a crash either all of them are present or none.
    public func write(_ batch: WriteBatch) throws(StorageError) {
        guard batch.database === self else {
            throw StorageError(code: .invalidArgument, message: "write batch belongs to the database at \(batch.database.path)")
        }
        let handle = try openHandle()
        try handle.durableWrite { () throws(StorageError) in
            try rocksCall("write") { rocksdb_write(handle.db, handle.writeOptions, batch.pointer, $0) }
        }
    }

    // MARK: Ranges, snapshots, maintenance

    /// An iterator over the keys in `[lowerBound, upperBound)` (either end open
    /// when `nil`), ascending, or descending when `reverse`.
    public func makeIterator(
        in family: ColumnFamily = .default,
        from lowerBound: [UInt8]? = nil,
        to upperBound: [UInt8]? = nil,
        reverse: Bool = false,
        snapshot: Snapshot? = nil
    ) throws(StorageError) -> RangeIterator {
        let handle = try openHandle()
        return RangeIterator(
            handle: handle,
            family: family,
            lowerBound: lowerBound,
            upperBound: upperBound,
            reverse: reverse,
            snapshot: snapshot
        )
    }

    /// A consistent, read-only view of the database as of now. Reads and
    /// iterators given this snapshot see exactly that state.
    public func snapshot() throws(StorageError) -> Snapshot {
        Snapshot(handle: try openHandle())
    }

    /// Writes a consistent copy of the database (hard links where possible) to
    /// `directory`, which must not exist yet. Open it with `Database(path:)`.
    public func checkpoint(to directory: String) throws(StorageError) {
        let handle = try openHandle()
        let checkpoint = try rocksCall("checkpoint") { rocksdb_checkpoint_object_create(handle.db, $0) }
        guard let checkpoint else { throw StorageError(code: .other, message: "checkpoint: RocksDB returned no checkpoint object") }
        defer { rocksdb_checkpoint_object_destroy(checkpoint) }
        try rocksCall("checkpoint to \(directory)") { rocksdb_checkpoint_create(checkpoint, directory, 0, $0) }
    }

    /// Compacts the keys in `[start, end)` (everything when both are `nil`),
    /// dropping deleted and, where configured, expired records.
    public func compact(in family: ColumnFamily = .default, from start: [UInt8]? = nil, to end: [UInt8]? = nil) throws(StorageError) {
        let handle = try openHandle()
        let options = rocksdb_compactoptions_create()
        defer { rocksdb_compactoptions_destroy(options) }
        // Without this, a range already at the bottom level is not rewritten and its filter never runs.
        rocksdb_compactoptions_set_bottommost_level_compaction(options, 2)
        let startBytes = start ?? []
        let endBytes = end ?? []
        try withCBytes(startBytes) { (s, sn) throws(StorageError) in
            try withCBytes(endBytes) { (e, en) throws(StorageError) in
                rocksdb_compact_range_cf_opt(
                    handle.db, handle.families[family.index], options,
                    start == nil ? nil : s, sn, end == nil ? nil : e, en
                )
            }
        }
    }

    /// RocksDB's estimate of the bytes on disk (in SST files, compressed; not the
    /// memtables) of the keys in each `[start, end)` range, in order.
    /// - Complexity: a few index lookups per range; no data is read.
    public func approximateSizes(of ranges: [(start: [UInt8], end: [UInt8])], in family: ColumnFamily = .default) throws(StorageError)
        -> [UInt64]
    {
        guard !ranges.isEmpty else { return [] }
        let handle = try openHandle()
        // Every key in one buffer, so one pointer stays valid for all of them.
        var bytes: [UInt8] = []
        var offsets: [(start: Int, end: Int)] = []
        for range in ranges {
            offsets.append((bytes.count, bytes.count + range.start.count))
            bytes += range.start
            bytes += range.end
        }
        var sizes = [UInt64](repeating: 0, count: ranges.count)
        try bytes.withUnsafeBufferPointer { (buffer) throws(StorageError) in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            let starts: [UnsafePointer<CChar>?] = offsets.map { base + $0.start }
            let ends: [UnsafePointer<CChar>?] = offsets.map { base + $0.end }
            let startLengths = ranges.map { $0.start.count }
            let endLengths = ranges.map { $0.end.count }
            try rocksCall("approximate sizes") { error in
                rocksdb_approximate_sizes_cf(
                    handle.db, handle.families[family.index], Int32(ranges.count), starts, startLengths, ends, endLengths,
                    &sizes, error)
            }
        }
        return sizes
    }

    /// Writes the WAL's buffers to the OS and, when `sync`, fsyncs them.
    public func flushWAL(sync: Bool) throws(StorageError) {
        let handle = try openHandle()
        try rocksCall("flushWAL") { rocksdb_flush_wal(handle.db, sync ? 1 : 0, $0) }
    }

    /// The sequence number of the last write RocksDB applied (it grows with every write).
    public func latestSequenceNumber() throws(StorageError) -> UInt64 {
        rocksdb_get_latest_sequence_number(try openHandle().db)
    }

    /// A RocksDB property such as `"rocksdb.estimate-num-keys"`, or `nil` if unknown.
    public func property(_ name: String, in family: ColumnFamily = .default) throws(StorageError) -> String? {
        let handle = try openHandle()
        guard let value = rocksdb_property_value_cf(handle.db, handle.families[family.index], name) else { return nil }
        defer { rocksdb_free(value) }
        return String(cString: value)
    }
}

extension Database {
    /// How long RocksDB has held writes back since the database opened (the
    /// write controller's slowdowns and stops), from `rocksdb.dbstats`; `nil`
    /// when RocksDB does not report it.
    public func cumulativeStall() throws(StorageError) -> Duration? {
        try property("rocksdb.dbstats").flatMap(Self.cumulativeStall(in:))
    }

    /// Reads `Cumulative stall: HH:MM:SS.sss H:M:S, p percent` out of `rocksdb.dbstats` text.
    static func cumulativeStall(in dbstats: String) -> Duration? {
        guard let line = dbstats.split(separator: "\n").first(where: { $0.hasPrefix("Cumulative stall: ") }) else { return nil }
        let clock = line.dropFirst("Cumulative stall: ".count).prefix { $0 != " " && $0 != "," }
        let parts = clock.split(separator: ":")
        guard parts.count == 3, let hours = Int(parts[0]), let minutes = Int(parts[1]), let seconds = Double(parts[2]) else {
            return nil
        }
        return .seconds(hours * 3600 + minutes * 60) + .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

extension Database {
    /// Calls `body` with the raw `rocksdb_t*` and the handle of `family`, for
    /// benchmarks that compare the wrapper with the same loop on the C API
    /// over the very same database. The pointers are valid only inside `body`.
    @_spi(Benchmarks)
    public func withUnsafeRocksDB<T>(family: ColumnFamily = .default, _ body: (OpaquePointer, OpaquePointer) throws -> T) throws -> T {
        let handle = try openHandle()
        return try withExtendedLifetime(handle) { try body(handle.db, handle.families[family.index]) }
    }
}
