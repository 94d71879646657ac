import Synchronization
import StrataCluster
import StrataStorage

/// What a read-modify-write decides to do with a record.
enum Mutation {
    /// Leave the record as it is.
    case keep
    /// Store this value, expiry and flags under a new version.
    case put(value: [UInt8], expiresAt: Int64?, flags: UInt8)
    /// Remove the record.
    case delete
}

/// A tenant's view of a key: the bytes that identify a record and its shard.
struct RecordAddress {
    let shard: ShardID
    let dataKey: DataKey
}

/// The records of one node and the per-shard sequence numbers that version them.
///
/// Reads go straight to RocksDB (`read` may block; `readIfCached` never
/// does). Writes are staged in a `WriteGroup` by the single writer thread and
/// committed together: every record of the group, and each touched shard's
/// new last sequence number, in one atomic RocksDB batch. A version is thus
/// never reused, even across restarts.
final class Keyspace: Sendable {
    let database: Database
    let records: RecordStore
    let meta: ColumnFamily
    /// Last committed sequence number per local shard.
    private let sequences: Mutex<[ShardID: UInt64]>
    /// The hot set in memory, kept coherent by `commit`.
    let cache: RecordCache

    /// The column families a node's database has.
    static let families = [
        ColumnFamilyOptions(name: "data", dropsExpiredRecords: true),
        ColumnFamilyOptions(name: "meta"),
    ]

    init(database: Database, shards: [ShardID], cacheBytes: Int) throws(StorageError) {
        self.database = database
        self.cache = RecordCache(capacityBytes: cacheBytes)
        guard let data = database.columnFamily(named: "data"), let meta = database.columnFamily(named: "meta") else {
            throw StorageError(code: .invalidArgument, message: "node database lacks the data and meta column families")
        }
        self.records = RecordStore(database: database, family: data)
        self.meta = meta
        var sequences: [ShardID: UInt64] = [:]
        for shard in shards {
            let stored = try database.get(Self.sequenceKey(shard), in: meta)
            sequences[shard] = stored.map(Self.decodeSequence) ?? 0
        }
        self.sequences = Mutex(sequences)
    }

    static func sequenceKey(_ shard: ShardID) -> [UInt8] {
        Array("seq/".utf8) + withUnsafeBytes(of: shard.rawValue.bigEndian) { Array($0) }
    }

