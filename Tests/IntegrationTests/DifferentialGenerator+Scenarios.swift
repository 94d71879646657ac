import StrataWire

/// The stream's transactions, errors, connection commands and cross-shard cases.
extension DifferentialGenerator {
    /// A command whose reply does not depend on timing or order, to queue in a
    /// transaction (EXEC's reply is compared exactly); keys tagged `{t}`.
    mutating func queuedCommand() -> [[UInt8]] {
        let key = pick(Self.taggedKeys)
        switch int(0...15) {
        case 0, 1: return [name("SET"), key, value()] + (chance(0.3) ? [name(pick(["NX", "XX", "GET"]))] : [])
        case 2: return [name("GET"), key]
        case 3: return [name("INCR"), key]
        case 4: return [name("INCRBY"), key, integer()]
        case 5: return [name("APPEND"), key, value()]
        case 6: return [name("DEL")] + taggedKeys(int(1...3))
        case 7: return [name("EXISTS")] + taggedKeys(int(1...3))
        case 8: return [name("MGET")] + taggedKeys(int(1...3))
        case 9: return [name("MSET")] + taggedKeys(int(1...2)).flatMap { [$0, value()] }
        case 10: return [name("EXPIRE"), key, relativeSeconds()] + (chance(0.3) ? [name(pick(["NX", "XX"]))] : [])
        case 11: return [name("GETRANGE"), key, bytes("0"), bytes(String(int(-3...5)))]
        case 12: return [name("INCRBYFLOAT"), key, float()]
        case 13: return [name(pick(["RENAME", "COPY", "RENAMENX"])), key, pick(Self.taggedKeys)]
        case 14: return [name(pick(["GETDEL", "TYPE", "STRLEN", "PERSIST", "DECR"])), key]
        default: return [name("SETRANGE"), key, bytes(String(int(0...5))), value()]
        }
    }

    /// A write (or a read) of `key` from the second connection, between WATCH and EXEC.
    mutating func interference(_ key: [UInt8]) -> [DifferentialStep] {
        let commands: [[[UInt8]]]
        switch int(0...12) {
        case 0, 1: commands = [[name("SET"), key, value()]]
        case 2: commands = [[name("DEL"), key]]
        case 3: commands = [[name("INCR"), key]]
        case 4: commands = [[name("EXPIRE"), key, relativeSeconds()]]
        case 5: commands = [[name("PERSIST"), key]]
        case 6: commands = [[name("APPEND"), key, []]]
        case 7: commands = [[name("SET"), key, value(), name("NX")]]
        case 8: commands = [[name("GET"), key], [name("EXISTS"), key]]
        case 9: commands = [[name("SET"), key, value()], [name("DEL"), key]]
        case 10: commands = [[name("SETRANGE"), key, bytes("0"), []], [name("GETEX"), key, name("PERSIST")]]
        case 11: commands = [[name("SET"), pick(Self.taggedKeys), value()]]
        default: commands = [[name("RENAME"), key, pick(Self.taggedKeys)]]
        }
        return commands.map { step($0, connection: 1) }
    }

