import NIOCore

/// An incremental decoder of RESP2 and RESP3 values, for replies (client side) or any
/// RESP stream.
///
/// `decode(_:)` consumes nothing until a whole frame is in the buffer: it validates the
/// frame first, then builds the value from `ByteBuffer` slices of the input, so bulk
/// payloads are never copied. When a frame is incomplete the decoder remembers how far its
/// validation got and resumes there when called again with the same, longer, input, so a
/// large reply arriving in many reads is scanned once, not once per read.
///
/// Feed one decoder one stream. If you hand it unrelated bytes while a frame is
/// incomplete, call ``reset()`` first.
///
/// It can also sit in a NIO pipeline: it is a `ByteToMessageDecoder` (through
/// `NIOSingleStepByteToMessageDecoder`) producing ``RESPValue``s.
public struct RESPDecoder: Sendable {
    /// The limits enforced on the next decoding step. Change them at any time, for example
    /// after authentication; a frame that is half validated is checked against the new
    /// limits from where validation resumes.
    public var limits: RESPLimits

    private var scan = ScanState()

    /// Creates a decoder.
    /// - Parameter limits: The limits to enforce; ``RESPLimits/default`` if omitted.
    public init(limits: RESPLimits = .default) {
        self.limits = limits
    }

    /// Decodes the next value if a whole frame is readable.
    ///
    /// - Parameter buffer: The input. On success its reader index moves past exactly one
    ///   frame; when `nil` is returned or an error is thrown it is left untouched.
    /// - Returns: The value, or `nil` if the frame is not complete yet.
    /// - Throws: ``RESPError`` for malformed input or a broken limit. The stream cannot be
    ///   resynchronised afterwards; close the connection.
    /// - Complexity: O(*n*) in the size of the frame, amortised over the calls that see it arrive.
    public mutating func decode(_ buffer: inout ByteBuffer) throws(RESPError) -> RESPValue? {
        let readable = buffer.readableBytes
        if self.scan.isActive && self.scan.offset > readable {
            // The caller switched streams under us; validate from scratch.
            self.scan = ScanState()
        }
        do {
            if !self.scan.isActive {
                // Fast path: most frames arrive whole, so build right away in one pass.
                if case let (value, length)? = try self.build(buffer) {
                    buffer.moveReaderIndex(forwardBy: length)
                    return value
                }
            }
            guard let frameLength = try self.resumeScan(buffer) else { return nil }
            self.scan = ScanState()
            guard case let (value, length)? = try self.build(buffer) else { return nil }
            assert(length == frameLength, "validation and building disagree; was the stream switched without reset()?")
            buffer.moveReaderIndex(forwardBy: length)
            return value
        } catch {
            self.scan = ScanState()
            throw error
        }
    }

    /// Forgets any partially validated frame.
    public mutating func reset() {
        self.scan = ScanState()
    }

    /// Validates from where the last call stopped; returns the frame length once complete.
    private mutating func resumeScan(_ buffer: ByteBuffer) throws(RESPError) -> Int? {
        let limits = self.limits
        var scan = self.scan
        defer { self.scan = scan }
        return try buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(RESPError) -> Int? in try scan.advance(bytes, limits: limits) }
        }.get()
    }

    /// Builds the value of the frame at the reader index, or returns `nil` if it is incomplete.
    private func build(_ buffer: ByteBuffer) throws(RESPError) -> (RESPValue, Int)? {
        let limits = self.limits
        return try buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(RESPError) -> (RESPValue, Int)? in
                try ValueBuilder.build(bytes, base: buffer, limits: limits)
            }
        }.get()
    }
}

extension RESPDecoder: NIOSingleStepByteToMessageDecoder {
    /// Decoded values.
    public typealias InboundOut = RESPValue

    /// Decodes the next value for `ByteToMessageHandler`; see ``decode(_:)``.
    /// - Parameter buffer: The cumulated input.
    /// - Returns: The value, or `nil` if the frame is not complete yet.
    public mutating func decode(buffer: inout ByteBuffer) throws(RESPError) -> RESPValue? {
        try self.decode(&buffer)
    }

    /// Decodes what remains at the end of the stream; an incomplete trailing frame is left
    /// in the buffer.
    /// - Parameters:
    ///   - buffer: The cumulated input.
    ///   - seenEOF: Whether the peer closed its side.
    /// - Returns: The next value, or `nil` if no whole frame remains.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(RESPError) -> RESPValue? {
        try self.decode(&buffer)
    }
}

/// Resumable validation state: how far the scan got, and how many elements each open
/// aggregate still expects. Holds offsets, never slices, so it does not pin the input's storage.
private struct ScanState: Sendable {
    struct Level: Sendable {
        var remaining: Int
        var isAttribute: Bool
    }

    var isActive = false
    var offset = 0
    /// How far the CRLF of a simple line at `offset` has been searched.
    var lineSearched = 0
    var levels: [Level] = []

