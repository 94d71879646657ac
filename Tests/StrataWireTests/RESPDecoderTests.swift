import NIOCore
import NIOTestUtils
import StrataWire
import Testing

@Suite("RESPDecoder")
struct RESPDecoderTests {
    /// A stream of frames of every type, as a server would send them.
    static let stream: String =
        "+OK\r\n-ERR bad thing\r\n:42\r\n:-7\r\n:+3\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
        + "*3\r\n:1\r\n*1\r\n+in\r\n$-1\r\n_\r\n,3.25\r\n,inf\r\n,-inf\r\n,nan\r\n,1e10\r\n,-1.5E-3\r\n#t\r\n#f\r\n"
        + "(3492890328409238509324850943850943825024385\r\n!21\r\nSYNTAX invalid syntax\r\n=15\r\ntxt:Some string\r\n"
        + "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n~2\r\n+a\r\n+b\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"
        + "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n"
        + "*2\r\n|1\r\n+ttl\r\n:5\r\n$1\r\nv\r\n:9\r\n"

    static let expected: [RESPValue] = [
        .simple("OK"), .errorMessage("ERR bad thing"), .integer(42), .integer(-7), .integer(3), .bulk("hello"), .bulk(""),
        .null, .null, .array([]),
        .array([.integer(1), .array([.simple("in")]), .null]), .null, .double(3.25), .double(.infinity), .double(-.infinity),
        .double(.nan), .double(1e10), .double(-0.0015), .boolean(true), .boolean(false),
        .bigNumber(ByteBuffer(string: "3492890328409238509324850943850943825024385")),
        .bulkError(ByteBuffer(string: "SYNTAX invalid syntax")), .verbatim("Some string"),
        .map([(.simple("first"), .integer(1)), (.simple("second"), .integer(2))]), .set([.simple("a"), .simple("b")]),
        .push([.bulk("message"), .bulk("ch"), .bulk("x")]),
        .attribute(
            [RESPPair(key: .simple("key-popularity"), value: .map([(.bulk("a"), .double(0.1923))]))],
            .array([.integer(2_039_123), .integer(9_543_892)])
        ),
        .array([.attribute([RESPPair(key: .simple("ttl"), value: .integer(5))], .bulk("v")), .integer(9)]),
    ]

    @Test("many frames at once")
    func manyAtOnce() throws {
        let values = try decodeInChunks(bytes(Self.stream), chunkSizes: [])
        #expect(values == Self.expected)
    }

    @Test("byte by byte")
    func byteByByte() throws {
        let input = bytes(Self.stream)
        let values = try decodeInChunks(input, chunkSizes: Array(repeating: 1, count: input.count))
        #expect(values == Self.expected)
    }

