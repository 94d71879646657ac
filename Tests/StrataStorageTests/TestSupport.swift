import Foundation
import StrataStorage

/// A seeded generator so that a failing random sequence can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh directory under the system's temporary folder, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String
    init(_ label: String = #function) {
        let name = "strata-test-\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent(name)
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Options for a record database with a `data` family that drops expired records.
func recordOptions(walSync: WALSyncPolicy = .noSync) -> StorageOptions {
    var options = StorageOptions()
    options.walSync = walSync
    options.blockCacheBytes = 8 << 20
    options.writeBufferBytes = 4 << 20
    options.columnFamilies = [ColumnFamilyOptions(name: "data", dropsExpiredRecords: true), ColumnFamilyOptions(name: "meta")]
    return options
}

func openRecordStore(at path: String, walSync: WALSyncPolicy = .noSync) throws -> RecordStore {
    let database = try Database(path: path, options: recordOptions(walSync: walSync))
    return RecordStore(database: database, family: database.columnFamily(named: "data")!)
}

extension Array where Element == UInt8 {
    init(_ string: String) { self = Array(string.utf8) }
}
