import NIOCore

extension CommandTable {
    /// The reply to `COMMAND …` for this server, derived from its table.
    /// - Throws: Redis's errors for `COMMAND GETKEYS` of an unknown or keyless command.
    public func introspectionReply(_ form: Introspection) throws(CommandError) -> RESPValue {
        switch form {
        case .all: return .array(specs.map(Self.info))
        case .count: return .integer(Int64(specs.count))
        case .list: return .array(specs.map { .bulk($0.name) })
        case .info(let names):
            guard !names.isEmpty else { return .array(specs.map(Self.info)) }
            return .array(names.map { name in spec(named: name).map(Self.info) ?? .null })
        case .docs(let names):
            let chosen = names.isEmpty ? specs : names.compactMap { spec(named: $0) }
            return .map(chosen.map { (RESPValue.bulk($0.name), Self.docs($0)) })
        case .getKeys(let arguments):
            let parsed = parse(Array(arguments))
            guard let spec = parsed.spec else { throw CommandError(message: "ERR Invalid command specified") }
            if parsed.rejectedBeforeExecution { throw CommandError(message: "ERR Invalid number of arguments specified for command") }
            let keys = spec.keyArguments(Array(arguments))
            guard !keys.isEmpty else { throw CommandError(message: "ERR The command has no key arguments") }
            return .array(keys.map { .bulkString($0) })
        case .help:
            return .array([
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)", "    Return details about all commands.",
                "COUNT", "    Return the total number of commands in this server.",
                "LIST", "    Return a list of all commands in this server.",
                "INFO [<command-name> ...]", "    Return details about the named commands, or all of them.",
                "DOCS [<command-name> ...]", "    Return documentation details about the named commands, or all of them.",
                "GETKEYS <full-command>", "    Return the keys from a full command.",
                "HELP", "    Print this help.",
            ].map { .simple($0) })
        }
    }

    /// `COMMAND INFO`'s ten fields for one command (tips and key specs empty).
    static func info(_ spec: CommandSpec) -> RESPValue {
        .array([
            .bulk(spec.name),
            .integer(Int64(spec.arity)),
            .set(spec.flags.names.map { .simple($0) }),
            .integer(Int64(spec.keys.first)),
            .integer(Int64(spec.keys.last)),
            .integer(Int64(spec.keys.step)),
            .set(spec.categories.names.map { .simple($0) }),
            .set([]),
            .array([]),
            .array(spec.subcommands.map(info)),
        ])
    }

    /// `COMMAND DOCS`' map for one command.
    static func docs(_ spec: CommandSpec) -> RESPValue {
        var fields: [(RESPValue, RESPValue)] = [
            (.bulk("summary"), .bulk(spec.summary)),
            (.bulk("group"), .bulk(spec.group.rawValue)),
        ]
        if !spec.syntax.isEmpty { fields.append((.bulk("syntax"), .bulk(spec.syntax))) }
        if !spec.subcommands.isEmpty {
            fields.append((.bulk("subcommands"), .map(spec.subcommands.map { (RESPValue.bulk($0.name), docs($0)) })))
        }
        return .map(fields)
    }

    /// The command list as Markdown (a table per group), as the README shows
    /// it: generated from the table, so it cannot drift from the code.
    public func markdown() -> String {
        var text = ""
        for group in CommandGroup.allCases {
            let inGroup = specs.filter { $0.group == group && !$0.flags.contains(.internal) }
            guard !inGroup.isEmpty else { continue }
            text += "\n**\(group.rawValue)**\n\n| command | arguments | what it does |\n| --- | --- | --- |\n"
            for spec in inGroup {
                let rows = spec.subcommands.isEmpty ? [spec] : spec.subcommands.filter { !$0.flags.contains(.internal) }
                for row in rows where !row.servers.isDisjoint(with: server) {
                    let name = row.name.uppercased().map { $0 == "|" ? " " : String($0) }.joined()
                    let syntax = row.syntax.map { $0 == "|" ? "\\|" : String($0) }.joined()
                    text += "| `\(name)` | \(syntax.isEmpty ? "" : "`\(syntax)`") | \(row.summary) |\n"
                }
            }
        }
        return text
    }
}
