import NIOCore

extension CommandTable {
    /// MULTI/EXEC transactions: the keys of one transaction live on one shard.
    static let transactionSpecs: [CommandSpec] = [
        CommandSpec(
            "multi", arity: 1, flags: [.noScript, .loading, .stale, .fast, .noMulti, .eventLoop],
            categories: [.fast, .transaction], group: .transactions, servers: .data,
            summary: "Starts a transaction: commands are queued until EXEC.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .multi }),
        CommandSpec(
            "exec", arity: 1, flags: [.noScript, .loading, .stale, .noMulti, .write], categories: [.slow, .transaction],
            group: .transactions, servers: .data,
            summary: "Runs the queued commands atomically (keys of one shard; nil if a watched key changed).",
            parse: { (_: inout CommandArguments) throws(CommandError) in .exec }),
        CommandSpec(
            "discard", arity: 1, flags: [.noScript, .loading, .stale, .fast, .noMulti, .eventLoop],
            categories: [.fast, .transaction], group: .transactions, servers: .data, summary: "Drops the queued commands.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .discard }),
        CommandSpec(
            "watch", arity: -2, flags: [.noScript, .loading, .stale, .fast, .noMulti, .eventLoop], keys: .all,
            categories: [.fast, .transaction], group: .transactions, servers: .data, syntax: "key [key ...]",
            summary: "EXEC runs only if none of these keys changed since.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .watch(keys: a.takeRest()) }),
        CommandSpec(
            "watchver", arity: -3, flags: [.noScript, .loading, .stale, .fast, .noMulti, .eventLoop],
            keys: .pairs, categories: [.fast, .transaction], group: .strata, servers: .node,
            syntax: "key point [key point ...]",
            summary: "Strata: WATCH as of watch points read earlier with WATCHPOINT (how the gateway forwards a client's WATCH).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                guard a.remaining % 2 == 0 else { throw .arity("watchver") }
                var pairs: [(key: ByteBuffer, point: WatchPoint)] = []
                while a.hasMore {
                    let key = try a.next()
                    pairs.append((key, WatchPoint(wire: try a.integer())))
                }
                return .watchVersions(pairs: pairs)
            }),
        CommandSpec(
            "watchpoint", arity: 2, flags: [.readOnly, .fast, .eventLoop], keys: .single,
            categories: [.fast, .transaction], group: .strata, servers: .node, syntax: "key",
            summary: "Strata: the key's watch point for WATCHVER: its version, or -(the shard's sequence number + 1) when it does not exist.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .watchPoint(key: try a.next()) }),
        CommandSpec(
            "unwatch", arity: 1, flags: [.noScript, .loading, .stale, .fast, .eventLoop],
            categories: [.fast, .transaction], group: .transactions, servers: .data, summary: "Forgets the watched keys.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .unwatch }),
    ]
}
