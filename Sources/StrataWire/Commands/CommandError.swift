/// An error reply to one command, in Redis's words: the connection stays open
/// unless ``closesConnection``.
public struct CommandError: Error, Sendable, Equatable {
    /// The error line without the leading `-`, e.g. `ERR syntax error`; its
    /// first word is the error code (`ERR`, `WRONGTYPE`, `MOVED`, …).
    public var message: String
    /// Whether the server closes the connection after replying.
    public var closesConnection: Bool
    /// Not a reply: a read on the event loop found that it needs the disk,
    /// and the batch moves to the storage pool.
    public var needsIO: Bool

    /// An error reply.
    /// - Parameters:
    ///   - message: The error line, code first.
    ///   - closesConnection: Whether the connection closes after it.
    public init(message: String, closesConnection: Bool = false) {
        self.message = message
        self.closesConnection = closesConnection
        self.needsIO = false
    }

    /// The signal that an event-loop read needs the disk (never sent to a client).
    public static let needsDisk: CommandError = {
        var error = CommandError(message: "")
        error.needsIO = true
        return error
    }()

    /// The error code: the message's first word.
    public var code: Substring { message.prefix { $0 != " " } }

    /// `ERR syntax error`.
    public static let syntax = CommandError(message: "ERR syntax error")
    /// `ERR value is not an integer or out of range`.
    public static let notInteger = CommandError(message: "ERR value is not an integer or out of range")
    /// `ERR value is not a valid float`.
    public static let notFloat = CommandError(message: "ERR value is not a valid float")
    /// `ERR increment or decrement would overflow`.
    public static let overflow = CommandError(message: "ERR increment or decrement would overflow")
    /// `NOAUTH Authentication required.`
    public static let noAuth = CommandError(message: "NOAUTH Authentication required.")
    /// Redis's answer to a wrong user or password.
    public static let wrongPass = CommandError(message: "WRONGPASS invalid username-password pair or user is disabled.")
    /// `ERR no such key`.
    public static let noSuchKey = CommandError(message: "ERR no such key")
    /// An integer that does not fit a C `int` (a database index).
    public static let outOfCIntRange = CommandError(
        message: "ERR value is out of range, value must between -2147483648 and 2147483647")
    /// Redis's reply to `SELECT` or `COPY … DB` with an index other than 0.
    public static let databaseOutOfRange = CommandError(message: "ERR DB index is out of range")

    /// `ERR wrong number of arguments for '<name>' command`.
    public static func arity(_ name: String) -> CommandError {
        CommandError(message: "ERR wrong number of arguments for '\(name)' command")
    }

    /// `ERR invalid expire time in '<name>' command`.
    public static func invalidExpire(_ name: String) -> CommandError {
        CommandError(message: "ERR invalid expire time in '\(name)' command")
    }

    /// Redis's reply to an unknown command: its name and its first arguments,
    /// quoted, each cut at a NUL byte as C's `%s` does, within 128 bytes.
    /// (Bytes that are not UTF-8 are replaced: an error is text here.)
    public static func unknownCommand(_ arguments: [some Collection<UInt8>]) -> CommandError {
        let name = String(decoding: (arguments.first?.prefix { $0 != 0 } ?? []).prefix(128), as: UTF8.self)
        var preview: [UInt8] = []
        for argument in arguments.dropFirst() where preview.count < 128 {
            preview.append(UInt8(ascii: "'"))
            preview += argument.prefix { $0 != 0 }.prefix(128 - preview.count + 1)
            preview += Array("' ".utf8)
        }
        let previewText = String(decoding: preview, as: UTF8.self)
        return CommandError(message: "ERR unknown command '\(name)', with args beginning with: \(previewText)")
    }

    /// Redis's reply to an unknown subcommand of `container`.
    public static func unknownSubcommand(_ subcommand: String, of container: String) -> CommandError {
        CommandError(message: "ERR unknown subcommand '\(subcommand.prefix(128))'. Try \(container.uppercased()) HELP.")
    }

    /// `MOVED <shard> <host:port> <epoch>`: the key's shard is served elsewhere.
    public static func moved(shard: Int, address: String, epoch: UInt64) -> CommandError {
        CommandError(message: "MOVED \(shard) \(address) \(epoch)")
    }

    /// `VERSIONMISMATCH current version is <v>`: a compare-and-set against another version.
    public static func versionMismatch(current: UInt64) -> CommandError {
        CommandError(message: "VERSIONMISMATCH current version is \(current)")
    }

    /// `CROSSSHARD …`: the keys of one command or transaction live on different shards.
    public static let crossShard = CommandError(
        message: "CROSSSHARD Keys in request don't hash to the same shard; use a {hashtag} to keep them together")

    /// An internal storage failure, with CR and LF flattened.
    public static func storage(_ error: any Error) -> CommandError {
        let text = String(describing: error).map { $0 == "\r" || $0 == "\n" ? " " : $0 }
        return CommandError(message: "ERR storage: \(String(text))")
    }
}
