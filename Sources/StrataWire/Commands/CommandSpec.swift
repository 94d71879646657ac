import NIOCore

/// What a command is, as `COMMAND INFO` and the servers see it: its name,
/// arity, flags, keys, ACL categories and which servers run it. The command
/// table (``CommandTable``) holds one spec per command, and everything about a
/// command that is not its execution comes from it: the arity check, the
/// typed parse, where the node runs it, `COMMAND`, `COMMAND DOCS`, the ACL
/// categories, how the gateway routes it.
public final class CommandSpec: Sendable {
    /// The lower-case name, e.g. `get`; a subcommand's is `container|sub`, e.g. `client|setname`.
    public let name: String
    /// Redis's arity: `n > 0` means exactly `n` arguments (the name included),
    /// `-n` at least `n`.
    public let arity: Int
    /// How the command behaves (write, read-only, where it may run, …).
    public let flags: CommandFlags
    /// Where its keys are among the arguments.
    public let keys: KeySpec
    /// Its ACL categories (`@read`, `@write`, `@dangerous`, …).
    public let categories: ACLCategories
    /// The group `COMMAND DOCS` reports (`string`, `generic`, …).
    public let group: CommandGroup
    /// One line for `COMMAND DOCS` and the README.
    public let summary: String
    /// The arguments as `COMMAND DOCS` and the README show them, e.g. `key value [NX | XX]`.
    public let syntax: String
    /// The servers that run it.
    public let servers: ServerKinds
    /// Its subcommands (a container such as `CLIENT`), in table order.
    public let subcommands: [CommandSpec]
    /// Turns the arguments (the name already checked) into the typed command.
    let parse: @Sendable (inout CommandArguments) throws(CommandError) -> Command

    /// A spec.
    /// - Parameters:
    ///   - name: The lower-case name (`container|sub` for a subcommand).
    ///   - arity: Redis's arity (exact if positive, minimum if negative).
    ///   - flags: Behaviour flags.
    ///   - keys: Key positions.
    ///   - categories: ACL categories.
    ///   - group: The documentation group.
    ///   - servers: The servers that run it.
    ///   - syntax: The arguments, for documentation.
    ///   - summary: One line of documentation.
    ///   - subcommands: The subcommands of a container command.
    ///   - parse: The typed parse (containers parse through their subcommands and pass `nil`).
    init(
        _ name: String, arity: Int, flags: CommandFlags, keys: KeySpec = .none, categories: ACLCategories,
        group: CommandGroup, servers: ServerKinds, syntax: String = "", summary: String,
        subcommands: [CommandSpec] = [],
        parse: (@Sendable (inout CommandArguments) throws(CommandError) -> Command)? = nil
    ) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.keys = keys
        self.categories = categories
        self.group = group
        self.servers = servers
        self.syntax = syntax
        self.summary = summary
        self.subcommands = subcommands
        if let parse {
            self.parse = parse
        } else {
            self.parse = Self.refuseMissingSubcommand
        }
    }

    /// The parse of a container called without a subcommand it knows.
    private static func refuseMissingSubcommand(_ arguments: inout CommandArguments) throws(CommandError) -> Command {
        throw CommandError.unknownSubcommand(arguments.subcommandName, of: arguments.spec.name)
    }

    /// Whether `count` arguments (the name included) satisfy the arity.
    public func accepts(argumentCount count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    /// The name as Redis writes it in errors and `COMMAND INFO` (`client|setname`).
    public var fullName: String { name }

    /// The subcommand named by `argument`, compared ignoring ASCII case.
    public func subcommand(named argument: ByteBuffer) -> CommandSpec? {
        let container = name
        return subcommands.first { spec in
            argument.readableBytesView.elementsEqualIgnoringASCIICase(spec.name.utf8.dropFirst(container.utf8.count + 1))
        }
    }

    /// The keys among `arguments` (the name first), per ``keys``.
    /// - Complexity: O(*n*) in the number of arguments.
    public func keyArguments(_ arguments: [ByteBuffer]) -> [ByteBuffer] {
        keys.positions(count: arguments.count).map { arguments[$0] }
    }
}

