import NIOCore

/// The server-side decoder: turns a client's byte stream into ``RESPCommand``s.
///
/// It accepts what Redis accepts:
/// - RESP arrays of bulk strings, `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, which every client
///   library sends. They are parsed straight into argument slices, without building
///   ``RESPValue``s. `*0`, `*-1` and any other count below one are empty commands and are skipped, as in Redis.
/// - Inline commands, as typed into `telnet` or sent by `redis-cli` in pipe mode: any line
///   that does not start with `*`, ended by LF or CRLF and split on white space, with
///   double-quoted (`"a\x41\n"`) and single-quoted (`'it\'s'`) arguments roughly as
///   Redis's `sdssplitargs`. Empty lines are skipped.
///
/// Nothing is consumed until a whole command is readable. A large command arriving in many
/// reads is validated once: the decoder remembers the offsets of the arguments it has seen.
/// Feed one decoder one stream (or call ``reset()``).
///
/// ``limits`` can change between commands, typically from ``RESPLimits/unauthenticated``
/// to ``RESPLimits/default`` after `AUTH`. `ByteToMessageHandler` keeps its decoder
/// private, so a server that switches limits owns the decoder in its connection handler
/// (or state machine) and calls ``decode(_:)`` on its cumulated input.
public struct RESPCommandDecoder: Sendable {
    /// The limits checked for the next command: ``RESPLimits/maxElementCount`` bounds the
    /// argument count, ``RESPLimits/maxBulkLength`` each argument, and
    /// ``RESPLimits/maxInlineLength`` an inline command line.
    public var limits: RESPLimits

    /// A multibulk command whose arguments have not all arrived.
    private struct Pending: Sendable {
        var expected: Int
        var next: Int
    }

    /// An argument located by offset and length relative to the reader index.
    private struct ArgumentRange: Sendable {
        var start: Int
        var length: Int
    }

    private enum Step {
        case incomplete
        case skip(consumed: Int)
        case multibulk(consumed: Int)
        case inline([InlineArgument], consumed: Int)
    }

    private var pending: Pending?
    private var ranges: [ArgumentRange] = []
    /// How many bytes of an unfinished inline line were searched for LF already.
    private var inlineScanned = 0

    /// Creates a decoder.
    /// - Parameter limits: The limits to enforce; use ``RESPLimits/unauthenticated`` until
    ///   the connection has authenticated.
    public init(limits: RESPLimits = .default) {
        self.limits = limits
    }

    /// Decodes the next command if it is whole, skipping empty lines and empty arrays.
    ///
    /// - Parameter buffer: The connection's cumulated input. Its reader index moves past
    ///   the command (and any skipped empty commands before it) on success; bytes of an
    ///   incomplete command are not consumed.
    /// - Returns: The command, or `nil` if more bytes are needed.
    /// - Throws: ``RESPError``; send ``RESPError/redisErrorMessage`` and close the connection.
    /// - Complexity: O(*n*) in the size of the command, amortised over the reads that deliver it.
    public mutating func decode(_ buffer: inout ByteBuffer) throws(RESPError) -> RESPCommand? {
        while true {
            let step: Step
            do {
                step = try buffer.withUnsafeReadableBytes { bytes in
                    Result { () throws(RESPError) -> Step in try self.step(bytes) }
                }.get()
            } catch {
                self.reset()
                throw error
            }
            switch step {
            case .incomplete:
                return nil
            case .skip(let consumed):
                buffer.moveReaderIndex(forwardBy: consumed)
            case .multibulk(let consumed):
                return try self.takeMultibulk(from: &buffer, consumed: consumed)
            case .inline(let arguments, let consumed):
                return try self.takeInline(arguments, from: &buffer, consumed: consumed)
            }
        }
    }

