import NIOCore
import StrataWire
import Testing

/// SplitMix64: a tiny seeded generator, so every random test is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ByteBuffer {
    /// The readable bytes as a string with CR and LF made visible, for failure messages.
    var debugText: String {
        String(decoding: self.readableBytesView, as: UTF8.self)
            .replacingOccurrences(of: "\r", with: "\\r")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        self.split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// Feeds `input` to a fresh decoder in chunks of the given sizes (the rest in one piece),
/// compacting the buffer between chunks, and checks that an unfinished frame never moves
/// the reader index.
func decodeInChunks(
    _ input: [UInt8],
    chunkSizes: [Int],
    limits: RESPLimits = .default,
    sourceLocation: SourceLocation = #_sourceLocation
) throws(RESPError) -> [RESPValue] {
    var decoder = RESPDecoder(limits: limits)
    var buffer = ByteBuffer()
    var values: [RESPValue] = []
    var position = 0
    var sizes = chunkSizes[...]
    while position < input.count {
        let size = min(sizes.popFirst() ?? input.count, input.count - position)
        buffer.writeBytes(input[position..<(position + size)])
        position += size
        while true {
            let before = buffer.readerIndex
            let readable = buffer.readableBytes
            guard let value = try decoder.decode(&buffer) else {
                #expect(buffer.readerIndex == before, sourceLocation: sourceLocation)
                #expect(buffer.readableBytes == readable, sourceLocation: sourceLocation)
                break
            }
            values.append(value)
        }
        // Moving the reader index (as ByteToMessageHandler's compaction does) must not confuse a resumed scan.
        buffer.discardReadBytes()
    }
    #expect(buffer.readableBytes == 0, "left over: \(buffer.debugText)", sourceLocation: sourceLocation)
    return values
}

/// Random chunk sizes, mostly small, summing to at least `total`.
func randomChunkSizes(total: Int, using generator: inout SeededGenerator) -> [Int] {
    var sizes: [Int] = []
    var sum = 0
    while sum < total {
        let size = Int.random(in: 0...3, using: &generator) == 0 ? Int.random(in: 1...64, using: &generator) : Int.random(in: 1...5, using: &generator)
        sizes.append(size)
        sum += size
    }
    return sizes
}

/// A random value tree of every RESP3 type.
func randomValue(depth: Int = 0, using generator: inout SeededGenerator) -> RESPValue {
    let scalarKinds = 11
    let kinds = depth >= 4 ? scalarKinds : scalarKinds + 5
    switch Int.random(in: 0..<kinds, using: &generator) {
    case 0: return .simple(randomText(using: &generator))
    case 1: return .errorMessage("ERR " + randomText(using: &generator))
    case 2: return .integer(Int64.random(in: .min ... .max, using: &generator))
    case 3: return .bulk(randomBytes(using: &generator))
    case 4: return .null
    case 5:
        let specials: [Double] = [.infinity, -.infinity, .nan, 0, -0.0, 1e300, .leastNonzeroMagnitude, .pi]
        return .double(
            Bool.random(using: &generator)
                ? specials.randomElement(using: &generator)!
                : Double.random(in: -1e6...1e6, using: &generator)
        )
    case 6: return .boolean(Bool.random(using: &generator))
    case 7: return .bigNumber(ByteBuffer(string: (Bool.random(using: &generator) ? "-" : "") + "1234567890123456789012345678901234567890"))
    case 8: return .bulkError(ByteBuffer(bytes: randomBytes(using: &generator)))
    case 9: return .verbatimString(Bool.random(using: &generator) ? .text : .markdown, ByteBuffer(bytes: randomBytes(using: &generator)))
    case 10: return .integer(Int64.random(in: -1000...1000, using: &generator))
    case 11: return .array(randomElements(depth: depth, using: &generator))
    case 12: return .set(randomElements(depth: depth, using: &generator))
    case 13: return .push(randomElements(depth: depth, using: &generator))
    case 14: return .map(randomPairs(depth: depth, using: &generator))
    default: return .attribute(randomPairs(depth: depth, using: &generator), randomValue(depth: depth + 1, using: &generator))
    }
}

private func randomElements(depth: Int, using generator: inout SeededGenerator) -> [RESPValue] {
    (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) }
}

private func randomPairs(depth: Int, using generator: inout SeededGenerator) -> [RESPPair] {
    (0..<Int.random(in: 0...3, using: &generator)).map { _ in
        RESPPair(key: randomValue(depth: depth + 1, using: &generator), value: randomValue(depth: depth + 1, using: &generator))
    }
}

private func randomText(using generator: inout SeededGenerator) -> String {
    let letters = Array("abcdefghijklmnopqrstuvwxyz ABC0123456789-_:")
    return String((0..<Int.random(in: 0...12, using: &generator)).map { _ in letters.randomElement(using: &generator)! })
}

private func randomBytes(using generator: inout SeededGenerator) -> [UInt8] {
    let count = Int.random(in: 0...3, using: &generator) == 0 ? Int.random(in: 0...300, using: &generator) : Int.random(in: 0...10, using: &generator)
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

func bytes(_ string: String) -> [UInt8] {
    Array(string.utf8)
}