/// How a command behaves; the names are Redis's `COMMAND INFO` flags where Redis has one.
public struct CommandFlags: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: UInt32
    /// Flags from raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Changes data (`write`): the node runs it on its writer thread.
    public static let write = CommandFlags(rawValue: 1 << 0)
    /// Only reads data (`readonly`).
    public static let readOnly = CommandFlags(rawValue: 1 << 1)
    /// May grow memory (`denyoom`).
    public static let denyOOM = CommandFlags(rawValue: 1 << 2)
    /// Administrative (`admin`).
    public static let admin = CommandFlags(rawValue: 1 << 3)
    /// Allowed before AUTH (`no_auth`).
    public static let noAuth = CommandFlags(rawValue: 1 << 4)
    /// O(1) or O(log n) (`fast`).
    public static let fast = CommandFlags(rawValue: 1 << 5)
    /// Allowed while loading (`loading`).
    public static let loading = CommandFlags(rawValue: 1 << 6)
    /// Allowed on a stale replica (`stale`).
    public static let stale = CommandFlags(rawValue: 1 << 7)
    /// Not allowed in scripts (`noscript`).
    public static let noScript = CommandFlags(rawValue: 1 << 8)
    /// Not queued by MULTI: runs at once even inside a transaction (`no_multi` is
    /// Redis's flag for refusing; Strata uses it for commands that act on the
    /// transaction itself or the connection).
    public static let noMulti = CommandFlags(rawValue: 1 << 9)
    /// Strata: answers from memory alone, so the node may run it on the event
    /// loop (a read that finds it needs the disk moves to the storage pool).
    public static let eventLoop = CommandFlags(rawValue: 1 << 10)
    /// Strata: only for other nodes of the cluster (`AUTH @internal`).
    public static let `internal` = CommandFlags(rawValue: 1 << 11)
    /// Random output (`random`): the differential test compares its shape only.
    public static let random = CommandFlags(rawValue: 1 << 12)
    /// Allowed inside an `@internal` connection as well as a tenant's.
    public static let internalToo = CommandFlags(rawValue: 1 << 13)

    /// The Redis flag names, in `COMMAND INFO` order.
    public var names: [String] {
        let table: [(CommandFlags, String)] = [
            (.write, "write"), (.readOnly, "readonly"), (.denyOOM, "denyoom"), (.admin, "admin"),
            (.noScript, "noscript"), (.random, "random"), (.loading, "loading"), (.stale, "stale"),
            (.noAuth, "no_auth"), (.fast, "fast"), (.noMulti, "no_multi"),
        ]
        return table.filter { contains($0.0) }.map(\.1)
    }
}

/// Where a command's keys are: Redis's legacy `(first, last, step)` triple.
public struct KeySpec: Sendable, Hashable {
    /// The first key's position (0: no keys).
    public let first: Int
    /// The last key's position; negative counts from the end (-1: the last argument).
    public let last: Int
    /// The distance between keys (2 for `MSET key value key value`).
    public let step: Int

    /// A key spec.
    public init(first: Int, last: Int, step: Int) {
        self.first = first
        self.last = last
        self.step = step
    }

    /// No keys.
    public static let none = KeySpec(first: 0, last: 0, step: 0)
    /// One key, the first argument.
    public static let single = KeySpec(first: 1, last: 1, step: 1)
    /// Every argument is a key.
    public static let all = KeySpec(first: 1, last: -1, step: 1)
    /// Two keys, the first two arguments (`RENAME`, `COPY`).
    public static let pair = KeySpec(first: 1, last: 2, step: 1)
    /// Every other argument from the first (`MSET key value …`).
    public static let pairs = KeySpec(first: 1, last: -1, step: 2)

