import NIOCore
import StrataWire
import Testing

@Suite("Encoding")
struct RESPEncodingTests {
    /// One value of every type, with edge cases, and nested aggregates.
    static let everyType: [RESPValue] = [
        .simple("OK"),
        .simple(""),
        .errorMessage("ERR unknown command 'FOO'"),
        .integer(0),
        .integer(-1),
        .integer(.max),
        .integer(.min),
        .bulk(""),
        .bulk("hello"),
        .bulk([0, 13, 10, 255, 36, 42]),
        .null,
        .array([]),
        .array([.integer(1), .bulk("two"), .null, .array([.simple("deep")])]),
        .double(1.5),
        .double(-0.25),
        .double(1e300),
        .double(.leastNonzeroMagnitude),
        .double(.infinity),
        .double(-.infinity),
        .double(.nan),
        .boolean(true),
        .boolean(false),
        .bigNumber(ByteBuffer(string: "3492890328409238509324850943850943825024385")),
        .bigNumber(ByteBuffer(string: "-3492890328409238509324850943850943825024385")),
        .bulkError(ByteBuffer(string: "SYNTAX invalid syntax\r\nsecond line")),
        .verbatim("Some string"),
        .verbatimString(.markdown, ByteBuffer(string: "")),
        .map([(.simple("first"), .integer(1)), (.bulk("second"), .array([.boolean(true)]))]),
        .map([RESPPair]()),
        .set([.bulk("a"), .integer(2), .double(3.5)]),
        .set([]),
        .push([.bulk("message"), .bulk("channel"), .bulk("payload")]),
        .attribute(
            [RESPPair(key: .simple("key-popularity"), value: .map([(.bulk("a"), .double(0.1923))]))],
            .array([.integer(2039123), .integer(9543892)])
        ),
        .array([.attribute([RESPPair(key: .simple("ttl"), value: .integer(3600))], .bulk("v")), .integer(7)]),
        .attribute([], .null),
    ]

    @Test("every RESP3 type round-trips", arguments: everyType)
    func roundTripRESP3(_ value: RESPValue) throws {
        var buffer = value.encoded(version: .resp3)
        var decoder = RESPDecoder()
        let decoded = try decoder.decode(&buffer)
        #expect(decoded == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test("random value trees round-trip", arguments: 0..<4)
    func randomTreesRoundTrip(seed: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seed))
        for _ in 0..<300 {
            let value = randomValue(using: &generator)
            var buffer = value.encoded(version: .resp3)
            var decoder = RESPDecoder()
            #expect(try decoder.decode(&buffer) == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test(
        "RESP3 wire bytes",
        arguments: [
            (RESPValue.simple("OK"), "+OK\r\n"),
            (.errorMessage("ERR x"), "-ERR x\r\n"),
            (.integer(-42), ":-42\r\n"),
            (.integer(.min), ":-9223372036854775808\r\n"),
            (.bulk("hello"), "$5\r\nhello\r\n"),
            (.bulk(""), "$0\r\n\r\n"),
            (.null, "_\r\n"),
            (.array([]), "*0\r\n"),
            (.double(1.5), ",1.5\r\n"),
            (.double(.infinity), ",inf\r\n"),
            (.double(-.infinity), ",-inf\r\n"),
            (.double(.nan), ",nan\r\n"),
            (.boolean(true), "#t\r\n"),
            (.boolean(false), "#f\r\n"),
            (.bigNumber(ByteBuffer(string: "12345678901234567890")), "(12345678901234567890\r\n"),
            (.bulkError(ByteBuffer(string: "SYNTAX bad")), "!10\r\nSYNTAX bad\r\n"),
            (.verbatim("Some string"), "=15\r\ntxt:Some string\r\n"),
            (.map([(.simple("a"), .integer(1))]), "%1\r\n+a\r\n:1\r\n"),
            (.set([.integer(1)]), "~1\r\n:1\r\n"),
            (.push([.bulk("m")]), ">1\r\n$1\r\nm\r\n"),
            (.attribute([RESPPair(key: .simple("k"), value: .integer(1))], .integer(2)), "|1\r\n+k\r\n:1\r\n:2\r\n"),
        ]
    )
    func resp3Bytes(_ value: RESPValue, _ expected: String) {
        #expect(value.encoded(version: .resp3) == ByteBuffer(string: expected))
    }

    @Test(
        "RESP2 degrades RESP3 types like Redis",
        arguments: [
            (RESPValue.map([(.bulk("a"), .integer(1)), (.bulk("b"), .null)]), "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$-1\r\n"),
            (.set([.integer(1), .integer(2)]), "*2\r\n:1\r\n:2\r\n"),
            (.push([.bulk("message"), .bulk("c")]), "*2\r\n$7\r\nmessage\r\n$1\r\nc\r\n"),
            (.null, "$-1\r\n"),
            (.boolean(true), ":1\r\n"),
            (.boolean(false), ":0\r\n"),
            (.double(1.5), "$3\r\n1.5\r\n"),
            (.double(.infinity), "$3\r\ninf\r\n"),
            (.double(-.infinity), "$4\r\n-inf\r\n"),
            (.double(.nan), "$3\r\nnan\r\n"),
            (.bigNumber(ByteBuffer(string: "-12345678901234567890")), "$21\r\n-12345678901234567890\r\n"),
            (.verbatim("Some string"), "$11\r\nSome string\r\n"),
            (.bulkError(ByteBuffer(string: "SYNTAX bad\r\nthing")), "-SYNTAX bad  thing\r\n"),
            (.attribute([RESPPair(key: .simple("k"), value: .integer(1))], .integer(2)), ":2\r\n"),
            (.array([.map([(.simple("x"), .boolean(false))]), .set([])]), "*2\r\n*2\r\n+x\r\n:0\r\n*0\r\n"),
            (.simple("OK"), "+OK\r\n"),
            (.bulk("v"), "$1\r\nv\r\n"),
        ]
    )
    func resp2Degradation(_ value: RESPValue, _ expected: String) {
        let encoded = value.encoded(version: .resp2)
        #expect(encoded == ByteBuffer(string: expected), "got \(encoded.debugText)")
    }

