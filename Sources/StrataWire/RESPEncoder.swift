import NIOCore

/// Writers for the server hot path: each one appends a complete RESP frame (or an
/// aggregate header) to a `ByteBuffer` without building a ``RESPValue``.
///
/// Simple strings and simple errors cannot carry CR or LF; the writers replace those
/// bytes with spaces, as Redis does, so that a message can never inject a frame.
public enum RESPEncoder {
    /// Writes a simple string, `+OK\r\n`.
    /// - Parameters:
    ///   - string: The text; CR and LF become spaces.
    ///   - buffer: The buffer to append to.
    public static func writeSimpleString(_ string: String, into buffer: inout ByteBuffer) {
        Self.withUTF8(string) { Self.writeSimpleLine(prefix: .plus, $0, into: &buffer) }
    }

    /// Writes `+OK\r\n`, the reply of most writes, from a constant.
    /// - Parameter buffer: The buffer to append to.
    public static func writeOK(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("+OK\r\n")
    }

    /// `count` `+OK\r\n` replies. Up to 4,096 of them are a slice of one
    /// shared constant buffer (no allocation, nothing copied); more are written out.
    public static func okReplies(count: Int) -> ByteBuffer {
        if count <= okRunCount { return okRun.getSlice(at: okRun.readerIndex, length: 5 * count)! }
        var buffer = ByteBufferAllocator().buffer(capacity: 5 * count)
        for _ in 0..<count { writeOK(into: &buffer) }
        return buffer
    }

    private static let okRunCount = 4096
    private static let okRun: ByteBuffer = {
        var buffer = ByteBufferAllocator().buffer(capacity: 5 * okRunCount)
        for _ in 0..<okRunCount { writeOK(into: &buffer) }
        return buffer
    }()

    /// Writes a simple string from raw bytes.
    /// - Parameters:
    ///   - bytes: The text; CR and LF become spaces.
    ///   - buffer: The buffer to append to.
    public static func writeSimpleString(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        Self.writeSimpleLine(prefix: .plus, bytes, into: &buffer)
    }

    /// Writes a simple string from the readable bytes of a buffer.
    /// - Parameters:
    ///   - bytes: The text; CR and LF become spaces.
    ///   - buffer: The buffer to append to.
    public static func writeSimpleString(_ bytes: ByteBuffer, into buffer: inout ByteBuffer) {
        bytes.withUnsafeReadableBytes { Self.writeSimpleLine(prefix: .plus, $0, into: &buffer) }
    }

    /// Writes a simple error, `-ERR message\r\n`.
    /// - Parameters:
    ///   - message: The error text including its code, for example `ERR unknown command`;
    ///     CR and LF become spaces.
    ///   - buffer: The buffer to append to.
    public static func writeError(_ message: String, into buffer: inout ByteBuffer) {
        Self.withUTF8(message) { Self.writeSimpleLine(prefix: .minus, $0, into: &buffer) }
    }

    /// Writes a simple error from raw bytes.
    /// - Parameters:
    ///   - bytes: The error text including its code; CR and LF become spaces.
    ///   - buffer: The buffer to append to.
    public static func writeError(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        Self.writeSimpleLine(prefix: .minus, bytes, into: &buffer)
    }

    /// Writes a simple error from the readable bytes of a buffer.
    /// - Parameters:
    ///   - bytes: The error text including its code; CR and LF become spaces.
    ///   - buffer: The buffer to append to.
    public static func writeError(_ bytes: ByteBuffer, into buffer: inout ByteBuffer) {
        bytes.withUnsafeReadableBytes { Self.writeSimpleLine(prefix: .minus, $0, into: &buffer) }
    }

    /// Writes an integer, `:42\r\n`.
    /// - Parameters:
    ///   - value: The integer.
    ///   - buffer: The buffer to append to.
    public static func writeInteger(_ value: Int64, into buffer: inout ByteBuffer) {
        Self.writeNumberLine(prefix: .colon, value, into: &buffer)
    }