    /// The key positions for a command of `count` arguments.
    public func positions(count: Int) -> StrideTo<Int> {
        guard first > 0, first < count else { return stride(from: 0, to: 0, by: 1) }
        let lastIndex = last < 0 ? count + last : min(last, count - 1)
        return stride(from: first, to: lastIndex + 1, by: max(step, 1))
    }
}

/// Redis's ACL categories, plus Strata's own.
public struct ACLCategories: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: UInt32
    /// Categories from raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `@keyspace`: acts on keys whatever their type.
    public static let keyspace = ACLCategories(rawValue: 1 << 0)
    /// `@read`.
    public static let read = ACLCategories(rawValue: 1 << 1)
    /// `@write`.
    public static let write = ACLCategories(rawValue: 1 << 2)
    /// `@string`.
    public static let string = ACLCategories(rawValue: 1 << 3)
    /// `@fast`.
    public static let fast = ACLCategories(rawValue: 1 << 4)
    /// `@slow`.
    public static let slow = ACLCategories(rawValue: 1 << 5)
    /// `@admin`.
    public static let admin = ACLCategories(rawValue: 1 << 6)
    /// `@dangerous`: may be slow over many keys or destroy data (FLUSHDB, KEYS, …).
    public static let dangerous = ACLCategories(rawValue: 1 << 7)
    /// `@connection`.
    public static let connection = ACLCategories(rawValue: 1 << 8)
    /// `@transaction`.
    public static let transaction = ACLCategories(rawValue: 1 << 9)
    /// `@cluster` (Strata): the coordinator's commands.
    public static let cluster = ACLCategories(rawValue: 1 << 10)
    /// `@replication` (Strata): node-to-node commands.
    public static let replication = ACLCategories(rawValue: 1 << 11)

    /// Every category with its name, in a fixed order.
    public static let named: [(ACLCategories, String)] = [
        (.keyspace, "keyspace"), (.read, "read"), (.write, "write"), (.string, "string"), (.fast, "fast"),
        (.slow, "slow"), (.admin, "admin"), (.dangerous, "dangerous"), (.connection, "connection"),
        (.transaction, "transaction"), (.cluster, "cluster"), (.replication, "replication"),
    ]

    /// The names with their `@`, as `COMMAND INFO` writes them.
    public var names: [String] { Self.named.filter { contains($0.0) }.map { "@" + $0.1 } }
}

/// The group a command is documented under (Redis's `COMMAND DOCS` groups).
public enum CommandGroup: String, Sendable, CaseIterable {
    /// Connection commands.
    case connection
    /// Server commands.
    case server
    /// String commands.
    case string
    /// Commands on any key (`DEL`, `EXPIRE`, `SCAN`, …).
    case generic
    /// `MULTI`, `EXEC`, …
    case transactions
    /// Strata's own data commands (`GETVER`, `REQID`, …).
    case strata
    /// Node-to-node replication.
    case replication
    /// The coordinator's `CLUSTER` commands.
    case cluster
}

/// The kinds of Strata server; a spec says which of them run a command.
public struct ServerKinds: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: UInt8
    /// Kinds from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `strata node`.
    public static let node = ServerKinds(rawValue: 1 << 0)
    /// `strata cache`, the gateway.
    public static let gateway = ServerKinds(rawValue: 1 << 1)
    /// `strata coordinator`.
    public static let coordinator = ServerKinds(rawValue: 1 << 2)
    /// Node and gateway: the data commands.
    public static let data: ServerKinds = [.node, .gateway]
    /// All three.
    public static let all: ServerKinds = [.node, .gateway, .coordinator]
}

extension Sequence<UInt8> {
    /// Whether the bytes equal `other`'s, ignoring ASCII case.
    func elementsEqualIgnoringASCIICase(_ other: some Sequence<UInt8>) -> Bool {
        self.elementsEqual(other) { ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) == ($1 >= 65 && $1 <= 90 ? $1 | 0x20 : $1) }
    }
}
