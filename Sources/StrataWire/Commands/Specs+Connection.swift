import NIOCore

extension CommandTable {
    /// Connection and session commands: every server runs them.
    static let connectionSpecs: [CommandSpec] = [
        CommandSpec(
            "ping", arity: -1, flags: [.fast, .eventLoop, .internalToo], categories: [.fast, .connection],
            group: .connection, servers: .all, syntax: "[message]", summary: "Answers PONG, or the message.",
            parse: parsePing),
        CommandSpec(
            "echo", arity: 2, flags: [.fast, .eventLoop], categories: [.fast, .connection], group: .connection,
            servers: .all, syntax: "message", summary: "Answers the message.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .echo(try a.next()) }),
        CommandSpec(
            "hello", arity: -1, flags: [.noScript, .loading, .stale, .fast, .noAuth, .noMulti, .internalToo],
            categories: [.fast, .connection], group: .connection, servers: .all,
            syntax: "[protover [AUTH username password] [SETNAME clientname]]",
            summary: "Chooses RESP2 or RESP3, optionally authenticates and names the connection.", parse: parseHello),
        CommandSpec(
            "auth", arity: -2, flags: [.noScript, .loading, .stale, .fast, .noAuth, .noMulti, .internalToo],
            categories: [.fast, .connection], group: .connection, servers: .all, syntax: "[username] password",
            summary: "Authenticates the connection as a tenant (or a tenant's user).", parse: parseAuth),
        CommandSpec(
            "client", arity: -2, flags: [], categories: [.slow, .connection], group: .connection, servers: .all,
            summary: "Connection introspection and settings.", subcommands: clientSubcommands),
        CommandSpec(
            "select", arity: 2, flags: [.loading, .stale, .fast, .eventLoop], categories: [.fast, .connection],
            group: .connection, servers: .all, syntax: "index", summary: "Selects database 0, the only one.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let index = try a.next()
                let value = try CommandArguments.cInt(index)
                return .select(value)
            }),
        CommandSpec(
            "reset", arity: 1, flags: [.noScript, .loading, .stale, .fast, .noAuth, .noMulti, .eventLoop],
            categories: [.fast, .connection], group: .connection, servers: .all,
            summary: "Resets the connection: protocol, name, transaction, authentication.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .reset }),
        CommandSpec(
            "quit", arity: -1, flags: [.noScript, .loading, .stale, .fast, .noAuth, .noMulti, .eventLoop, .internalToo],
            categories: [.fast, .connection], group: .connection, servers: .all, summary: "Closes the connection.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .quit }),
        CommandSpec(
            "readonly", arity: 1, flags: [.loading, .stale, .fast, .eventLoop], categories: [.fast, .connection],
            group: .connection, servers: .node, summary: "Lets this connection read from replicas.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .readOnly }),
        CommandSpec(
            "readwrite", arity: 1, flags: [.loading, .stale, .fast, .eventLoop], categories: [.fast, .connection],
            group: .connection, servers: .node, summary: "Ends READONLY.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .readWrite }),
    ]

    static let clientSubcommands: [CommandSpec] = [
        CommandSpec(
            "client|setname", arity: 3, flags: [.noScript, .loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .connection, servers: .all, syntax: "connection-name", summary: "Names the connection.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let name = try a.next()
                try validateName(name)
                return .client(.setName(name))
            }),
        subcommand("getname", summary: "The connection's name.", .getName),
        subcommand("id", summary: "The connection's id.", .id),
        subcommand("info", summary: "This connection, as CLIENT LIST shows it.", .info),
        CommandSpec(
            "client|list", arity: -2, flags: [.admin, .noScript, .loading, .stale, .eventLoop],
            categories: [.admin, .slow, .dangerous, .connection], group: .connection, servers: .all,
            syntax: "[TYPE NORMAL] [ID id ...]", summary: "The connections this server lists: the calling one.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                _ = a.takeRest()
                return .client(.list)
            }),
        CommandSpec(
            "client|setinfo", arity: 4, flags: [.noScript, .loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .connection, servers: .all, syntax: "LIB-NAME libname | LIB-VER libver",
            summary: "Records the client library's name or version.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let attribute = try a.next()
                let value = try a.next()
                let attributeName: ClientAttribute
                switch CommandArguments.keyword(attribute) {
                case "LIB-NAME": attributeName = .libraryName
                case "LIB-VER": attributeName = .libraryVersion
                default:
                    throw CommandError(message: "ERR Unrecognized option '\(String(decoding: attribute.readableBytesView, as: UTF8.self))'")
                }
                guard !value.readableBytesView.contains(where: { $0 < 0x21 || $0 > 0x7E }) else {
                    throw CommandError(
                        message: "ERR \(attributeName == .libraryName ? "lib-name" : "lib-ver") cannot contain spaces, newlines or special characters.")
                }
                return .client(.setInfo(attribute: attributeName, value: value))
            }),
        switchSubcommand("no-evict", summary: "Accepted; Strata never evicts client connections.") { .noEvict($0) },
        switchSubcommand("no-touch", summary: "Accepted; Strata keeps no access times.") { .noTouch($0) },
        CommandSpec(
            "client|tracking", arity: -3, flags: [.noScript, .loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .connection, servers: .all, syntax: "ON | OFF [options]",
            summary: "Server-assisted client caching: OFF is accepted; ON is not supported (use the change feed).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                switch try a.keyword() {
                case "ON": return .client(.tracking(true))
                case "OFF": return .client(.tracking(false))
                default: throw .syntax
                }
            }),
        CommandSpec(
            "client|acks", arity: 3, flags: [.noScript, .loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .connection, servers: .node, syntax: "ALL | LEADER",
            summary: "Strata: acknowledge this connection's writes after every in-sync replica (ALL) or the primary (LEADER).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                switch try a.keyword() {
                case "ALL": return .client(.acks(all: true))
                case "LEADER": return .client(.acks(all: false))
                default: throw CommandError(message: "ERR CLIENT ACKS takes ALL or LEADER")
                }
            }),
        subcommand("help", summary: "Lists the CLIENT subcommands.", .help),
    ]

    /// A CLIENT subcommand without arguments.
    private static func subcommand(_ name: String, summary: String, _ command: ClientCommand) -> CommandSpec {
        CommandSpec(
            "client|" + name, arity: 2, flags: [.noScript, .loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .connection, servers: .all, summary: summary,
            parse: { (_: inout CommandArguments) throws(CommandError) in .client(command) })
    }

    /// A CLIENT subcommand taking ON or OFF.
    private static func switchSubcommand(
        _ name: String, summary: String, _ command: @escaping @Sendable (Bool) -> ClientCommand
    ) -> CommandSpec {
        CommandSpec(
            "client|" + name, arity: 3, flags: [.noScript, .loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .connection, servers: .all, syntax: "ON | OFF", summary: summary,
            parse: { (a: inout CommandArguments) throws(CommandError) in
                switch try a.keyword() {
                case "ON": return .client(command(true))
                case "OFF": return .client(command(false))
                default: throw .syntax
                }
            })
    }

    /// Redis's rule for connection names: printable ASCII without spaces.
    static func validateName(_ name: ByteBuffer) throws(CommandError) {
        guard !name.readableBytesView.contains(where: { $0 < 0x21 || $0 > 0x7E }) else {
            throw CommandError(message: "ERR Client names cannot contain spaces, newlines or special characters.")
        }
    }

    static func parsePing(_ a: inout CommandArguments) throws(CommandError) -> Command {
        guard a.remaining <= 1 else { throw .arity("ping") }
        return .ping(message: a.nextIfAny())
    }

    static func parseHello(_ a: inout CommandArguments) throws(CommandError) -> Command {
        var hello = Hello()
        if let version = a.nextIfAny() {
            guard let value = parseInteger(version.readableBytesView) else {
                throw CommandError(message: "ERR Protocol version is not an integer or out of range")
            }
            guard value == 2 || value == 3 else { throw CommandError(message: "NOPROTO unsupported protocol version") }
            hello.protocolVersion = value
        }
        while let option = a.nextIfAny() {
            switch CommandArguments.keyword(option) {
            case "AUTH" where a.remaining >= 2:
                hello.credentials = Credentials(user: try a.next(), password: try a.next())
            case "SETNAME" where a.remaining >= 1:
                let name = try a.next()
                try validateName(name)
                hello.clientName = name
            default:
                throw CommandError(message: "ERR Syntax error in HELLO option '\(String(decoding: option.readableBytesView, as: UTF8.self))'")
            }
        }
        return .hello(hello)
    }

    static func parseAuth(_ a: inout CommandArguments) throws(CommandError) -> Command {
        switch a.remaining {
        case 1: return .auth(Credentials(user: nil, password: try a.next()))
        case 2: return .auth(Credentials(user: try a.next(), password: try a.next()))
        default: throw .syntax
        }
    }
}
