// A child process for the crash-durability test: writes records with the WAL
// synced on every write and prints "ack N" after each write returns, until it
// is killed. Usage: StorageCrashWriter <db-path> <everyWrite|groupCommit>
import Foundation
import StrataStorage

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: StorageCrashWriter <db-path> <everyWrite|groupCommit>\n".utf8))
    exit(2)
}
var options = StorageOptions()
options.walSync = arguments[2] == "groupCommit" ? .groupCommit(window: .microseconds(200)) : .everyWrite
options.columnFamilies = [ColumnFamilyOptions(name: "data", dropsExpiredRecords: true)]
do {
    let database = try Database(path: arguments[1], options: options)
    let store = RecordStore(database: database, family: database.columnFamily(named: "data")!)
    var sequence: UInt64 = 0
    while true {
        sequence += 1
        let key = DataKey(hash: sequence &* 0x9E37_79B9_7F4A_7C15, tenant: Array("t".utf8), key: Array("key-\(sequence)".utf8))
        try store.put(key, Record(value: Array("value-\(sequence)".utf8), version: sequence))
        print("ack \(sequence)")
        fflush(nil)
    }
} catch {
    FileHandle.standardError.write(Data("StorageCrashWriter: \(error)\n".utf8))
    exit(1)
}
