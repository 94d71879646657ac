import NIOCore

extension CommandTable {
    /// Server commands: introspection, configuration, the tenant's keyspace as a whole.
    static let serverSpecs: [CommandSpec] = [
        CommandSpec(
            "command", arity: -1, flags: [.loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .server, servers: .all, syntax: "[COUNT | LIST | INFO name... | DOCS name... | GETKEYS command...]",
            summary: "The commands this server runs, from the command table.",
            subcommands: [
                introspection("count", arity: 2, summary: "How many commands this server runs.") { _ in .count },
                introspection("list", arity: -2, summary: "The names of the commands this server runs.") { _ in .list },
                introspection("info", arity: -2, summary: "Each named command's arity, flags, keys and categories.") {
                    .info(names: $0.takeRest())
                },
                introspection("docs", arity: -2, summary: "Each named command's summary and group.") {
                    .docs(names: $0.takeRest())
                },
                introspection("getkeys", arity: -4, summary: "The keys of a command, per its spec.") {
                    .getKeys(arguments: $0.takeRest())
                },
                introspection("help", arity: 2, summary: "Lists the COMMAND subcommands.") { _ in .help },
            ],
            parse: { (_: inout CommandArguments) throws(CommandError) in .command(.all) }),
        CommandSpec(
            "config", arity: -2, flags: [], categories: [.slow], group: .server, servers: .data,
            summary: "Reads the server's configuration (it is set in cluster.json and on the command line).",
            subcommands: [
                CommandSpec(
                    "config|get", arity: -3, flags: [.admin, .noScript, .loading, .stale, .eventLoop, .internalToo],
                    categories: [.admin, .slow, .dangerous], group: .server, servers: .data, syntax: "parameter...",
                    summary: "Configuration parameters matching the glob patterns.",
                    parse: { (a: inout CommandArguments) throws(CommandError) in .configGet(patterns: a.takeRest()) }),
                CommandSpec(
                    "config|set", arity: -4, flags: [.admin, .noScript, .loading, .stale, .internalToo],
                    categories: [.admin, .slow, .dangerous], group: .server, servers: .data, syntax: "parameter value [parameter value ...]",
                    summary: "Changes transfer-mb-per-second or max-copying-shards on a node while it runs; other parameters are set in cluster.json and on the command line.",
                    parse: { (a: inout CommandArguments) throws(CommandError) in
                        var pairs: [(name: ByteBuffer, value: ByteBuffer)] = []
                        while a.hasMore {
                            let name = try a.next()
                            guard a.hasMore else { throw CommandError(message: "ERR wrong number of arguments for 'config|set' command") }
                            pairs.append((name, try a.next()))
                        }
                        return .configSet(pairs: pairs)
                    }),
                configChange("resetstat", arity: 2),
                configChange("rewrite", arity: 2),
            ]),
        CommandSpec(
            "info", arity: -1, flags: [.loading, .stale], categories: [.slow, .dangerous], group: .server, servers: .all,
            syntax: "[section ...]", summary: "Server information and statistics.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .info(sections: a.takeRest()) }),
        CommandSpec(
            "dbsize", arity: 1, flags: [.readOnly, .fast], categories: [.keyspace, .read, .fast], group: .server,
            servers: .data, summary: "How many keys the tenant has (on this node: in the shards it leads).",
            parse: { (_: inout CommandArguments) throws(CommandError) in .dbSize }),
        flush("flushdb"),
        flush("flushall"),
        CommandSpec(
            "debug", arity: -2, flags: [.admin, .noScript, .loading, .stale, .internal], categories: [.admin, .slow, .dangerous],
            group: .server, servers: .node, summary: "Drills for tests.",
            subcommands: [
                CommandSpec(
                    "debug|follow-pause", arity: 3, flags: [.admin, .noScript, .loading, .stale, .internal],
                    categories: [.admin, .slow, .dangerous], group: .server, servers: .node, syntax: "milliseconds",
                    summary: "This node's replicas stop applying for a while; they go on fetching, so they know their lag (internal connections).",
                    parse: { (a: inout CommandArguments) throws(CommandError) in
                        .debugFollowPause(milliseconds: min(max(try a.integer(), 0), 600_000))
                    })
            ]),
    ]

    private static func introspection(
        _ name: String, arity: Int, summary: String,
        _ make: @escaping @Sendable (inout CommandArguments) -> Introspection
    ) -> CommandSpec {
        CommandSpec(
            "command|" + name, arity: arity, flags: [.loading, .stale, .eventLoop], categories: [.slow, .connection],
            group: .server, servers: .all, summary: summary,
            parse: { (a: inout CommandArguments) throws(CommandError) in .command(make(&a)) })
    }

    private static func configChange(_ name: String, arity: Int) -> CommandSpec {
        CommandSpec(
            "config|" + name, arity: arity, flags: [.admin, .noScript, .loading, .stale, .eventLoop],
            categories: [.admin, .slow, .dangerous], group: .server, servers: .data,
            summary: "Refused: change cluster.json or the command line and restart.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                _ = a.takeRest()
                return .configChange
            })
    }

    private static func flush(_ name: String) -> CommandSpec {
        CommandSpec(
            name, arity: -1, flags: [.write], categories: [.keyspace, .write, .slow, .dangerous], group: .server,
            servers: .data, syntax: "[ASYNC | SYNC]",
            summary: "Deletes every key of the tenant (on this node: in the shards it leads); other tenants keep theirs.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                guard let option = a.nextIfAny() else { return .flush(.default) }
                try a.end()
                switch CommandArguments.keyword(option) {
                case "ASYNC": return .flush(.async)
                case "SYNC": return .flush(.sync)
                default: throw .syntax
                }
            })
    }
}
