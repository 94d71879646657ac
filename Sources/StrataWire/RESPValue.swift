import NIOCore

/// The RESP protocol version spoken on a connection; it decides how RESP3-only
/// types are written.
public enum RESPVersion: Hashable, Sendable {
    /// RESP2, the protocol of every Redis client before `HELLO 3`.
    case resp2
    /// RESP3, negotiated with `HELLO 3`.
    case resp3
}

/// One entry of a RESP3 map or attribute.
public struct RESPPair: Equatable, Sendable {
    /// The key of the entry.
    public var key: RESPValue
    /// The value of the entry.
    public var value: RESPValue

    /// Creates a map entry.
    /// - Parameters:
    ///   - key: The key of the entry.
    ///   - value: The value of the entry.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}

/// The three-byte format tag of a RESP3 verbatim string, such as `txt` or `mkd`.
public struct RESPVerbatimFormat: Hashable, Sendable, CustomStringConvertible {
    /// The three bytes of the tag.
    public var bytes: (UInt8, UInt8, UInt8) {
        (self.first, self.second, self.third)
    }

    private let first: UInt8
    private let second: UInt8
    private let third: UInt8

    /// Creates a format tag from three bytes.
    /// - Parameter bytes: The tag, as it appears on the wire.
    public init(bytes: (UInt8, UInt8, UInt8)) {
        (self.first, self.second, self.third) = bytes
    }

    /// Creates a format tag from a string of exactly three UTF-8 bytes, or returns `nil`.
    /// - Parameter tag: The tag, for example `"txt"`.
    public init?(_ tag: String) {
        let utf8 = Array(tag.utf8)
        guard utf8.count == 3 else { return nil }
        self.init(bytes: (utf8[0], utf8[1], utf8[2]))
    }

    /// Plain text, `txt`.
    public static var text: RESPVerbatimFormat { RESPVerbatimFormat(bytes: (0x74, 0x78, 0x74)) }
    /// Markdown, `mkd`.
    public static var markdown: RESPVerbatimFormat { RESPVerbatimFormat(bytes: (0x6D, 0x6B, 0x64)) }

    /// The tag as text (bytes that are not UTF-8 are replaced).
    public var description: String {
        String(decoding: [self.first, self.second, self.third], as: UTF8.self)
    }
}

/// A decoded RESP2 or RESP3 value.
///
/// Payloads are `ByteBuffer` slices of the input: decoding does not copy them.
/// Equality compares payload bytes; two `.double(.nan)` values are equal, because they
/// are the same wire value.
public enum RESPValue: Sendable {
    /// A simple string, `+OK\r\n`. It cannot contain CR or LF.
    case simpleString(ByteBuffer)
    /// A simple error, `-ERR message\r\n`; the payload includes the error prefix (`ERR`).
    case error(ByteBuffer)
    /// A signed 64-bit integer, `:42\r\n`.
    case integer(Int64)
    /// A binary-safe bulk string, `$5\r\nhello\r\n`.
    case bulkString(ByteBuffer)
    /// Null: RESP3 `_\r\n`; the RESP2 null bulk string `$-1\r\n` and null array `*-1\r\n`
    /// also decode to it.
    case null
    /// An array of values, `*2\r\n...`.
    case array([RESPValue])
    /// RESP3 double, `,3.14\r\n`, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// RESP3 boolean, `#t\r\n` or `#f\r\n`.
    case boolean(Bool)
    /// RESP3 big number, `(3492890328409238509324850943850943825024385\r\n`; the payload
    /// holds the decimal digits with an optional sign.
    case bigNumber(ByteBuffer)
    /// RESP3 bulk error, `!21\r\nSYNTAX invalid syntax\r\n`.
    case bulkError(ByteBuffer)
    /// RESP3 verbatim string, `=15\r\ntxt:Some string\r\n`: a format tag and the text.
    case verbatimString(RESPVerbatimFormat, ByteBuffer)
    /// RESP3 map, `%1\r\n+key\r\n:1\r\n`, in wire order.
    case map([RESPPair])
    /// RESP3 set, `~2\r\n...`, in wire order.
    case set([RESPValue])
    /// RESP3 attributes, `|1\r\n...`, and the value they annotate. On the wire the
    /// attribute map precedes the value and does not count as an aggregate element.
    indirect case attribute([RESPPair], RESPValue)
    /// RESP3 out-of-band push data, `>2\r\n...`.
    case push([RESPValue])
}

extension RESPValue {
    /// A bulk string holding the UTF-8 bytes of `string`.
    /// - Parameter string: The text.
    public static func bulk(_ string: String) -> RESPValue {
        .bulkString(ByteBuffer(string: string))
    }

