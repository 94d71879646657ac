import StrataCluster
import StrataStorage

/// One committed change of one shard: every record a write group changed in
/// it, tagged with the shard's sequence number after the group.
///
/// A group that writes several keys of a shard consumes several sequence
/// numbers but makes one entry, keyed by the last of them; a follower that
/// applies it is at that sequence number. Records carry their own versions.
struct LogEntry {
    /// The shard's sequence number after this entry.
    let sequence: UInt64
    /// The shard epoch under which the primary wrote it; followers keep it, so
    /// two logs that agree on an entry's sequence number and epoch agree on
    /// everything up to it (and a former primary's unreplicated tail is told apart).
    let epoch: UInt64
    /// The changed records: a record, or `nil` for a deleted key.
    let changes: [(key: DataKey, record: Record?)]
    /// The client request ids (`REQID`) of the writes in the entry, for the logs of the nodes that apply it.
    let requestIDs: [[UInt8]]

    /// Where a change's key length would be, this marks the request ids (a key is never that long).
    private static let requestIDsMarker = UInt32.max

    /// The start of an entry's stored form: its epoch, 8 bytes big-endian.
    static func header(epoch: UInt64) -> [UInt8] { BigEndian.bytes(epoch) }

    /// The epoch of an entry's stored form.
    static func epoch(ofPayload bytes: [UInt8]) -> UInt64 { BigEndian.uint64(bytes) }