    /// Writes a bulk string, `$5\r\nhello\r\n`.
    /// - Parameters:
    ///   - bytes: The payload, binary safe.
    ///   - buffer: The buffer to append to.
    public static func writeBulkString(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 26)
        Self.writeNumberLine(prefix: .dollar, Int64(bytes.count), into: &buffer)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt16.crlf)
    }

    /// Writes a bulk string from the readable bytes of a buffer, without consuming them.
    /// - Parameters:
    ///   - bytes: The payload, binary safe.
    ///   - buffer: The buffer to append to.
    public static func writeBulkString(_ bytes: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: bytes.readableBytes + 26)
        Self.writeNumberLine(prefix: .dollar, Int64(bytes.readableBytes), into: &buffer)
        buffer.writeImmutableBuffer(bytes)
        buffer.writeInteger(UInt16.crlf)
    }

    /// Writes a bulk string from a byte array.
    /// - Parameters:
    ///   - bytes: The payload, binary safe.
    ///   - buffer: The buffer to append to.
    public static func writeBulkString(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        bytes.withUnsafeBytes { Self.writeBulkString($0, into: &buffer) }
    }

    /// Writes a bulk string holding the UTF-8 bytes of `string`.
    /// - Parameters:
    ///   - string: The payload.
    ///   - buffer: The buffer to append to.
    public static func writeBulkString(_ string: String, into buffer: inout ByteBuffer) {
        Self.withUTF8(string) { Self.writeBulkString($0, into: &buffer) }
    }

    /// Writes null: `_\r\n` in RESP3, the null bulk string `$-1\r\n` in RESP2.
    /// - Parameters:
    ///   - version: The protocol version of the connection.
    ///   - buffer: The buffer to append to.
    public static func writeNull(version: RESPVersion, into buffer: inout ByteBuffer) {
        switch version {
        case .resp3:
            buffer.writeInteger(UInt8.underscore)
            buffer.writeInteger(UInt16.crlf)
        case .resp2:
            buffer.writeInteger(UInt8.dollar)
            buffer.writeInteger(UInt8.minus)
            buffer.writeInteger(UInt8.one)
            buffer.writeInteger(UInt16.crlf)
        }
    }

    /// Writes a null array: RESP3 `_`, RESP2 `*-1` (EXEC aborted by WATCH).
    /// - Parameters:
    ///   - version: The connection's protocol version.
    ///   - buffer: The buffer to append to.
    public static func writeNullArray(version: RESPVersion, into buffer: inout ByteBuffer) {
        switch version {
        case .resp3:
            buffer.writeInteger(UInt8.underscore)
            buffer.writeInteger(UInt16.crlf)
        case .resp2:
            buffer.writeInteger(UInt8.asterisk)
            buffer.writeInteger(UInt8.minus)
            buffer.writeInteger(UInt8.one)
            buffer.writeInteger(UInt16.crlf)
        }
    }

    /// Writes an array header, `*3\r\n`; the caller then writes `count` elements.
    /// - Parameters:
    ///   - count: The number of elements that follow.
    ///   - buffer: The buffer to append to.
    public static func writeArrayHeader(count: Int, into buffer: inout ByteBuffer) {
        Self.writeNumberLine(prefix: .asterisk, Int64(count), into: &buffer)
    }

    /// Writes a map header: `%2\r\n` in RESP3, the flat array header `*4\r\n` in RESP2.
    /// The caller then writes `count` keys, each followed by its value.
    /// - Parameters:
    ///   - count: The number of entries (key-value pairs) that follow.
    ///   - version: The protocol version of the connection.
    ///   - buffer: The buffer to append to.
    public static func writeMapHeader(count: Int, version: RESPVersion, into buffer: inout ByteBuffer) {
        switch version {
        case .resp3: Self.writeNumberLine(prefix: .percent, Int64(count), into: &buffer)
        case .resp2: Self.writeNumberLine(prefix: .asterisk, 2 * Int64(count), into: &buffer)
        }
    }

    /// Writes a set header: `~3\r\n` in RESP3, the array header `*3\r\n` in RESP2.
    /// - Parameters:
    ///   - count: The number of elements that follow.
    ///   - version: The protocol version of the connection.
    ///   - buffer: The buffer to append to.
    public static func writeSetHeader(count: Int, version: RESPVersion, into buffer: inout ByteBuffer) {
        let prefix: UInt8 = version == .resp3 ? .tilde : .asterisk
        Self.writeNumberLine(prefix: prefix, Int64(count), into: &buffer)
    }

    /// Writes a boolean: `#t\r\n` / `#f\r\n` in RESP3, the integer `:1\r\n` / `:0\r\n` in RESP2.
    /// - Parameters:
    ///   - value: The boolean.
    ///   - version: The protocol version of the connection.
    ///   - buffer: The buffer to append to.
    public static func writeBoolean(_ value: Bool, version: RESPVersion, into buffer: inout ByteBuffer) {
        switch version {
        case .resp3:
            buffer.writeInteger(UInt8.hash)
            buffer.writeInteger(value ? UInt8.lowercaseT : UInt8.lowercaseF)
            buffer.writeInteger(UInt16.crlf)
        case .resp2:
            Self.writeInteger(value ? 1 : 0, into: &buffer)
        }
    }

    /// Writes a double: `,1.5\r\n` in RESP3 (`inf`, `-inf`, `nan` for the special values),
    /// a bulk string of the same text in RESP2. The text is the shortest that reads back
    /// as the same `Double`.
    /// - Parameters:
    ///   - value: The double.
    ///   - version: The protocol version of the connection.
    ///   - buffer: The buffer to append to.
    public static func writeDouble(_ value: Double, version: RESPVersion, into buffer: inout ByteBuffer) {
        let text: String
        if value.isNaN {
            text = "nan"
        } else if value.isInfinite {
            text = value < 0 ? "-inf" : "inf"
        } else {
            text = "\(value)"
        }
        switch version {
        case .resp3:
            buffer.writeInteger(UInt8.comma)
            buffer.writeString(text)
            buffer.writeInteger(UInt16.crlf)
        case .resp2:
            Self.writeBulkString(text, into: &buffer)
        }
    }

    static func writeAggregateHeader(prefix: UInt8, count: Int, into buffer: inout ByteBuffer) {
        Self.writeNumberLine(prefix: prefix, Int64(count), into: &buffer)
    }

    /// Writes `prefix`, the decimal digits of `value` and CRLF in a single bounds check.
    static func writeNumberLine(prefix: UInt8, _ value: Int64, into buffer: inout ByteBuffer) {
        // prefix + sign + 19 digits + CRLF
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 24) { out in
            var magnitude = value.magnitude
            var digits = 1
            var probe = magnitude
            while probe >= 10 {
                probe /= 10
                digits += 1
            }
            out[0] = prefix
            var index = 1
            if value < 0 {
                out[index] = .minus
                index += 1
            }
            var position = index + digits - 1
            repeat {
                out[position] = UInt8(truncatingIfNeeded: magnitude % 10) &+ .zero
                magnitude /= 10
                position -= 1
            } while magnitude > 0
            index += digits
            out[index] = .cr
            out[index + 1] = .lf
            return index + 2
        }
    }

    /// Writes `prefix`, `bytes` with CR and LF replaced by spaces, and CRLF.
    static func writeSimpleLine(prefix: UInt8, _ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 3)
        buffer.writeInteger(prefix)
        if bytes.contains(where: { $0 == .cr || $0 == .lf }) {
            for byte in bytes {
                buffer.writeInteger(byte == .cr || byte == .lf ? UInt8.space : byte)
            }
        } else {
            buffer.writeBytes(bytes)
        }
        buffer.writeInteger(UInt16.crlf)
    }

    static func withUTF8<Result>(_ string: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var string = string
        return string.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}

