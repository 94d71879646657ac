import StrataStorage

/// An error reply to one command: the connection stays open unless `closesConnection`.
struct CommandError: Error {
    /// The RESP error line without the leading `-`, e.g. `ERR syntax error`.
    var message: String
    /// Whether the server closes the connection after replying.
    var closesConnection = false
    /// Not a reply: an inline (event-loop) read found that it needs the disk.
    var needsIO = false

    static let needsDisk = CommandError(message: "", needsIO: true)

    static let syntax = CommandError(message: "ERR syntax error")
    static let notInteger = CommandError(message: "ERR value is not an integer or out of range")
    static let overflow = CommandError(message: "ERR increment or decrement would overflow")
    static let noAuth = CommandError(message: "NOAUTH Authentication required.")
    static let wrongPass = CommandError(message: "WRONGPASS invalid username-password pair or user is disabled.")

    static func arity(_ name: String) -> CommandError {
        CommandError(message: "ERR wrong number of arguments for '\(name)' command")
    }

    static func invalidExpire(_ name: String) -> CommandError {
        CommandError(message: "ERR invalid expire time in '\(name)' command")
    }

    static func storage(_ error: any Error) -> CommandError {
        CommandError(message: "ERR storage: \(String(describing: error).replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " "))")
    }

    static func moved(shard: Int, address: String, epoch: UInt64) -> CommandError {
        CommandError(message: "MOVED \(shard) \(address) \(epoch)")
    }

    static func versionMismatch(current: UInt64) -> CommandError {
        CommandError(message: "VERSIONMISMATCH current version is \(current)")
    }
}
