/// The data commands of the stream: strings, counters, keys, expiries, the whole keyspace.
extension DifferentialGenerator {
    /// SET's options, any number in any order: valid, conflicting, misspelt, with bad amounts.
    mutating func setOptions() -> [[UInt8]] {
        var options: [[UInt8]] = []
        for _ in 0..<int(0...3) {
            switch int(0...19) {
            case 0..<3: options.append(name("NX"))
            case 3..<6: options.append(name("XX"))
            case 6..<9: options.append(name("GET"))
            case 9..<11: options.append(name("KEEPTTL"))
            case 11..<13: options += [name("EX"), relativeSeconds()]
            case 13..<15: options += [name("PX"), relativeMilliseconds()]
            case 15: options += [name("EXAT"), chance(0.7) ? absoluteSeconds() : pastTime(milliseconds: false)]
            case 16: options += [name("PXAT"), chance(0.7) ? absoluteMilliseconds() : pastTime(milliseconds: true)]
            case 17, 18: options += [name(pick(["EX", "PX", "EXAT", "PXAT"])), pick(Self.badExpiries)]
            default: options.append(name(pick(["FOO", "EX", "PX", "EXAT", "PXAT", "NXX", "KEEP"])))
            }
        }
        return options
    }

    mutating func stringWrite() -> [DifferentialStep] {
        let key = key()
        switch int(0...15) {
        case 0..<4:
            let options = setOptions()
            var steps = [step([name("SET"), key, value()] + options)]
            if options.contains(where: { ["EX", "PX", "EXAT", "PXAT", "KEEPTTL"].contains(String(decoding: $0, as: UTF8.self).uppercased()) }) {
                steps += expiryReads(key)
            }
            return steps
        case 4:
            // Unconditional and valid: the expiry is exactly the one given, on both servers.
            let option = chance(0.5) ? [name("EXAT"), absoluteSeconds()] : [name("PXAT"), absoluteMilliseconds()]
            return [step([name("SET"), key, value()] + option + (chance(0.3) ? [name("GET")] : []))] + expiryReads(key, exact: true)
        case 5: return [step([name("SETNX"), key, value()])]
        case 6:
            return [step([name("SETEX"), key, chance(0.8) ? relativeSeconds() : pick(Self.badExpiries), value()])] + expiryReads(key)
        case 7:
            return [step([name("PSETEX"), key, chance(0.8) ? relativeMilliseconds() : pick(Self.badExpiries), value()])]
                + expiryReads(key)
        case 8: return [step([name("GETSET"), key, value()])]
        case 9: return [step([name("GETDEL"), key])]
        case 10, 11: return getExpire(key)
        case 12: return [step([name("APPEND"), key, value()])]
        case 13:
            let offset = chance(0.85)
                ? bytes(String(pick([0, 1, 2, 3, 5, 10, 20, 100])))
                : pick([bytes("-1"), bytes("abc"), bytes("536870912"), bytes("9223372036854775807"), bytes("1.5"), bytes("")])
            return [step([name("SETRANGE"), key, offset, chance(0.15) ? [] : value()])]
        default:
            let keys = taggedKeys(int(1...4))
            let command = name(chance(0.5) ? "MSET" : "MSETNX")
            return [step([command] + keys.flatMap { [$0, value()] })]
        }
    }