    @Test("RESP2 encoding decodes to the RESP2 shapes")
    func resp2DecodesBack() throws {
        var buffer = RESPValue.map([(.bulk("a"), .boolean(true))]).encoded(version: .resp2)
        var decoder = RESPDecoder()
        #expect(try decoder.decode(&buffer) == .array([.bulk("a"), .integer(1)]))
    }

    @Test("simple strings and errors cannot inject frames")
    func simpleLinesAreSanitised() {
        #expect(RESPValue.simple("a\r\n+OK").encoded() == ByteBuffer(string: "+a  +OK\r\n"))
        #expect(RESPValue.errorMessage("ERR x\ny").encoded() == ByteBuffer(string: "-ERR x y\r\n"))
        var buffer = ByteBuffer()
        RESPEncoder.writeError("ERR bad\r\n", into: &buffer)
        #expect(buffer == ByteBuffer(string: "-ERR bad  \r\n"))
    }

    @Test("hot-path writers")
    func hotPathWriters() {
        var buffer = ByteBuffer()
        RESPEncoder.writeSimpleString("OK", into: &buffer)
        RESPEncoder.writeOK(into: &buffer)
        RESPEncoder.writeError("ERR no", into: &buffer)
        RESPEncoder.writeInteger(0, into: &buffer)
        RESPEncoder.writeInteger(-9_223_372_036_854_775_808, into: &buffer)
        RESPEncoder.writeInteger(1_234_567_890, into: &buffer)
        RESPEncoder.writeBulkString([104, 105], into: &buffer)
        RESPEncoder.writeBulkString(ByteBuffer(string: "buf"), into: &buffer)
        RESPEncoder.writeBulkString("", into: &buffer)
        [UInt8]([0, 1]).withUnsafeBytes { RESPEncoder.writeBulkString($0, into: &buffer) }
        RESPEncoder.writeNull(version: .resp3, into: &buffer)
        RESPEncoder.writeNull(version: .resp2, into: &buffer)
        RESPEncoder.writeArrayHeader(count: 3, into: &buffer)
        RESPEncoder.writeMapHeader(count: 2, version: .resp3, into: &buffer)
        RESPEncoder.writeMapHeader(count: 2, version: .resp2, into: &buffer)
        RESPEncoder.writeSetHeader(count: 1, version: .resp3, into: &buffer)
        RESPEncoder.writeSetHeader(count: 1, version: .resp2, into: &buffer)
        RESPEncoder.writeBoolean(true, version: .resp3, into: &buffer)
        RESPEncoder.writeBoolean(true, version: .resp2, into: &buffer)
        RESPEncoder.writeDouble(0.5, version: .resp3, into: &buffer)
        RESPEncoder.writeDouble(0.5, version: .resp2, into: &buffer)
        let expected =
            "+OK\r\n+OK\r\n-ERR no\r\n:0\r\n:-9223372036854775808\r\n:1234567890\r\n$2\r\nhi\r\n$3\r\nbuf\r\n$0\r\n\r\n"
            + "$2\r\n\u{0}\u{1}\r\n_\r\n$-1\r\n*3\r\n%2\r\n*4\r\n~1\r\n*1\r\n#t\r\n:1\r\n,0.5\r\n$3\r\n0.5\r\n"
        #expect(buffer == ByteBuffer(string: expected), "got \(buffer.debugText)")
    }

    @Test("integers of every width encode like String(describing:)")
    func integerDigits() {
        var generator = SeededGenerator(seed: 7)
        var values: [Int64] = [0, 9, 10, 99, 100, -9, -10, .max, .min, .max - 1, .min + 1]
        for _ in 0..<500 {
            let shift = Int64.random(in: 0...62, using: &generator)
            values.append(Int64.random(in: -(1 << shift)...(1 << shift), using: &generator))
        }
        for value in values {
            var buffer = ByteBuffer()
            RESPEncoder.writeInteger(value, into: &buffer)
            #expect(buffer == ByteBuffer(string: ":\(value)\r\n"))
        }
    }

    @Test("NaN equals NaN, other values compare structurally")
    func equality() {
        #expect(RESPValue.double(.nan) == .double(.nan))
        #expect(RESPValue.double(1) != .double(.nan))
        #expect(RESPValue.bulk("a") != .simple("a"))
        #expect(RESPValue.array([.null]) != .set([.null]))
        #expect(RESPValue.verbatimString(.text, ByteBuffer(string: "x")) != .verbatimString(.markdown, ByteBuffer(string: "x")))
        #expect(RESPVerbatimFormat("txt") == .text)
        #expect(RESPVerbatimFormat("toolong") == nil)
        #expect(RESPValue.command("GET", "k") == .array([.bulk("GET"), .bulk("k")]))
    }
}
