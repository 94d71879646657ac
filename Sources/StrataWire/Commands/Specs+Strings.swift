import NIOCore

extension CommandTable {
    /// String commands.
    static let stringSpecs: [CommandSpec] = [
        read("get", arity: 2, fast: true, syntax: "key", summary: "The value of a key.") { (a: inout CommandArguments) throws(CommandError) in .get(key: try a.next()) },
        CommandSpec(
            "getver", arity: 2, flags: [.readOnly, .fast, .eventLoop], keys: .single, categories: [.read, .string, .fast],
            group: .strata, servers: .data, syntax: "key",
            summary: "Strata: the value and its version (the shard sequence number of its last write), or nil.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .getVersion(key: try a.next()) }),
        write(
            "set", arity: -3, fast: false,
            syntax: "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL] [IFVERSION version]",
            summary: "Sets a key's value (IFVERSION: compare-and-set against a version, Strata's own).", parse: parseSet),
        write("setnx", arity: 3, fast: true, syntax: "key value", summary: "Sets a key only if it does not exist (1 or 0).") { (a: inout CommandArguments) throws(CommandError) in
            .set(SetCommand(key: try a.next(), value: try a.next(), condition: .ifAbsent, reply: .integer, name: "setnx"))
        },
        write("setex", arity: 4, fast: false, syntax: "key seconds value", summary: "Sets a key with an expiry in seconds.") { (a: inout CommandArguments) throws(CommandError) in
            try parseSetWithExpiry(&a, option: "EX", name: "setex")
        },
        write("psetex", arity: 4, fast: false, syntax: "key milliseconds value", summary: "Sets a key with an expiry in milliseconds.") { (a: inout CommandArguments) throws(CommandError) in
            try parseSetWithExpiry(&a, option: "PX", name: "psetex")
        },
        write("getset", arity: 3, fast: true, syntax: "key value", summary: "Sets a key and answers its old value.") { (a: inout CommandArguments) throws(CommandError) in
            .set(SetCommand(key: try a.next(), value: try a.next(), reply: .oldValue, name: "getset"))
        },
        write("getdel", arity: 2, fast: true, grows: false, syntax: "key", summary: "Answers a key's value and deletes it.") { (a: inout CommandArguments) throws(CommandError) in
            .getDelete(key: try a.next())
        },
        write(
            "getex", arity: -2, fast: true, grows: false,
            syntax: "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]",
            summary: "Answers a key's value and sets or clears its expiry.", parse: parseGetExpire),
        CommandSpec(
            "mget", arity: -2, flags: [.readOnly, .fast, .eventLoop], keys: .all, categories: [.read, .string, .fast],
            group: .string, servers: .data, syntax: "key [key ...]", summary: "The values of several keys.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .multiGet(keys: a.takeRest()) }),
        CommandSpec(
            "mset", arity: -3, flags: [.write, .denyOOM], keys: .pairs, categories: [.write, .string, .slow],
            group: .string, servers: .data, syntax: "key value [key value ...]", summary: "Sets several keys.",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                guard a.remaining % 2 == 0 else { throw .arity("mset") }
                return .multiSet(pairs: a.takeRest(), onlyIfNoneExist: false)
            }),
        CommandSpec(
            "msetnx", arity: -3, flags: [.write, .denyOOM], keys: .pairs, categories: [.write, .string, .slow],
            group: .string, servers: .data, syntax: "key value [key value ...]",
            summary: "Sets several keys of one shard only if none exists (1 or 0).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                guard a.remaining % 2 == 0 else { throw .arity("msetnx") }
                return .multiSet(pairs: a.takeRest(), onlyIfNoneExist: true)
            }),
        write("incr", arity: 2, fast: true, syntax: "key", summary: "Adds 1 to an integer value.") { (a: inout CommandArguments) throws(CommandError) in
            .incrementBy(key: try a.next(), amount: 1)
        },
        write("decr", arity: 2, fast: true, syntax: "key", summary: "Subtracts 1 from an integer value.") { (a: inout CommandArguments) throws(CommandError) in
            .incrementBy(key: try a.next(), amount: -1)
        },
        write("incrby", arity: 3, fast: true, syntax: "key increment", summary: "Adds to an integer value.") { (a: inout CommandArguments) throws(CommandError) in
            .incrementBy(key: try a.next(), amount: try a.integer())
        },
        write("decrby", arity: 3, fast: true, syntax: "key decrement", summary: "Subtracts from an integer value.") { (a: inout CommandArguments) throws(CommandError) in
            let key = try a.next()
            let amount = try a.integer()
            guard amount != .min else { throw CommandError(message: "ERR decrement would overflow") }
            return .incrementBy(key: key, amount: -amount)
        },
        write("incrbyfloat", arity: 3, fast: true, syntax: "key increment", summary: "Adds to a floating-point value.") { (a: inout CommandArguments) throws(CommandError) in
            let key = try a.next()
            guard let amount = CommandArguments.longDouble(try a.next().readableBytesView) else { throw .notFloat }
            return .incrementByFloat(key: key, amount: amount)
        },
        write("append", arity: 3, fast: true, syntax: "key value", summary: "Appends to a value; answers the new length.") { (a: inout CommandArguments) throws(CommandError) in
            .append(key: try a.next(), value: try a.next())
        },
        read("strlen", arity: 2, fast: true, syntax: "key", summary: "The length of a value (0 if missing).") { (a: inout CommandArguments) throws(CommandError) in
            .stringLength(key: try a.next())
        },
        read("getrange", arity: 4, fast: false, syntax: "key start end", summary: "A substring of a value.") { (a: inout CommandArguments) throws(CommandError) in
            .getRange(key: try a.next(), start: try a.integer(), end: try a.integer())
        },
        write("setrange", arity: 4, fast: false, syntax: "key offset value", summary: "Overwrites part of a value.") { (a: inout CommandArguments) throws(CommandError) in
            let key = try a.next()
            let offset = try a.integer()
            guard offset >= 0 else { throw CommandError(message: "ERR offset is out of range") }
            return .setRange(key: key, offset: offset, value: try a.next())
        },
    ]