    @Test("random splits", arguments: 0..<20)
    func randomSplits(seed: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seed))
        let input = bytes(Self.stream)
        let values = try decodeInChunks(input, chunkSizes: randomChunkSizes(total: input.count, using: &generator))
        #expect(values == Self.expected)
    }

    @Test("random value trees in random splits", arguments: 0..<5)
    func randomTreesInRandomSplits(seed: Int) throws {
        var generator = SeededGenerator(seed: 1000 + UInt64(seed))
        let values = (0..<60).map { _ in randomValue(using: &generator) }
        var buffer = ByteBuffer()
        for value in values {
            value.encode(into: &buffer, version: .resp3)
        }
        let input = Array(buffer.readableBytesView)
        #expect(try decodeInChunks(input, chunkSizes: randomChunkSizes(total: input.count, using: &generator)) == values)
        #expect(try decodeInChunks(input, chunkSizes: []) == values)
    }

    @Test("ByteToMessageDecoderVerifier")
    func verifier() throws {
        let pairs: [(String, [RESPValue])] = [
            ("+OK\r\n", [.simple("OK")]),
            ("$5\r\nhello\r\n", [.bulk("hello")]),
            ("*2\r\n:1\r\n%1\r\n+k\r\n#t\r\n", [.array([.integer(1), .map([(.simple("k"), .boolean(true))])])]),
            (":1\r\n:2\r\n", [.integer(1), .integer(2)]),
            ("|1\r\n+a\r\n+b\r\n_\r\n", [.attribute([RESPPair(key: .simple("a"), value: .simple("b"))], .null)]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(stringInputOutputPairs: pairs) { RESPDecoder() }
    }

    @Test("a partial frame consumes nothing, at every prefix")
    func partialConsumesNothing() throws {
        let frame = bytes("*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n|1\r\n+a\r\n:1\r\n=7\r\ntxt:abc\r\n")
        for length in 0..<frame.count {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: frame[0..<length])
            buffer.moveReaderIndex(forwardBy: 0)
            let before = buffer.readerIndex
            #expect(try decoder.decode(&buffer) == nil, "prefix \(length)")
            #expect(buffer.readerIndex == before)
            #expect(buffer.readableBytes == length)
        }
        var buffer = ByteBuffer(bytes: frame)
        var decoder = RESPDecoder()
        #expect(try decoder.decode(&buffer) != nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test("bulk payloads are slices of the input, not copies")
    func zeroCopy() throws {
        var buffer = ByteBuffer(string: "*2\r\n$5\r\nhello\r\n+simple\r\n")
        let base = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = RESPDecoder()
        guard case .array(let elements) = try decoder.decode(&buffer),
            case .bulkString(let payload) = elements[0],
            case .simpleString(let simple) = elements[1]
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == base + 8)
        #expect(simple.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == base + 16)
    }

    @Test("a frame arriving in pieces is resumed, including across compaction")
    func resumesLargeArray() throws {
        var whole = ByteBuffer()
        RESPEncoder.writeArrayHeader(count: 5000, into: &whole)
        for index in 0..<5000 {
            RESPEncoder.writeBulkString("value-\(index)", into: &whole)
        }
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "+first\r\n")
        #expect(try decoder.decode(&buffer) == .simple("first"))
        var result: RESPValue?
        while let chunk = whole.readSlice(length: min(7, whole.readableBytes)), chunk.readableBytes > 0 {
            var chunk = chunk
            buffer.writeBuffer(&chunk)
            if buffer.readerIndex > 64 {
                buffer.discardReadBytes()
            }
            if let value = try decoder.decode(&buffer) {
                result = value
            }
        }
        guard case .array(let elements) = result else {
            Issue.record("no array decoded")
            return
        }
        #expect(elements.count == 5000)
        #expect(elements.last == .bulk("value-4999"))
    }

    @Test("nesting up to maxDepth is accepted, one more level is not")
    func depthBoundary() throws {
        for depth in [1, 5, 32] {
            var decoder = RESPDecoder(limits: RESPLimits(maxDepth: depth))
            var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: depth) + ":1\r\n")
            var expected = RESPValue.integer(1)
            for _ in 0..<depth {
                expected = .array([expected])
            }
            #expect(try decoder.decode(&ok) == expected)
            var tooDeep = ByteBuffer(string: String(repeating: "*1\r\n", count: depth + 1) + ":1\r\n")
            #expect(throws: RESPError.self) { try decoder.decode(&tooDeep) }
        }
        // Attributes and maps count as levels too.
        var decoder = RESPDecoder(limits: RESPLimits(maxDepth: 1))
        var nested = ByteBuffer(string: "%1\r\n+k\r\n*0\r\n")
        #expect(throws: RESPError.self) { try decoder.decode(&nested) }
    }

    @Test("setting the limits at runtime takes effect")
    func limitsAreSettable() throws {
        var decoder = RESPDecoder(limits: .unauthenticated)
        var big = ByteBuffer(string: "$20000\r\n" + String(repeating: "x", count: 20000) + "\r\n")
        #expect(throws: RESPError.self) { try decoder.decode(&big) }
        decoder.limits = .default
        #expect(try decoder.decode(&big) == .bulk(String(repeating: "x", count: 20000)))
    }

    static let malformed: [(String, RESPError.Code)] = [
        ("*2147483648\r\n", .tooManyElements),
        ("*1048577\r\n", .tooManyElements),
        ("%524289\r\n", .tooManyElements),
        ("|9223372036854775807\r\n", .tooManyElements),
        ("$9223372036854775807\r\n", .bulkTooLong),
        ("$67108865\r\n", .bulkTooLong),
        ("!67108865\r\n", .bulkTooLong),
        ("$99999999999999999999\r\n", .invalidLength),
        ("$999999999999999999999999999999", .invalidLength),
        ("*99999999999999999999\r\n", .invalidLength),
        ("$-2\r\n", .invalidLength),
        ("$-9223372036854775808\r\n", .invalidLength),
        ("*-2\r\n", .invalidLength),
        ("%-1\r\n", .invalidLength),
        ("~-1\r\n", .invalidLength),
        (">-1\r\n", .invalidLength),
        ("!-1\r\n", .invalidLength),
        ("$\r\n", .invalidLength),
        ("$1x\r\n", .invalidLength),
        ("$01\r\n", .invalidLength),
        ("$ 1\r\n", .invalidLength),
        ("*abc", .invalidLength),
        ("$5\r\nhelloXX", .malformed),
        ("$5\r\nhello\n\n", .malformed),
        ("+OK\rX", .malformed),
        (":12a\r\n", .invalidInteger),
        (":\r\n", .invalidInteger),
        (":99999999999999999999\r\n", .invalidInteger),
        (":--1\r\n", .invalidInteger),
        ("(12a\r\n", .invalidInteger),
        ("(\r\n", .invalidInteger),
        ("#x\r\n", .malformed),
        ("#tt\r\n", .malformed),
        (",abc\r\n", .malformed),
        (",\r\n", .malformed),
        (",1e\r\n", .malformed),
        (",0x1p3\r\n", .malformed),
        ("_x\r\n", .malformed),
        ("_\rx", .malformed),
        ("=3\r\ntxt\r\n", .malformed),
        ("=5\r\ntxtx:\r\n", .malformed),
        ("?what\r\n", .invalidType),
        ("hello\r\n", .invalidType),
        ("\0", .invalidType),
        ("*2\r\n:1\r\nX", .invalidType),
        ("*1\r\n$-5\r\n", .invalidLength),
    ]

    @Test("malformed input and broken limits throw the right code", arguments: malformed)
    func malformedInput(_ input: String, _ code: RESPError.Code) {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: input)
        do throws(RESPError) {
            let value = try decoder.decode(&buffer)
            Issue.record("expected \(code), got \(String(describing: value)) for \(ByteBuffer(string: input).debugText)")
        } catch {
            #expect(error.code == code, "for \(ByteBuffer(string: input).debugText): \(error)")
            #expect(!error.redisErrorMessage.contains("\r") && !error.redisErrorMessage.contains("\n"))
        }
        #expect(buffer.readableBytes == input.utf8.count)
    }

    @Test("the same errors are found when the input arrives byte by byte", arguments: malformed)
    func malformedInputByteByByte(_ input: String, _ code: RESPError.Code) {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer()
        var thrown: RESPError?
        for byte in input.utf8 {
            buffer.writeInteger(byte)
            do throws(RESPError) {
                _ = try decoder.decode(&buffer)
            } catch {
                thrown = error
                break
            }
        }
        #expect(thrown?.code == code, "for \(ByteBuffer(string: input).debugText)")
    }

    @Test("deep nesting is refused before the data is complete")
    func deepNesting() {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: String(repeating: "*1\r\n", count: 1000))
        let error = #expect(throws: RESPError.self) { try decoder.decode(&buffer) }
        #expect(error?.code == .tooDeep)
        #expect(buffer.readableBytes == 4000)
        // The same when the levels arrive one read at a time (the resumed validation path).
        var dripDecoder = RESPDecoder()
        var drip = ByteBuffer()
        var dripError: RESPError?
        for _ in 0..<1000 where dripError == nil {
            drip.writeString("*1\r\n")
            do throws(RESPError) {
                #expect(try dripDecoder.decode(&drip) == nil)
            } catch {
                dripError = error
            }
        }
        #expect(dripError?.code == .tooDeep)
        #expect(drip.readableBytes == 33 * 4)
        // A huge depth limit cannot overflow the stack: building is iterative.
        var lenient = RESPDecoder(limits: RESPLimits(maxDepth: 100_000))
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 5000) + "_\r\n")
        var depth = 0
        var value = try? lenient.decode(&deep)
        while case .array(let elements)? = value {
            depth += 1
            value = elements.first
        }
        #expect(depth == 5000)
        #expect(value == .null)
    }

    @Test("a huge declared count with little data stays pending and cheap")
    func hugeCountLittleData() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "*1000000\r\n:1\r\n")
        #expect(try decoder.decode(&buffer) == nil)
        #expect(buffer.readableBytes == 14)
        var setBuffer = ByteBuffer(string: "~1048576\r\n_\r\n")
        #expect(try RESPDecoder().decodeCopy(&setBuffer) == nil)
        // Without limits a trillion-element claim would make an up-front reservation fail
        // (terabytes): the reservation must follow the bytes present, not the claim.
        var unlimited = RESPDecoder(limits: RESPLimits(maxElementCount: .max))
        var claim = ByteBuffer(string: "*1000000000000\r\n*1000000000000\r\n:1\r\n")
        #expect(try unlimited.decode(&claim) == nil)
        #expect(claim.readableBytes == 36)
    }

    @Test("lines longer than maxInlineLength are refused without waiting for CRLF")
    func longLines() throws {
        for prefix in ["+", "-", ",", "("] {
            var decoder = RESPDecoder(limits: RESPLimits(maxInlineLength: 100))
            var buffer = ByteBuffer(string: prefix + String(repeating: "1", count: 101))
            let error = #expect(throws: RESPError.self) { try decoder.decode(&buffer) }
            #expect(error?.code == .inlineTooLong)
            var fits = ByteBuffer(string: "+" + String(repeating: "1", count: 100) + "\r\n")
            #expect(try decoder.decode(&fits) == .simple(String(repeating: "1", count: 100)))
        }
    }

    @Test("error messages read like Redis")
    func redisMessages() {
        func message(_ input: String) -> String? {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(string: input)
            do throws(RESPError) {
                _ = try decoder.decode(&buffer)
                return nil
            } catch {
                return error.redisErrorMessage
            }
        }
        #expect(message("$-2\r\n") == "ERR Protocol error: invalid bulk length")
        #expect(message("$99999999999999999999\r\n") == "ERR Protocol error: invalid bulk length")
        #expect(message("*2147483648\r\n") == "ERR Protocol error: invalid multibulk length")
        #expect(message("x\r\n") == "ERR Protocol error: invalid type byte 'x'")
        #expect(message("\u{1}") == "ERR Protocol error: invalid type byte '\\x01'")
    }

    @Test("random garbage never crashes", arguments: 0..<4)
    func garbageFuzz(seed: Int) {
        var generator = SeededGenerator(seed: 0xF00D + UInt64(seed))
        let alphabet = bytes("+-:$*_,#(!=%~|>\r\n0123456789-1tfinaxe.: ")
        var outcomes = (values: 0, errors: 0, pending: 0)
        for _ in 0..<1000 {
            let length = Int.random(in: 1...64, using: &generator)
            var input: [UInt8] = (0..<length).map { _ in
                Bool.random(using: &generator)
                    ? alphabet.randomElement(using: &generator)!
                    : UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) {
                // Mutate a valid frame instead: the interesting bugs hide near valid input.
                var valid = randomValue(using: &generator).encoded()
                input = Array(valid.readBytes(length: valid.readableBytes) ?? [])
                if !input.isEmpty {
                    input[Int.random(in: 0..<input.count, using: &generator)] = alphabet.randomElement(using: &generator)!
                }
                if input.count > 1 && Bool.random(using: &generator) {
                    input.removeLast(Int.random(in: 1..<input.count, using: &generator))
                }
            }
            var decoder = RESPDecoder(limits: RESPLimits(maxBulkLength: 1000, maxElementCount: 100, maxDepth: 8))
            var buffer = ByteBuffer()
            let chunks = randomChunkSizes(total: input.count, using: &generator)
            var position = 0
            feeding: for size in chunks where position < input.count {
                let end = min(input.count, position + size)
                buffer.writeBytes(input[position..<end])
                position = end
                while true {
                    let before = buffer.readerIndex
                    do throws(RESPError) {
                        guard try decoder.decode(&buffer) != nil else {
                            #expect(buffer.readerIndex == before)
                            outcomes.pending += 1
                            break
                        }
                        #expect(buffer.readerIndex > before)
                        outcomes.values += 1
                    } catch {
                        #expect(buffer.readerIndex == before)
                        outcomes.errors += 1
                        break feeding
                    }
                }
            }
        }
        // The fuzzer must actually reach all three outcomes to mean anything.
        #expect(outcomes.values > 0 && outcomes.errors > 0 && outcomes.pending > 0)
    }
}

extension RESPDecoder {
    /// Decodes with a copy of the decoder, for one-shot checks.
    func decodeCopy(_ buffer: inout ByteBuffer) throws(RESPError) -> RESPValue? {
        var copy = self
        return try copy.decode(&buffer)
    }
}
