import CRocksDB

/// A consistent, read-only view of a database at one moment.
///
/// Reads and iterators given a snapshot see exactly the state at its creation,
/// whatever is written later: the basis for streaming a shard to a replica.
/// The snapshot is released when this object is.
public final class Snapshot: Sendable {
    private let handle: DatabaseHandle
    // Safe to share: created once, only read by RocksDB afterwards.
    nonisolated(unsafe) let pointer: OpaquePointer
    nonisolated(unsafe) let readOptions: OpaquePointer

    init(handle: DatabaseHandle) {
        self.handle = handle
        pointer = rocksdb_create_snapshot(handle.db)
        readOptions = rocksdb_readoptions_create()
        rocksdb_readoptions_set_snapshot(readOptions, pointer)
    }

    deinit {
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_release_snapshot(handle.db, pointer)
    }
}

/// Iterates the keys of one column family inside optional bounds, ascending or
/// descending. Each call to `next()` returns a copy of the entry.
///
/// Not `Sendable`: use an iterator from one thread at a time. It keeps the
/// database files open until it is released, even after `Database.close()`.
public final class RangeIterator {
    /// One key and its value.
    public typealias Entry = (key: [UInt8], value: [UInt8])

    private let handle: DatabaseHandle
    private let snapshot: Snapshot?
    private let iterator: OpaquePointer
    private let readOptions: OpaquePointer
    // RocksDB keeps pointers to the bounds: they live as long as the iterator.
    private let lowerBound: UnsafeMutableRawBufferPointer?
    private let upperBound: UnsafeMutableRawBufferPointer?
    private let reverse: Bool
    private var positioned = false

    init(
        handle: DatabaseHandle,
        family: ColumnFamily,
        lowerBound: [UInt8]?,
        upperBound: [UInt8]?,
        reverse: Bool,
        snapshot: Snapshot?
    ) {
        self.handle = handle
        self.snapshot = snapshot
        self.reverse = reverse
        self.lowerBound = lowerBound.map(Self.copy)
        self.upperBound = upperBound.map(Self.copy)
        readOptions = rocksdb_readoptions_create()
        if let snapshot { rocksdb_readoptions_set_snapshot(readOptions, snapshot.pointer) }
        if let bound = self.lowerBound {
            rocksdb_readoptions_set_iterate_lower_bound(readOptions, bound.baseAddress?.assumingMemoryBound(to: CChar.self), bound.count)
        }
        if let bound = self.upperBound {
            rocksdb_readoptions_set_iterate_upper_bound(readOptions, bound.baseAddress?.assumingMemoryBound(to: CChar.self), bound.count)
        }
        iterator = rocksdb_create_iterator_cf(handle.db, readOptions, handle.families[family.index])
    }

    deinit {
        rocksdb_iter_destroy(iterator)
        rocksdb_readoptions_destroy(readOptions)
        lowerBound?.deallocate()
        upperBound?.deallocate()
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    /// Moves to the next entry and hands its key and value to `body` without
    /// copying them; returns `nil` at the end of the range.
    /// The buffers are valid only inside `body`.
    /// - Throws: `StorageError` when RocksDB reports a read error.
    public func withNext<T>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(StorageError) -> T) throws(StorageError) -> T? {
        if positioned {
            if reverse { rocksdb_iter_prev(iterator) } else { rocksdb_iter_next(iterator) }
        } else {
            positioned = true
            if reverse { rocksdb_iter_seek_to_last(iterator) } else { rocksdb_iter_seek_to_first(iterator) }
        }
        guard rocksdb_iter_valid(iterator) != 0 else {
            try rocksCall("iterate") { rocksdb_iter_get_error(iterator, $0) }
            return nil
        }
        var keyLength = 0
        var valueLength = 0
        let key = rocksdb_iter_key(iterator, &keyLength)
        let value = rocksdb_iter_value(iterator, &valueLength)
        return try body(UnsafeRawBufferPointer(start: key, count: keyLength), UnsafeRawBufferPointer(start: value, count: valueLength))
    }

    /// The next entry (copied), or `nil` at the end of the range.
    /// - Throws: `StorageError` when RocksDB reports a read error.
    public func next() throws(StorageError) -> Entry? {
        try withNext { key, value in (Array(key), Array(value)) }
    }
}
