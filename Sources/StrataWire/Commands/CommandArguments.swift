#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A command's arguments read from the front, as a parse consumes them, with
/// Redis's conversions and error words.
public struct CommandArguments: Sendable {
    /// Every argument, the name first.
    public let all: [ByteBuffer]
    /// The index of the next argument to read.
    public private(set) var index: Int
    /// The spec being parsed, for its name in errors.
    let spec: CommandSpec

    init(_ all: [ByteBuffer], spec: CommandSpec, start: Int) {
        self.all = all
        self.spec = spec
        self.index = start
    }

    /// Whether arguments remain.
    public var hasMore: Bool { index < all.count }
    /// How many arguments remain.
    public var remaining: Int { all.count - index }
    /// The arguments not read yet.
    public var rest: ArraySlice<ByteBuffer> { all[index...] }

    /// The second argument as text (for "unknown subcommand" errors).
    var subcommandName: String {
        all.count > 1 ? String(decoding: all[1].readableBytesView, as: UTF8.self) : ""
    }

    /// The next argument; a syntax error if there is none.
    public mutating func next() throws(CommandError) -> ByteBuffer {
        guard index < all.count else { throw .syntax }
        defer { index += 1 }
        return all[index]
    }

    /// The next argument if any.
    public mutating func nextIfAny() -> ByteBuffer? {
        guard index < all.count else { return nil }
        defer { index += 1 }
        return all[index]
    }

    /// The remaining arguments, all consumed.
    public mutating func takeRest() -> ArraySlice<ByteBuffer> {
        defer { index = all.count }
        return all[index...]
    }

    /// The next argument as a Redis integer.
    public mutating func integer() throws(CommandError) -> Int64 {
        try Self.integer(try next())
    }

    /// The next argument as an option keyword, upper-cased (ASCII).
    public mutating func keyword() throws(CommandError) -> String {
        Self.keyword(try next())
    }

    /// Throws a syntax error unless every argument was read.
    public func end() throws(CommandError) {
        guard index == all.count else { throw .syntax }
    }

    /// `bytes` as a Redis integer (`string2ll`): an optional `-`, digits, no
    /// spaces or `+`, within Int64.
    public static func integer(_ bytes: ByteBuffer) throws(CommandError) -> Int64 {
        guard let value = parseInteger(bytes.readableBytesView) else { throw .notInteger }
        return value
    }

    /// `bytes` as a C `int`, as Redis reads a database index: an integer
    /// first (`value is not an integer or out of range`), then in range.
    public static func cInt(_ bytes: ByteBuffer) throws(CommandError) -> Int64 {
        let value = try integer(bytes)
        guard value >= Int64(Int32.min), value <= Int64(Int32.max) else { throw .outOfCIntRange }
        return value
    }

    /// `bytes` as a Redis long double (`string2ld`: `strtold` over the whole
    /// argument, no leading space, not NaN), or `nil`.
    public static func longDouble(_ bytes: some Collection<UInt8>) -> Float80? {
        guard !bytes.isEmpty, bytes.count < 5 * 1024, let first = bytes.first, !isSpace(first) else { return nil }
        var text = Array(bytes)
        text.append(0)
        return text.withUnsafeBufferPointer { pointer -> Float80? in
            let start = UnsafeRawPointer(pointer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let value = strtold(start, &end)
            guard let end, end - UnsafeMutablePointer(mutating: start) == bytes.count else { return nil }
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            if errno == EINVAL || value.isNaN { return nil }
            return value
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// `bytes` upper-cased (ASCII), for comparing option keywords.
    public static func keyword(_ bytes: ByteBuffer) -> String {
        let view = bytes.readableBytesView
        return String(unsafeUninitializedCapacity: view.count) { out in
            var i = 0
            for byte in view {
                out[i] = (byte >= 97 && byte <= 122) ? byte - 32 : byte
                i += 1
            }
            return i
        }
    }
}

/// Parses a decimal Int64 the way Redis does: optional `-`, digits, no spaces,
/// no leading `+`, no leading zeros other than `0` itself.
/// - Complexity: O(*n*) in the number of bytes.
public func parseInteger<C: Collection>(_ bytes: C) -> Int64? where C.Element == UInt8 {
    guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
    var index = bytes.startIndex
    var negative = false
    if bytes[index] == UInt8(ascii: "-") {
        negative = true
        index = bytes.index(after: index)
        guard index != bytes.endIndex else { return nil }
    }
    // Redis's string2ll refuses leading zeros ("01", "-0"), but accepts "0".
    if bytes[index] == UInt8(ascii: "0") {
        guard !negative, bytes.index(after: index) == bytes.endIndex else { return nil }
        return 0
    }
    var magnitude: UInt64 = 0
    while index != bytes.endIndex {
        let byte = bytes[index]
        guard byte >= 48, byte <= 57 else { return nil }
        let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times.addingReportingOverflow(UInt64(byte - 48))
        guard !o1, !o2 else { return nil }
        magnitude = sum
        index = bytes.index(after: index)
    }
    if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { return nil }
    return Int64(magnitude)
}

/// Formats a long double the way Redis writes INCRBYFLOAT results (`ld2string`
/// in human mode: `%.17Lf` without trailing zeros; `inf`, `-inf`).
public func formatLongDouble(_ value: Float80) -> String {
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    var buffer = [CChar](repeating: 0, count: 5 * 1024 + 64)
    let length = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.17Lf", $0) }
    var text = Array(buffer.prefix(Int(max(0, min(length, Int32(buffer.count - 1))))).map { UInt8(bitPattern: $0) })
    if text.contains(UInt8(ascii: ".")) {
        while text.last == UInt8(ascii: "0") { text.removeLast() }
        if text.last == UInt8(ascii: ".") { text.removeLast() }
    }
    if text == Array("-0".utf8) { text = [UInt8(ascii: "0")] }
    return String(decoding: text, as: UTF8.self)
}