    /// GETEX with no option, one, or a conflicting or malformed set.
    mutating func getExpire(_ key: [UInt8]) -> [DifferentialStep] {
        switch int(0...9) {
        case 0, 1: return [step([name("GETEX"), key])]
        case 2: return [step([name("GETEX"), key, name("EX"), relativeSeconds()])] + expiryReads(key)
        case 3: return [step([name("GETEX"), key, name("PX"), relativeMilliseconds()])] + expiryReads(key)
        case 4:
            let option = chance(0.5) ? [name("EXAT"), absoluteSeconds()] : [name("PXAT"), absoluteMilliseconds()]
            return [step([name("GETEX"), key] + option)] + expiryReads(key, exact: true)
        case 5:
            let option = chance(0.5) ? [name("EXAT"), pastTime(milliseconds: false)] : [name("PXAT"), pastTime(milliseconds: true)]
            return [step([name("GETEX"), key] + option), step([name("EXISTS"), key])]
        case 6: return [step([name("GETEX"), key, name("PERSIST")])] + expiryReads(key)
        case 7: return [step([name("GETEX"), key, name(pick(["EX", "PX", "EXAT", "PXAT"])), pick(Self.badExpiries)])]
        default:
            let options: [[[UInt8]]] = [
                [name("EX"), relativeSeconds(), name("PX"), relativeMilliseconds()], [name("PERSIST"), name("EX"), relativeSeconds()],
                [name("EX")], [name("FOO")], [name("KEEPTTL")], [name("PERSIST"), name("PERSIST")], [name("GET")], [name("NX")],
                [name("EX"), relativeSeconds(), name("EX"), relativeSeconds()],
            ]
            return [step([name("GETEX"), key] + pick(options))]
        }
    }

    mutating func stringRead() -> [DifferentialStep] {
        let key = key()
        switch int(0...9) {
        case 0..<3: return [step([name("GET"), key])]
        case 3, 4: return [step([name("MGET")] + taggedKeys(int(1...5)))]
        case 5: return [step([name("STRLEN"), key])]
        case 6, 7, 8:
            func index(_ generator: inout DifferentialGenerator) -> [UInt8] {
                generator.chance(0.9)
                    ? bytes(String(generator.int(-20...20)))
                    : generator.pick([bytes("9223372036854775807"), bytes("-9223372036854775808"), bytes("abc"), bytes("1.5"), []])
            }
            return [step([name("GETRANGE"), key, index(&self), index(&self)])]
        default: return [step([name("GETVER"), key], .documented(.strataCommands))]
        }
    }

    mutating func counter() -> [DifferentialStep] {
        let key = chance(0.5) ? pick([bytes("{t}n"), bytes("{t}f"), bytes("n"), bytes("f")]) : self.key()
        var steps: [DifferentialStep] = []
        if chance(0.4) {
            let start = chance(0.5) ? integer() : pick([float(), pick(Self.values), bytes("9223372036854775807"), bytes("-9223372036854775808")])
            steps.append(step([name("SET"), key, start]))
        }
        switch int(0...5) {
        case 0: steps.append(step([name("INCR"), key]))
        case 1: steps.append(step([name("DECR"), key]))
        case 2: steps.append(step([name("INCRBY"), key, integer()]))
        case 3: steps.append(step([name("DECRBY"), key, integer()]))
        default: steps.append(step([name("INCRBYFLOAT"), key, float()]))
        }
        if chance(0.3) { steps.append(step([name("GET"), key])) }
        return steps
    }

    mutating func keyspace() -> [DifferentialStep] {
        switch int(0...11) {
        case 0, 1: return [step([name(chance(0.7) ? "DEL" : "UNLINK")] + taggedKeys(int(1...4)))]
        case 2, 3: return [step([name(chance(0.6) ? "EXISTS" : "TOUCH")] + taggedKeys(int(1...4)))]
        case 4: return [step([name("TYPE"), key()])]
        case 5, 6:
            let keys = taggedKeys(2)
            let second = chance(0.15) ? keys[0] : keys[1]
            return [step([name(chance(0.5) ? "RENAME" : "RENAMENX"), keys[0], second]), step([name("EXISTS"), keys[0], second])]
        case 7, 8, 9: return copy()
        case 10: return [step([name("PERSIST"), key()])]
        default: return [step([name("TYPE"), pick(Self.taggedKeys)]), step([name("STRLEN"), pick(Self.taggedKeys)])]
        }
    }