    mutating func transaction() -> [DifferentialStep] {
        let queued = (0..<int(1...4)).map { _ in queuedCommand() }
        let multi = step([name("MULTI")])
        let exec = step([name("EXEC")])
        switch int(0...13) {
        case 0..<3:
            return [multi] + queued.map { step($0) } + [exec]
        case 3..<6:
            // WATCH, maybe a change from the other connection, then the transaction: nil if it changed.
            let watched = taggedKeys(int(1...2))
            var steps = [step([name("WATCH")] + watched)]
            if chance(0.75) { steps += interference(pick(watched)) }
            return steps + [multi] + queued.map { step($0) } + [exec]
        case 6:
            // A change from this connection also dirties the watched key.
            let watched = pick(Self.taggedKeys)
            return [step([name("WATCH"), watched]), step([name("SET"), watched, value()]), multi]
                + queued.map { step($0) } + [exec]
        case 7:
            // UNWATCH forgets; the other connection's change no longer matters.
            let watched = pick(Self.taggedKeys)
            return [step([name("WATCH"), watched]), step([name("UNWATCH")])] + interference(watched) + [multi]
                + queued.map { step($0) } + [exec]
        case 8:
            // A queue-time error (arity, unknown command) aborts: EXECABORT.
            let bad = pick([[name("SET"), pick(Self.taggedKeys)], [name("GETT"), bytes("x")], [name("INCR")], [name("MSET")]])
            var commands = queued.map { step($0) }
            commands.insert(step(bad), at: int(0...commands.count))
            return [multi] + commands + [exec]
        case 9:
            // Errors at EXEC time are replies inside its array.
            let key = pick(Self.taggedKeys)
            return [multi, step([name("SET"), key, bytes("abc")]), step([name("INCR"), key]), step([name("MSET"), key, bytes("1"), key]),
                    step([name("SET"), key, bytes("v"), name("EX"), bytes("0")]), step([name("GET"), key]), exec]
        case 10:
            return [multi] + queued.map { step($0) } + [step([name("DISCARD")]), step([name("GET"), pick(Self.taggedKeys)])]
        case 11:
            // Transaction commands out of place.
            let misuse: [[DifferentialStep]] = [
                [exec], [step([name("DISCARD")])], [multi, multi, exec], [multi, step([name("WATCH"), pick(Self.taggedKeys)]), exec],
                [multi, step([name("UNWATCH")]), exec], [multi, step([name("PING")]), step([name("SELECT"), bytes("0")]), exec],
                [multi, step([name("MULTI"), bytes("x")]), exec], [step([name("WATCH")])], [multi, step([name("EXEC"), bytes("x")]), exec],
            ]
            return pick(misuse)
        case 12:
            let hello = [name("HELLO"), bytes(String(protocolVersion))]
            return [multi, step(hello, .documented(.connectionCommandsInTransaction)),
                    step([name("EXEC")], .documented(.connectionCommandsInTransaction))]
        default:
            // WATCH a missing key; the other connection creates and deletes it.
            let watched = pick(Self.taggedKeys)
            return [step([name("DEL"), watched]), step([name("WATCH"), watched])]
                + [step([name("SET"), watched, value()], connection: 1), step([name("DEL"), watched], connection: 1)]
                + [multi] + queued.map { step($0) } + [exec]
        }
    }

    /// Wrong arity, unknown commands and subcommands, syntax errors, bad integers.
    mutating func errors() -> [DifferentialStep] {
        switch int(0...9) {
        case 0..<3: return [wrongArity()]
        case 3:
            let unknown: [[UInt8]] = [
                bytes("FOO"), bytes("GETT"), bytes("SETT"), bytes("XYZZY"), [], bytes("xyzzy\u{0}get"), [0x47, 0xFF, 0x54],
                Array(repeating: UInt8(ascii: "Q"), count: 200), bytes("héllo"),
            ]
            let arguments = (0..<int(0...4)).map { _ in chance(0.2) ? Array(repeating: UInt8(ascii: "a"), count: int(50...150)) : value() }
            return [step([pick(unknown)] + arguments)]
        case 4:
            let container = pick(["CLIENT", "CONFIG", "COMMAND"])
            let sub = pick([bytes("FOO"), bytes("get-name"), [], Array(repeating: UInt8(ascii: "s"), count: 150)])
            return [step([name(container), sub] + (chance(0.5) ? [value()] : []))]
        case 5:
            let key = key()
            let syntax: [[[UInt8]]] = [
                [name("SET"), key, value(), name("NX"), name("XX")], [name("SET"), key, value(), name("EX")],
                [name("SET"), key, value(), name("EX"), relativeSeconds(), name("PX"), relativeMilliseconds()],
                [name("SET"), key, value(), name("KEEPTTL"), name("EX"), relativeSeconds()], [name("SET"), key, value(), name("FOO")],
                [name("EXPIRE"), key, relativeSeconds(), name("NX"), name("XX")], [name("EXPIRE"), key, relativeSeconds(), name("GT"), name("LT")],
                [name("EXPIRE"), key, relativeSeconds(), name("FOO")], [name("FLUSHDB"), name("FOO")], [name("FLUSHALL"), name("SYNC"), name("ASYNC")],
                [name("MSET"), key, value(), key], [name("MSETNX"), key], [name("COPY"), key, key],
            ]
            return [step(pick(syntax))]
        default:
            let key = key()
            let integers: [[[UInt8]]] = [
                [name("INCRBY"), key, bytes("abc")], [name("DECRBY"), key, bytes("1.5")], [name("DECRBY"), key, bytes("-9223372036854775808")],
                [name("GETRANGE"), key, bytes("a"), bytes("1")], [name("SETRANGE"), key, bytes("x"), value()],
                [name("EXPIRE"), key, bytes("abc")], [name("SETEX"), key, bytes("abc"), value()], [name("PSETEX"), key, bytes("-5"), value()],
                [name("SELECT"), bytes("abc")], [name("INCRBYFLOAT"), key, bytes("abc")], [name("SETEX"), key, bytes("0"), value()],
                [name("INCRBY"), key, bytes("9223372036854775808")], [name("SCAN"), bytes("abc")],
            ]
            return [step(pick(integers))]
        }
    }

