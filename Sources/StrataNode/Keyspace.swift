import Synchronization
import StrataCluster
import StrataStorage

/// Big-endian fixed-width integers: the byte order of every key and number the node stores.
enum BigEndian {
    static func bytes(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    static func bytes(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    /// The value of the first 8 bytes (fewer bytes read as a shorter number).
    static func uint64(_ bytes: some Collection<UInt8>) -> UInt64 { bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
}

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

/// The records of one node, the per-shard sequence numbers that version them,
/// and the per-shard replication log.
///
/// Reads go straight to RocksDB (`read` may block; `readIfCached` never
/// does). Writes are staged in a `WriteGroup` by the single writer thread and
/// committed together: every record of the group and each touched shard's
/// replication-log entry, keyed by the shard's new last sequence number, in
/// one atomic RocksDB batch. The newest log entry is the shard's stored
/// sequence number: a version is thus never reused, even across restarts,
/// and the log never misses a committed change.
final class Keyspace: Sendable {
    let database: Database
    let records: RecordStore
    let meta: ColumnFamily
    /// Last committed sequence number per local shard.
    private let sequences: Mutex<[ShardID: UInt64]>
    /// Highest sequence number trimmed from each local shard's log.
    private let trimmed: Mutex<[ShardID: UInt64]>
    /// The epoch of each local shard's newest log entry (0: none, or installed from a snapshot).
    private let lastEpochs: Mutex<[ShardID: UInt64]>
    /// The hot set in memory, kept coherent by `commit`.
    let cache: RecordCache
    /// The per-shard replication log.
    let log: ReplicationLog
    /// The node's metrics; commits count each shard's written keys.
    let metrics: NodeMetrics

    /// The column families a node's database has.
    static let families = [
        ColumnFamilyOptions(name: "data", dropsExpiredRecords: true),
        ColumnFamilyOptions(name: "meta"),
        // Log entries are rewritten by compaction until trimmed, never rest long: LZ4 at every level.
        // Keyed by shard, every flushed file of the log overlaps all of level 1, so each
        // compaction rewrites level 1: merging 16 files at a time instead of 4 halves the
        // log's compaction CPU under sustained writes (README, "Sustained writes").
        ColumnFamilyOptions(name: "log", compression: .lz4, level0CompactionTrigger: 16),
    ]

    /// Log entries kept per shard by default.
    static let defaultLogRetention: UInt64 = 100_000

    init(
        database: Database, shards: [ShardID], cacheBytes: Int, logRetention: UInt64 = defaultLogRetention,
        metrics: NodeMetrics? = nil
    ) throws(StorageError) {
        self.database = database
        self.metrics = metrics ?? NodeMetrics(shards: shards)
        self.cache = RecordCache(capacityBytes: cacheBytes)
        guard let data = database.columnFamily(named: "data"), let meta = database.columnFamily(named: "meta"),
            let log = database.columnFamily(named: "log")
        else {
            throw StorageError(code: .invalidArgument, message: "node database lacks the data, meta and log column families")
        }
        self.records = RecordStore(database: database, family: data)
        self.meta = meta
        self.log = ReplicationLog(database: database, family: log, retention: max(logRetention, 1))
        self.sequences = Mutex([:])
        self.trimmed = Mutex([:])
        self.lastEpochs = Mutex([:])
        try adopt(shards: shards)
    }

    /// The meta key of a per-shard value: `prefix` then the shard id, big-endian.
    static func metaKey(_ prefix: String, _ shard: ShardID) -> [UInt8] {
        Array(prefix.utf8) + BigEndian.bytes(shard.rawValue)
    }

    /// A shard's stored positions: last sequence number, trim point of its log, epoch of its newest log entry.
    private func storedPositions(_ shard: ShardID) throws(StorageError) -> (sequence: UInt64, trimmed: UInt64, epoch: UInt64) {
        let newest = try log.newest(shard)
        return (
            newest.sequence,
            try database.get(ReplicationLog.trimKey(shard), in: meta).map(BigEndian.uint64) ?? 0,
            newest.epoch
        )
    }

    /// Starts sequencing shards this node has just been given (their last
    /// sequence numbers come from disk, 0 for a shard never held).
    func adopt(shards: [ShardID]) throws(StorageError) {
        let known = sequences.withLock { Set($0.keys) }
        var loaded: [ShardID: (sequence: UInt64, trimmed: UInt64, epoch: UInt64)] = [:]
        for shard in shards where !known.contains(shard) { loaded[shard] = try storedPositions(shard) }
        guard !loaded.isEmpty else { return }
        lastEpochs.withLock { lastEpochs in
            for (shard, state) in loaded where lastEpochs[shard] == nil { lastEpochs[shard] = state.epoch }
        }
        trimmed.withLock { trimmed in
            for (shard, state) in loaded where trimmed[shard] == nil { trimmed[shard] = state.trimmed }
        }
        sequences.withLock { sequences in
            for (shard, state) in loaded where sequences[shard] == nil { sequences[shard] = state.sequence }
        }
    }

    /// Stores a later page of a snapshot that `installSnapshot` began (records
    /// as the primary encoded them), leaving the shard's positions where the
    /// first page put them: the log replay from there brings every key up to date.
    func addSnapshotRecords(_ hashes: ClosedRange<UInt64>, records snapshot: [([UInt8], [UInt8])]) throws(StorageError) {
        let batch = WriteBatch(for: database)
        for (key, value) in snapshot { try batch.put(key, value, in: records.family) }
        try database.write(batch)
        cache.removeAll(hashes: hashes)
    }

    /// The shards this node has positions for: the ones it holds, and ones it
    /// held whose data is still here (see `drop`).
    var knownShards: Set<ShardID> { sequences.withLock { Set($0.keys) } }

    /// Deletes everything this node holds of `shard`, a shard the map no longer
    /// places here: its records (a range delete over `hashes`), its log and its
    /// trim point, in one batch; forgets its positions, so the shard starts from
    /// nothing if it comes back (a snapshot, then the log). Run on the writer
    /// thread, between groups. The disk space returns with the compaction of
    /// the deleted ranges (`compactDropped`).
    func drop(_ shard: ShardID, hashes: ClosedRange<UInt64>) throws(StorageError) {
        let batch = WriteBatch(for: database)
        try records.deleteRange(hashes: hashes, in: batch)
        try batch.deleteRange(from: ReplicationLog.key(shard, 0), to: ReplicationLog.key(shard, .max), in: log.family)
        try batch.delete(ReplicationLog.trimKey(shard), in: meta)
        try database.write(batch)
        cache.removeAll(hashes: hashes)
        sequences.withLock { _ = $0.removeValue(forKey: shard) }
        trimmed.withLock { _ = $0.removeValue(forKey: shard) }
        lastEpochs.withLock { _ = $0.removeValue(forKey: shard) }
    }

    /// Compacts the records and logs of shards after `drop`, so their files are rewritten
    /// without them: one compaction per column family, over the span from the lowest to the highest.
    func compactDropped(_ shards: [(shard: ShardID, hashes: ClosedRange<UInt64>)]) throws(StorageError) {
        guard let low = shards.map(\.hashes.lowerBound).min(), let high = shards.map(\.hashes.upperBound).max(),
            let first = shards.map(\.shard).min(), let last = shards.map(\.shard).max()
        else { return }
        let bounds = DataKey.bounds(forHashes: low...high)
        try database.compact(in: records.family, from: bounds.lower, to: bounds.upper)
        try database.compact(in: log.family, from: ReplicationLog.key(first, 0), to: ReplicationLog.key(last, .max))
    }

    /// A shard's copy in one number, to compare copies: from one RocksDB
    /// snapshot (`snapshot`, or one taken now), the sequence number of its
    /// newest log entry, the records counted, and xxHash64 chained over each
    /// encoded key and envelope in key order. Records expiring at or before
    /// `asOf` (ms since 1970) are left out: copies drop expired records in
    /// their own compactions, so only records living past both computations
    /// can be compared (pick `asOf` beyond the time both will take).
    func checksum(
        of shard: ShardID, hashes: ClosedRange<UInt64>, asOf: Int64, snapshot: Snapshot? = nil
    ) throws(StorageError) -> ShardChecksum {
        let taken: Snapshot
        if let snapshot { taken = snapshot } else { taken = try database.snapshot() }
        let (sequence, _) = try log.newest(shard, snapshot: taken)
        var checksum: UInt64 = 0
        var count = 0
        let iterator = try records.rawIterator(hashes: hashes, snapshot: taken)
        while let (key, value) = try iterator.next() {
            if let expiry = Record.expiry(ofEncoded: value), expiry <= asOf { continue }
            checksum = XXHash64.hash(key + value, seed: checksum)
            count += 1
        }
        return ShardChecksum(sequence: sequence, records: count, checksum: checksum)
    }

    /// Sets a shard's sequence number and trim point after a snapshot replaced it (or a split started it).
    func setPositions(_ shard: ShardID, sequence: UInt64, trimmedThrough: UInt64, epoch: UInt64) {
        trimmed.withLock { $0[shard] = trimmedThrough }
        lastEpochs.withLock { $0[shard] = epoch }
        sequences.withLock { $0[shard] = sequence }
    }

    /// A follower's position in `shard`: its sequence number and the epoch of its entry there (0: unknown).
    func position(of shard: ShardID) -> (sequence: UInt64, epoch: UInt64)? {
        let epoch = lastEpochs.withLock { $0[shard] } ?? 0
        return lastVersion(of: shard).map { ($0, epoch) }
    }

    /// The log entries of `shard` after `sequence`, for a follower (may block on disk).
    func logEntries(_ shard: ShardID, after sequence: UInt64, epoch: UInt64 = 0, limit: Int, maxBytes: Int)
        throws(StorageError) -> ReplicationLog.Read?
    {
        // Read `trimmed` before `last`: a trim that lands in between only makes `last` newer.
        guard let trimmedThrough = trimmed.withLock({ $0[shard] }), let last = lastVersion(of: shard) else {
            return nil
        }
        let read = try log.read(
            shard, after: sequence, epoch: epoch, last: last, trimmedThrough: trimmedThrough, limit: limit,
            maxBytes: maxBytes)
        // A trim that ran while reading may have removed entries the follower needed.
        if case .entries = read, let now = trimmed.withLock({ $0[shard] }), now > sequence {
            return .trimmed(oldest: now + 1)
        }
        return read
    }

    /// The highest sequence number trimmed from `shard`'s log here (0: none, or a shard not held).
    func trimPoint(of shard: ShardID) -> UInt64 { trimmed.withLock { $0[shard] } ?? 0 }

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
        return try storageReadIfCached(address, now: now, ticket: ticket)
    }

    /// After a hot-set miss (which gave `ticket`): the record from RocksDB's
    /// memory-only tier, put in the hot set; `.needsIO` when the disk would be needed.
    func storageReadIfCached(_ address: RecordAddress, now: Int64, ticket: RecordCache.FillTicket?)
        throws(StorageError) -> RecordStore.CachedRecord
    {
        let result = try records.getIfCached(address.dataKey, now: now)
        if case .record(let record) = result { cache.fill(address.dataKey, record, ticket: ticket) }
        return result
    }

    /// A new, empty group of writes (writer thread only).
    /// - Parameter epochs: The current shard epochs, stamped on the entries of the shards this node leads.
    /// - Parameter expectedWrites: how many writes the group will likely stage (space is reserved for them).
    func beginGroup(epochs: @escaping (ShardID) -> UInt64 = { _ in 0 }, expectedWrites: Int = 0) -> WriteGroup {
        WriteGroup(keyspace: self, sequences: sequences.withLock { $0 }, epochs: epochs, expectedWrites: expectedWrites)
    }

    /// Commits `group` atomically and publishes its sequence numbers.
    ///
    /// The batch is built here, in key order: RocksDB's memtable skiplist
    /// reuses the previous insert's position, so sorted inserts are much
    /// cheaper than random ones, and a key written twice in a group is written once.
    func commit(_ group: WriteGroup) throws(StorageError) {
        guard !group.dirtyShards.isEmpty else { return }
        let entries = group.takeWrites()
        let batch = WriteBatch(for: database)
        // Each key and record is encoded once, straight into its shard's log
        // entry; the data family's put copies those bytes from there.
        var payloads: [ShardID: [UInt8]] = [:]
        var entryEpochs: [ShardID: UInt64] = [:]
        for shard in group.dirtyShards {
            let epoch = group.appliedEpochs[shard] ?? group.epochs(shard)
            entryEpochs[shard] = epoch
            payloads[shard] = LogEntry.header(epoch: epoch)
        }
        // Run by run of one shard's entries (a shard is one key range, so
        // each is usually one run): its payload is looked up and grown once.
        // By index, not `for in`: an element copy would retain its key's and value's arrays.
        var written: [(shard: ShardID, keys: Int, bytes: Int)] = []
        var start = entries.startIndex
        while start < entries.endIndex {
            let shard = entries[start].write.shard
            var end = start
            var size = 0
            while end < entries.endIndex, entries[end].write.shard == shard {
                size += LogEntry.encodedCount(key: entries[end].key, record: entries[end].write.record)
                end += 1
            }
            var payload = payloads.removeValue(forKey: shard) ?? []
            let before = payload.count
            payload.reserveCapacity(payload.count + size)
            for index in start..<end {
                try LogEntry.append(key: entries[index].key, record: entries[index].write.record, to: &payload) {
                    (encodedKey, encodedRecord) throws(StorageError) in
                    if let encodedRecord {
                        try batch.put(key: encodedKey, value: encodedRecord, in: records.family)
                    } else {
                        try batch.delete(key: encodedKey, in: records.family)
                    }
                }
            }
            payloads[shard] = payload
            written.append((shard, end - start, payload.count - before))
            start = end
        }
        let trimmedNow = trimmed.withLock { $0 }
        var newTrims: [ShardID: UInt64] = [:]
        for (shard, ids) in group.requestIDs where payloads[shard] != nil { LogEntry.append(requestIDs: ids, to: &payloads[shard]!) }
        for shard in group.dirtyShards.sorted(by: { $0.rawValue < $1.rawValue }) {
            let sequence = group.sequences[shard]!
            try batch.put(ReplicationLog.key(shard, sequence), payloads[shard]!, in: log.family)
            // Trim in steps of a quarter of the retention, so a range delete is rare.
            let floor = trimmedNow[shard] ?? 0
            if sequence > floor + log.retention + log.retention / 4 {
                let through = sequence - log.retention
                try batch.deleteRange(
                    from: ReplicationLog.key(shard, 0), to: ReplicationLog.key(shard, through + 1), in: log.family)
                try batch.put(ReplicationLog.trimKey(shard), BigEndian.bytes(through), in: meta)
                newTrims[shard] = through
            }
        }
        try database.write(batch)
        for (shard, keys, bytes) in written {
            let series = metrics.shard(shard)
            series.writes.increment(by: Int64(keys))
            series.writeBytes.increment(by: Int64(bytes))
        }
        if !newTrims.isEmpty {
            trimmed.withLock { trimmed in
                for (shard, through) in newTrims { trimmed[shard] = through }
            }
        }
        for index in entries.indices { cache.apply(entries[index].key, entries[index].write.record) }
        lastEpochs.withLock { lastEpochs in
            for (shard, epoch) in entryEpochs { lastEpochs[shard] = epoch }
        }
        let committed = group.sequences
        let dirty = group.dirtyShards
        sequences.withLock { sequences in
            for shard in dirty { sequences[shard] = committed[shard] }
        }
    }
}

extension Keyspace {
    /// Replaces a shard with a primary's snapshot of it (writer thread only):
    /// in one batch, its records, its log (one entry at `sequence`, which
    /// holds the sequence number) and trim point. Afterwards the shard follows the log from `sequence`.
    ///
    /// - Parameters:
    ///   - shard: The shard.
    ///   - hashes: The shard's hash range.
    ///   - sequence: The primary's sequence number for the shard at the snapshot.
    ///   - epoch: The epoch of the primary's log entry at `sequence` (0 if it has none).
    ///   - records: Every record of the shard at the snapshot: encoded data key and record envelope.
    func installSnapshot(
        _ shard: ShardID, hashes: ClosedRange<UInt64>, sequence: UInt64, epoch: UInt64,
        records snapshot: [([UInt8], [UInt8])]
    ) throws(StorageError) {
        let batch = WriteBatch(for: database)
        try records.deleteRange(hashes: hashes, in: batch)
        try batch.deleteRange(
            from: ReplicationLog.key(shard, 0), to: ReplicationLog.key(shard, .max), in: log.family)
        // An empty entry at the snapshot's position keeps the epoch of the primary's entry there,
        // so divergence checks still work from this position (and after a restart).
        if sequence > 0 {
            try batch.put(ReplicationLog.key(shard, sequence), LogEntry.header(epoch: epoch), in: log.family)
        }
        for (key, value) in snapshot { try batch.put(key, value, in: records.family) }
        try batch.put(ReplicationLog.trimKey(shard), BigEndian.bytes(sequence), in: meta)
        try database.write(batch)
        cache.removeAll(hashes: hashes)
        setPositions(shard, sequence: sequence, trimmedThrough: sequence, epoch: epoch)
    }
}

/// Writes staged by the writer thread between two commits. Reads through a
/// group see its staged writes first, so pipelined commands see each other.
/// Not `Sendable`: it lives on the writer thread.
final class WriteGroup {
    let keyspace: Keyspace
    fileprivate(set) var sequences: [ShardID: UInt64]
    fileprivate(set) var dirtyShards: Set<ShardID> = []
    /// A key's staged state: its new record (`nil`: deleted) and its shard.
    struct StagedWrite {
        let record: Record?
        let shard: ShardID
    }

    /// A staged key and its write (a struct, not a tuple: tuples of
    /// references are copied through the runtime's generic witnesses).
    struct StagedEntry {
        let key: DataKey
        var write: StagedWrite
    }

    /// Staged writes in staging order: the commit sorts this array in place.
    /// A key staged again replaces its entry once the group is indexed;
    /// before that it is appended, and the commit keeps the later entry.
    private var writes: [StagedEntry] = []
    /// Where each staged key is in `writes`, built at the first read through
    /// the group: a group of blind writes (plain SETs) never hashes its keys.
    private var positions: [DataKey: Int]?
    /// The shard of every staged write, in order (so a caller can tell which shards a command wrote).
    private(set) var touched: [ShardID] = []
    /// The distinct shards in `touched`.
    private(set) var touchedShards: Set<ShardID> = []
    /// Outcomes of the group's `REQID` requests, remembered once the group is committed.
    var requestOutcomes: [RequestLog.Key: RequestLog.Outcome] = [:]
    /// Per shard, the request ids of the writes staged for it: its log entry carries them to the replicas' logs.
    private(set) var requestIDs: [ShardID: [[UInt8]]] = [:]

    /// Notes that the write with request id `id` was staged for `shard`.
    func noteRequest(_ id: [UInt8], shard: ShardID) {
        requestIDs[shard, default: []].append(id)
    }

    /// Counts `shard` as written by the current command without staging anything: a
    /// repeated `REQID` write waits for the replicas of the shard its first attempt wrote.
    func touch(_ shard: ShardID) {
        guard sequences[shard] != nil else { return }
        touched.append(shard)
        touchedShards.insert(shard)
    }

    /// The current epoch of a shard this node leads.
    let epochs: (ShardID) -> UInt64
    /// The epochs of entries applied from a primary, which keep theirs.
    private(set) var appliedEpochs: [ShardID: UInt64] = [:]

    fileprivate init(
        keyspace: Keyspace, sequences: [ShardID: UInt64], epochs: @escaping (ShardID) -> UInt64, expectedWrites: Int
    ) {
        self.keyspace = keyspace
        self.sequences = sequences
        self.epochs = epochs
        writes.reserveCapacity(expectedWrites)
    }

    /// Stages `write` for `key`, replacing what the group staged for it before.
    private func put(_ key: DataKey, _ write: StagedWrite) {
        if positions != nil, let index = positions!.updateValue(writes.count, forKey: key) {
            positions![key] = index
            writes[index].write = write
        } else {
            writes.append(StagedEntry(key: key, write: write))
        }
    }

    /// The staged writes, sorted by key in RocksDB's order, one per key (the
    /// last staged); the group holds none afterwards.
    fileprivate func takeWrites() -> [StagedEntry] {
        positions = nil
        var entries = writes
        writes = []
        // Swift's sort is stable: two entries of a key stay in staging order.
        entries.sort { $0.key.encodedPrecedes($1.key) }
        // Keys staged twice before the group was indexed: the later entry wins.
        var kept = 0
        for index in entries.indices where index + 1 == entries.count || entries[index + 1].key != entries[index].key {
            if kept != index { entries.swapAt(kept, index) }
            kept += 1
        }
        entries.removeSubrange(kept...)
        return entries
    }

    /// The keys of `tenant` staged in this group with their staged state
    /// (`nil`: deleted), sorted in RocksDB's key order, the later staging of a key winning.
    /// - Complexity: O(*n* log *n*) in the group's staged writes.
    func staged(tenant: [UInt8]) -> [(key: DataKey, record: Record?)] {
        var latest: [DataKey: Record?] = [:]
        for entry in writes where entry.key.tenant == tenant { latest[entry.key] = entry.write.record }
        return latest.map { ($0.key, $0.value) }.sorted { $0.key.encodedPrecedes($1.key) }
    }

    /// Whether this group has staged a write (or a deletion) of `key`.
    func isStaged(_ key: DataKey) -> Bool {
        if let positions { return positions[key] != nil }
        return writes.contains { $0.key == key }
    }

    /// The live record at `address`, staged or stored.
    func read(_ address: RecordAddress, now: Int64) throws(StorageError) -> Record? {
        if positions == nil {
            // Indexed on the first read; of two entries of a key, the later one is found.
            var index: [DataKey: Int] = [:]
            index.reserveCapacity(writes.count)
            for position in writes.indices { index[writes[position].key] = position }
            positions = index
        }
        if let index = positions![address.dataKey] {
            guard let record = writes[index].write.record, !record.isExpired(at: now) else { return nil }
            return record
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
            put(
                address.dataKey,
                StagedWrite(record: Record(value: value, version: next, expiresAt: expiresAt, flags: flags), shard: address.shard))
        case .delete:
            guard current != nil else { return nil }
            put(address.dataKey, StagedWrite(record: nil, shard: address.shard))
        }
        touched.append(address.shard)
        touchedShards.insert(address.shard)
        sequences[address.shard] = next
        dirtyShards.insert(address.shard)
        return next
    }

    /// Stages a log entry received from the shard's primary: its records as
    /// they are (with the primary's versions), and the shard's sequence number.
    /// - Returns: `false` (staging nothing) unless the entry is the next one: past this node's sequence number.
    func apply(_ entry: LogEntry, to shard: ShardID) -> Bool {
        guard let last = sequences[shard], entry.sequence > last else { return false }
        for (key, record) in entry.changes { put(key, StagedWrite(record: record, shard: shard)) }
        if !entry.requestIDs.isEmpty { requestIDs[shard, default: []] += entry.requestIDs }
        sequences[shard] = entry.sequence
        appliedEpochs[shard] = entry.epoch
        dirtyShards.insert(shard)
        return true
    }
}

/// One copy of a shard summed up at a sequence number (`Keyspace.checksum`).
struct ShardChecksum: Equatable, Sendable {
    /// The newest log entry's sequence number in the summed state.
    var sequence: UInt64
    /// Records counted.
    var records: Int
    /// xxHash64 chained over the records in key order.
    var checksum: UInt64
}