    /// Where the key of the next command is, when that command is a whole `GET key`
    /// (a two-element array, the name in any case, the key at most 4,096 bytes and within
    /// ``limits``) and no earlier command is partly decoded; `nil` otherwise, and then
    /// ``decode(_:)`` handles whatever is there. Nothing is consumed: a server that answers
    /// the GET moves `buffer`'s reader index by `consumed` itself.
    ///
    /// The hot path of a read-mostly server: it looks at the bytes in place and builds no
    /// ``RESPCommand``.
    /// - Returns: The key's byte range relative to the reader index, and the command's length.
    public func nextGet(in buffer: ByteBuffer) -> (key: Range<Int>, consumed: Int)? {
        guard self.pending == nil, self.inlineScanned == 0 else { return nil }
        let maxKey = min(4096, self.limits.maxBulkLength)
        return buffer.withUnsafeReadableBytes { bytes -> (key: Range<Int>, consumed: Int)? in
            // "*2\r\n$3\r\nGET\r\n$" is 14 bytes; then the length, CRLF, the key, CRLF.
            guard bytes.count >= 19, bytes[0] == .asterisk, bytes[1] == UInt8(ascii: "2"), bytes[2] == .cr,
                bytes[3] == .lf, bytes[4] == .dollar, bytes[5] == UInt8(ascii: "3"), bytes[6] == .cr, bytes[7] == .lf,
                bytes[8] | 0x20 == UInt8(ascii: "g"), bytes[9] | 0x20 == UInt8(ascii: "e"),
                bytes[10] | 0x20 == UInt8(ascii: "t"), bytes[11] == .cr, bytes[12] == .lf, bytes[13] == .dollar
            else { return nil }
            var index = 14
            var length = 0
            while index < bytes.count, index < 19, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                length = length * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index > 14, bytes[14] != UInt8(ascii: "0") || index == 15, length <= maxKey, index + 1 < bytes.count, bytes[index] == .cr, bytes[index + 1] == .lf
            else { return nil }
            let start = index + 2
            let end = start + length
            guard end + 2 <= bytes.count, bytes[end] == .cr, bytes[end + 1] == .lf else { return nil }
            return (start..<end, end + 2)
        }
    }

    /// Forgets any partially received command.
    public mutating func reset() {
        self.pending = nil
        self.ranges.removeAll()
        self.inlineScanned = 0
    }

    private mutating func step(_ bytes: UnsafeRawBufferPointer) throws(RESPError) -> Step {
        if self.pending != nil {
            return try self.continueMultibulk(bytes)
        }
        guard let first = bytes.first else { return .incomplete }
        if first == .asterisk {
            return try self.startMultibulk(bytes)
        }
        return try self.inline(bytes)
    }

    private mutating func startMultibulk(_ bytes: UnsafeRawBufferPointer) throws(RESPError) -> Step {
        guard
            case let (count, next)? = try RESPParser.lengthLine(
                bytes,
                from: 1,
                invalid: .multibulkLength(tooMany: false)
            )
        else { return .incomplete }
        // Redis skips any count of zero or below (`*0`, `*-1`, `*-10`) without a reply.
        if count <= 0 {
            return .skip(consumed: next)
        }
        guard count <= self.limits.maxElementCount else { throw .multibulkLength(tooMany: true) }
        // Offsets of a previous huge command are not worth keeping around.
        if self.ranges.capacity > 4096 {
            self.ranges = []
        } else {
            self.ranges.removeAll(keepingCapacity: true)
        }
        self.pending = Pending(expected: Int(count), next: next)
        return try self.continueMultibulk(bytes)
    }