    mutating func copy() -> [DifferentialStep] {
        let keys = taggedKeys(2)
        let destination = chance(0.1) ? keys[0] : keys[1]
        let command = [name("COPY"), keys[0], destination]
        switch int(0...9) {
        case 0..<4: return [step(command), step([name("GET"), destination])]
        case 4, 5: return [step(command + [name("REPLACE")]), step([name("GET"), destination])] + expiryReads(destination)
        case 6: return [step(command + [name("DB"), bytes("0")] + (chance(0.5) ? [name("REPLACE")] : []))]
        case 7:
            // Redis copies into another database; Strata has only database 0.
            return [step(command + [name("DB"), bytes(String(int(1...15)))] + (chance(0.5) ? [name("REPLACE")] : []), .documented(.otherDatabases))]
        default:
            let bad: [[[UInt8]]] = [
                [name("DB"), bytes("16")], [name("DB"), bytes("-1")], [name("DB"), bytes("abc")], [name("DB"), bytes("2147483648")],
                [name("DB")], [name("FOO")], [name("REPLACE"), name("FOO")], [name("DB"), bytes("-2147483649")], [name("DB"), []],
            ]
            return [step(command + pick(bad))]
        }
    }

    /// EXPIRE's conditions: none mostly, else one or two, some incompatible or unknown.
    mutating func expireConditions() -> [[UInt8]] {
        guard chance(0.4) else { return [] }
        return (0..<int(1...2)).map { _ in name(pick(["NX", "XX", "GT", "LT", "NX", "XX", "GT", "LT", "FOO", "EX"])) }
    }

    mutating func expiry() -> [DifferentialStep] {
        let key = key()
        switch int(0...11) {
        case 0, 1:
            let amount = chance(0.75) ? relativeSeconds() : pick(Self.badExpiries)
            return [step([name("EXPIRE"), key, amount] + expireConditions())] + expiryReads(key)
        case 2, 3:
            let amount = chance(0.75) ? relativeMilliseconds() : pick(Self.badExpiries)
            return [step([name("PEXPIRE"), key, amount] + expireConditions())] + expiryReads(key)
        case 4, 5:
            let milliseconds = chance(0.5)
            let command = name(milliseconds ? "PEXPIREAT" : "EXPIREAT")
            // Unconditional and valid: the expiry is exactly the one given.
            let amount = milliseconds ? absoluteMilliseconds() : absoluteSeconds()
            return [step([command, key, amount])] + expiryReads(key, exact: true)
        case 6:
            let milliseconds = chance(0.5)
            let amount = chance(0.5) ? pastTime(milliseconds: milliseconds) : pick(Self.badExpiries)
            return [step([name(milliseconds ? "PEXPIREAT" : "EXPIREAT"), key, amount] + expireConditions()), step([name("EXISTS"), key])]
        case 7:
            let milliseconds = chance(0.5)
            let amount = milliseconds ? absoluteMilliseconds() : absoluteSeconds()
            return [step([name(milliseconds ? "PEXPIREAT" : "EXPIREAT"), key, amount] + expireConditions())] + expiryReads(key)
        case 8: return [step([name("PERSIST"), key])] + expiryReads(key)
        default: return expiryReads(key)
        }
    }

