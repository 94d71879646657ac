import NIOCore

extension CommandTable {
    /// Strata's protocol between its own parts: the client library's request
    /// ids and read-your-writes, the change feed, replication.
    static let strataSpecs: [CommandSpec] = [
        CommandSpec(
            "reqid", arity: -3, flags: [.write, .denyOOM, .noMulti], categories: [.write, .slow], group: .strata,
            servers: .node, syntax: "id command [argument ...]",
            summary: "Runs a write once per request id; answers [reply, shard, version].",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let id = try a.next()
                let inner = CommandTable.node.parse(Array(a.takeRest()))
                guard let spec = inner.spec, spec.flags.contains(.write), spec.name != "reqid", spec.name != "exec" else {
                    throw CommandError(message: "ERR REQID wraps one write command")
                }
                return .requestID(id: id, command: inner)
            }),
        CommandSpec(
            "waitseq", arity: 4, flags: [.readOnly, .noMulti, .eventLoop], categories: [.read, .slow], group: .strata,
            servers: .node, syntax: "shard sequence timeout-milliseconds",
            summary: "Waits until this node applied a shard up to a sequence number; answers its position.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                .waitForSequence(shard: try a.integer(), sequence: try a.integer(), timeoutMilliseconds: try a.integer())
            }),
        CommandSpec(
            "feed", arity: -3, flags: [.readOnly, .noMulti, .internalToo], categories: [.read, .slow], group: .strata,
            servers: .node, syntax: "[WAIT milliseconds] shard after [shard after ...]",
            summary: "The change feed: keys written in each shard after a sequence number; with WAIT the node answers when one of them has changes or the time is up.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                var wait: Int64?
                if let word = a.rest.first, CommandArguments.keyword(word) == "WAIT" {
                    _ = a.nextIfAny()
                    let milliseconds = try a.integer()
                    guard milliseconds >= 0 else { throw CommandError(message: "ERR WAIT must not be negative") }
                    wait = milliseconds
                }
                guard a.remaining % 2 == 0, a.hasMore else { throw .arity("feed") }
                var positions: [(shard: Int64, after: Int64)] = []
                while a.hasMore { positions.append((try a.integer(), try a.integer())) }
                return .feed(positions: positions, wait: wait)
            }),
        CommandSpec(
            "replfetch", arity: -6, flags: [.internal, .readOnly], categories: [.replication, .slow], group: .replication,
            servers: .node,
            syntax: "node [WAIT milliseconds] [BYTES max-bytes] shard after epoch map-epoch [shard after epoch map-epoch ...]",
            summary: "A follower's fetch of log entries from a primary; with WAIT the primary answers when it has new entries or the time is up; BYTES bounds the reply (4 MiB by default) (internal).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let follower = try a.next()
                var wait: Int64?
                var maxBytes: Int64?
                // Options are words; shard ids are numbers.
                while let word = a.rest.first, let option = Optional(CommandArguments.keyword(word)), option == "WAIT" || option == "BYTES" {
                    _ = a.nextIfAny()
                    let value = try a.integer()
                    if option == "WAIT" {
                        guard value >= 0 else { throw CommandError(message: "ERR WAIT must not be negative") }
                        wait = value
                    } else {
                        guard value > 0 else { throw CommandError(message: "ERR BYTES must be positive") }
                        maxBytes = value
                    }
                }
                guard a.remaining % 4 == 0, a.hasMore else { throw .arity("replfetch") }
                var shards: [ReplicationFetchShard] = []
                while a.hasMore {
                    shards.append(ReplicationFetchShard(
                        shard: try a.integer(), after: try a.integer(), epoch: try a.integer(), mapEpoch: try a.integer()))
                }
                return .replicationFetch(follower: follower, shards: shards, wait: wait, maxBytes: maxBytes)
            }),
        CommandSpec(
            "replsnapshot", arity: -2, flags: [.internal, .readOnly], categories: [.replication, .slow], group: .replication,
            servers: .node, syntax: "shard [CHUNK after maxBytes]",
            summary: "Every record of a shard from one snapshot, or one page of them after a key (internal).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let shard = try a.integer()
                guard a.hasMore else { return .replicationSnapshot(shard: shard, chunk: nil) }
                guard try a.keyword() == "CHUNK", a.remaining == 2 else {
                    throw CommandError(message: "ERR usage: REPLSNAPSHOT <shard> [CHUNK <after> <maxBytes>]")
                }
                guard let after = SnapshotCursor.decode(try a.next().readableBytesView) else {
                    throw CommandError(message: "ERR REPLSNAPSHOT CHUNK's cursor must be hexadecimal")
                }
                let maxBytes = try a.integer()
                guard maxBytes > 0 else { throw CommandError(message: "ERR REPLSNAPSHOT CHUNK needs a positive byte count") }
                return .replicationSnapshot(shard: shard, chunk: (after, maxBytes))
            }),
        CommandSpec(
            "shardchecksum", arity: -2, flags: [.internal, .readOnly], categories: [.replication, .slow],
            group: .replication, servers: .node, syntax: "shard [ASOF ms]",
            summary: "[sequence, records, checksum] of a shard's copy from one snapshot, leaving out records expiring by ASOF, to compare copies (internal).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let shard = try a.integer()
                guard a.hasMore else { return .shardChecksum(shard: shard, asOf: 0) }
                guard try a.keyword() == "ASOF" else { throw CommandError.syntax }
                let asOf = try a.integer()
                guard !a.hasMore else { throw CommandError.syntax }
                return .shardChecksum(shard: shard, asOf: asOf)
            }),
        CommandSpec(
            "shardsize", arity: 2, flags: [.internal, .readOnly], categories: [.replication, .slow],
            group: .replication, servers: .node, syntax: "shard",
            summary: "[records, bytes] of this node's copy of a shard, counted from one snapshot (internal).",
            parse: { (a: inout CommandArguments) throws(CommandError) in .shardSize(shard: try a.integer()) }),
        CommandSpec(
            "copyprogress", arity: 1, flags: [.internal, .readOnly], categories: [.replication, .fast],
            group: .replication, servers: .node,
            summary: "Per shard this node is copying: [shard, bytes, records, milliseconds, total records, total bytes] (-1: total not known yet) (internal).",
            parse: { (_: inout CommandArguments) throws(CommandError) in .copyProgress }),
    ]

    /// The coordinator's commands.
    static let clusterSpecs: [CommandSpec] = [
        CommandSpec(
            "cluster", arity: -2, flags: [], categories: [.cluster, .slow], group: .cluster, servers: .coordinator,
            summary: "The cluster map and the nodes' heartbeats.",
            subcommands: [
                cluster("map", arity: 2, summary: "The cluster map as JSON.") { _ in .map },
                cluster("epoch", arity: 2, summary: "The map epoch.") { _ in .epoch },
                cluster("nodes", arity: 2, summary: "The status table.") { _ in .nodes },
                cluster("subscribe", arity: 2, summary: "Pushes [\"map\", json] now and after every change.") { _ in .subscribe },
                CommandSpec(
                    "cluster|heartbeat", arity: -3, flags: [], categories: [.cluster, .slow], group: .cluster,
                    servers: .coordinator, syntax: "node [shard sequence ...] [CAUGHTUP [shard epoch follower ...]] [VERIFIED [shard ...]] [SIZES [shard bytes ...]]",
                    summary: "A node's heartbeat (internal).", parse: parseHeartbeat),
                CommandSpec(
                    "cluster|failover", arity: -3, flags: [.admin], categories: [.cluster, .admin, .slow, .dangerous],
                    group: .cluster, servers: .coordinator, syntax: "shard [node]", summary: "A planned primary move.",
                    parse: { (a: inout CommandArguments) throws(CommandError) in
                        guard a.remaining <= 2 else { throw CommandError(message: "ERR usage: CLUSTER FAILOVER <shard> [<node>]") }
                        guard let shard = parseInteger(try a.next().readableBytesView), shard >= 0 else {
                            throw CommandError(message: "ERR usage: CLUSTER FAILOVER <shard> [<node>]")
                        }
                        return .cluster(.failover(shard: shard, target: a.nextIfAny()))
                    }),
                CommandSpec(
                    "cluster|addnode", arity: -5, flags: [.admin], categories: [.cluster, .admin, .slow, .dangerous],
                    group: .cluster, servers: .coordinator, syntax: "id host port [METRICSPORT port] [ZONE zone] [WEIGHT weight]",
                    summary: "Adds a node to the cluster online: shards move onto it as it catches up.", parse: parseAddNode),
                CommandSpec(
                    "cluster|removenode", arity: 3, flags: [.admin], categories: [.cluster, .admin, .slow, .dangerous],
                    group: .cluster, servers: .coordinator, syntax: "id",
                    summary: "Decommissions a node: its shards move off, then it leaves the map.",
                    parse: { (a: inout CommandArguments) throws(CommandError) in .cluster(.removeNode(try a.next())) }),
                CommandSpec(
                    "cluster|setweight", arity: 4, flags: [.admin], categories: [.cluster, .admin, .slow, .dangerous],
                    group: .cluster, servers: .coordinator, syntax: "id weight",
                    summary: "Changes a node's relative capacity online: shards move onto or off it as the copies catch up.",
                    parse: { (a: inout CommandArguments) throws(CommandError) in
                        let node = try a.next()
                        let weight = try a.integer()
                        guard weight >= 1, weight <= 1_000 else {
                            throw CommandError(message: "ERR weight must be between 1 and 1000 (CLUSTER REMOVENODE takes a node out)")
                        }
                        return .cluster(.setWeight(node, weight))
                    }),
                CommandSpec(
                    "cluster|split", arity: 3, flags: [.admin], categories: [.cluster, .admin, .slow, .dangerous],
                    group: .cluster, servers: .coordinator, syntax: "shard",
                    summary: "Splits a shard's hash range in two online; replies the new shard's id and the map epoch.",
                    parse: { (a: inout CommandArguments) throws(CommandError) in
                        let shard = try a.integer()
                        guard shard >= 0, shard <= Int64(UInt32.max) else {
                            throw CommandError(message: "ERR shard must be a shard id")
                        }
                        return .cluster(.split(shard: shard))
                    }),
            ]),
    ]

    private static func cluster(
        _ name: String, arity: Int, summary: String, _ make: @escaping @Sendable (inout CommandArguments) -> ClusterCommand
    ) -> CommandSpec {
        CommandSpec(
            "cluster|" + name, arity: arity, flags: [.readOnly, .eventLoop], categories: [.cluster, .slow],
            group: .cluster, servers: .coordinator, summary: summary,
            parse: { (a: inout CommandArguments) throws(CommandError) in .cluster(make(&a)) })
    }

    static func parseAddNode(_ a: inout CommandArguments) throws(CommandError) -> Command {
        let usage = CommandError(message: "ERR usage: CLUSTER ADDNODE <id> <host> <port> [METRICSPORT <port>] [ZONE <zone>] [WEIGHT <weight>]")
        func port(_ value: Int64) throws(CommandError) -> UInt16 {
            guard let port = UInt16(exactly: value), port > 0 else { throw usage }
            return port
        }
        let id = String(buffer: try a.next())
        let host = String(buffer: try a.next())
        guard !id.isEmpty, !host.isEmpty else { throw usage }
        var node = NodeAnnouncement(id: id, host: host, port: try port(try a.integer()))
        while a.hasMore {
            switch try a.keyword() {
            case "METRICSPORT": node.metricsPort = try port(try a.integer())
            case "ZONE": node.zone = String(buffer: try a.next())
            case "WEIGHT":
                let weight = try a.integer()
                guard weight >= 0, weight <= 1_000 else { throw CommandError(message: "ERR WEIGHT must be between 0 and 1000") }
                node.weight = Int(weight)
            default: throw usage
            }
        }
        return .cluster(.addNode(node))
    }

    static func parseHeartbeat(_ a: inout CommandArguments) throws(CommandError) -> Command {
        let usage = CommandError(
            message: "ERR usage: CLUSTER HEARTBEAT <node> [<shard> <sequence>]... [CAUGHTUP [<shard> <epoch> <follower>]...] [VERIFIED [<shard>]...] [SIZES [<shard> <bytes>]...]")
        let node = try a.next()
        var applied: [(shard: Int64, sequence: Int64)] = []
        var caughtUp: [(shard: Int64, epoch: Int64, follower: ByteBuffer)] = []
        var verified: [Int64] = []
        var sizes: [(shard: Int64, bytes: Int64)] = []
        /// Which part of the heartbeat the arguments are in.
        enum Section { case applied, caughtUp, verified, sizes }
        var section = Section.applied
        while let argument = a.nextIfAny() {
            switch CommandArguments.keyword(argument) {
            case "CAUGHTUP" where section == .applied:
                section = .caughtUp
                continue
            case "VERIFIED" where section != .verified && section != .sizes:
                section = .verified
                continue
            case "SIZES" where section != .sizes:
                section = .sizes
                continue
            default: break
            }
            switch section {
            case .applied:
                guard a.hasMore else { throw usage }
                guard let shard = parseInteger(argument.readableBytesView), shard >= 0,
                    let sequence = parseInteger(try a.next().readableBytesView), sequence >= 0
                else { throw CommandError(message: "ERR shard and sequence must be integers") }
                applied.append((shard, sequence))
            case .caughtUp:
                guard a.remaining >= 2 else { throw usage }
                guard let shard = parseInteger(argument.readableBytesView), shard >= 0,
                    let epoch = parseInteger(try a.next().readableBytesView), epoch >= 0
                else { throw CommandError(message: "ERR shard and epoch must be integers") }
                caughtUp.append((shard, epoch, try a.next()))
            case .verified:
                guard let shard = parseInteger(argument.readableBytesView), shard >= 0 else {
                    throw CommandError(message: "ERR shard must be an integer")
                }
                verified.append(shard)
            case .sizes:
                guard a.hasMore else { throw usage }
                guard let shard = parseInteger(argument.readableBytesView), shard >= 0,
                    let bytes = parseInteger(try a.next().readableBytesView), bytes >= 0
                else { throw CommandError(message: "ERR shard and bytes must be integers") }
                sizes.append((shard, bytes))
            }
        }
        return .cluster(.heartbeat(node: node, applied: applied, caughtUp: caughtUp, verified: verified, sizes: sizes))
    }
}