    /// Scans elements until the frame is complete (returns its length) or the input ends (returns `nil`).
    mutating func advance(_ bytes: UnsafeRawBufferPointer, limits: RESPLimits) throws(RESPError) -> Int? {
        if !self.isActive {
            self.isActive = true
            self.offset = 0
            // The root slot expects one value; attributes in front of it do not fill it.
            self.levels = [Level(remaining: 1, isAttribute: false)]
        }
        while true {
            guard
                case let (element, next)? = try RESPParser.element(
                    bytes,
                    at: self.offset,
                    limits: limits,
                    lineSearched: &self.lineSearched
                )
            else { return nil }
            self.offset = next
            self.lineSearched = 0
            if case .aggregate(let kind, let count) = element {
                // `levels` includes the root, so its count is the depth of the new aggregate.
                guard self.levels.count <= limits.maxDepth else { throw .tooDeep }
                self.levels.append(Level(remaining: count, isAttribute: kind == .attribute))
            } else {
                self.levels[self.levels.count - 1].remaining -= 1
            }
            while let last = self.levels.last, last.remaining == 0 {
                self.levels.removeLast()
                if self.levels.isEmpty {
                    return self.offset
                }
                if !last.isAttribute {
                    self.levels[self.levels.count - 1].remaining -= 1
                }
            }
        }
    }
}

/// Builds a value from a frame without recursion, so hostile nesting cannot exhaust the stack
/// whatever `maxDepth` is set to.
private enum ValueBuilder {
    struct Frame {
        var kind: RESPAggregateKind
        var remaining: Int
        var elements: [RESPValue]
        var pendingAttributes: [[RESPPair]] = []
    }

    enum Completed {
        case value(RESPValue)
        case attributes([RESPPair])
    }

    static func build(
        _ bytes: UnsafeRawBufferPointer,
        base: ByteBuffer,
        limits: RESPLimits
    ) throws(RESPError) -> (RESPValue, Int)? {
        var stack: [Frame] = []
        var rootAttributes: [[RESPPair]] = []
        var offset = 0

        func slice(_ range: Range<Int>) throws(RESPError) -> ByteBuffer {
            guard let slice = base.getSlice(at: base.readerIndex + range.lowerBound, length: range.count) else {
                throw .malformed("frame changed while decoding")
            }
            return slice
        }

        while true {
            var lineSearched = 0
            guard
                case let (element, next)? = try RESPParser.element(
                    bytes,
                    at: offset,
                    limits: limits,
                    lineSearched: &lineSearched
                )
            else { return nil }
            offset = next
            var completed: Completed
            switch element {
            case .aggregate(let kind, let count):
                guard stack.count < limits.maxDepth else { throw .tooDeep }
                let frame = Frame(kind: kind, remaining: count, elements: [])
                if count > 0 {
                    stack.append(frame)
                    // Every element takes at least three bytes; never trust the count alone.
                    stack[stack.count - 1].elements.reserveCapacity(min(count, (bytes.count - offset) / 3 + 1))
                    continue
                }
                completed = Self.finish(frame)
            case .simpleString(let range): completed = .value(.simpleString(try slice(range)))
            case .error(let range): completed = .value(.error(try slice(range)))
            case .integer(let value): completed = .value(.integer(value))
            case .bulkString(let range): completed = .value(.bulkString(try slice(range)))
            case .null: completed = .value(.null)
            case .double(let value): completed = .value(.double(value))
            case .boolean(let value): completed = .value(.boolean(value))
            case .bigNumber(let range): completed = .value(.bigNumber(try slice(range)))
            case .bulkError(let range): completed = .value(.bulkError(try slice(range)))
            case .verbatimString(let format, let range): completed = .value(.verbatimString(format, try slice(range)))
            }

            // Hand the completed item to its parent, closing every aggregate it completes.
            while true {
                switch completed {
                case .attributes(let pairs):
                    if stack.isEmpty {
                        rootAttributes.append(pairs)
                    } else {
                        stack[stack.count - 1].pendingAttributes.append(pairs)
                    }
                case .value(let value):
                    if stack.isEmpty {
                        return (Self.attach(rootAttributes, to: value), offset)
                    }
                    let top = stack.count - 1
                    let annotated = Self.attach(stack[top].pendingAttributes, to: value)
                    stack[top].pendingAttributes.removeAll()
                    stack[top].elements.append(annotated)
                    stack[top].remaining -= 1
                    if stack[top].remaining == 0 {
                        completed = Self.finish(stack.removeLast())
                        continue
                    }
                }
                break
            }
        }
    }

    /// Wraps `value` in the attributes that preceded it, the first one outermost.
    static func attach(_ attributes: [[RESPPair]], to value: RESPValue) -> RESPValue {
        var value = value
        for pairs in attributes.reversed() {
            value = .attribute(pairs, value)
        }
        return value
    }

    static func finish(_ frame: Frame) -> Completed {
        switch frame.kind {
        case .array: return .value(.array(frame.elements))
        case .set: return .value(.set(frame.elements))
        case .push: return .value(.push(frame.elements))
        case .map: return .value(.map(Self.pairs(frame.elements)))
        case .attribute: return .attributes(Self.pairs(frame.elements))
        }
    }

    static func pairs(_ elements: [RESPValue]) -> [RESPPair] {
        var pairs: [RESPPair] = []
        pairs.reserveCapacity(elements.count / 2)
        var index = 0
        while index + 1 < elements.count {
            pairs.append(RESPPair(key: elements[index], value: elements[index + 1]))
            index += 2
        }
        return pairs
    }
}