    /// A command with one argument too few or too many, for a random spec (or subcommand) that has a fixed count to break.
    mutating func wrongArity() -> DifferentialStep {
        var candidates: [CommandSpec] = CommandTable.gateway.specs
        for spec in CommandTable.gateway.specs {
            // Subcommands Redis 7.0 lacks would answer "unknown subcommand" there.
            candidates += spec.subcommands.filter { $0.servers.contains(.gateway) && !["client|setinfo", "client|no-touch"].contains($0.name) }
        }
        candidates = candidates.filter { spec in
            let words = spec.name.split(separator: "|").count
            return spec.arity > 0 ? spec.arity + 1 >= words : -spec.arity - 1 >= words
        }
        let spec = pick(candidates)
        let counts = spec.arity > 0 ? [spec.arity - 1, spec.arity + 1] : [-spec.arity - 1]
        let words = spec.name.split(separator: "|").map { name($0.uppercased()) }
        let count = pick(counts.filter { $0 >= words.count })
        let arguments = words + (0..<(count - words.count)).map { _ in pick(Self.taggedKeys) }
        return step(arguments, spec.group == .strata ? .documented(.strataCommands) : .exact)
    }

    mutating func connection() -> [DifferentialStep] {
        let version = bytes(String(protocolVersion))
        switch int(0...19) {
        case 0: return [step([name("PING")] + (chance(0.5) ? [value()] : []))]
        case 1: return [step([name("ECHO"), value()])]
        case 2:
            let hello: [[[UInt8]]] = [
                [name("HELLO")], [name("HELLO"), version], [name("HELLO"), version, name("SETNAME"), bytes("differential")],
            ]
            return [step(pick(hello), .documented(.helloReply)), step([name("CLIENT"), name("GETNAME")])]
        case 3:
            let bad: [[[UInt8]]] = [
                [name("HELLO"), bytes("4")], [name("HELLO"), bytes("1")], [name("HELLO"), bytes("abc")], [name("HELLO"), version, name("FOO")],
                [name("HELLO"), version, name("SETNAME")], [name("HELLO"), version, name("SETNAME"), bytes("a b")],
                [name("HELLO"), name("SETNAME"), bytes("x")], [name("HELLO"), version, name("AUTH"), bytes("x")], [name("HELLO"), bytes("-1")],
            ]
            return [step(pick(bad))]
        case 4:
            let names: [[UInt8]] = [bytes("conn-1"), [], bytes("a b"), bytes("x\ny"), bytes("ok"), [0xFF], bytes("~!")]
            return [step([name("CLIENT"), name("SETNAME"), pick(names)]), step([name("CLIENT"), name("GETNAME")])]
        case 5:
            return [step([name("CLIENT"), name(pick(["ID", "INFO", "LIST", "HELP"]))], .documented(.serverIntrospection))]
        case 6:
            let setInfo = [name("CLIENT"), name("SETINFO"), name(pick(["LIB-NAME", "LIB-VER", "FOO"])), pick([bytes("redis-py"), bytes("1.0"), bytes("a b")])]
            return [step(chance(0.6) ? setInfo : [name("CLIENT"), name("NO-TOUCH"), name(pick(["ON", "OFF"]))], .documented(.newerClientSubcommands))]
        case 7:
            return [step([name("CLIENT"), name(pick(["NO-EVICT", "TRACKING"])), name(pick(["OFF", "OFF", "MAYBE"]))])]
        case 8:
            return [step([name("CLIENT"), name("NO-EVICT"), name(pick(["ON", "OFF"]))])]
        case 9:
            let index = pick([bytes("0"), bytes("16"), bytes("-1"), bytes("2147483648"), bytes("-2147483649"), bytes("abc"), [], bytes("00")])
            return [step([name("SELECT"), index])]
        case 10:
            // Redis switches databases; Strata has database 0 only. Back to 0 on both.
            return [step([name("SELECT"), bytes(String(int(1...15)))], .documented(.otherDatabases)), step([name("SELECT"), bytes("0")])]
        case 11:
            let forms: [[[UInt8]]] = [
                [name("COUNT")], [name("LIST")], [name("INFO"), bytes("get")], [name("DOCS"), bytes("set")], [name("HELP")], [],
                [name("INFO"), bytes("nosuch")],
            ]
            return [step([name("COMMAND")] + pick(forms), .documented(.serverIntrospection))]
        case 12:
            let commands: [[[UInt8]]] = [
                [bytes("GET"), key()], [bytes("MSET")] + taggedKeys(2).flatMap { [$0, value()] }, [bytes("SET"), key(), value(), bytes("EX"), bytes("10")],
                [bytes("DEL")] + taggedKeys(3), [bytes("RENAME"), key(), key()], [bytes("PING")], [bytes("NOSUCH"), key()], [bytes("GET")],
                [bytes("EXPIRE"), key(), bytes("10")], [bytes("COPY"), key(), key(), bytes("REPLACE")], [bytes("EXISTS"), key(), key()],
            ]
            return [step([name("COMMAND"), name("GETKEYS")] + pick(commands))]
        case 13:
            return [step([name("CONFIG"), name("GET"), pick([bytes("maxmemory"), bytes("*"), bytes("nosuch")])], .documented(.serverIntrospection))]
        case 14:
            return [step([name("CONFIG"), name(pick(["RESETSTAT", "REWRITE"]))], .documented(.readOnlyConfiguration))]
        case 15:
            return [step([name("INFO")] + (chance(0.5) ? [name(pick(["server", "keyspace", "nosuch", "all"]))] : []), .documented(.serverIntrospection))]
        case 16:
            switch int(0...2) {
            case 0: return [step([name("AUTH"), bytes("secret")], .documented(.authentication))]
            case 1: return [step([name("AUTH"), bytes("nosuchuser"), bytes("secret")])]
            default: return [step([name("AUTH"), bytes("a"), bytes("b"), bytes("c")])]
            }
        case 17:
            // RESET drops the name, the transaction, the watched keys and the protocol.
            var steps = [step([name("CLIENT"), name("SETNAME"), bytes("before-reset")]), step([name("RESET")])]
            if protocolVersion == 3 { steps.append(step([name("HELLO"), bytes("3")], .documented(.helloReply))) }
            return steps + [step([name("CLIENT"), name("GETNAME")])]
        default:
            return [step([name("DBSIZE")])]
        }
    }

