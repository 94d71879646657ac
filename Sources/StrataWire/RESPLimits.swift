/// The explicit bounds a RESP decoder enforces on untrusted input.
///
/// Breaking any limit makes the decoder throw a ``RESPError`` before it allocates
/// anything in proportion to the claimed size. The limits do not bound the bytes a
/// peer may buffer while a legal frame is still arriving; bound those with the
/// handler's cumulation limit (for example `ByteToMessageHandler(maximumBufferSize:)`).
public struct RESPLimits: Hashable, Sendable {
    /// The largest payload of one bulk string, bulk error or verbatim string, in bytes.
    /// Default: 64 MiB (Redis allows 512 MiB; a cache tier has no business with more than 64).
    public var maxBulkLength: Int

    /// The largest number of elements one aggregate may declare, and the largest number of
    /// arguments of one command. A map or attribute of `n` entries counts as `2n` elements.
    /// Default: 1,048,576 (the Redis multibulk limit).
    public var maxElementCount: Int

    /// The deepest nesting of aggregates. A scalar at top level has depth 0 and `*1\r\n:1\r\n`
    /// has depth 1. Default: 32 — real replies nest two or three levels (`XREAD`, `CLUSTER SLOTS`),
    /// and a small bound keeps decoding cheap however hostile the input.
    /// ``RESPCommandDecoder`` ignores it, since commands are flat arrays.
    public var maxDepth: Int

    /// The longest inline command line, and the longest CRLF-terminated line of a simple
    /// string, error, double or big number, in bytes, excluding the line terminator.
    /// Default: 64 KiB (the Redis inline limit).
    public var maxInlineLength: Int

    /// Creates a set of limits; omitted values take their defaults.
    /// Negative values are treated as zero.
    /// - Parameters:
    ///   - maxBulkLength: The largest bulk payload in bytes.
    ///   - maxElementCount: The largest element count of one aggregate or command.
    ///   - maxDepth: The deepest nesting of aggregates.
    ///   - maxInlineLength: The longest inline command or simple line in bytes.
    public init(
        maxBulkLength: Int = 64 * 1024 * 1024,
        maxElementCount: Int = 1_048_576,
        maxDepth: Int = 32,
        maxInlineLength: Int = 64 * 1024
    ) {
        self.maxBulkLength = max(0, maxBulkLength)
        self.maxElementCount = max(0, maxElementCount)
        self.maxDepth = max(0, maxDepth)
        self.maxInlineLength = max(0, maxInlineLength)
    }

    /// The default limits for authenticated connections and for replies.
    public static var `default`: RESPLimits { RESPLimits() }

    /// Limits for a connection that has not authenticated yet: at most 10 arguments,
    /// 16 KiB per bulk string and per inline line, flat arrays only. Enough for
    /// `AUTH`, `HELLO`, `PING`, too little to make an anonymous peer expensive.
    public static var unauthenticated: RESPLimits {
        RESPLimits(maxBulkLength: 16 * 1024, maxElementCount: 10, maxDepth: 1, maxInlineLength: 16 * 1024)
    }
}
