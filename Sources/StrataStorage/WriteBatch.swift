import CRocksDB

/// Operations applied together by `Database.write(_:)`: all or none survive a crash.
///
/// Not `Sendable`: build a batch on one thread, then write it.
public final class WriteBatch {
    let pointer: OpaquePointer
    let database: Database
    /// The database's open handle, taken at the first operation and kept
    /// (which keeps RocksDB open) so a large batch takes the database's lock once.
    private var openHandle: DatabaseHandle?

    /// An empty batch for `database`.
    public init(for database: Database) {
        pointer = rocksdb_writebatch_create()
        self.database = database
    }

    deinit { rocksdb_writebatch_destroy(pointer) }

    /// The number of operations in the batch.
    public var count: Int { Int(rocksdb_writebatch_count(pointer)) }

    /// Adds a put of `value` under `key`.
    public func put(_ key: [UInt8], _ value: [UInt8], in family: ColumnFamily = .default) throws(StorageError) {
        try key.withUnsafeBufferPointer { (k) throws(StorageError) in
            try value.withUnsafeBufferPointer { (v) throws(StorageError) in try put(key: k, value: v, in: family) }
        }
    }

    /// Adds a put of `value` under `key`, both given as raw bytes (copied into the batch).
    public func put(
        key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, in family: ColumnFamily = .default
    ) throws(StorageError) {
        let cf = try handle(for: family)
        key.withMemoryRebound(to: CChar.self) { k in
            value.withMemoryRebound(to: CChar.self) { v in
                rocksdb_writebatch_put_cf(pointer, cf, k.baseAddress, k.count, v.baseAddress, v.count)
            }
        }
    }

    /// Adds a delete of `key`, given as raw bytes (copied into the batch).
    public func delete(key: UnsafeBufferPointer<UInt8>, in family: ColumnFamily = .default) throws(StorageError) {
        let cf = try handle(for: family)
        key.withMemoryRebound(to: CChar.self) { k in rocksdb_writebatch_delete_cf(pointer, cf, k.baseAddress, k.count) }
    }

    /// Adds a delete of `key`.
    public func delete(_ key: [UInt8], in family: ColumnFamily = .default) throws(StorageError) {
        try key.withUnsafeBufferPointer { (k) throws(StorageError) in try delete(key: k, in: family) }
    }

    /// Adds a delete of every key in `[start, end)`.
    public func deleteRange(from start: [UInt8], to end: [UInt8], in family: ColumnFamily = .default) throws(StorageError) {
        let cf = try handle(for: family)
        try withCBytes(start) { (s, sn) throws(StorageError) in
            try withCBytes(end) { e, en in rocksdb_writebatch_delete_range_cf(pointer, cf, s, sn, e, en) }
        }
    }

    /// Removes every operation.
    public func clear() { rocksdb_writebatch_clear(pointer) }

    private func handle(for family: ColumnFamily) throws(StorageError) -> OpaquePointer {
        if let openHandle { return openHandle.families[family.index] }
        let handle = try database.openHandle()
        openHandle = handle
        return handle.families[family.index]
    }
}