    private mutating func continueMultibulk(_ bytes: UnsafeRawBufferPointer) throws(RESPError) -> Step {
        guard var pending = self.pending else { return .incomplete }
        defer { self.pending = pending }
        let maxBulkLength = self.limits.maxBulkLength
        if pending.expected > self.limits.maxElementCount {
            // The limits shrank while this command was arriving.
            throw .multibulkLength(tooMany: true)
        }
        while self.ranges.count < pending.expected {
            let offset = pending.next
            guard offset < bytes.count else { return .incomplete }
            guard bytes[offset] == .dollar else { throw .expectedDollar(got: bytes[offset]) }
            guard
                case let (length, payloadStart)? = try RESPParser.lengthLine(
                    bytes,
                    from: offset + 1,
                    invalid: .bulkLength(tooLong: false)
                )
            else { return .incomplete }
            guard length >= 0 else { throw .bulkLength(tooLong: false) }
            guard length <= maxBulkLength else { throw .bulkLength(tooLong: true) }
            let payloadLength = Int(length)
            guard bytes.count - payloadStart >= payloadLength + 2 else { return .incomplete }
            let payloadEnd = payloadStart + payloadLength
            guard bytes[payloadEnd] == .cr && bytes[payloadEnd + 1] == .lf else {
                throw .malformed("expected CRLF after bulk payload")
            }
            self.ranges.append(ArgumentRange(start: payloadStart, length: payloadLength))
            pending.next = payloadEnd + 2
        }
        let consumed = pending.next
        self.pending = nil
        return .multibulk(consumed: consumed)
    }

    private mutating func takeMultibulk(from buffer: inout ByteBuffer, consumed: Int) throws(RESPError) -> RESPCommand {
        defer {
            self.pending = nil
            self.ranges.removeAll(keepingCapacity: true)
        }
        guard let frame = buffer.readSlice(length: consumed) else {
            throw .malformed("frame changed while decoding")
        }
        var arguments: [ByteBuffer] = []
        arguments.reserveCapacity(self.ranges.count)
        for range in self.ranges {
            guard let argument = frame.getSlice(at: frame.readerIndex + range.start, length: range.length) else {
                throw .malformed("frame changed while decoding")
            }
            arguments.append(argument)
        }
        return RESPCommand(arguments: arguments)
    }

    private mutating func inline(_ bytes: UnsafeRawBufferPointer) throws(RESPError) -> Step {
        let maxLength = self.limits.maxInlineLength
        // A valid line holds at most `maxLength` bytes, then CR LF or LF. Written to saturate
        // for huge limits.
        let fitsAll = maxLength >= bytes.count
        let window = fitsAll || maxLength + 2 > bytes.count ? bytes.count : maxLength + 2
        var newline = min(self.inlineScanned, window)
        while newline < window && bytes[newline] != .lf {
            newline += 1
        }
        guard newline < window else {
            // Fail as soon as no terminator can keep the line within the limit.
            if !fitsAll && (bytes.count > maxLength + 1 || bytes[maxLength] != .cr) {
                throw .inlineTooLong
            }
            self.inlineScanned = window
            return .incomplete
        }
        self.inlineScanned = 0
        var lineEnd = newline
        if lineEnd > 0 && bytes[lineEnd - 1] == .cr {
            lineEnd -= 1
        }
        guard lineEnd <= maxLength else { throw .inlineTooLong }
        let arguments = try InlineSplitter.split(UnsafeRawBufferPointer(rebasing: bytes[0..<lineEnd]))
        if arguments.isEmpty {
            return .skip(consumed: newline + 1)
        }
        guard arguments.count <= self.limits.maxElementCount else { throw .multibulkLength(tooMany: true) }
        return .inline(arguments, consumed: newline + 1)
    }

    private func takeInline(
        _ arguments: [InlineArgument],
        from buffer: inout ByteBuffer,
        consumed: Int
    ) throws(RESPError) -> RESPCommand {
        guard let line = buffer.readSlice(length: consumed) else {
            throw .malformed("frame changed while decoding")
        }
        var result: [ByteBuffer] = []
        result.reserveCapacity(arguments.count)
        for argument in arguments {
            switch argument {
            case .range(let range):
                guard let slice = line.getSlice(at: line.readerIndex + range.lowerBound, length: range.count) else {
                    throw .malformed("frame changed while decoding")
                }
                result.append(slice)
            case .unescaped(let bytes):
                result.append(ByteBuffer(bytes: bytes))
            }
        }
        return RESPCommand(arguments: result)
    }
}

extension RESPCommandDecoder: NIOSingleStepByteToMessageDecoder {
    /// Decoded commands.
    public typealias InboundOut = RESPCommand