    /// A one-key string read that memory can answer.
    private static func read(
        _ name: String, arity: Int, fast: Bool, syntax: String, summary: String,
        _ parse: @escaping @Sendable (inout CommandArguments) throws(CommandError) -> Command
    ) -> CommandSpec {
        CommandSpec(
            name, arity: arity, flags: fast ? [.readOnly, .fast, .eventLoop] : [.readOnly, .eventLoop], keys: .single,
            categories: [.read, .string, fast ? .fast : .slow], group: .string, servers: .data, syntax: syntax,
            summary: summary, parse: parse)
    }

    /// A one-key string write.
    private static func write(
        _ name: String, arity: Int, fast: Bool, grows: Bool = true, syntax: String, summary: String,
        parse: @escaping @Sendable (inout CommandArguments) throws(CommandError) -> Command
    ) -> CommandSpec {
        var flags: CommandFlags = [.write]
        if grows { flags.insert(.denyOOM) }
        if fast { flags.insert(.fast) }
        return CommandSpec(
            name, arity: arity, flags: flags, keys: .single, categories: [.write, .string, fast ? .fast : .slow],
            group: .string, servers: .data, syntax: syntax, summary: summary, parse: parse)
    }

    /// SET's options, checked in Redis's order (`parseExtendedStringArgumentsOrReply`):
    /// each option is refused when it conflicts with one already given.
    static func parseSet(_ a: inout CommandArguments) throws(CommandError) -> Command {
        var set = SetCommand(key: try a.next(), value: try a.next())
        var expiryOption: String?
        var expiryAmount: ByteBuffer?
        var keepTTL = false
        while let argument = a.nextIfAny() {
            let option = CommandArguments.keyword(argument)
            switch option {
            case "NX" where set.condition != .ifPresent: set.condition = .ifAbsent
            case "XX" where set.condition != .ifAbsent: set.condition = .ifPresent
            case "GET": set.reply = .oldValue
            case "KEEPTTL" where expiryOption == nil: keepTTL = true
            case "EX", "PX", "EXAT", "PXAT":
                // (A `where` clause would guard only the last pattern of the case.)
                guard !keepTTL, expiryOption == nil || expiryOption == option, a.hasMore else { throw .syntax }
                expiryOption = option
                expiryAmount = try a.next()
            case "IFVERSION" where set.ifVersion == nil && a.hasMore:
                let version = try a.integer()
                guard version >= 0 else { throw CommandError(message: "ERR IFVERSION must be a non-negative version") }
                set.ifVersion = UInt64(version)
            default:
                throw .syntax
            }
        }
        if let expiryOption, let expiryAmount {
            set.expiry = try SetExpiry(option: expiryOption, amount: try CommandArguments.integer(expiryAmount), command: "set")
        } else if keepTTL {
            set.expiry = .keepTTL
        }
        return .set(set)
    }

    /// `SETEX key seconds value` and `PSETEX key milliseconds value`.
    static func parseSetWithExpiry(_ a: inout CommandArguments, option: String, name: String) throws(CommandError) -> Command {
        let key = try a.next()
        let amount = try a.next()
        let value = try a.next()
        let expiry = try SetExpiry(option: option, amount: try CommandArguments.integer(amount), command: name)
        return .set(SetCommand(key: key, value: value, expiry: expiry, name: name))
    }

    /// GETEX's options, checked the way Redis checks them for GET-type commands.
    static func parseGetExpire(_ a: inout CommandArguments) throws(CommandError) -> Command {
        let key = try a.next()
        var expiry: GetExpiry?
        var option: String?
        while let argument = a.nextIfAny() {
            let keyword = CommandArguments.keyword(argument)
            switch keyword {
            case "PERSIST" where option == nil || option == "PERSIST":
                option = keyword
                expiry = .persist
            case "EX", "PX", "EXAT", "PXAT":
                guard option == nil || option == keyword, a.hasMore else { throw .syntax }
                option = keyword
                expiry = .set(option: keyword, amount: try a.next())
            default:
                throw .syntax
            }
        }
        return .getExpire(key: key, expiry: expiry)
    }
}
