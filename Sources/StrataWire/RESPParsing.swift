import NIOCore

/// The kinds of RESP aggregate.
enum RESPAggregateKind: Sendable {
    case array
    case map
    case set
    case attribute
    case push
}

/// One element header, located by offsets into the readable bytes of the input.
/// Scalars are complete; an aggregate is followed by `count` elements (`2n` for maps).
enum RESPElement {
    case simpleString(Range<Int>)
    case error(Range<Int>)
    case integer(Int64)
    case bulkString(Range<Int>)
    case null
    case double(Double)
    case boolean(Bool)
    case bigNumber(Range<Int>)
    case bulkError(Range<Int>)
    case verbatimString(RESPVerbatimFormat, Range<Int>)
    case aggregate(RESPAggregateKind, count: Int)
}

/// Byte-level RESP grammar over the readable bytes of a buffer. Offsets are relative to
/// the start of `bytes`, so they survive the reader index moving (compaction) between calls.
/// Every function returns `nil` when it needs more bytes and throws when the bytes can never
/// become valid; none of them allocates in proportion to a claimed length.
enum RESPParser {
    /// Sign plus the 19 digits of `Int64.max`.
    static let maxNumberLineLength = 20

    /// Returns the index of the CR of the first CRLF at or after `start`, or `nil` if the
    /// line is not complete yet.
    /// - Parameter searched: Where a previous call on the same line stopped searching; the
    ///   search resumes there and the new stopping point is stored, so a long line arriving
    ///   in many pieces is searched once. Pass `start` (or less) for a fresh search.
    /// - Throws: `tooLong` when the line exceeds `maxLength` bytes; `.malformed` when a CR
    ///   is not followed by LF.
    static func lineEnd(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        maxLength: Int,
        searched: inout Int,
        tooLong: @autoclosure () -> RESPError
    ) throws(RESPError) -> Int? {
        // The CR may sit at most `maxLength` bytes after `start`; written to saturate for huge limits.
        let available = bytes.count - start
        let window = maxLength >= available ? available : maxLength + 1
        var index = max(start, min(searched, start + window))
        while index < start + window {
            if bytes[index] == .cr {
                guard index + 1 < bytes.count else {
                    searched = index
                    return nil
                }
                guard bytes[index + 1] == .lf else { throw .malformed("expected CRLF") }
                return index
            }
            index += 1
        }
        if window > maxLength {
            throw tooLong()
        }
        searched = index
        return nil
    }

    /// ``lineEnd(_:from:maxLength:searched:tooLong:)`` for short lines, searched from `start`.
    static func lineEnd(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        maxLength: Int,
        tooLong: @autoclosure () -> RESPError
    ) throws(RESPError) -> Int? {
        var searched = start
        return try Self.lineEnd(bytes, from: start, maxLength: maxLength, searched: &searched, tooLong: tooLong())
    }