    /// Decodes the next command for `ByteToMessageHandler`; see ``decode(_:)``.
    /// - Parameter buffer: The cumulated input.
    /// - Returns: The command, or `nil` if more bytes are needed.
    public mutating func decode(buffer: inout ByteBuffer) throws(RESPError) -> RESPCommand? {
        try self.decode(&buffer)
    }

    /// Decodes what remains when the stream ends; an incomplete trailing command stays in the buffer.
    /// - Parameters:
    ///   - buffer: The cumulated input.
    ///   - seenEOF: Whether the peer closed its side.
    /// - Returns: The next command, or `nil` if no whole command remains.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(RESPError) -> RESPCommand? {
        try self.decode(&buffer)
    }
}

/// One argument of an inline command: a plain range of the line, or the bytes of a quoted
/// argument after unescaping.
enum InlineArgument: Equatable {
    case range(Range<Int>)
    case unescaped([UInt8])
}

/// Splits an inline command line like Redis's `sdssplitargs`.
enum InlineSplitter {
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == .space || byte == .tab || byte == .lf || byte == .cr || byte == .verticalTab || byte == .formFeed
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }

    /// Splits `line` (without its terminator) into arguments.
    /// - Throws: ``RESPError/Code/unbalancedQuotes`` for an unterminated quote or a closing
    ///   quote followed by something other than white space.
    static func split(_ line: UnsafeRawBufferPointer) throws(RESPError) -> [InlineArgument] {
        var arguments: [InlineArgument] = []
        var index = 0
        let end = line.count
        while true {
            while index < end && Self.isSpace(line[index]) {
                index += 1
            }
            guard index < end else { return arguments }

            let start = index
            // Unquoted arguments stay ranges of the line; the first quote switches to copying.
            var copy: [UInt8]?
            argument: while index < end {
                let byte = line[index]
                switch byte {
                case .doubleQuote, .singleQuote:
                    var bytes = copy ?? Array(UnsafeRawBufferPointer(rebasing: line[start..<index]))
                    index = try Self.quoted(line, from: index + 1, closing: byte, into: &bytes)
                    copy = bytes
                    // The closing quote must end the argument.
                    if index < end && !Self.isSpace(line[index]) {
                        throw .unbalancedQuotes
                    }
                    break argument
                default:
                    if Self.isSpace(byte) {
                        break argument
                    }
                    copy?.append(byte)
                    index += 1
                }
            }
            if let copy {
                arguments.append(.unescaped(copy))
            } else {
                arguments.append(.range(start..<index))
            }
        }
    }

    /// Appends the unescaped contents of a quoted section starting at `from` (just after the
    /// opening quote) and returns the index just after the closing quote.
    static func quoted(
        _ line: UnsafeRawBufferPointer,
        from start: Int,
        closing quote: UInt8,
        into bytes: inout [UInt8]
    ) throws(RESPError) -> Int {
        var index = start
        let end = line.count
        while index < end {
            let byte = line[index]
            if byte == quote {
                return index + 1
            }
            if byte == .backslash && index + 1 < end {
                let next = line[index + 1]
                if quote == .singleQuote {
                    // Single quotes only know `\'`.
                    if next == .singleQuote {
                        bytes.append(next)
                        index += 2
                    } else {
                        bytes.append(byte)
                        index += 1
                    }
                    continue
                }
                if next == 0x78, index + 3 < end, let high = Self.hexValue(line[index + 2]),
                    let low = Self.hexValue(line[index + 3])
                {
                    bytes.append(high << 4 | low)
                    index += 4
                    continue
                }
                switch next {
                case 0x6E: bytes.append(.lf)  // \n
                case 0x72: bytes.append(.cr)  // \r
                case 0x74: bytes.append(.tab)  // \t
                case 0x62: bytes.append(0x08)  // \b
                case 0x61: bytes.append(0x07)  // \a
                default: bytes.append(next)
                }
                index += 2
                continue
            }
            bytes.append(byte)
            index += 1
        }
        throw .unbalancedQuotes
    }
}
