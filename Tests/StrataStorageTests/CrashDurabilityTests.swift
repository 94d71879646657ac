import Foundation
import Testing
@testable import StrataStorage

/// A child process writes with the WAL synced, acknowledging each write on
/// stdout; it is killed with SIGKILL mid-stream; every acknowledged write must
/// be there after reopening.
@Suite("Crash durability")
struct CrashDurabilityTests {
    static func helperPath() throws -> String {
        // Test bundles and executables share the build products directory.
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("StorageCrashWriter").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw StorageError(code: .other, message: "StorageCrashWriter not found next to \(CommandLine.arguments[0])")
    }

    @Test("every acknowledged write survives SIGKILL", arguments: ["everyWrite", "groupCommit"])
    func acknowledgedWritesSurviveKill(policy: String) throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.sub("db")
        for round in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try Self.helperPath())
            process.arguments = [path, policy]
            let output = Pipe()
            process.standardOutput = output
            let errors = Pipe()
            process.standardError = errors
            try process.run()

            // Read acknowledgements until enough arrived, then kill mid-stream.
            var acknowledged: UInt64 = 0
            var pending = Data()
            let target = UInt64(200 + round * 150)
            let reader = output.fileHandleForReading
            while acknowledged < target {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    if line.hasPrefix("ack "), let n = UInt64(line.dropFirst(4)) { acknowledged = n }
                }
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            try #require(acknowledged >= target, "the writer stopped early: \(errorText)")
            #expect(process.terminationReason == .uncaughtSignal)

            let store = try openRecordStore(at: path)
            defer { store.database.close() }
            var missing: [UInt64] = []
            for sequence in 1...acknowledged {
                let key = DataKey(hash: sequence &* 0x9E37_79B9_7F4A_7C15, tenant: Array("t"), key: Array("key-\(sequence)"))
                let record = try store.get(key)
                if record?.value != Array("value-\(sequence)") || record?.version != sequence { missing.append(sequence) }
            }
            #expect(missing.isEmpty, "round \(round): lost acknowledged writes \(missing.prefix(10))")
        }
    }
}
