/// An error raised while decoding RESP input: a broken limit or a malformed frame.
///
/// Every problem the decoders detect is reported as a `RESPError`; none of them
/// crashes or allocates in proportion to a length the peer merely claimed.
/// A server answers with ``redisErrorMessage`` and then closes the connection,
/// because after a framing error the position of the next frame is unknown.
public struct RESPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of a ``RESPError``. New codes may be added in later versions,
    /// so switch over codes with a `default` branch.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case bulkTooLong
            case tooManyElements
            case tooDeep
            case inlineTooLong
            case invalidLength
            case invalidType
            case invalidInteger
            case malformed
            case unbalancedQuotes
            case protocolError
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A bulk string, bulk error or verbatim string longer than ``RESPLimits/maxBulkLength``.
        public static var bulkTooLong: Code { Code(.bulkTooLong) }
        /// An aggregate (array, map, set, push, attribute) or an inline command with more
        /// elements than ``RESPLimits/maxElementCount``.
        public static var tooManyElements: Code { Code(.tooManyElements) }
        /// Aggregates nested deeper than ``RESPLimits/maxDepth``.
        public static var tooDeep: Code { Code(.tooDeep) }
        /// An inline command or a CRLF-terminated line (simple string, error, double,
        /// big number) longer than ``RESPLimits/maxInlineLength``.
        public static var inlineTooLong: Code { Code(.inlineTooLong) }
        /// A length or count that is not a valid decimal number, is negative (other than
        /// the null marker `-1` where RESP allows it), or overflows.
        public static var invalidLength: Code { Code(.invalidLength) }
        /// An unknown type byte, or a type that is not allowed at this position
        /// (for example a command argument that is not a bulk string).
        public static var invalidType: Code { Code(.invalidType) }
        /// An integer reply (`:`) or a big number (`(`) that is not a valid decimal number.
        public static var invalidInteger: Code { Code(.invalidInteger) }
        /// A frame that breaks the RESP grammar in some other way: a missing CRLF, a bad
        /// boolean, double, null or verbatim string.
        public static var malformed: Code { Code(.malformed) }
        /// An inline command with an unterminated quote, or a closing quote not followed by a space.
        public static var unbalancedQuotes: Code { Code(.unbalancedQuotes) }
        /// Any other protocol violation.
        public static var protocolError: Code { Code(.protocolError) }

        /// The name of the code, for logs.
        public var description: String {
            switch self.base {
            case .bulkTooLong: "bulkTooLong"
            case .tooManyElements: "tooManyElements"
            case .tooDeep: "tooDeep"
            case .inlineTooLong: "inlineTooLong"
            case .invalidLength: "invalidLength"
            case .invalidType: "invalidType"
            case .invalidInteger: "invalidInteger"
            case .malformed: "malformed"
            case .unbalancedQuotes: "unbalancedQuotes"
            case .protocolError: "protocolError"
            }
        }
    }

    /// What kind of problem was found.
    public var code: Code

    /// A short human-readable explanation in the wording Redis uses,
    /// for example `invalid bulk length`. It never contains CR or LF.
    public var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The category of the error.
    ///   - message: A short explanation; CR and LF are replaced by spaces so the message
    ///     can be sent to a client as a simple error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = String(message.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
    }

    /// The text of the RESP simple error a server sends before closing the connection,
    /// without the leading `-` and the trailing CRLF, for example
    /// `ERR Protocol error: invalid bulk length`.
    public var redisErrorMessage: String {
        "ERR Protocol error: \(self.message)"
    }

    /// The code and the message, for logs.
    public var description: String {
        "RESPError(\(self.code)): \(self.message)"
    }
}

extension RESPError {
    static func bulkLength(tooLong: Bool) -> RESPError {
        RESPError(code: tooLong ? .bulkTooLong : .invalidLength, message: "invalid bulk length")
    }

    static func multibulkLength(tooMany: Bool) -> RESPError {
        RESPError(code: tooMany ? .tooManyElements : .invalidLength, message: "invalid multibulk length")
    }

    static var tooDeep: RESPError {
        RESPError(code: .tooDeep, message: "too deeply nested aggregate")
    }

    static var inlineTooLong: RESPError {
        RESPError(code: .inlineTooLong, message: "too big inline request")
    }

    static var lineTooLong: RESPError {
        RESPError(code: .inlineTooLong, message: "too big line")
    }

    static var invalidInteger: RESPError {
        RESPError(code: .invalidInteger, message: "invalid integer")
    }

    static var unbalancedQuotes: RESPError {
        RESPError(code: .unbalancedQuotes, message: "unbalanced quotes in request")
    }

    static func malformed(_ what: String) -> RESPError {
        RESPError(code: .malformed, message: what)
    }

    static func invalidType(_ byte: UInt8) -> RESPError {
        RESPError(code: .invalidType, message: "invalid type byte '\(RESPError.printable(byte))'")
    }

    static func expectedDollar(got byte: UInt8) -> RESPError {
        RESPError(code: .invalidType, message: "expected '$', got '\(RESPError.printable(byte))'")
    }

    /// Renders a byte for an error message: printable ASCII as itself, anything else as `\xNN`.
    static func printable(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F {
            return String(UnicodeScalar(byte))
        }
        let hex = String(byte, radix: 16, uppercase: false)
        return byte < 0x10 ? "\\x0\(hex)" : "\\x\(hex)"
    }
}
