/// A key as the client sends it: bytes, written as a string for convenience.
///
/// Keys are binary-safe byte strings everywhere in Strata; a key made from a
/// `String` is its UTF-8 bytes, and nothing decodes a key as text. A string
/// literal (with interpolation) is a key: `client.get("user:\(id)")`.
public struct StrataKey: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringInterpolation {
    private enum Storage: Sendable {
        case string(String)
        case bytes([UInt8])
    }

    private let storage: Storage

    /// The key of these bytes.
    /// - Parameter bytes: The key, any bytes.
    public init(_ bytes: some Sequence<UInt8>) {
        storage = .bytes(Array(bytes))
    }

    /// The key of the UTF-8 bytes of `string`.
    /// - Parameter string: The key as text.
    public init(_ string: String) {
        storage = .string(string)
    }

    /// A key from a string literal.
    public init(stringLiteral value: String) {
        storage = .string(value)
    }

    /// The key's bytes.
    /// - Complexity: O(*n*) for a key made from a string (its UTF-8 bytes are copied).
    public var bytes: [UInt8] {
        switch storage {
        case .string(let string): return Array(string.utf8)
        case .bytes(let bytes): return bytes
        }
    }

    /// The key as text if its bytes are valid UTF-8, otherwise `nil`.
    public var string: String? {
        switch storage {
        case .string(let string): return string
        case .bytes(let bytes): return String(validating: bytes, as: UTF8.self)
        }
    }

    /// The text of the key, with bytes that are not UTF-8 escaped as `\xNN`.
    public var description: String {
        if let string { return string }
        return bytes.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16).leftPadded() }
            .joined()
    }

    /// Keys are equal when their bytes are.
    public static func == (lhs: StrataKey, rhs: StrataKey) -> Bool { lhs.bytes == rhs.bytes }

    /// Hashes the bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}

extension String {
    fileprivate func leftPadded() -> String { count < 2 ? "0" + self : self }
}