    /// A bulk string holding `bytes`.
    /// - Parameter bytes: The payload.
    public static func bulk(_ bytes: [UInt8]) -> RESPValue {
        .bulkString(ByteBuffer(bytes: bytes))
    }

    /// A simple string such as `OK`. CR and LF are replaced by spaces when encoded.
    /// - Parameter string: The text.
    public static func simple(_ string: String) -> RESPValue {
        .simpleString(ByteBuffer(string: string))
    }

    /// A simple error, for example `.errorMessage("ERR unknown command")`. The message
    /// should start with an upper-case error code. CR and LF are replaced by spaces when encoded.
    /// - Parameter message: The error text, including its code.
    public static func errorMessage(_ message: String) -> RESPValue {
        .error(ByteBuffer(string: message))
    }

    /// A verbatim string holding the UTF-8 bytes of `text`.
    /// - Parameters:
    ///   - text: The text.
    ///   - format: The format tag; plain text by default.
    public static func verbatim(_ text: String, format: RESPVerbatimFormat = .text) -> RESPValue {
        .verbatimString(format, ByteBuffer(string: text))
    }

    /// An array of bulk strings, the shape of a command: `.command("SET", "k", "v")`.
    /// - Parameter arguments: The arguments, as UTF-8 text.
    public static func command(_ arguments: String...) -> RESPValue {
        .array(arguments.map { .bulk($0) })
    }

    /// A map built from key-value tuples, in order.
    /// - Parameter entries: The entries.
    public static func map(_ entries: [(RESPValue, RESPValue)]) -> RESPValue {
        .map(entries.map { RESPPair(key: $0.0, value: $0.1) })
    }
}

extension RESPValue: Equatable {
    /// Structural equality; payloads compare by their readable bytes, and NaN equals NaN.
    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        // Switching on `lhs` alone keeps the switch exhaustive when cases are added.
        switch lhs {
        case .simpleString(let l):
            if case .simpleString(let r) = rhs { return l == r }
        case .error(let l):
            if case .error(let r) = rhs { return l == r }
        case .integer(let l):
            if case .integer(let r) = rhs { return l == r }
        case .bulkString(let l):
            if case .bulkString(let r) = rhs { return l == r }
        case .null:
            if case .null = rhs { return true }
        case .array(let l):
            if case .array(let r) = rhs { return l == r }
        case .double(let l):
            if case .double(let r) = rhs { return l == r || (l.isNaN && r.isNaN) }
        case .boolean(let l):
            if case .boolean(let r) = rhs { return l == r }
        case .bigNumber(let l):
            if case .bigNumber(let r) = rhs { return l == r }
        case .bulkError(let l):
            if case .bulkError(let r) = rhs { return l == r }
        case .verbatimString(let lf, let l):
            if case .verbatimString(let rf, let r) = rhs { return lf == rf && l == r }
        case .map(let l):
            if case .map(let r) = rhs { return l == r }
        case .set(let l):
            if case .set(let r) = rhs { return l == r }
        case .attribute(let la, let l):
            if case .attribute(let ra, let r) = rhs { return la == ra && l == r }
        case .push(let l):
            if case .push(let r) = rhs { return l == r }
        }
        return false
    }
}