    /// Multi-key commands over two shards: the ones the target refuses answer CROSSSHARD,
    /// the others as Redis; the keys are re-synchronized after.
    mutating func crossShard() -> [DifferentialStep] {
        guard let tag = crossShardTag else { return keyspace() }
        let here = pick(Self.taggedKeys.filter { $0.starts(with: bytes("{t}")) })
        let there = bytes("{") + tag + bytes("}") + here.dropFirst(3)
        let keys = chance(0.5) ? [here, there] : [there, here]
        func command(_ name: String, _ arguments: [[UInt8]]) -> DifferentialStep {
            step([self.name(name)] + arguments, .crossShard(command: name.lowercased()))
        }
        var steps = [step([bytes("SET"), there, value()], .unchecked)]
        switch int(0...9) {
        case 0: steps.append(command("RENAME", keys))
        case 1: steps.append(command("RENAMENX", keys))
        case 2: steps.append(command("COPY", keys + (chance(0.5) ? [bytes("REPLACE")] : [])))
        case 3: steps.append(command("MSETNX", keys.flatMap { [$0, value()] }))
        case 4:
            steps += [step([name("MULTI")]), step([name("SET"), keys[0], value()]), step([name("SET"), keys[1], value()]), command("EXEC", [])]
        case 5:
            steps += [step([name("WATCH"), there]), step([name("MULTI")]), step([name("SET"), here, value()]), command("EXEC", [])]
        case 6: steps.append(command("MSET", keys.flatMap { [$0, value()] }))
        case 7: steps.append(command("MGET", keys))
        case 8: steps.append(command(pick(["EXISTS", "TOUCH"]), keys))
        default: steps.append(command(pick(["DEL", "UNLINK"]), keys))
        }
        return steps + resync(keys)
    }
}
