import NIOCore
import NIOTestUtils
import StrataWire
import Testing

@Suite("RESPCommandDecoder")
struct RESPCommandDecoderTests {
    /// Decodes every command in `input`, fed in the given chunk sizes (the rest at once).
    func commands(
        _ input: [UInt8],
        chunkSizes: [Int] = [],
        limits: RESPLimits = .default,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws(RESPError) -> [RESPCommand] {
        var decoder = RESPCommandDecoder(limits: limits)
        var buffer = ByteBuffer()
        var result: [RESPCommand] = []
        var position = 0
        var sizes = chunkSizes[...]
        while position < input.count {
            let size = min(sizes.popFirst() ?? input.count, input.count - position)
            buffer.writeBytes(input[position..<(position + size)])
            position += size
            while true {
                let before = buffer.readerIndex
                guard let command = try decoder.decode(&buffer) else {
                    // Only skipped empty commands may be consumed without producing one.
                    #expect(buffer.readerIndex >= before, sourceLocation: sourceLocation)
                    break
                }
                result.append(command)
            }
            buffer.discardReadBytes()
        }
        return result
    }

    func error(_ input: String, limits: RESPLimits = .default) -> RESPError? {
        var decoder = RESPCommandDecoder(limits: limits)
        var buffer = ByteBuffer(string: input)
        do throws(RESPError) {
            while try decoder.decode(&buffer) != nil {}
            return nil
        } catch {
            return error
        }
    }

    static let stream =
        "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$11\r\nhello world\r\n*0\r\n*-1\r\n"
        + "PING\r\nSET a \"hello world\"\r\n\r\n\n   \r\nGET   a\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
        + "*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\0\u{7F}\r\n"

    static let expected: [RESPCommand] = [
        RESPCommand("PING"), RESPCommand("SET", "a", "hello world"), RESPCommand("PING"),
        RESPCommand("SET", "a", "hello world"), RESPCommand("GET", "a"), RESPCommand("GET", ""),
        RESPCommand("ECHO", "\r\n\0\u{7F}"),
    ]

    @Test("many commands at once, byte by byte, and in random splits")
    func feeding() throws {
        let input = bytes(Self.stream)
        #expect(try self.commands(input) == Self.expected)
        #expect(try self.commands(input, chunkSizes: Array(repeating: 1, count: input.count)) == Self.expected)
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<50 {
            let sizes = randomChunkSizes(total: input.count, using: &generator)
            #expect(try self.commands(input, chunkSizes: sizes) == Self.expected)
        }
    }

    @Test("ByteToMessageDecoderVerifier")
    func verifier() throws {
        let pairs: [(String, [RESPCommand])] = [
            ("*1\r\n$4\r\nPING\r\n", [RESPCommand("PING")]),
            ("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n", [RESPCommand("SET", "key", "va\r\nl")]),
            ("PING\r\n", [RESPCommand("PING")]),
            ("SET a \"hello world\"\r\n", [RESPCommand("SET", "a", "hello world")]),
            ("ECHO 'it\\'s'\n", [RESPCommand("ECHO", "it's")]),
            ("\r\n", []),
            ("*0\r\n", []),
            ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nQUIT\r\n", [RESPCommand("GET", "k"), RESPCommand("QUIT")]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(stringInputOutputPairs: pairs) { RESPCommandDecoder() }
    }

    @Test("a partial command consumes nothing, at every prefix")
    func partialConsumesNothing() throws {
        for frame in ["*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n", "SET a \"b c\"\r\n"] {
            let input = bytes(frame)
            for length in 0..<input.count {
                var decoder = RESPCommandDecoder()
                var buffer = ByteBuffer(bytes: input[0..<length])
                #expect(try decoder.decode(&buffer) == nil)
                #expect(buffer.readableBytes == length, "prefix \(length) of \(frame)")
            }
        }
    }

    @Test("arguments are slices of the input")
    func zeroCopy() throws {
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nGET plain\r\n")
        let base = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = RESPCommandDecoder()
        let command = try #require(try decoder.decode(&buffer))
        #expect(command.arguments[1].withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == base + 17)
        let inline = try #require(try decoder.decode(&buffer))
        #expect(inline.arguments[1].withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == base + 26)
    }

    @Test(
        "inline commands split like sdssplitargs",
        arguments: [
            ("SET a \"hello world\"\r\n", ["SET", "a", "hello world"]),
            ("PING\n", ["PING"]),
            ("  GET\t k  \r\n", ["GET", "k"]),
            ("SET k \"a\\x41\\n\\r\\t\\\"q\\\\\"\r\n", ["SET", "k", "aA\n\r\t\"q\\"]),
            ("SET k 'it\\'s \"raw\" \\n'\r\n", ["SET", "k", "it's \"raw\" \\n"]),
            ("ECHO \"\"\r\n", ["ECHO", ""]),
            ("ECHO pre\"fix suffix\"\r\n", ["ECHO", "prefix suffix"]),
            ("ECHO \"\\xZZ\"\r\n", ["ECHO", "xZZ"]),
            ("ECHO \"a\"\tb\r\n", ["ECHO", "a", "b"]),
        ]
    )
    func inlineSplitting(_ input: String, _ expected: [String]) throws {
        #expect(try self.commands(bytes(input)) == [RESPCommand(arguments: expected.map { ByteBuffer(string: $0) })])
    }

    @Test("empty lines, empty arrays and negative counts are skipped")
    func emptyLines() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: "\r\n\n  \t \r\n*0\r\n*-1\r\n*-10\r\n")
        #expect(try decoder.decode(&buffer) == nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test("inline lines longer than maxInlineLength are refused without waiting for LF")
    func inlineTooLong() throws {
        let limits = RESPLimits(maxInlineLength: 64)
        #expect(self.error("GET " + String(repeating: "k", count: 61), limits: limits)?.code == .inlineTooLong)
        #expect(self.error("GET " + String(repeating: "k", count: 61) + "\r\n", limits: limits)?.code == .inlineTooLong)
        #expect(try self.commands(bytes("GET " + String(repeating: "k", count: 60) + "\r\n"), limits: limits).count == 1)
        // A line of exactly maxInlineLength bytes may still be waiting for its CR LF.
        var decoder = RESPCommandDecoder(limits: limits)
        var buffer = ByteBuffer(string: "GET " + String(repeating: "k", count: 60) + "\r")
        #expect(try decoder.decode(&buffer) == nil)
        buffer.writeString("\n")
        #expect(try decoder.decode(&buffer) == RESPCommand("GET", String(repeating: "k", count: 60)))
        // The default limit: 64 KiB.
        let huge = self.error(String(repeating: "x", count: 64 * 1024 + 3))
        #expect(huge?.code == .inlineTooLong)
        #expect(huge?.redisErrorMessage == "ERR Protocol error: too big inline request")
    }

    @Test(
        "malformed commands and broken limits throw the right code",
        arguments: [
            ("*2147483648\r\n", RESPError.Code.tooManyElements, "invalid multibulk length"),
            ("*1048577\r\n", .tooManyElements, "invalid multibulk length"),
            ("*99999999999999999999\r\n", .invalidLength, "invalid multibulk length"),
            ("*-99999999999999999999\r\n", .invalidLength, "invalid multibulk length"),
            ("*x\r\n", .invalidLength, "invalid multibulk length"),
            ("*1\r\n$9223372036854775807\r\n", .bulkTooLong, "invalid bulk length"),
            ("*1\r\n$67108865\r\n", .bulkTooLong, "invalid bulk length"),
            ("*1\r\n$99999999999999999999\r\n", .invalidLength, "invalid bulk length"),
            ("*1\r\n$-1\r\n", .invalidLength, "invalid bulk length"),
            ("*1\r\n$-2\r\n", .invalidLength, "invalid bulk length"),
            ("*1\r\n$abc\r\n", .invalidLength, "invalid bulk length"),
            ("*1\r\n:1\r\n", .invalidType, "expected '$', got ':'"),
            ("*2\r\n$1\r\na\r\nx", .invalidType, "expected '$', got 'x'"),
            ("*1\r\n$1\r\nab\r\n", .malformed, "expected CRLF after bulk payload"),
            ("SET a \"unterminated\r\n", .unbalancedQuotes, "unbalanced quotes in request"),
            ("SET a \"closed\"x\r\n", .unbalancedQuotes, "unbalanced quotes in request"),
            ("SET a 'x\r\n", .unbalancedQuotes, "unbalanced quotes in request"),
        ]
    )
    func malformed(_ input: String, _ code: RESPError.Code, _ message: String) {
        let error = self.error(input)
        #expect(error?.code == code)
        #expect(error?.redisErrorMessage == "ERR Protocol error: " + message)
    }

    @Test("a huge declared argument count with 3 bytes of data is cheap and pending")
    func hugeCountLittleData() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: "*1000000\r\n$1\r\na\r\n")
        #expect(try decoder.decode(&buffer) == nil)
        #expect(buffer.readableBytes == 17)
        var unlimited = RESPCommandDecoder(limits: RESPLimits(maxElementCount: .max))
        var claim = ByteBuffer(string: "*1000000000000\r\n$1\r\na\r\n")
        #expect(try unlimited.decode(&claim) == nil)
        #expect(claim.readableBytes == 23)
    }

    @Test("unauthenticated limits: 10 arguments and 16 KiB, then the normal limits")
    func limitsSwitch() throws {
        func multibulk(_ arguments: [String]) -> ByteBuffer {
            RESPValue.array(arguments.map { .bulk($0) }).encoded()
        }
        var decoder = RESPCommandDecoder(limits: .unauthenticated)

        var ten = multibulk(["MSET"] + Array(repeating: "x", count: 9))
        #expect(try decoder.decode(&ten)?.arguments.count == 10)

        var eleven = multibulk(["MSET"] + Array(repeating: "x", count: 10))
        #expect(throws: RESPError.self) { try decoder.decode(&eleven) }
        #expect(eleven.readableBytes > 0)

        var inlineEleven = ByteBuffer(string: "MSET" + String(repeating: " x", count: 10) + "\r\n")
        let inlineError = #expect(throws: RESPError.self) { try decoder.decode(&inlineEleven) }
        #expect(inlineError?.code == .tooManyElements)

        let bulk16K = String(repeating: "v", count: 16 * 1024)
        var fits = multibulk(["AUTH", bulk16K])
        #expect(try decoder.decode(&fits)?.arguments[1].readableBytes == 16 * 1024)
        var tooBig = multibulk(["AUTH", bulk16K + "v"])
        let bulkError = #expect(throws: RESPError.self) { try decoder.decode(&tooBig) }
        #expect(bulkError?.code == .bulkTooLong)

        // After AUTH the server switches the same decoder to the normal limits.
        decoder.limits = .default
        eleven.moveReaderIndex(to: 0)
        #expect(try decoder.decode(&eleven)?.arguments.count == 11)
        tooBig.moveReaderIndex(to: 0)
        #expect(try decoder.decode(&tooBig)?.arguments[1].readableBytes == 16 * 1024 + 1)
    }

    @Test("limits shrinking while a command is arriving are enforced")
    func limitsShrinkMidCommand() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: "*20\r\n" + String(repeating: "$1\r\nx\r\n", count: 5))
        #expect(try decoder.decode(&buffer) == nil)
        decoder.limits = .unauthenticated
        #expect(throws: RESPError.self) { try decoder.decode(&buffer) }
    }

    @Test("command names compare without regard to ASCII case")
    func commandNames() {
        #expect(RESPCommand("get", "k").isNamed("GET"))
        #expect(RESPCommand("GeT").isNamed("get"))
        #expect(!RESPCommand("GETSET").isNamed("GET"))
        #expect(!RESPCommand(arguments: []).isNamed("GET"))
        #expect(RESPCommand("PING").respValue == .command("PING"))
    }

    @Test("random garbage never crashes", arguments: 0..<3)
    func garbageFuzz(seed: Int) {
        var generator = SeededGenerator(seed: 0xBEEF + UInt64(seed))
        let alphabet = bytes("*$\r\n0123456789- \"'\\xabSETGET")
        var outcomes = (commands: 0, errors: 0, pending: 0)
        for _ in 0..<1000 {
            var input: [UInt8]
            if Bool.random(using: &generator) {
                input = (0..<Int.random(in: 1...48, using: &generator)).map { _ in
                    Int.random(in: 0..<4, using: &generator) > 0
                        ? alphabet.randomElement(using: &generator)!
                        : UInt8.random(in: 0...255, using: &generator)
                }
            } else {
                let arguments = (0..<Int.random(in: 1...4, using: &generator)).map { _ in "arg\(Int.random(in: 0...99, using: &generator))" }
                input = Array(RESPValue.array(arguments.map { .bulk($0) }).encoded().readableBytesView)
                input[Int.random(in: 0..<input.count, using: &generator)] = alphabet.randomElement(using: &generator)!
            }
            var decoder = RESPCommandDecoder(limits: RESPLimits(maxBulkLength: 100, maxElementCount: 8, maxInlineLength: 40))
            var buffer = ByteBuffer()
            var position = 0
            feeding: for size in randomChunkSizes(total: input.count, using: &generator) where position < input.count {
                let end = min(input.count, position + size)
                buffer.writeBytes(input[position..<end])
                position = end
                while true {
                    let before = buffer.readerIndex
                    do throws(RESPError) {
                        guard try decoder.decode(&buffer) != nil else {
                            outcomes.pending += 1
                            break
                        }
                        #expect(buffer.readerIndex > before)
                        outcomes.commands += 1
                    } catch {
                        outcomes.errors += 1
                        break feeding
                    }
                }
            }
        }
        #expect(outcomes.commands > 0 && outcomes.errors > 0 && outcomes.pending > 0)
    }
}

