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

/// The records of one node with per-shard write sequencing.
///
/// Every write to a shard takes that shard's lock, reads what it needs,
/// assigns the shard's next sequence number as the record's version and
/// commits the record and the new sequence number in one atomic batch, so a
/// version is never reused, even across restarts. Reads take no lock.
///
/// All methods block on RocksDB: call them from a thread pool, never from an
/// event loop.
final class Keyspace: Sendable {
    /// One shard's write lock and last assigned sequence number.
    final class ShardSequencer: Sendable {
        let state: Mutex<UInt64>
        init(last: UInt64) { state = Mutex(last) }
        var last: UInt64 { state.withLock { $0 } }
    }

    let database: Database
    let records: RecordStore
    let meta: ColumnFamily
    let sequencers: [ShardID: ShardSequencer]

    /// The column families a node's database has.
    static let families = [
        ColumnFamilyOptions(name: "data", dropsExpiredRecords: true),
        ColumnFamilyOptions(name: "meta"),
    ]

    init(database: Database, shards: [ShardID]) throws(StorageError) {
        self.database = database
        guard let data = database.columnFamily(named: "data"), let meta = database.columnFamily(named: "meta") else {
            throw StorageError(code: .invalidArgument, message: "node database lacks the data and meta column families")
        }
        self.records = RecordStore(database: database, family: data)
        self.meta = meta
        var sequencers: [ShardID: ShardSequencer] = [:]
        for shard in shards {
            let stored = try database.get(Self.sequenceKey(shard), in: meta)
            sequencers[shard] = ShardSequencer(last: stored.map(Self.decodeSequence) ?? 0)
        }
        self.sequencers = sequencers
    }

    static func sequenceKey(_ shard: ShardID) -> [UInt8] {
        Array("seq/".utf8) + withUnsafeBytes(of: shard.rawValue.bigEndian) { Array($0) }
    }

    static func decodeSequence(_ bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The last version assigned in `shard`, or `nil` for a shard this node does not hold.
    func lastVersion(of shard: ShardID) -> UInt64? {
        sequencers[shard]?.last
    }

    /// The live record at `address`, or `nil`.
    func read(_ address: RecordAddress, now: Int64) throws(StorageError) -> Record? {
        try records.get(address.dataKey, now: now)
    }

    /// Reads the record at `address` under its shard's lock, lets `decide`
    /// choose a mutation, and applies it atomically with a new version.
    /// - Returns: what `decide` returned alongside its mutation, and the new
    ///   version when something was written.
    func mutate<Result>(
        _ address: RecordAddress,
        now: Int64,
        _ decide: (Record?) throws(CommandError) -> (Mutation, Result)
    ) throws(CommandError) -> (result: Result, version: UInt64?) {
        guard let sequencer = sequencers[address.shard] else {
            throw CommandError(message: "ERR shard \(address.shard) has no sequencer on this node")
        }
        return try sequencer.state.withLock { (last: inout UInt64) throws(CommandError) -> (result: Result, version: UInt64?) in
            let current: Record?
            do {
                current = try records.get(address.dataKey, now: now)
            } catch {
                throw CommandError.storage(error)
            }
            let (mutation, result) = try decide(current)
            let next = last + 1
            do {
                let batch = WriteBatch(for: database)
                switch mutation {
                case .keep:
                    return (result, nil)
                case .put(let value, let expiresAt, let flags):
                    try batch.put(address.dataKey, Record(value: value, version: next, expiresAt: expiresAt, flags: flags), in: records.family)
                case .delete:
                    guard current != nil else { return (result, nil) }
                    try batch.delete(address.dataKey, in: records.family)
                }
                try batch.put(Self.sequenceKey(address.shard), withUnsafeBytes(of: next.bigEndian) { Array($0) }, in: meta)
                try database.write(batch)
            } catch {
                throw CommandError.storage(error)
            }
            last = next
            return (result, next)
        }
    }
}
