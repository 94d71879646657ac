import Foundation
import NIOConcurrencyHelpers
import StrataWire

/// How fast this node takes in shard copies, and how many shards it copies at
/// once: the start values come from the command line (`--transfer-mb-per-second`,
/// `--max-copying-shards`); `CONFIG SET transfer-mb-per-second N` and
/// `CONFIG SET max-copying-shards N` change them while the node runs (so does
/// `strata cluster throttle` on every node). 0 means no limit.
final class TransferSettings: Sendable {
    private struct Limits {
        var bytesPerSecond: Int?
        var maxCopyingShards: Int?
    }

    private let limits: NIOLockedValueBox<Limits>

    /// Limits to start with (`nil` or 0: none).
    init(bytesPerSecond: Int?, maxCopyingShards: Int?) {
        limits = NIOLockedValueBox(Limits(
            bytesPerSecond: bytesPerSecond.flatMap { $0 > 0 ? $0 : nil },
            maxCopyingShards: maxCopyingShards.flatMap { $0 > 0 ? $0 : nil }))
    }

    /// The most bytes of shard copies a second this node takes in (`nil`: as fast as they come).
    var bytesPerSecond: Int? {
        get { limits.withLockedValue { $0.bytesPerSecond } }
        set { limits.withLockedValue { $0.bytesPerSecond = newValue.flatMap { $0 > 0 ? $0 : nil } } }
    }

    /// The most shards this node copies at once (`nil`: every shard it is given); the others wait their turn.
    var maxCopyingShards: Int? {
        get { limits.withLockedValue { $0.maxCopyingShards } }
        set { limits.withLockedValue { $0.maxCopyingShards = newValue.flatMap { $0 > 0 ? $0 : nil } } }
    }

    /// The settable parameters and their values, as `CONFIG GET` shows them.
    var configValues: [(String, String)] {
        let limits = limits.withLockedValue { $0 }
        return [
            ("transfer-mb-per-second", limits.bytesPerSecond.map { String(format: "%g", Double($0) / 1_000_000) } ?? "0"),
            ("max-copying-shards", limits.maxCopyingShards.map(String.init) ?? "0"),
        ]
    }

    /// Sets one parameter from `CONFIG SET`.
    /// - Throws: `CommandError` for a parameter that cannot change at runtime or a value that is not a number.
    func set(_ name: String, to value: String) throws(CommandError) {
        switch name.lowercased() {
        case "transfer-mb-per-second":
            guard let megabytes = Double(value), megabytes >= 0, megabytes.isFinite else {
                throw CommandError(message: "ERR CONFIG SET transfer-mb-per-second needs a number of megabytes (0: no limit)")
            }
            bytesPerSecond = Int(megabytes * 1_000_000)
        case "max-copying-shards":
            guard let count = Int(value), count >= 0 else {
                throw CommandError(message: "ERR CONFIG SET max-copying-shards needs a whole number (0: no limit)")
            }
            maxCopyingShards = count
        default:
            throw CommandError(
                message: "ERR CONFIG SET \(name) cannot change while the node runs (transfer-mb-per-second and max-copying-shards can); change cluster.json or the command line and restart")
        }
    }
}
