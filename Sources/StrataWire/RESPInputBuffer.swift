import NIOCore

/// A connection's input that has not been decoded yet, gathered across reads,
/// with flow control: once more than ``highWater`` bytes wait, the server should
/// stop reading from the socket, and read again once it has consumed enough.
/// No I/O: ``append(_:)`` and ``keep(_:)`` say when to switch reading off or on.
public struct RESPInputBuffer: Sendable {
    /// The bytes waiting to be decoded, or `nil` when none are.
    public private(set) var bytes: ByteBuffer?
    /// How many waiting bytes stop reading.
    public let highWater: Int
    /// Whether reading is stopped.
    public private(set) var readingPaused = false

    /// An empty input that stops reading beyond `highWater` waiting bytes.
    public init(highWater: Int) {
        self.highWater = highWater
    }

    /// Adds one read's bytes.
    /// - Returns: `true` when reading should stop now.
    public mutating func append(_ more: inout ByteBuffer) -> Bool {
        if bytes == nil { bytes = more } else { bytes!.writeBuffer(&more) }
        guard !readingPaused, let bytes, bytes.readableBytes > highWater else { return false }
        readingPaused = true
        return true
    }

    /// Replaces the waiting bytes with `rest`: what is left of them after decoding.
    /// - Returns: `true` when reading should start again now.
    public mutating func keep(_ rest: ByteBuffer) -> Bool {
        bytes = rest.readableBytes == 0 ? nil : rest
        guard readingPaused, rest.readableBytes <= highWater else { return false }
        readingPaused = false
        return true
    }

    /// Drops the waiting bytes (the connection is closing).
    public mutating func clear() {
        bytes = nil
    }
}
