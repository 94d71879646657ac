import NIOCore
import StrataCache
import StrataClient
import StrataCluster
import StrataWire

/// The commands a gateway runs asynchronously (through the tenant's client and cache).
enum GatewayCommands {
    static let plainWrites: Set<String> = [
        "INCR", "DECR", "INCRBY", "DECRBY", "APPEND", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "GETDEL",
    ]
    static let plainReads: Set<String> = ["TTL", "PTTL", "STRLEN"]

    /// Runs `arguments` (name first, upper-cased in `name`) for `route`; never throws: errors become error replies.
    static func run(_ name: String, _ arguments: [[UInt8]], route: TenantRoute, stats: GatewayStats) async -> RESPValue {
        do {
            return try await execute(name, arguments, route: route, stats: stats)
        } catch let error as StrataError {
            return .errorMessage(errorLine(error))
        } catch {
            return .errorMessage("ERR \(error)")
        }
    }

    /// The RESP error line for a client error: the node's own line when it came from one.
    static func errorLine(_ error: StrataError) -> String {
        let first = error.message.prefix { $0 != " " }
        if !first.isEmpty, first.allSatisfy({ $0.isUppercase || $0 == "_" }) { return error.message }
        return "ERR \(error.code.rawValue): \(error.description)"
    }

    static func arity(_ arguments: [[UInt8]], _ count: Int, _ name: String) throws {
        guard arguments.count == count else {
            throw StrataError(.invalidArgument, "ERR wrong number of arguments for '\(name.lowercased())' command")
        }
    }

    /// A read through the cache: coalesced, stale-while-revalidate, fenced by versions.
    static func cachedGet(_ key: [UInt8], route: TenantRoute) async throws -> Loaded<[UInt8]> {
        let client = route.client
        return try await route.cache.getVersioned(CacheKey(key)) { key in try await client.loadForCache(key.bytes) }
    }

    private static func execute(_ name: String, _ arguments: [[UInt8]], route: TenantRoute, stats: GatewayStats)
        async throws -> RESPValue
    {
        let client = route.client
        let cache = route.cache
        switch name {
        case "GET":
            try arity(arguments, 2, name)
            return try await cachedGet(arguments[1], route: route).value.map { .bulk($0) } ?? .null
        case "GETVER":
            try arity(arguments, 2, name)
            let loaded = try await cachedGet(arguments[1], route: route)
            guard let value = loaded.value else { return .null }
            return .array([.bulk(value), .integer(Int64(bitPattern: loaded.version))])
        case "MGET", "EXISTS":
            guard arguments.count >= 2 else { try arity(arguments, 2, name); return .null }
            let keys = Array(arguments.dropFirst())
            let values = try await withThrowingTaskGroup(of: (Int, [UInt8]?).self) { group in
                for (index, key) in keys.enumerated() {
                    group.addTask { (index, try await cachedGet(key, route: route).value) }
                }
                var values = [[UInt8]?](repeating: nil, count: keys.count)
                for try await (index, value) in group { values[index] = value }
                return values
            }
            if name == "EXISTS" { return .integer(Int64(values.filter { $0 != nil }.count)) }
            return .array(values.map { $0.map { .bulk($0) } ?? .null })
        case "SET":
            guard arguments.count >= 3 else { try arity(arguments, 3, name); return .null }
            let (reply, version) = try await client.execute(arguments, key: arguments[1], isWrite: true)
            if arguments.count == 3, let version {
                // Write-through: the cache takes the value at the version the primary gave it.
                cache.put(CacheKey(arguments[1]), value: arguments[2], version: version)
            } else {
                cache.invalidate(CacheKey(arguments[1]))
            }
            stats.writes.add(1, ordering: .relaxed)
            return reply
        case "DEL", "UNLINK":
            guard arguments.count >= 2 else { try arity(arguments, 2, name); return .null }
            var removed: Int64 = 0
            for key in arguments.dropFirst() {
                let (reply, version) = try await client.execute([Array("DEL".utf8), key], key: key, isWrite: true)
                if case .integer(let count) = reply { removed += count }
                if let version { cache.put(CacheKey(key), value: nil, version: version) } else { cache.invalidate(CacheKey(key)) }
            }
            stats.writes.add(1, ordering: .relaxed)
            return .integer(removed)
        case "MSET":
            guard arguments.count >= 3, arguments.count % 2 == 1 else {
                throw StrataError(.invalidArgument, "ERR wrong number of arguments for 'mset' command")
            }
            var pairs: [(key: String, value: [UInt8])] = []
            for index in stride(from: 1, to: arguments.count, by: 2) {
                pairs.append((String(decoding: arguments[index], as: UTF8.self), arguments[index + 1]))
            }
            try await client.multiSet(pairs)
            for index in stride(from: 1, to: arguments.count, by: 2) { cache.invalidate(CacheKey(arguments[index])) }
            stats.writes.add(1, ordering: .relaxed)
            return .simple("OK")
        case _ where plainWrites.contains(name):
            guard arguments.count >= 2 else { try arity(arguments, 2, name); return .null }
            let (reply, _) = try await client.execute(arguments, key: arguments[1], isWrite: true)
            cache.invalidate(CacheKey(arguments[1]))
            stats.writes.add(1, ordering: .relaxed)
            return reply
        case _ where plainReads.contains(name):
            try arity(arguments, 2, name)
            return try await client.execute(arguments, key: arguments[1], isWrite: false).reply
        case "SCAN", "DBSIZE":
            var pattern = "*"
            if name == "SCAN" {
                var index = 2
                while index + 1 < arguments.count {
                    if String(decoding: arguments[index], as: UTF8.self).uppercased() == "MATCH" {
                        pattern = String(decoding: arguments[index + 1], as: UTF8.self)
                    }
                    index += 2
                }
            }
            var keys: [RESPValue] = []
            for try await key in client.scan(matching: pattern) { keys.append(.bulk(key)) }
            // One page holds the whole scan: the cursor is always 0 again.
            return name == "DBSIZE" ? .integer(Int64(keys.count)) : .array([.bulk("0"), .array(keys)])
        default:
            return .errorMessage("ERR unknown command '\(name.lowercased())'")
        }
    }
}