extension RESPValue {
    /// Appends the wire form of this value to `buffer`.
    ///
    /// In RESP2 the RESP3-only types degrade the way Redis degrades them: a map becomes a
    /// flat array of keys and values, a set or push an array, null the null bulk string
    /// `$-1`, a boolean the integer 1 or 0, a double and a big number a bulk string of
    /// their text, a verbatim string a bulk string of its text (without the format tag),
    /// a bulk error a simple error, and attributes are dropped (only the value they
    /// annotate is written). CR and LF in simple strings and simple errors become spaces.
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    ///   - version: The protocol version of the connection.
    /// - Complexity: O(*n*) in the encoded size.
    public func encode(into buffer: inout ByteBuffer, version: RESPVersion) {
        switch self {
        case .simpleString(let text):
            RESPEncoder.writeSimpleString(text, into: &buffer)
        case .error(let message):
            RESPEncoder.writeError(message, into: &buffer)
        case .integer(let value):
            RESPEncoder.writeInteger(value, into: &buffer)
        case .bulkString(let payload):
            RESPEncoder.writeBulkString(payload, into: &buffer)
        case .null:
            RESPEncoder.writeNull(version: version, into: &buffer)
        case .array(let elements):
            RESPEncoder.writeArrayHeader(count: elements.count, into: &buffer)
            for element in elements {
                element.encode(into: &buffer, version: version)
            }
        case .double(let value):
            RESPEncoder.writeDouble(value, version: version, into: &buffer)
        case .boolean(let value):
            RESPEncoder.writeBoolean(value, version: version, into: &buffer)
        case .bigNumber(let digits):
            switch version {
            case .resp3:
                digits.withUnsafeReadableBytes { RESPEncoder.writeSimpleLine(prefix: .leftParenthesis, $0, into: &buffer) }
            case .resp2:
                RESPEncoder.writeBulkString(digits, into: &buffer)
            }
        case .bulkError(let message):
            switch version {
            case .resp3:
                RESPEncoder.writeNumberLine(prefix: .exclamationMark, Int64(message.readableBytes), into: &buffer)
                buffer.writeImmutableBuffer(message)
                buffer.writeInteger(UInt16.crlf)
            case .resp2:
                RESPEncoder.writeError(message, into: &buffer)
            }
        case .verbatimString(let format, let text):
            switch version {
            case .resp3:
                RESPEncoder.writeNumberLine(prefix: .equals, Int64(text.readableBytes) + 4, into: &buffer)
                let tag = format.bytes
                buffer.writeMultipleIntegers(tag.0, tag.1, tag.2, UInt8.colon)
                buffer.writeImmutableBuffer(text)
                buffer.writeInteger(UInt16.crlf)
            case .resp2:
                RESPEncoder.writeBulkString(text, into: &buffer)
            }
        case .map(let pairs):
            RESPEncoder.writeMapHeader(count: pairs.count, version: version, into: &buffer)
            for pair in pairs {
                pair.key.encode(into: &buffer, version: version)
                pair.value.encode(into: &buffer, version: version)
            }
        case .set(let elements):
            RESPEncoder.writeSetHeader(count: elements.count, version: version, into: &buffer)
            for element in elements {
                element.encode(into: &buffer, version: version)
            }
        case .attribute(let attributes, let value):
            if version == .resp3 {
                RESPEncoder.writeAggregateHeader(prefix: .verticalBar, count: attributes.count, into: &buffer)
                for pair in attributes {
                    pair.key.encode(into: &buffer, version: version)
                    pair.value.encode(into: &buffer, version: version)
                }
            }
            value.encode(into: &buffer, version: version)
        case .push(let elements):
            let prefix: UInt8 = version == .resp3 ? .greaterThan : .asterisk
            RESPEncoder.writeAggregateHeader(prefix: prefix, count: elements.count, into: &buffer)
            for element in elements {
                element.encode(into: &buffer, version: version)
            }
        }
    }