@Suite("RESPCommandDecoder.nextGet")
struct NextGetTests {
    @Test("finds the key of a whole GET, in any case, without consuming")
    func matches() {
        let decoder = RESPCommandDecoder()
        for name in ["GET", "get", "gEt"] {
            let buffer = ByteBuffer(string: "*2\r\n$3\r\n\(name)\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n")
            let match = decoder.nextGet(in: buffer)
            #expect(match?.consumed == 24)
            if let match {
                #expect(buffer.getString(at: buffer.readerIndex + match.key.lowerBound, length: match.key.count) == "hello")
            }
            #expect(buffer.readerIndex == 0)
        }
        #expect(decoder.nextGet(in: ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"))?.key.count == 0)
    }

    @Test("declines anything else: other commands, partial frames, odd lengths, oversize keys")
    func declines() {
        let decoder = RESPCommandDecoder()
        let whole = "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n"
        let bytes = Array(whole.utf8)
        for prefixLength in 0..<bytes.count {
            #expect(decoder.nextGet(in: ByteBuffer(bytes: bytes[..<prefixLength])) == nil)
        }
        for input in [
            "*2\r\n$3\r\nSET\r\n$5\r\nhello\r\n",
            "*3\r\n$3\r\nGET\r\n$5\r\nhello\r\n$1\r\nx\r\n",
            "*2\r\n$3\r\nGET\r\n$05\r\nhello\r\n",
            "*2\r\n$3\r\nGET\r\n$-1\r\n",
            "*2\r\n$3\r\nGET\r\n$5\r\nhelloXX",
            "*2\r\n$3\r\nGET\r\n$4097\r\n" + String(repeating: "k", count: 4097) + "\r\n",
            "GET hello\r\n",
        ] {
            #expect(decoder.nextGet(in: ByteBuffer(string: input)) == nil, "\(input.prefix(40))")
        }
        // The limits bound the key too.
        let strict = RESPCommandDecoder(limits: RESPLimits(maxBulkLength: 4))
        #expect(strict.nextGet(in: ByteBuffer(string: whole)) == nil)
    }