    /// Parses a strict decimal integer: an optional `-` (or `+` if `allowPlus`), then digits
    /// without leading zeros. Returns `nil` on anything else, including overflow.
    static func parseInteger(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, allowPlus: Bool = false) -> Int64? {
        var index = range.lowerBound
        guard index < range.upperBound else { return nil }
        var negative = false
        if bytes[index] == .minus {
            negative = true
            index += 1
        } else if allowPlus && bytes[index] == .plus {
            index += 1
        }
        let digitsStart = index
        guard digitsStart < range.upperBound else { return nil }
        if bytes[digitsStart] == .zero && range.upperBound - digitsStart > 1 { return nil }
        var magnitude: UInt64 = 0
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte >= .zero && byte <= .nine else { return nil }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte &- .zero))
            guard !overflow1 && !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude != 0, magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Parses the length or count line that starts right after a type byte at `start`.
    /// Returns the value and the offset just past its CRLF.
    /// - Throws: `invalid` when the line is not a number, too long, or never can be.
    static func lengthLine(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        invalid: @autoclosure () -> RESPError
    ) throws(RESPError) -> (value: Int64, next: Int)? {
        let end: Int?
        do {
            end = try Self.lineEnd(bytes, from: start, maxLength: Self.maxNumberLineLength, tooLong: invalid())
        } catch {
            throw invalid()
        }
        guard let end else {
            // Fail early on garbage instead of waiting for a CRLF that makes no difference.
            var index = start
            while index < bytes.count {
                let byte = bytes[index]
                guard (byte >= .zero && byte <= .nine) || (byte == .minus && index == start) || byte == .cr else {
                    throw invalid()
                }
                index += 1
            }
            return nil
        }
        guard let value = Self.parseInteger(bytes, start..<end) else { throw invalid() }
        return (value, end + 2)
    }

    /// Parses the header of the element at `offset`: a whole scalar, or an aggregate's count.
    /// Returns the element and the offset just past it (past the header for an aggregate).
    /// - Parameter lineSearched: How far an earlier call searched the CRLF of this element's
    ///   line (0 when unknown); updated when the element is incomplete.
    static func element(
        _ bytes: UnsafeRawBufferPointer,
        at offset: Int,
        limits: RESPLimits,
        lineSearched: inout Int
    ) throws(RESPError) -> (element: RESPElement, next: Int)? {
        guard offset < bytes.count else { return nil }
        let start = offset + 1
        switch bytes[offset] {
        case .plus, .minus:
            let line = try Self.lineEnd(
                bytes,
                from: start,
                maxLength: limits.maxInlineLength,
                searched: &lineSearched,
                tooLong: .lineTooLong
            )
            guard let end = line else { return nil }
            let element: RESPElement = bytes[offset] == .plus ? .simpleString(start..<end) : .error(start..<end)
            return (element, end + 2)

        case .colon:
            let end: Int?
            do {
                end = try Self.lineEnd(bytes, from: start, maxLength: Self.maxNumberLineLength + 1, tooLong: .invalidInteger)
            } catch {
                throw .invalidInteger
            }
            guard let end else { return nil }
            guard let value = Self.parseInteger(bytes, start..<end, allowPlus: true) else { throw .invalidInteger }
            return (.integer(value), end + 2)

        case .dollar, .exclamationMark, .equals:
            guard case let (length, payloadStart)? = try Self.lengthLine(bytes, from: start, invalid: .bulkLength(tooLong: false))
            else { return nil }
            if length == -1 && bytes[offset] == .dollar {
                return (.null, payloadStart)
            }
            guard length >= 0 else { throw .bulkLength(tooLong: false) }
            guard length <= limits.maxBulkLength else { throw .bulkLength(tooLong: true) }
            let payloadLength = Int(length)
            guard bytes.count - payloadStart >= payloadLength + 2 else { return nil }
            let payloadEnd = payloadStart + payloadLength
            guard bytes[payloadEnd] == .cr && bytes[payloadEnd + 1] == .lf else {
                throw .malformed("expected CRLF after bulk payload")
            }
            switch bytes[offset] {
            case .dollar:
                return (.bulkString(payloadStart..<payloadEnd), payloadEnd + 2)
            case .exclamationMark:
                return (.bulkError(payloadStart..<payloadEnd), payloadEnd + 2)
            default:
                guard payloadLength >= 4 && bytes[payloadStart + 3] == .colon else {
                    throw .malformed("invalid verbatim string")
                }
                let format = RESPVerbatimFormat(bytes: (bytes[payloadStart], bytes[payloadStart + 1], bytes[payloadStart + 2]))
                return (.verbatimString(format, (payloadStart + 4)..<payloadEnd), payloadEnd + 2)
            }

        case .underscore:
            guard bytes.count - start >= 2 else {
                if start < bytes.count && bytes[start] != .cr { throw .malformed("invalid null") }
                return nil
            }
            guard bytes[start] == .cr && bytes[start + 1] == .lf else { throw .malformed("invalid null") }
            return (.null, start + 2)

        case .hash:
            guard bytes.count - start >= 3 else { return nil }
            guard bytes[start + 1] == .cr && bytes[start + 2] == .lf else { throw .malformed("invalid boolean") }
            switch bytes[start] {
            case .lowercaseT: return (.boolean(true), start + 3)
            case .lowercaseF: return (.boolean(false), start + 3)
            default: throw .malformed("invalid boolean")
            }

        case .comma:
            let line = try Self.lineEnd(
                bytes,
                from: start,
                maxLength: limits.maxInlineLength,
                searched: &lineSearched,
                tooLong: .lineTooLong
            )
            guard let end = line else { return nil }
            guard let value = Self.parseDouble(bytes, start..<end) else { throw .malformed("invalid double") }
            return (.double(value), end + 2)

        case .leftParenthesis:
            let line = try Self.lineEnd(
                bytes,
                from: start,
                maxLength: limits.maxInlineLength,
                searched: &lineSearched,
                tooLong: .lineTooLong
            )
            guard let end = line else { return nil }
            guard Self.isBigNumber(bytes, start..<end) else {
                throw RESPError(code: .invalidInteger, message: "invalid big number")
            }
            return (.bigNumber(start..<end), end + 2)

        case .asterisk, .tilde, .greaterThan, .percent, .verticalBar:
            let type = bytes[offset]
            guard case let (count, next)? = try Self.lengthLine(bytes, from: start, invalid: .multibulkLength(tooMany: false))
            else { return nil }
            if count == -1 && type == .asterisk {
                return (.null, next)
            }
            guard count >= 0 else { throw .multibulkLength(tooMany: false) }
            let isPaired = type == .percent || type == .verticalBar
            // Compare before doubling so that a huge count cannot overflow.
            let limit = isPaired ? limits.maxElementCount / 2 : limits.maxElementCount
            guard count <= limit else { throw .multibulkLength(tooMany: true) }
            let elements = Int(count) * (isPaired ? 2 : 1)
            let kind: RESPAggregateKind
            switch type {
            case .asterisk: kind = .array
            case .tilde: kind = .set
            case .greaterThan: kind = .push
            case .percent: kind = .map
            default: kind = .attribute
            }
            return (.aggregate(kind, count: elements), next)

        default:
            throw .invalidType(bytes[offset])
        }
    }

    /// Parses a RESP3 double: `inf`, `-inf`, `+inf`, `nan`, or a decimal number with an
    /// optional fraction and exponent.
    static func parseDouble(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Double? {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default: break
        }
        var sawDigit = false
        for byte in text.utf8 {
            switch byte {
            case .zero ... .nine: sawDigit = true
            case .plus, .minus, .period, .lowercaseE, .uppercaseE: break
            default: return nil
            }
        }
        guard sawDigit, let value = Double(text) else { return nil }
        return value
    }

    /// Whether `range` holds an optional sign followed by one or more decimal digits.
    static func isBigNumber(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var index = range.lowerBound
        if index < range.upperBound && (bytes[index] == .minus || bytes[index] == .plus) {
            index += 1
        }
        guard index < range.upperBound else { return false }
        while index < range.upperBound {
            guard bytes[index] >= .zero && bytes[index] <= .nine else { return false }
            index += 1
        }
        return true
    }
}