    static func decodeSequence(_ bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Starts sequencing shards this node has just been given (their last
    /// sequence numbers come from disk, 0 for a shard never held).
    func adopt(shards: [ShardID]) throws(StorageError) {
        let known = sequences.withLock { Set($0.keys) }
        var loaded: [ShardID: UInt64] = [:]
        for shard in shards where !known.contains(shard) {
            loaded[shard] = try database.get(Self.sequenceKey(shard), in: meta).map(Self.decodeSequence) ?? 0
        }
        guard !loaded.isEmpty else { return }
        sequences.withLock { sequences in
            for (shard, sequence) in loaded where sequences[shard] == nil { sequences[shard] = sequence }
        }
    }

    /// The last committed version of every local shard.
    var lastVersions: [ShardID: UInt64] { sequences.withLock { $0 } }

    /// The last version committed in `shard`, or `nil` for a shard this node does not hold.
    func lastVersion(of shard: ShardID) -> UInt64? {
        sequences.withLock { $0[shard] }
    }

    /// The live record at `address`, or `nil`. May block on disk.
    func read(_ address: RecordAddress, now: Int64) throws(StorageError) -> Record? {
        var ticket: RecordCache.FillTicket?
        if let cached = cache.lookup(address.dataKey, now: now, ticket: &ticket) { return cached }
        let record = try records.get(address.dataKey, now: now)
        if let record { cache.fill(address.dataKey, record, ticket: ticket) }
        return record
    }

    /// The live record at `address` from memory only (the hot set, then
    /// RocksDB's memory-only tier); `.needsIO` when the disk would be needed.
    func readIfCached(_ address: RecordAddress, now: Int64) throws(StorageError) -> RecordStore.CachedRecord {
        var ticket: RecordCache.FillTicket?
        if let cached = cache.lookup(address.dataKey, now: now, ticket: &ticket) { return .record(cached) }
        let result = try records.getIfCached(address.dataKey, now: now)
        if case .record(let record) = result { cache.fill(address.dataKey, record, ticket: ticket) }
        return result
    }

    /// A new, empty group of writes (writer thread only).
    func beginGroup() -> WriteGroup {
        WriteGroup(keyspace: self, sequences: sequences.withLock { $0 })
    }

    /// Commits `group` atomically and publishes its sequence numbers.
    ///
    /// The batch is built here, in key order: RocksDB's memtable skiplist
    /// reuses the previous insert's position, so sorted inserts are much
    /// cheaper than random ones, and a key written twice in a group is written once.
    func commit(_ group: WriteGroup) throws(StorageError) {
        guard !group.dirtyShards.isEmpty else { return }
        var entries: [(key: [UInt8], record: Record?)] = []
        entries.reserveCapacity(group.staged.count)
        for (key, record) in group.staged { entries.append((try key.encoded(), record)) }
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let batch = WriteBatch(for: database)
        for entry in entries {
            if let record = entry.record {
                try batch.put(entry.key, record.encoded(), in: records.family)
            } else {
                try batch.delete(entry.key, in: records.family)
            }
        }
        for shard in group.dirtyShards.sorted(by: { $0.rawValue < $1.rawValue }) {
            try batch.put(Self.sequenceKey(shard), withUnsafeBytes(of: group.sequences[shard]!.bigEndian) { Array($0) }, in: meta)
        }
        try database.write(batch)
        cache.apply(group.staged)
        let committed = group.sequences
        let dirty = group.dirtyShards
        sequences.withLock { sequences in
            for shard in dirty { sequences[shard] = committed[shard] }
        }
    }
}

/// Writes staged by the writer thread between two commits. Reads through a
/// group see its staged writes first, so pipelined commands see each other.
/// Not `Sendable`: it lives on the writer thread.
final class WriteGroup {
    let keyspace: Keyspace
    fileprivate(set) var sequences: [ShardID: UInt64]
    fileprivate(set) var dirtyShards: Set<ShardID> = []
    /// Staged state per key: a record, or `nil` for deleted.
    private(set) var staged: [DataKey: Record?] = [:]

    fileprivate init(keyspace: Keyspace, sequences: [ShardID: UInt64]) {
        self.keyspace = keyspace
        self.sequences = sequences
    }

    /// The live record at `address`, staged or stored.
    func read(_ address: RecordAddress, now: Int64) throws(StorageError) -> Record? {
        if let staged = staged[address.dataKey] {
            guard let staged, !staged.isExpired(at: now) else { return nil }
            return staged
        }
        return try keyspace.read(address, now: now)
    }

    /// Stages `mutation` of the record at `address` (whose current state is
    /// `current`) and returns the version it gets, or `nil` when nothing changes.
    func stage(_ address: RecordAddress, current: Record?, _ mutation: Mutation) throws(StorageError) -> UInt64? {
        guard address.dataKey.tenant.count <= DataKey.maxTenantLength else {
            throw StorageError(code: .keyTooLong, message: "tenant of \(address.dataKey.tenant.count) bytes exceeds \(DataKey.maxTenantLength)")
        }
        guard let last = sequences[address.shard] else {
            throw StorageError(code: .invalidArgument, message: "shard \(address.shard) is not held by this node")
        }
        let next = last + 1
        switch mutation {
        case .keep:
            return nil
        case .put(let value, let expiresAt, let flags):
            staged[address.dataKey] = .some(Record(value: value, version: next, expiresAt: expiresAt, flags: flags))
        case .delete:
            guard current != nil else { return nil }
            staged[address.dataKey] = .some(nil)
        }
        sequences[address.shard] = next
        dirtyShards.insert(address.shard)
        return next
    }
}