    @Test("declines while a command is partly decoded")
    func pending() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$5\r\nhel")
        #expect(try decoder.decode(&buffer) == nil)
        buffer.writeString("lo\r\n")
        // The decoder remembers offsets of the unfinished command: the fast path must leave it alone.
        #expect(decoder.nextGet(in: buffer) == nil)
        #expect(try decoder.decode(&buffer) == RESPCommand("GET", "hello"))
        #expect(decoder.nextGet(in: ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")) != nil)
    }

    @Test("agrees with decode on random streams of GETs and other commands")
    func agreesWithDecode() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var stream = ByteBuffer()
            for _ in 0..<Int.random(in: 1...20, using: &generator) {
                let key = String(repeating: "k", count: Int.random(in: 0...40, using: &generator))
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: stream.writeString("*2\r\n$3\r\nget\r\n$\(key.count)\r\n\(key)\r\n")
                case 1: stream.writeString("*3\r\n$3\r\nSET\r\n$\(key.count)\r\n\(key)\r\n$1\r\nv\r\n")
                default: stream.writeString("PING\r\n")
                }
            }
            var decoder = RESPCommandDecoder()
            var mirror = stream
            while stream.readableBytes > 0 {
                let match = decoder.nextGet(in: stream)
                let command = try #require(try decoder.decode(&mirror))
                if let match {
                    #expect(command.isNamed("GET") && command.arguments.count == 2)
                    #expect(
                        stream.getSlice(at: stream.readerIndex + match.key.lowerBound, length: match.key.count)
                            == command.arguments[1])
                    #expect(mirror.readerIndex - stream.readerIndex == match.consumed)
                } else {
                    #expect(!(command.isNamed("GET") && command.arguments.count == 2))
                }
                stream.moveReaderIndex(to: mirror.readerIndex)
            }
        }
    }
}