    /// The wire form of this value in a new buffer.
    /// - Parameter version: The protocol version; RESP3 by default.
    /// - Returns: A buffer holding exactly the encoded value.
    public func encoded(version: RESPVersion = .resp3) -> ByteBuffer {
        var buffer = ByteBuffer()
        self.encode(into: &buffer, version: version)
        return buffer
    }
}

extension UInt8 {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let verticalTab: UInt8 = 0x0B
    static let formFeed: UInt8 = 0x0C
    static let zero: UInt8 = 0x30
    static let one: UInt8 = 0x31
    static let nine: UInt8 = 0x39
    static let plus: UInt8 = 0x2B
    static let minus: UInt8 = 0x2D
    static let colon: UInt8 = 0x3A
    static let dollar: UInt8 = 0x24
    static let asterisk: UInt8 = 0x2A
    static let underscore: UInt8 = 0x5F
    static let comma: UInt8 = 0x2C
    static let hash: UInt8 = 0x23
    static let leftParenthesis: UInt8 = 0x28
    static let exclamationMark: UInt8 = 0x21
    static let equals: UInt8 = 0x3D
    static let percent: UInt8 = 0x25
    static let tilde: UInt8 = 0x7E
    static let verticalBar: UInt8 = 0x7C
    static let greaterThan: UInt8 = 0x3E
    static let period: UInt8 = 0x2E
    static let lowercaseT: UInt8 = 0x74
    static let lowercaseF: UInt8 = 0x66
    static let lowercaseE: UInt8 = 0x65
    static let uppercaseE: UInt8 = 0x45
    static let doubleQuote: UInt8 = 0x22
    static let singleQuote: UInt8 = 0x27
    static let backslash: UInt8 = 0x5C
}

extension UInt16 {
    /// CR LF, written big-endian.
    static let crlf: UInt16 = 0x0D0A
}
