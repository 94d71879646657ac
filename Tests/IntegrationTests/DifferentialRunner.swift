import Foundation
import NIOCore
import StrataWire
#if canImport(Glibc)
import Glibc
#endif

/// One reply as it came: the decoded value and its bytes (RESP2's null bulk
/// string and null array decode alike; their bytes do not).
struct RawReply {
    var value: RESPValue
    var bytes: [UInt8]
}

/// A blocking RESP connection for the differential test that keeps each reply's bytes.
final class DifferentialConnection {
    private let fd: Int32
    private var decoder = RESPDecoder(
        limits: RESPLimits(maxBulkLength: 512 << 20, maxElementCount: 10_000_000, maxDepth: 8, maxInlineLength: 1 << 20))
    private var buffer = ByteBuffer()

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RESPTestClient.Failure(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw RESPTestClient.Failure(description: "connect to port \(port) failed: errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Sends one command as an array of bulk strings.
    func send(_ arguments: [[UInt8]]) throws {
        var out = ByteBuffer()
        RESPEncoder.writeArrayHeader(count: arguments.count, into: &out)
        for argument in arguments { RESPEncoder.writeBulkString(argument, into: &out) }
        let bytes = Array(out.readableBytesView)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RESPTestClient.Failure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// The next reply, or `nil` once the server closed the connection.
    func read() throws -> RawReply? {
        while true {
            let start = buffer.readerIndex
            if let value = try decoder.decode(&buffer) {
                let bytes = buffer.getBytes(at: start, length: buffer.readerIndex - start) ?? []
                buffer.discardReadBytes()
                return RawReply(value: value, bytes: bytes)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return nil }
            guard n > 0 else { throw RESPTestClient.Failure(description: "recv failed (a reply missing?): errno \(errno)") }
            buffer.writeBytes(chunk[0..<n])
        }
    }
}

/// How the two replies to one command are compared.
enum ReplyComparison: CustomStringConvertible {
    /// The same value, byte for byte.
    case exact
    /// Arrays with the same elements in any order (KEYS).
    case unordered
    /// Integers within `tolerance` of each other when both are times (≥ 0); -1 and -2 exactly.
    case time(tolerance: Int64)
    /// Exactly, or as the difference documents if the target has it.
    case documented(DocumentedDifference)
    /// Keys of different shards: CROSSSHARD if the target refuses `command` so, otherwise exactly.
    case crossShard(command: String)
    /// Not compared: re-synchronizing the two servers.
    case unchecked

    var description: String {
        switch self {
        case .exact: "exact"
        case .unordered: "unordered"
        case .time(let tolerance): "time ±\(tolerance)"
        case .documented(let difference): "documented: \(difference.rawValue)"
        case .crossShard(let command): "cross-shard \(command)"
        case .unchecked: "unchecked"
        }
    }
}

/// One command of the stream, on one of the two connections of each server.
struct DifferentialCommand {
    var arguments: [[UInt8]]
    var connection = 0
    var comparison: ReplyComparison = .exact
}

/// One step of the stream.
enum DifferentialStep {
    /// A command, sent to both servers.
    case command(DifferentialCommand)
    /// A whole SCAN iteration (cursor 0 until 0 again) with these options, on each
    /// server; the keys are compared as sets, each page by shape.
    case fullScan(options: [[UInt8]])
}

/// A reply that differs, with what it takes to reproduce it.
struct DifferentialMismatch: CustomStringConvertible {
    var seed: UInt64
    var protocolVersion: Int
    var index: Int
    var command: DifferentialCommand
    var redis: String
    var strata: String
    var problem: String
    var context: [String]

    var description: String {
        """
        difference (seed \(seed), RESP\(protocolVersion), command #\(index), connection \(command.connection), \(command.comparison)): \(problem)
          command: \(describe(command.arguments))
          redis:   \(redis.prefix(1500))
          strata:  \(strata.prefix(1500))
          before it: \(context.isEmpty ? "-" : context.joined(separator: " | "))
        """
    }
}

/// What one run found.
struct DifferentialReport {
    var commandsSent = 0
    var covered: Set<String> = []
    var mismatches: [DifferentialMismatch] = []
}

/// Sends one seeded stream of `commands` commands to `redis-server` at
/// `referencePort` and to `target`, each over two connections speaking
/// RESP`protocolVersion`, and compares every reply. The stream then goes on
/// (up to `commands` more) until it generated every command of `mustCover`,
/// so a seed that happens to draw a rare command late still covers it.
/// - Returns: The differences (the run re-synchronizes after each one and
///   stops after 20) and the command specs it generated.
func runDifferential(
    against target: DifferentialTarget, referencePort: Int, protocolVersion: Int, seed: UInt64, commands: Int,
    mustCover: Set<String> = differentialCoverage
) throws -> DifferentialReport {
    let run = try DifferentialRun(target: target, referencePort: referencePort, protocolVersion: protocolVersion, seed: seed)
    try run.start()
    var generator = DifferentialGenerator(
        seed: seed, protocolVersion: protocolVersion, crossShardTag: try run.probeCrossShardTag(),
        nowSeconds: Int64(Date().timeIntervalSince1970))
    while run.report.commandsSent < commands, run.report.mismatches.count < 20 {
        for step in generator.nextScenario() { try run.execute(step) }
    }
    let streamMustCover = mustCover.subtracting(["quit"])  // run.quit() sends it last
    while !streamMustCover.isSubset(of: run.report.covered), run.report.commandsSent < 2 * commands,
        run.report.mismatches.count < 20
    {
        for step in generator.nextScenario() { try run.execute(step) }
    }
    try run.quit()
    return run.report
}

/// The state of one run: the connections, the report, the recent commands.
final class DifferentialRun {
    let target: DifferentialTarget
    let protocolVersion: Int
    let seed: UInt64
    /// Two connections to each server; index 1 interferes with index 0's transactions.
    private let redis: [DifferentialConnection]
    private let strata: [DifferentialConnection]
    var report = DifferentialReport()
    private var recent: [String] = []

    init(target: DifferentialTarget, referencePort: Int, protocolVersion: Int, seed: UInt64) throws {
        self.target = target
        self.protocolVersion = protocolVersion
        self.seed = seed
        redis = [try DifferentialConnection(port: referencePort), try DifferentialConnection(port: referencePort)]
        strata = [try DifferentialConnection(port: target.port), try DifferentialConnection(port: target.port)]
    }

    /// HELLO 3 on every connection for RESP3 (its reply compared by shape), and empty servers.
    func start() throws {
        if protocolVersion == 3 {
            for connection in 0..<2 {
                try execute(.command(DifferentialCommand(
                    arguments: [bytes("HELLO"), bytes("3")], connection: connection, comparison: .documented(.helloReply))))
            }
        }
        try execute(.command(DifferentialCommand(arguments: [bytes("FLUSHALL")])))
    }

    /// A hash tag whose keys the target places on another shard than `{t}`'s, found
    /// by asking it to rename a missing key (CROSSSHARD comes before the lookup), or
    /// `nil` when it answers every one as Redis does.
    func probeCrossShardTag() throws -> [UInt8]? {
        for candidate in (0..<64).map({ "u\($0)" }) {
            let reply = try call(strata[0], [bytes("RENAMENX"), bytes("{t}probe"), bytes("{\(candidate)}probe")])
            if reply.value.text?.hasPrefix("CROSSSHARD") == true { return bytes(candidate) }
        }
        return nil
    }

    func execute(_ step: DifferentialStep) throws {
        switch step {
        case .command(let command):
            try execute(command)
        case .fullScan(let options):
            try fullScan(options)
        }
    }

    private func execute(_ command: DifferentialCommand) throws {
        let index = report.commandsSent
        report.commandsSent += 1
        let (redisReply, strataReply) = try exchange(command.arguments, connection: command.connection)
        if case .unchecked = command.comparison {} else if let name = command.arguments.first {
            report.covered.insert(String(decoding: name, as: UTF8.self).lowercased())
        }
        if let problem = compare(redisReply, strataReply, command.comparison) {
            try record(problem, index: index, command: command, redis: render(redisReply.value), strata: render(strataReply.value))
        }
        remember(command.arguments)
    }

    /// SCAN from cursor 0 until 0 on each server: the same key set, every page a scan page.
    private func fullScan(_ options: [[UInt8]]) throws {
        let index = report.commandsSent
        report.commandsSent += 1
        report.covered.insert("scan")
        let first = [bytes("SCAN"), bytes("0")] + options
        let (redisFirst, strataFirst) = try exchange(first, connection: 0)
        let command = DifferentialCommand(arguments: first, comparison: .documented(.scanCursor))
        if redisFirst.value.isError || strataFirst.value.isError {
            if let problem = compare(redisFirst, strataFirst, .exact) {
                try record(problem, index: index, command: command, redis: render(redisFirst.value), strata: render(strataFirst.value))
            }
            return remember(first)
        }
        let redisKeys = try iterate(redis[0], from: redisFirst, options: options)
        let strataKeys = try iterate(strata[0], from: strataFirst, options: options)
        if redisKeys != strataKeys {
            let onlyRedis = redisKeys.subtracting(strataKeys).map { describe($0) }.sorted()
            let onlyStrata = strataKeys.subtracting(redisKeys).map { describe($0) }.sorted()
            try record(
                "full SCAN iterations found different keys", index: index, command: command,
                redis: "\(redisKeys.count) keys, only here: \(onlyRedis)", strata: "\(strataKeys.count) keys, only here: \(onlyStrata)")
        }
        remember(first)
    }

    /// The keys of a SCAN iteration whose first page is `first`; nil keys set when a page is malformed.
    private func iterate(_ connection: DifferentialConnection, from first: RawReply, options: [[UInt8]]) throws -> Set<[UInt8]> {
        var page = first.value
        var keys: Set<[UInt8]> = []
        for _ in 0..<100_000 {
            guard page.isScanPage, let parts = page.elements, let cursor = parts[0].text else {
                keys.insert(bytes("<malformed page: \(render(page))>"))
                return keys
            }
            for case .bulkString(let key) in parts[1].elements ?? [] { keys.insert(Array(key.readableBytesView)) }
            if cursor == "0" { return keys }
            page = try call(connection, [bytes("SCAN"), bytes(cursor)] + options).value
        }
        keys.insert(bytes("<no end after 100000 pages>"))
        return keys
    }

    /// QUIT on every connection: +OK, then the connection closes.
    func quit() throws {
        for connection in 0..<2 {
            let command = DifferentialCommand(arguments: [bytes("QUIT")], connection: connection)
            try execute(.command(command))
            let redisClosed = try redis[connection].read() == nil
            let strataClosed = try strata[connection].read() == nil
            if redisClosed != strataClosed {
                try record(
                    "QUIT closed one connection only", index: report.commandsSent - 1, command: command,
                    redis: redisClosed ? "closed" : "open", strata: strataClosed ? "closed" : "open", resync: false)
            }
        }
    }

    // MARK: Comparing

    private func compare(_ redis: RawReply, _ strata: RawReply, _ comparison: ReplyComparison) -> String? {
        switch comparison {
        case .exact:
            return exactProblem(redis, strata)
        case .unordered:
            guard let left = redis.value.elements, let right = strata.value.elements else { return exactProblem(redis, strata) }
            return left.map(render).sorted() == right.map(render).sorted() && redis.value.kind == strata.value.kind
                ? nil : "different elements"
        case .time(let tolerance):
            guard case .integer(let left) = redis.value, case .integer(let right) = strata.value, left >= 0, right >= 0 else {
                return exactProblem(redis, strata)
            }
            return abs(left - right) <= tolerance ? nil : "times further apart than \(tolerance)"
        case .documented(let difference):
            guard target.differences.contains(difference) else { return exactProblem(redis, strata) }
            return exactProblem(redis, strata) == nil || difference.accepts(redis: redis.value, strata: strata.value)
                ? nil : "not the documented difference \(difference.rawValue)"
        case .crossShard(let name):
            guard target.crossShardCommands.contains(name) else { return exactProblem(redis, strata) }
            return DocumentedDifference.crossShard.accepts(redis: redis.value, strata: strata.value) ? nil : "expected CROSSSHARD"
        case .unchecked:
            return nil
        }
    }

    private func exactProblem(_ redis: RawReply, _ strata: RawReply) -> String? {
        if case .error(let left) = redis.value, case .error(let right) = strata.value, left != right {
            // The documented difference errorText: an error quoting bytes that are not UTF-8.
            let redisText = Array(left.readableBytesView)
            guard String(validating: redisText, as: UTF8.self) == nil,
                String(decoding: redisText, as: UTF8.self) == String(decoding: right.readableBytesView, as: UTF8.self)
            else { return "different replies" }
            return nil
        }
        if redis.value != strata.value { return "different replies" }
        if redis.bytes != strata.bytes {
            return "same value, different bytes: \(describe(redis.bytes)) vs \(describe(strata.bytes))"
        }
        return nil
    }

    // MARK: Plumbing

    private func exchange(_ arguments: [[UInt8]], connection: Int) throws -> (RawReply, RawReply) {
        try redis[connection].send(arguments)
        try strata[connection].send(arguments)
        let redisReply = try redis[connection].read()
        let strataReply = try strata[connection].read()
        guard let redisReply, let strataReply else {
            throw RESPTestClient.Failure(
                description: "seed \(seed): \(redisReply == nil ? "redis" : "strata") closed the connection after \(describe(arguments))")
        }
        return (redisReply, strataReply)
    }

    private func call(_ connection: DifferentialConnection, _ arguments: [[UInt8]]) throws -> RawReply {
        try connection.send(arguments)
        guard let reply = try connection.read() else { throw RESPTestClient.Failure(description: "connection closed") }
        return reply
    }

    private func remember(_ arguments: [[UInt8]]) {
        recent.append(describe(arguments))
        if recent.count > 6 { recent.removeFirst() }
    }

    /// Records a difference, then brings both servers back to one state: no
    /// transaction, nothing watched, database 0, no keys.
    private func record(
        _ problem: String, index: Int, command: DifferentialCommand, redis redisText: String, strata strataText: String,
        resync: Bool = true
    ) throws {
        report.mismatches.append(DifferentialMismatch(
            seed: seed, protocolVersion: protocolVersion, index: index, command: command, redis: redisText,
            strata: strataText, problem: problem, context: recent))
        guard resync else { return }
        for connection in 0..<2 {
            for name in ["DISCARD", "UNWATCH"] {
                _ = try exchange([bytes(name)], connection: connection)
            }
            _ = try exchange([bytes("SELECT"), bytes("0")], connection: connection)
        }
        _ = try exchange([bytes("FLUSHALL")], connection: 0)
    }
}

// MARK: Rendering

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Bytes as a quoted string, printable ASCII as is, the rest escaped.
func describe(_ value: some Sequence<UInt8>) -> String {
    var out = "\""
    for byte in value {
        switch byte {
        case UInt8(ascii: "\""): out += "\\\""
        case UInt8(ascii: "\\"): out += "\\\\"
        case 0x0D: out += "\\r"
        case 0x0A: out += "\\n"
        case 0x20...0x7E: out.append(Character(Unicode.Scalar(byte)))
        default: out += String(format: "\\x%02x", byte)
        }
    }
    return out + "\""
}

/// A command as its arguments, quoted.
func describe(_ arguments: [[UInt8]]) -> String {
    arguments.map { describe($0) }.joined(separator: " ")
}

/// A reply, compactly.
func render(_ value: RESPValue) -> String {
    switch value {
    case .simpleString(let text): "+" + describe(text.readableBytesView)
    case .error(let text): "-" + describe(text.readableBytesView)
    case .bulkError(let text): "!" + describe(text.readableBytesView)
    case .integer(let number): ":\(number)"
    case .bulkString(let text): describe(text.readableBytesView)
    case .verbatimString(let format, let text): "=\(format):" + describe(text.readableBytesView)
    case .null: "(nil)"
    case .double(let number): ",\(number)"
    case .boolean(let flag): flag ? "#t" : "#f"
    case .bigNumber(let digits): "(" + describe(digits.readableBytesView)
    case .array(let elements): "[" + elements.map(render).joined(separator: ", ") + "]"
    case .set(let elements): "~[" + elements.map(render).joined(separator: ", ") + "]"
    case .push(let elements): ">[" + elements.map(render).joined(separator: ", ") + "]"
    case .map(let pairs): "{" + pairs.map { render($0.key) + ": " + render($0.value) }.joined(separator: ", ") + "}"
    case .attribute(let pairs, let inner): "|{" + pairs.map { render($0.key) + ": " + render($0.value) }.joined(separator: ", ") + "} " + render(inner)
    }
}

extension RESPValue {
    /// The RESP type, for comparing shapes.
    var kind: String {
        switch self {
        case .simpleString: "simple"
        case .error, .bulkError: "error"
        case .integer: "integer"
        case .bulkString: "bulk"
        case .verbatimString: "verbatim"
        case .null: "null"
        case .double: "double"
        case .boolean: "boolean"
        case .bigNumber: "big number"
        case .array: "array"
        case .set: "set"
        case .push: "push"
        case .map: "map"
        case .attribute: "attribute"
        }
    }

    /// `[cursor, [key…]]`.
    var isScanPage: Bool {
        guard case .array(let parts) = self, parts.count == 2, case .bulkString = parts[0], case .array(let keys) = parts[1] else {
            return false
        }
        return keys.allSatisfy { if case .bulkString = $0 { true } else { false } }
    }

    /// HELLO's `proto` field, as a map (RESP3) or a flat array (RESP2).
    var helloProtocol: Int64? {
        let pairs: [(RESPValue, RESPValue)]
        switch self {
        case .map(let entries): pairs = entries.map { ($0.key, $0.value) }
        case .array(let flat) where flat.count % 2 == 0:
            pairs = stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) }
        default: return nil
        }
        return pairs.first { $0.0.text == "proto" }?.1.int
    }
}
