import NIOCore

/// A command sent by a client: its arguments, the first of which is the command name.
///
/// Arguments decoded from a RESP array are slices of the connection's input buffer
/// (no copy); arguments of an inline command that used quotes or escapes are fresh buffers.
public struct RESPCommand: Equatable, Sendable {
    /// The arguments, binary safe; the first one is the command name as the client spelt it.
    public var arguments: [ByteBuffer]

    /// Creates a command from its arguments.
    /// - Parameter arguments: The arguments, name first.
    public init(arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    /// Creates a command from UTF-8 text arguments, for tests and tools: `RESPCommand("GET", "k")`.
    /// - Parameter arguments: The arguments, name first.
    public init(_ arguments: String...) {
        self.arguments = arguments.map { ByteBuffer(string: $0) }
    }

    /// The command name as sent, or `nil` for a command without arguments.
    public var name: ByteBuffer? {
        self.arguments.first
    }

    /// Whether the command name equals `name`, ignoring ASCII case, without allocating.
    /// - Parameter name: The name to compare with, for example `"GET"`.
    /// - Returns: `true` if the first argument matches.
    /// - Complexity: O(*m*) in the length of `name`.
    public func isNamed(_ name: String) -> Bool {
        guard let first = self.arguments.first else { return false }
        let utf8 = name.utf8
        guard first.readableBytes == utf8.count else { return false }
        return first.withUnsafeReadableBytes { bytes in
            zip(bytes, utf8).allSatisfy { Self.asciiLowercase($0) == Self.asciiLowercase($1) }
        }
    }

    /// The arguments as an array of bulk strings, the way a client sends the command.
    public var respValue: RESPValue {
        .array(self.arguments.map { .bulkString($0) })
    }

    private static func asciiLowercase(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
}
