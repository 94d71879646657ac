/// Records (`Record` envelopes under `DataKey`s) in one column family of a `Database`.
///
/// Expired records are invisible to every read here; compaction drops them when
/// the family was opened with `dropsExpiredRecords`. Thread safety is the
/// database's: every method may be called from any thread and may block.
public struct RecordStore: Sendable {
    /// The database holding the records.
    public let database: Database
    /// The column family holding the records.
    public let family: ColumnFamily

    /// A record store over `family` of `database`.
    public init(database: Database, family: ColumnFamily) {
        self.database = database
        self.family = family
    }

    /// The live record under `key`, or `nil` when absent or expired at `now` (ms since the epoch).
    public func get(_ key: DataKey, now: Int64 = Record.nowMilliseconds(), snapshot: Snapshot? = nil) throws(StorageError) -> Record? {
        guard let bytes = try database.get(try key.encoded(), in: family, snapshot: snapshot) else { return nil }
        let record = try Record(encoded: bytes)
        return record.isExpired(at: now) ? nil : record
    }

    /// What a memory-only read of a record found.
    public enum CachedRecord: Sendable, Equatable {
        /// The live record.
        case record(Record)
        /// No live record (absent or expired).
        case missing
        /// Answering would need disk I/O.
        case needsIO
    }

    /// The live record under `key`, read from memory only (never blocks on disk).
    public func getIfCached(_ key: DataKey, now: Int64 = Record.nowMilliseconds()) throws(StorageError) -> CachedRecord {
        switch try database.getIfCached(try key.encoded(), in: family) {
        case .value(let bytes):
            let record = try Record(encoded: bytes)
            return record.isExpired(at: now) ? .missing : .record(record)
        case .missing: return .missing
        case .needsIO: return .needsIO
        }
    }

    /// Stores `record` under `key`.
    public func put(_ key: DataKey, _ record: Record) throws(StorageError) {
        try database.put(try key.encoded(), record.encoded(), in: family)
    }

    /// Removes the record under `key`.
    public func delete(_ key: DataKey) throws(StorageError) {
        try database.delete(try key.encoded(), in: family)
    }

    /// Removes every record whose placement hash lies in `hashes` (a shard), atomically.
    /// - Complexity: one RocksDB range delete; when the range reaches the end of
    ///   the hash space, plus one point delete per record with hash `UInt64.max`
    ///   (keys after `FF×8` have no finite exclusive bound).
    public func deleteRange(hashes: ClosedRange<UInt64>) throws(StorageError) {
        let batch = WriteBatch(for: database)
        try deleteRange(hashes: hashes, in: batch)
        try database.write(batch)
    }

    /// Adds the removal of every record whose placement hash lies in `hashes` to `batch`.
    /// - Complexity: as `deleteRange(hashes:)`.
    public func deleteRange(hashes: ClosedRange<UInt64>, in batch: WriteBatch) throws(StorageError) {
        let bounds = DataKey.bounds(forHashes: hashes)
        let lastHashPrefix = [UInt8](repeating: 0xFF, count: 8)
        try batch.deleteRange(from: bounds.lower, to: bounds.upper ?? lastHashPrefix, in: family)
        if bounds.upper == nil {
            let tail = try database.makeIterator(in: family, from: lastHashPrefix)
            while let (key, _) = try tail.next() {
                try batch.delete(key, in: family)
            }
        }
    }

    /// An iterator over the stored entries (encoded key, record envelope, expired
    /// ones included) whose placement hash lies in `hashes`, in key order.
    public func rawIterator(hashes: ClosedRange<UInt64>, reverse: Bool = false, snapshot: Snapshot? = nil)
        throws(StorageError) -> RangeIterator
    {
        let bounds = DataKey.bounds(forHashes: hashes)
        return try database.makeIterator(in: family, from: bounds.lower, to: bounds.upper, reverse: reverse, snapshot: snapshot)
    }

    /// The encoded records whose placement hash lies in `hashes` and whose
    /// encoded key sorts after `after` (the last key of a previous page), in key order.
    public func rawIterator(hashes: ClosedRange<UInt64>, after: [UInt8], snapshot: Snapshot? = nil) throws(StorageError) -> RangeIterator {
        let bounds = DataKey.bounds(forHashes: hashes)
        // The smallest key after `after` in bytewise order is `after` followed by a zero byte.
        let next = after + [0]
        let from = after.isEmpty || next.lexicographicallyPrecedes(bounds.lower) ? bounds.lower : next
        return try database.makeIterator(in: family, from: from, to: bounds.upper, snapshot: snapshot)
    }

    /// The live records whose placement hash lies in `hashes`, in key order
    /// (hash, then tenant, then key), or reverse order.
    public func scan(
        hashes: ClosedRange<UInt64> = 0...UInt64.max,
        reverse: Bool = false,
        snapshot: Snapshot? = nil,
        now: Int64 = Record.nowMilliseconds()
    ) throws(StorageError) -> RecordIterator {
        RecordIterator(iterator: try rawIterator(hashes: hashes, reverse: reverse, snapshot: snapshot), now: now)
    }
}

extension WriteBatch {
    /// Adds a put of `record` under `key`.
    public func put(_ key: DataKey, _ record: Record, in family: ColumnFamily) throws(StorageError) {
        try put(try key.encoded(), record.encoded(), in: family)
    }

    /// Adds a delete of the record under `key`.
    public func delete(_ key: DataKey, in family: ColumnFamily) throws(StorageError) {
        try delete(try key.encoded(), in: family)
    }
}

/// Iterates live records in key order, skipping expired ones.
public final class RecordIterator {
    private let iterator: RangeIterator
    private let now: Int64

    init(iterator: RangeIterator, now: Int64) {
        self.iterator = iterator
        self.now = now
    }

    /// The next live record and its key, or `nil` at the end.
    /// - Throws: `StorageError` for read errors or undecodable entries.
    public func next() throws(StorageError) -> (key: DataKey, record: Record)? {
        while let (key, value) = try iterator.next() {
            let record = try Record(encoded: value)
            if record.isExpired(at: now) { continue }
            return (try DataKey(encoded: key), record)
        }
        return nil
    }
}