@Suite("RESPInputBuffer")
struct RESPInputBufferTests {
    @Test("gathers reads, stops reading past the high-water mark once, starts again when consumed below it")
    func flowControl() {
        var input = RESPInputBuffer(highWater: 10)
        var chunk = ByteBuffer(string: "abcdef")
        var stop = input.append(&chunk)
        #expect(!stop)
        chunk = ByteBuffer(string: "ghijkl")
        stop = input.append(&chunk)
        #expect(stop, "12 bytes wait: stop reading")
        chunk = ByteBuffer(string: "m")
        stop = input.append(&chunk)
        #expect(!stop, "already stopped")
        #expect(input.bytes.map { String(buffer: $0) } == "abcdefghijklm")
        var rest = input.bytes!
        rest.moveReaderIndex(forwardBy: 2)
        var resume = input.keep(rest)
        #expect(!resume, "11 bytes still wait")
        #expect(input.readingPaused)
        rest.moveReaderIndex(forwardBy: 5)
        resume = input.keep(rest)
        #expect(resume, "6 bytes wait: read again")
        #expect(!input.readingPaused)
        rest.moveReaderIndex(forwardBy: 6)
        resume = input.keep(rest)
        #expect(!resume)
        #expect(input.bytes == nil, "nothing left: no buffer held")
        chunk = ByteBuffer(string: "n")
        _ = input.append(&chunk)
        input.clear()
        #expect(input.bytes == nil)
    }
}