    /// Appends one change to an entry's stored form (after the header): a
    /// 4-byte key length, the encoded data key, a presence byte, then (if
    /// present) a 4-byte length and the record envelope. Integers are
    /// big-endian. `key` and `record` are encoded in place; `encoded` then gets
    /// the bytes of the encoded key and record envelope (`nil` for a deletion)
    /// inside `bytes`, valid only during the call.
    static func append(
        key: DataKey, record: Record?, to bytes: inout [UInt8],
        _ encoded: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>?) throws(StorageError) -> Void
    ) throws(StorageError) {
        appendLength(key.encodedCount, to: &bytes)
        let keyRange = bytes.count..<bytes.count + key.encodedCount
        try key.append(to: &bytes)
        var recordRange: Range<Int>?
        if let record {
            bytes.append(1)
            appendLength(record.encodedCount, to: &bytes)
            recordRange = bytes.count..<bytes.count + record.encodedCount
            record.append(to: &bytes)
        } else {
            bytes.append(0)
        }
        try bytes.withUnsafeBufferPointer { (all) throws(StorageError) in
            try encoded(
                UnsafeBufferPointer(rebasing: all[keyRange]),
                recordRange.map { UnsafeBufferPointer(rebasing: all[$0]) })
        }
    }

    /// Decodes an entry's stored form (see `append(key:record:to:_:)`).
    init(sequence: UInt64, payload bytes: [UInt8]) throws(StorageError) {
        var changes: [(key: DataKey, record: Record?)] = []
        guard bytes.count >= 8 else {
            throw StorageError(code: .corruption, message: "replication log entry \(sequence) has no header")
        }
        var offset = 8
        func take(_ count: Int) throws(StorageError) -> ArraySlice<UInt8> {
            guard count >= 0, offset + count <= bytes.count else {
                throw StorageError(code: .corruption, message: "replication log entry \(sequence) is truncated")
            }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }
        func length() throws(StorageError) -> Int {
            Int(try take(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        var requestIDs: [[UInt8]] = []
        while offset < bytes.count {
            let keyLength = try length()
            if keyLength == Int(Self.requestIDsMarker) {
                for _ in 0..<(try length()) { requestIDs.append(Array(try take(try length()))) }
                continue
            }
            let key = try DataKey(encoded: Array(try take(keyLength)))
            let present = try take(1).first!
            changes.append((key, present == 1 ? try Record(encoded: try take(try length())) : nil))
        }
        self.sequence = sequence
        self.epoch = Self.epoch(ofPayload: bytes)
        self.changes = changes
        self.requestIDs = requestIDs
    }

    /// Appends the request ids of an entry's writes to its stored form (after its changes):
    /// the marker, a 4-byte count, then each id as a 4-byte length and its bytes.
    static func append(requestIDs: [[UInt8]], to bytes: inout [UInt8]) {
        guard !requestIDs.isEmpty else { return }
        appendLength(Int(requestIDsMarker), to: &bytes)
        appendLength(requestIDs.count, to: &bytes)
        for id in requestIDs {
            appendLength(id.count, to: &bytes)
            bytes += id
        }
    }

    /// The bytes `append(key:record:to:_:)` adds for one change.
    static func encodedCount(key: DataKey, record: Record?) -> Int {
        4 + key.encodedCount + 1 + (record.map { 4 + $0.encodedCount } ?? 0)
    }

    private static func appendLength(_ length: Int, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(length).bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// The per-shard replication log, in the `log` column family: key
/// `shard (4 bytes) | sequence (8 bytes)`, big-endian, so a shard's entries
/// are one key range in sequence order. Entries are written in the same
/// RocksDB batch as the records they describe (`Keyspace.commit`), and the
/// oldest are trimmed to keep `retention` entries per shard.
struct ReplicationLog: Sendable {
    let database: Database
    let family: ColumnFamily
    /// Entries kept per shard; older ones are trimmed and a follower that needs them bootstraps from a snapshot.
    let retention: UInt64

    static func key(_ shard: ShardID, _ sequence: UInt64) -> [UInt8] {
        BigEndian.bytes(shard.rawValue) + BigEndian.bytes(sequence)
    }

    static func sequence(ofKey key: [UInt8]) -> UInt64 { BigEndian.uint64(key.dropFirst(4)) }

    /// One stored entry: its sequence number and stored form.
    struct Fetched: Equatable {
        let sequence: UInt64
        let payload: [UInt8]
    }

    /// What a follower asking for entries after a sequence number gets.
    enum Read: Equatable {
        /// The entries after it, in order (possibly none yet).
        case entries([Fetched])
        /// The log no longer holds the entry right after it: the follower needs a snapshot.
        case trimmed(oldest: UInt64?)
        /// The follower is past this log's end (a tail this node never had): it needs a snapshot.
        case ahead
        /// The follower's last entry is not this log's (a former primary's unreplicated tail): it needs a snapshot.
        case diverged
    }

    /// Up to `limit` entries (and about `maxBytes`) of `shard` after `sequence`.
    ///
    /// - Parameters:
    ///   - shard: The shard.
    ///   - sequence: The follower's applied sequence number.
    ///   - last: The shard's last committed sequence number here.
    ///   - trimmedThrough: The highest sequence number already trimmed from the shard's log.
    ///   - limit: At most this many entries.
    ///   - maxBytes: Stop after an entry that brings the payloads past this size.
    ///   - epoch: The epoch of the follower's entry at `sequence` (0: unknown, as after a snapshot).
    func read(
        _ shard: ShardID, after sequence: UInt64, epoch: UInt64, last: UInt64, trimmedThrough: UInt64, limit: Int,
        maxBytes: Int
    ) throws(StorageError) -> Read {
        guard sequence >= trimmedThrough else { return .trimmed(oldest: trimmedThrough + 1) }
        guard sequence <= last else { return .ahead }
        if epoch != 0, sequence > trimmedThrough {
            // The follower's last entry must be this log's entry at the same place, from the same epoch.
            let own = try database.get(Self.key(shard, sequence), in: family)
            guard let own, LogEntry.epoch(ofPayload: own) == epoch else { return .diverged }
        }
        guard sequence < last else { return .entries([]) }
        let iterator = try database.makeIterator(
            in: family, from: Self.key(shard, sequence + 1), to: Self.key(shard, last &+ 1))
        var entries: [Fetched] = []
        var bytes = 0
        while entries.count < limit, bytes < maxBytes, let (key, value) = try iterator.next() {
            entries.append(Fetched(sequence: Self.sequence(ofKey: key), payload: value))
            bytes += value.count
        }
        return .entries(entries)
    }

    /// The sequence number and epoch of `shard`'s newest entry here (as of
    /// `snapshot` when given), or `(0, 0)` when its log is empty. The newest
    /// entry is the shard's last committed sequence number: every commit and
    /// every snapshot install writes one, and trims keep the newest entries.
    func newest(_ shard: ShardID, snapshot: Snapshot? = nil) throws(StorageError) -> (sequence: UInt64, epoch: UInt64) {
        let iterator = try database.makeIterator(
            in: family, from: Self.key(shard, 0), to: Self.key(shard, .max), reverse: true, snapshot: snapshot)
        guard let (key, value) = try iterator.next() else { return (0, 0) }
        return (Self.sequence(ofKey: key), LogEntry.epoch(ofPayload: value))
    }

    /// The meta key holding the highest sequence number trimmed from a shard's log.
    static func trimKey(_ shard: ShardID) -> [UInt8] { Keyspace.metaKey("trim/", shard) }
}
