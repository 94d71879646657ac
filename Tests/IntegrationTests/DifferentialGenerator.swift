import StrataWire

/// SplitMix64: a small generator whose sequence depends on the seed alone.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The random command stream of the differential test. It never looks at a
/// reply, so a seed gives the same stream against any server.
///
/// Keys and values come from small pools so that commands collide: keys
/// sharing the hash tag `{t}` (every multi-key command uses only those),
/// other keys, and now and then random bytes; values that look like integers
/// and floats (with the overflow edges), binary values, empty ones.
/// Expiries are far away (≥ 1000 s) or already past, so timing decides
/// nothing; TTLs are compared with a tolerance.
struct DifferentialGenerator {
    var random: SeededRandom
    let protocolVersion: Int
    /// A hash tag on another shard than `{t}` (``DifferentialRun/probeCrossShardTag()``).
    let crossShardTag: [UInt8]?
    /// The wall clock when the run began, for absolute expiries.
    let nowSeconds: Int64

    init(seed: UInt64, protocolVersion: Int, crossShardTag: [UInt8]?, nowSeconds: Int64) {
        random = SeededRandom(seed: seed)
        self.protocolVersion = protocolVersion
        self.crossShardTag = crossShardTag
        self.nowSeconds = nowSeconds
    }

    // MARK: Pools

    static let taggedKeys: [[UInt8]] = [
        bytes("{t}a"), bytes("{t}b"), bytes("{t}c"), bytes("{t}n"), bytes("{t}f"), bytes("{t}") + [0],
        bytes("{t}\r\n"), bytes("{t}") + [0xFF, 0xFE], bytes("{t}héllo"), bytes("x{t}y"), bytes("{t}"),
    ]
    static let freeKeys: [[UInt8]] = [
        bytes("a"), bytes("b"), [], [0], bytes("\r\n"), [0xFF], [0x80, 0xC0, 0x00], bytes("n"), bytes("f"), bytes("*"),
        bytes("?x"), bytes("[a]"), bytes("\\"), bytes("key:1"), bytes("key:2"), bytes("héllo"), bytes("{t"), bytes("}x{"),
    ]
    static let values: [[UInt8]] = [
        [], bytes("0"), bytes("1"), bytes("-1"), bytes("42"), bytes("9223372036854775807"), bytes("-9223372036854775808"),
        bytes("9223372036854775806"), bytes("-9223372036854775807"), bytes("01"), bytes("+1"), bytes(" 1"), bytes("1 "),
        bytes("-0"), bytes("1.5"), bytes("-0.5"), bytes("1e3"), bytes("3.0e-2"), bytes("0.1"), bytes("inf"), bytes("-inf"),
        bytes("nan"), bytes("0x10"), bytes("1.7976931348623157e308"), bytes("abc"), [0], bytes("\r\n"), [0xFF, 0xFE],
        bytes("héllo"), [0x31, 0x00], bytes("5.0000000000000001"), bytes(" "), bytes("10"), bytes("-100"),
    ]
    static let integers: [[UInt8]] = [
        bytes("0"), bytes("1"), bytes("-1"), bytes("2"), bytes("100"), bytes("-100"), bytes("9223372036854775807"),
        bytes("-9223372036854775808"), bytes("9223372036854775808"), bytes("-9223372036854775809"), bytes("abc"), [],
        bytes("1.5"), bytes("01"), bytes("+1"), bytes(" 1"), bytes("-0"), bytes("4611686018427387904"),
    ]
    static let floats: [[UInt8]] = [
        bytes("0.1"), bytes("-0.1"), bytes("1.5"), bytes("-1.5"), bytes("1e3"), bytes("1e308"), bytes("-1e308"),
        bytes("1.7976931348623157e308"), bytes("1e4000"), bytes("1e5000"), bytes("-1e5000"), bytes("5e-324"),
        bytes("1e-5000"), bytes("inf"), bytes("-inf"), bytes("nan"), bytes("abc"), [], bytes(" 1"), bytes("1 "),
        bytes("0x1p3"), bytes("3"), bytes("-3"), bytes("0"), bytes("1.0000000000000000001"), bytes("-0"),
    ]
    /// Expiry amounts every expiring command refuses or reads as past: zero, negative, overflowing, not integers.
    static let badExpiries: [[UInt8]] = [
        bytes("0"), bytes("-1"), bytes("-100"), bytes("9223372036854775807"), bytes("9223372036854775"),
        bytes("9223372036854776"), bytes("-9223372036854775808"), bytes("abc"), [], bytes("1.5"), bytes("01"),
        bytes("9223372036854775808"),
    ]

