import NIOCore

/// The commands one kind of Strata server runs, looked up by name without
/// allocating, and the typed parse from a decoded ``RESPCommand``.
///
/// Every command is defined once, in the spec lists of this folder
/// (`Specs+*.swift`); a server's table is the subset it serves. Adding a
/// command is one spec entry (name, arity, flags, keys, categories, parse)
/// plus one handler in each server that runs it.
public struct CommandTable: Sendable {
    /// The server kind this table is for.
    public let server: ServerKinds
    /// Its top-level commands, in definition order.
    public let specs: [CommandSpec]
    private let byName: [CommandNameKey: CommandSpec]

    /// Every command Strata defines, for every server.
    public static let allSpecs: [CommandSpec] =
        connectionSpecs + serverSpecs + stringSpecs + keySpecs + transactionSpecs + strataSpecs + clusterSpecs

    /// The storage node's commands.
    public static let node = CommandTable(server: .node)
    /// The cache gateway's commands.
    public static let gateway = CommandTable(server: .gateway)
    /// The coordinator's commands.
    public static let coordinator = CommandTable(server: .coordinator)

    /// The table of `server`'s commands.
    public init(server: ServerKinds) {
        self.server = server
        specs = Self.allSpecs.filter { !$0.servers.isDisjoint(with: server) }
        var byName: [CommandNameKey: CommandSpec] = [:]
        for spec in specs {
            guard let key = CommandNameKey(spec.name.utf8) else { preconditionFailure("command name too long: \(spec.name)") }
            precondition(byName.updateValue(spec, forKey: key) == nil, "command defined twice: \(spec.name)")
        }
        self.byName = byName
    }

    /// The spec of the command named `name` (any ASCII case), if this server runs it.
    /// - Complexity: O(1); no allocation.
    public func spec(named name: ByteBuffer) -> CommandSpec? {
        guard let key = name.withUnsafeReadableBytes({ CommandNameKey($0) }) else { return nil }
        return byName[key]
    }

    /// The spec named `name`, e.g. `"get"` or `"client|setname"`.
    public func spec(named name: String) -> CommandSpec? {
        let parts = name.lowercased().split(separator: "|", maxSplits: 1)
        guard let first = parts.first, let key = CommandNameKey(first.utf8), let spec = byName[key] else { return nil }
        guard parts.count == 2 else { return spec }
        return spec.subcommands.first { $0.name == name.lowercased() }
    }

    /// Looks `command` up, checks its arity (and its subcommand's) and parses
    /// it, with Redis's errors for an unknown command, an unknown subcommand,
    /// a wrong argument count and bad arguments.
    /// - Complexity: O(*n*) in the number of arguments.
    public func parse(_ command: RESPCommand) -> ParsedCommand {
        parse(command.arguments)
    }

    /// Parses a command given as its arguments, the name first.
    public func parse(_ arguments: [ByteBuffer]) -> ParsedCommand {
        guard let name = arguments.first, let spec = spec(named: name) else {
            return ParsedCommand(
                arguments: arguments, spec: nil,
                parsed: .failure(.unknownCommand(arguments.map { $0.readableBytesView })), rejectedBeforeExecution: true)
        }
        guard spec.accepts(argumentCount: arguments.count) else {
            return ParsedCommand(arguments: arguments, spec: spec, parsed: .failure(.arity(spec.name)), rejectedBeforeExecution: true)
        }
        var target = spec
        var start = 1
        if !spec.subcommands.isEmpty, arguments.count > 1 {
            guard let sub = spec.subcommand(named: arguments[1]), !sub.servers.isDisjoint(with: server) else {
                let subName = String(decoding: arguments[1].readableBytesView, as: UTF8.self)
                return ParsedCommand(
                    arguments: arguments, spec: spec, parsed: .failure(.unknownSubcommand(subName, of: spec.name)),
                    rejectedBeforeExecution: true)
            }
            guard sub.accepts(argumentCount: arguments.count) else {
                return ParsedCommand(arguments: arguments, spec: sub, parsed: .failure(.arity(sub.name)), rejectedBeforeExecution: true)
            }
            target = sub
            start = 2
        }
        var reader = CommandArguments(arguments, spec: target, start: start)
        do {
            let command = try target.parse(&reader)
            return ParsedCommand(arguments: arguments, spec: target, parsed: .success(command))
        } catch {
            return ParsedCommand(arguments: arguments, spec: target, parsed: .failure(error))
        }
    }
}

/// A command name of at most 24 bytes, lower-cased and packed into integers:
/// a dictionary key that hashes without allocating.
struct CommandNameKey: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
    private var length: UInt8 = 0

    init?(_ bytes: some Collection<UInt8>) {
        guard !bytes.isEmpty, bytes.count <= 24 else { return nil }
        var index = 0
        var packed: [UInt64] = [0, 0, 0]
        for byte in bytes {
            let lower = byte >= 65 && byte <= 90 ? byte | 0x20 : byte
            packed[index / 8] |= UInt64(lower) << (8 * UInt64(index % 8))
            index += 1
        }
        words = (packed[0], packed[1], packed[2])
        length = UInt8(index)
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, bytes.count <= 24 else { return nil }
        var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            let lower = UInt64(byte >= 65 && byte <= 90 ? byte | 0x20 : byte) << (8 * UInt64(index % 8))
            switch index / 8 {
            case 0: w0 |= lower
            case 1: w1 |= lower
            default: w2 |= lower
            }
        }
        words = (w0, w1, w2)
        length = UInt8(bytes.count)
    }

    static func == (lhs: CommandNameKey, rhs: CommandNameKey) -> Bool {
        lhs.length == rhs.length && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(length)
    }
}
