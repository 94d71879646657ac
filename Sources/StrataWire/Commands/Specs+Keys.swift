import NIOCore

extension CommandTable {
    /// Commands on keys whatever their value (Redis's "generic" group).
    static let keySpecs: [CommandSpec] = [
        CommandSpec(
            "del", arity: -2, flags: [.write], keys: .all, categories: [.keyspace, .write, .slow], group: .generic,
            servers: .data, syntax: "key [key ...]", summary: "Deletes keys; answers how many existed.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .delete(keys: a.takeRest()) }),
        CommandSpec(
            "unlink", arity: -2, flags: [.write, .fast], keys: .all, categories: [.keyspace, .write, .fast],
            group: .generic, servers: .data, syntax: "key [key ...]", summary: "DEL (RocksDB reclaims space in the background either way).",
            parse: { (a: inout CommandArguments) throws(CommandError) in .delete(keys: a.takeRest()) }),
        CommandSpec(
            "exists", arity: -2, flags: [.readOnly, .fast, .eventLoop], keys: .all, categories: [.keyspace, .read, .fast],
            group: .generic, servers: .data, syntax: "key [key ...]", summary: "How many of the keys exist (repeats count).",
            parse: { (a: inout CommandArguments) throws(CommandError) in .exists(keys: a.takeRest()) }),
        CommandSpec(
            "touch", arity: -2, flags: [.readOnly, .fast, .eventLoop], keys: .all, categories: [.keyspace, .read, .fast],
            group: .generic, servers: .data, syntax: "key [key ...]", summary: "How many of the keys exist.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .touch(keys: a.takeRest()) }),
        expire("expire", milliseconds: false, absolute: false, summary: "Sets a key's expiry in seconds from now."),
        expire("pexpire", milliseconds: true, absolute: false, summary: "Sets a key's expiry in milliseconds from now."),
        expire("expireat", milliseconds: false, absolute: true, summary: "Sets a key's expiry as a Unix time in seconds."),
        expire("pexpireat", milliseconds: true, absolute: true, summary: "Sets a key's expiry as a Unix time in milliseconds."),
        keyRead("ttl", summary: "Seconds until a key expires (-1: never, -2: no key).") { (a: inout CommandArguments) throws(CommandError) in
            .timeToLive(key: try a.next(), milliseconds: false)
        },
        keyRead("pttl", summary: "Milliseconds until a key expires (-1: never, -2: no key).") { (a: inout CommandArguments) throws(CommandError) in
            .timeToLive(key: try a.next(), milliseconds: true)
        },
        keyRead("expiretime", summary: "A key's expiry as a Unix time in seconds (-1: never, -2: no key).") { (a: inout CommandArguments) throws(CommandError) in
            .expireTime(key: try a.next(), milliseconds: false)
        },
        keyRead("pexpiretime", summary: "A key's expiry as a Unix time in milliseconds (-1: never, -2: no key).") { (a: inout CommandArguments) throws(CommandError) in
            .expireTime(key: try a.next(), milliseconds: true)
        },
        CommandSpec(
            "persist", arity: 2, flags: [.write, .fast], keys: .single, categories: [.keyspace, .write, .fast],
            group: .generic, servers: .data, syntax: "key", summary: "Removes a key's expiry.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .persist(key: try a.next()) }),
        keyRead("type", summary: "A key's type: string, or none.") { (a: inout CommandArguments) throws(CommandError) in .type(key: try a.next()) },
        CommandSpec(
            "scan", arity: -2, flags: [.readOnly], categories: [.keyspace, .read, .slow], group: .generic, servers: .data,
            syntax: "cursor [MATCH pattern] [COUNT count] [TYPE type]",
            summary: "Iterates over the tenant's keys; the cursor is a placement-hash position.", parse: parseScan),
        CommandSpec(
            "keys", arity: 2, flags: [.readOnly], categories: [.keyspace, .read, .slow, .dangerous], group: .generic,
            servers: .data, syntax: "pattern", summary: "Every key of the tenant matching a glob pattern.",
            parse: { (a: inout CommandArguments) throws(CommandError) in .keys(pattern: try a.next()) }),
        CommandSpec(
            "rename", arity: 3, flags: [.write], keys: .pair, categories: [.keyspace, .write, .slow], group: .generic,
            servers: .data, syntax: "key newkey", summary: "Renames a key (both keys on one shard).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                .rename(from: try a.next(), to: try a.next(), onlyIfNew: false)
            }),
        CommandSpec(
            "renamenx", arity: 3, flags: [.write, .fast], keys: .pair, categories: [.keyspace, .write, .fast],
            group: .generic, servers: .data, syntax: "key newkey",
            summary: "Renames a key if the new name is free (both keys on one shard).",
            parse: { (a: inout CommandArguments) throws(CommandError) in
                .rename(from: try a.next(), to: try a.next(), onlyIfNew: true)
            }),
        CommandSpec(
            "copy", arity: -3, flags: [.write, .denyOOM], keys: .pair, categories: [.keyspace, .write, .slow],
            group: .generic, servers: .data, syntax: "source destination [DB 0] [REPLACE]",
            summary: "Copies a key's value and expiry (both keys on one shard).", parse: parseCopy),
        CommandSpec(
            "randomkey", arity: 1, flags: [.readOnly, .random], categories: [.keyspace, .read, .slow], group: .generic,
            servers: .data, summary: "A random key of the tenant, or nil.",
            parse: { (_: inout CommandArguments) throws(CommandError) in .randomKey }),
    ]

    private static func expire(_ name: String, milliseconds: Bool, absolute: Bool, summary: String) -> CommandSpec {
        CommandSpec(
            name, arity: -3, flags: [.write, .fast], keys: .single, categories: [.keyspace, .write, .fast],
            group: .generic, servers: .data, syntax: "key \(absolute ? "unix-time" : "amount") [NX | XX | GT | LT]",
            summary: summary,
            parse: { (a: inout CommandArguments) throws(CommandError) in
                let key = try a.next()
                let amount = try a.next()
                var conditions: ExpireConditions = []
                while let argument = a.nextIfAny() {
                    switch CommandArguments.keyword(argument) {
                    case "NX": conditions.insert(.ifNone)
                    case "XX": conditions.insert(.ifSome)
                    case "GT": conditions.insert(.ifGreater)
                    case "LT": conditions.insert(.ifLess)
                    default:
                        throw CommandError(message: "ERR Unsupported option \(String(decoding: argument.readableBytesView, as: UTF8.self))")
                    }
                }
                if conditions.contains(.ifNone), !conditions.isDisjoint(with: [.ifSome, .ifGreater, .ifLess]) {
                    throw CommandError(message: "ERR NX and XX, GT or LT options at the same time are not compatible")
                }
                if conditions.isSuperset(of: [.ifGreater, .ifLess]) {
                    throw CommandError(message: "ERR GT and LT options at the same time are not compatible")
                }
                return .expire(ExpireCommand(
                    key: key, amount: try CommandArguments.integer(amount), milliseconds: milliseconds, absolute: absolute,
                    conditions: conditions, name: name))
            })
    }

    private static func keyRead(
        _ name: String, summary: String,
        _ parse: @escaping @Sendable (inout CommandArguments) throws(CommandError) -> Command
    ) -> CommandSpec {
        CommandSpec(
            name, arity: 2, flags: [.readOnly, .fast, .eventLoop], keys: .single, categories: [.keyspace, .read, .fast],
            group: .generic, servers: .data, syntax: "key", summary: summary, parse: parse)
    }

    static func parseScan(_ a: inout CommandArguments) throws(CommandError) -> Command {
        let cursorText = try a.next()
        guard let cursor = parseCursor(cursorText.readableBytesView) else {
            throw CommandError(message: "ERR invalid cursor")
        }
        var scan = ScanCommand(cursor: cursor)
        while let argument = a.nextIfAny() {
            let option = CommandArguments.keyword(argument)
            guard a.hasMore else { throw .syntax }
            switch option {
            case "COUNT":
                let count = try a.integer()
                guard count >= 1 else { throw .syntax }
                scan.count = Int(min(count, 100_000))
            case "MATCH": scan.pattern = try a.next()
            case "TYPE": scan.type = try a.next()
            case "RANGEEND":
                guard let end = parseUnsigned(try a.next().readableBytesView) else { throw .syntax }
                scan.rangeEnd = end
            default: throw .syntax
            }
        }
        return .scan(scan)
    }

    static func parseCopy(_ a: inout CommandArguments) throws(CommandError) -> Command {
        let from = try a.next()
        let to = try a.next()
        var replace = false
        while let argument = a.nextIfAny() {
            switch CommandArguments.keyword(argument) {
            case "REPLACE": replace = true
            case "DB" where a.hasMore:
                let index = try a.next()
                let value = try CommandArguments.cInt(index)
                guard value == 0 else { throw .databaseOutOfRange }
            default: throw .syntax
            }
        }
        guard from != to else { throw CommandError(message: "ERR source and destination objects are the same") }
        return .copy(from: from, to: to, replace: replace)
    }

    /// An unsigned decimal cursor, as Redis's `strtoul` check accepts it.
    /// A SCAN cursor as Redis reads one (`strtoul` in base 10): no leading
    /// space, an optional sign (a negative one wraps), the digits up to the
    /// end or a NUL byte; the empty cursor is 0.
    static func parseCursor(_ bytes: some Collection<UInt8>) -> UInt64? {
        var digits = bytes.prefix { $0 != 0 }[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
            guard !digits.isEmpty else { return nil }
        }
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(digit - 48))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return negative ? 0 &- value : value
    }

    static func parseUnsigned(_ bytes: some Collection<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return UInt64(String(decoding: bytes, as: UTF8.self))
    }
}