    // MARK: Choices

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &random) < probability }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func int64(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &random) }
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int.random(in: 0..<choices.count, using: &random)] }

    /// A command or option name, now and then in another case (names are case-insensitive).
    mutating func name(_ text: String) -> [UInt8] {
        guard chance(0.2) else { return bytes(text) }
        return text.utf8.map { byte in
            guard chance(0.5) else { return byte }
            if byte >= 65 && byte <= 90 { return byte | 0x20 }
            if byte >= 97 && byte <= 122 { return byte & ~0x20 }
            return byte
        }
    }

    mutating func randomBytes(_ length: ClosedRange<Int>) -> [UInt8] {
        (0..<int(length)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    /// A key of one command: mostly from the pools, sometimes random bytes.
    mutating func key() -> [UInt8] {
        switch int(0...99) {
        case 0..<65: pick(Self.taggedKeys)
        case 65..<96: pick(Self.freeKeys)
        default: randomBytes(0...6)
        }
    }

    /// `count` keys sharing the tag `{t}` (repeats allowed), for multi-key commands.
    mutating func taggedKeys(_ count: Int) -> [[UInt8]] { (0..<count).map { _ in pick(Self.taggedKeys) } }

    mutating func value() -> [UInt8] {
        switch int(0...99) {
        case 0..<60: pick(Self.values)
        case 60..<85: randomBytes(0...16)
        case 85..<95: bytes(String(int64(-1_000_000...1_000_000)))
        case 95..<98: (0...255).map { UInt8($0) }
        default: randomBytes(200...400)
        }
    }

    mutating func integer() -> [UInt8] {
        chance(0.6) ? pick(Self.integers) : bytes(String(int64(-1000...1000)))
    }

    mutating func float() -> [UInt8] {
        chance(0.7) ? pick(Self.floats) : bytes(String(Double(int64(-100_000...100_000)) / Double(pick([1, 10, 100, 1000, 3]))))
    }

    /// A time from now far enough away that the order of nothing depends on when a command runs.
    mutating func relativeSeconds() -> [UInt8] { bytes(String(int64(1000...10_000_000))) }
    mutating func relativeMilliseconds() -> [UInt8] { bytes(String(int64(1_000_000...10_000_000_000))) }
    mutating func absoluteSeconds() -> [UInt8] { bytes(String(nowSeconds + int64(1000...10_000_000))) }
    mutating func absoluteMilliseconds() -> [UInt8] {
        bytes(String((nowSeconds + int64(1000...10_000_000)) * 1000 + int64(0...999)))
    }
    /// A Unix time long past (2001 at the latest), in seconds or milliseconds.
    mutating func pastTime(milliseconds: Bool) -> [UInt8] {
        bytes(String(milliseconds ? int64(1...1_000_000_000_000) : int64(1...1_000_000_000)))
    }

    // MARK: Building steps

    /// A command compared `comparison`-wise on connection 0.
    func step(_ arguments: [[UInt8]], _ comparison: ReplyComparison = .exact, connection: Int = 0) -> DifferentialStep {
        .command(DifferentialCommand(arguments: arguments, connection: connection, comparison: comparison))
    }

    /// Deletes `keys` one by one on both servers, unchecked: after a documented
    /// difference on a write the two may hold different values there.
    func resync(_ keys: [[UInt8]]) -> [DifferentialStep] {
        Set(keys).map { step([bytes("DEL"), $0], .unchecked) }
    }

    /// The reads that show a key's expiry, compared with a tolerance (or exactly when `exact`).
    mutating func expiryReads(_ key: [UInt8], exact: Bool = false) -> [DifferentialStep] {
        let names = exact ? ["EXPIRETIME", "PEXPIRETIME"] : [pick(["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"])]
        return names.map { name in
            let milliseconds = name.hasPrefix("P")
            return step([self.name(name), key], exact ? .exact : .time(tolerance: milliseconds ? 2000 : 2))
        }
    }

    // MARK: The stream

    /// The next scenario: one command, or a few that belong together.
    mutating func nextScenario() -> [DifferentialStep] {
        switch int(0...999) {
        case 0..<250: return stringWrite()
        case 250..<360: return stringRead()
        case 360..<470: return counter()
        case 470..<590: return keyspace()
        case 590..<700: return expiry()
        case 700..<760: return wholeKeyspace()
        case 760..<830: return transaction()
        case 830..<900: return errors()
        case 900..<985: return connection()
        case 985..<992: return crossShard()
        default: return flush()
        }
    }
}