    /// A glob: a known tricky one, or random tokens over the bytes the keys are made of.
    mutating func globPattern() -> [UInt8] {
        let known: [[UInt8]] = [
            bytes("*"), bytes("{t}*"), bytes("*a*"), bytes("?"), bytes("??"), bytes("[a-c]*"), bytes("[^a]*"), bytes("\\*"),
            bytes("*\\"), bytes("["), bytes("[a-"), bytes("{t}[a-]"), bytes("[]]"), bytes("[^]a]*"), [], bytes("**"), bytes("*?"),
            [0x2A, 0xFF, 0x2A], bytes("{t}[") + [0x00, 0x2D, 0x80] + bytes("]*"), [0x5B, 0xFF, 0x2D, 0x61, 0x5D, 0x2A],
            bytes("*[\\]]*"), bytes("h?llo"), bytes("{t}?"), bytes("*{*"), bytes("{t}[\r-\n]*"), bytes("*[a-c-e]*"),
        ]
        if chance(0.35) { return pick(known) }
        let alphabet: [UInt8] = Array("{t}abcnfxyhlo*?[]\\k:12".utf8) + [0, 0x0D, 0x0A, 0xFF, 0xFE, 0x80, 0xC0, 0xC3, 0xA9]
        var pattern: [UInt8] = []
        for _ in 0..<int(1...5) {
            switch int(0...9) {
            case 0, 1: pattern.append(UInt8(ascii: "*"))
            case 2: pattern.append(UInt8(ascii: "?"))
            case 3:
                pattern.append(UInt8(ascii: "["))
                if chance(0.3) { pattern.append(UInt8(ascii: "^")) }
                for _ in 0..<int(1...3) {
                    pattern.append(pick(alphabet))
                    if chance(0.4) { pattern += [UInt8(ascii: "-"), pick(alphabet)] }
                }
                if chance(0.9) { pattern.append(UInt8(ascii: "]")) }
            case 4: pattern += [UInt8(ascii: "\\"), pick(alphabet)]
            default: pattern.append(pick(alphabet))
            }
        }
        return pattern
    }

    mutating func wholeKeyspace() -> [DifferentialStep] {
        switch int(0...11) {
        case 0..<3: return [step([name("KEYS"), globPattern()], .unordered)]
        case 3..<6:
            var options: [[[UInt8]]] = []
            if chance(0.6) { options.append([name("MATCH"), globPattern()]) }
            if chance(0.5) { options.append([name("COUNT"), bytes(String(pick([1, 2, 3, 5, 10, 100, 1000])))]) }
            if chance(0.2) { options.append([name("TYPE"), pick([bytes("string"), bytes("STRING"), bytes("hash"), bytes("none")])]) }
            options.shuffle(using: &random)
            return [.fullScan(options: options.flatMap { $0 })]
        case 6:
            // One page from some cursor: the cursors differ by design; invalid ones must be refused alike.
            let cursor = pick([
                bytes("0"), bytes("1"), bytes("17"), [], bytes("-1"), bytes("+0"), bytes("007"), bytes("18446744073709551615"),
                bytes("18446744073709551616"), bytes("abc"), bytes(" 1"), bytes("1 "), bytes("-"), bytes("+"), bytes("0x1"),
                bytes("-18446744073709551616"), [0x30, 0x00, 0x31],
            ])
            return [step([name("SCAN"), cursor] + (chance(0.5) ? [name("COUNT"), bytes("1000")] : []), .documented(.scanCursor))]
        case 7:
            let bad: [[[UInt8]]] = [
                [name("COUNT"), bytes("0")], [name("COUNT"), bytes("-1")], [name("COUNT"), bytes("abc")], [name("COUNT")],
                [name("MATCH")], [name("FOO"), bytes("bar")], [name("TYPE")], [name("COUNT"), bytes("9223372036854775808")],
            ]
            return [.fullScan(options: pick(bad))]
        case 8: return [step([name("SCAN"), bytes("0"), name("RANGEEND"), bytes("5")], .documented(.scanRangeEnd))]
        case 9: return [step([name("DBSIZE")])]
        default: return [step([name("RANDOMKEY")], .documented(.randomKey))]
        }
    }

    mutating func flush() -> [DifferentialStep] {
        let command = name(chance(0.5) ? "FLUSHDB" : "FLUSHALL")
        let options: [[[UInt8]]] = [[], [], [name("ASYNC")], [name("SYNC")], [name("FOO")], [name("SYNC"), name("ASYNC")]]
        return [step([command] + pick(options)), step([name("DBSIZE")])]
    }
}
