import NIOCore
import StrataCache
import StrataClient
import StrataCluster
import StrataServer
import StrataWire

/// How the gateway runs each parsed command: reads through the tenant's
/// cache (coalesced, stale-while-revalidate, fenced by versions), writes
/// through to the primary (the cache takes a plain SET's value at its
/// version, and drops what any other write touched), commands over the
/// whole keyspace fanned out to every primary, transactions sent to their
/// shard's primary as one pipeline. Which path a command takes comes from
/// its spec (its flags and keys), not from a list of names.
enum GatewayCommands {
    /// What a command needs.
    enum Step {
        /// Its reply, from memory.
        case reply(RESPValue)
        /// Storage: run it with ``run(_:_:session:gateway:)``.
        case storage(Command)
    }

    /// The gateway as `HELLO` names it.
    static let identity = ServerIdentity(mode: "cache")

    /// Admission, `MULTI` queueing, the shared connection commands and what
    /// memory can answer (fresh cache entries, INFO, CONFIG GET); otherwise
    /// the command, to run against storage.
    static func answerNow(_ parsed: ParsedCommand, session: inout GatewaySession, gateway: GatewayCore) -> Step {
        do throws(CommandError) {
            try SessionCommands.admit(parsed, session: &session)
            if let queued = SessionCommands.queueInTransaction(parsed, session: &session) { return .reply(queued) }
            let command = try parsed.parsed.get()
            if let answer = try SessionCommands.execute(
                command, session: &session, table: .gateway, identity: identity,
                authenticate: { (credentials, session) throws(CommandError) in
                    try authenticate(credentials, session: &session, gateway: gateway)
                })
            {
                return .reply(answer)
            }
            switch command {
            case .info(let sections):
                return .reply(.verbatim(gateway.info(sections: sections.map { CommandArguments.keyword($0).lowercased() })))
            case .configGet(let patterns):
                return .reply(.map(gateway.configValues(matching: patterns).map { (.bulk($0.0), .bulk($0.1)) }))
            case .configChange, .configSet:
                throw CommandError(message: "ERR CONFIG is read-only on Strata; change cluster.json or the command line and restart")
            case .get(let key):
                guard let fresh = session.route?.cache.fresh(CacheKey(Array(key.readableBytesView))) else { break }
                gateway.stats.servedFromMemory.add(1, ordering: .relaxed)
                return .reply(fresh.value.map { .bulk($0) } ?? .null)
            case .getVersion(let key):
                guard let fresh = session.route?.cache.fresh(CacheKey(Array(key.readableBytesView))) else { break }
                gateway.stats.servedFromMemory.add(1, ordering: .relaxed)
                return .reply(fresh.value.map { .array([.bulk($0), .integer(Int64(bitPattern: fresh.version))]) } ?? .null)
            default:
                break
            }
            return .storage(command)
        } catch {
            if error.closesConnection { session.client.closeAfterReply = true }
            return .reply(.errorMessage(error.message))
        }
    }

    /// `AUTH tenant secret` (the one-argument form is the `default` tenant).
    static func authenticate(_ credentials: Credentials, session: inout GatewaySession, gateway: GatewayCore) throws(CommandError) {
        let tenant = credentials.user.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? "default"
        let secret = String(decoding: credentials.password.readableBytesView, as: UTF8.self)
        let route: TenantRoute?
        do {
            route = try gateway.tenants.route(tenant: tenant, secret: secret)
        } catch {
            throw CommandError(message: "ERR cannot serve tenant \(tenant): \(error)")
        }
        guard let route else { throw .wrongPass }
        session.route = route
        session.client.user = tenant
    }

    /// Runs a command that needs storage; never throws: errors become error replies.
    static func run(_ parsed: ParsedCommand, _ command: Command, session: inout GatewaySession, gateway: GatewayCore) async
        -> RESPValue
    {
        do {
            guard let route = session.route else { throw CommandError.noAuth }
            return try await execute(parsed, command, route: route, session: &session, gateway: gateway)
        } catch let error as StrataError {
            return .errorMessage(errorLine(error))
        } catch let error as CommandError {
            return .errorMessage(error.message)
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

    /// A read through the cache: coalesced, stale-while-revalidate, fenced by versions.
    static func cachedGet(_ key: [UInt8], route: TenantRoute) async throws -> Loaded<[UInt8]> {
        let client = route.client
        let loadDuration = route.loadDuration
        return try await route.cache.getVersioned(CacheKey(key)) { key in
            let started = ContinuousClock.now
            defer { loadDuration.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1))) }
            return try await client.loadForCache(key.bytes)
        }
    }

    private static func bytes(_ arguments: [ByteBuffer]) -> [[UInt8]] { arguments.map { Array($0.readableBytesView) } }

    private static func execute(
        _ parsed: ParsedCommand, _ command: Command, route: TenantRoute, session: inout GatewaySession, gateway: GatewayCore
    ) async throws -> RESPValue {
        let client = route.client
        let cache = route.cache
        switch command {
        case .get(let key):
            return try await cachedGet(Array(key.readableBytesView), route: route).value.map { .bulk($0) } ?? .null
        case .getVersion(let key):
            let loaded = try await cachedGet(Array(key.readableBytesView), route: route)
            guard let value = loaded.value else { return .null }
            return .array([.bulk(value), .integer(Int64(bitPattern: loaded.version))])
        case .multiGet(let keys), .exists(let keys), .touch(let keys):
            let values = try await cachedValues(keys.map { Array($0.readableBytesView) }, route: route)
            if case .multiGet = command { return .array(values.map { $0.map { .bulk($0) } ?? .null }) }
            return .integer(Int64(values.filter { $0 != nil }.count))
        case .set(let set) where set.isBlind && set.expiry == nil:
            let key = Array(set.key.readableBytesView)
            let (reply, version) = try await client.execute(bytes(parsed.arguments), key: key, isWrite: true)
            // Write-through: the cache takes the value at the version the primary gave it.
            if case .simpleString = reply, let version {
                cache.put(CacheKey(key), value: Array(set.value.readableBytesView), version: version)
            } else {
                cache.invalidate(CacheKey(key))
            }
            gateway.stats.writes.add(1, ordering: .relaxed)
            return reply
        case .multiSet(let pairs, onlyIfNoneExist: false):
            var entries: [(key: StrataKey, value: [UInt8])] = []
            for index in stride(from: pairs.startIndex, to: pairs.endIndex, by: 2) {
                entries.append((StrataKey(pairs[index].readableBytesView), Array(pairs[index + 1].readableBytesView)))
            }
            try await client.multiSet(entries)
            for entry in entries { cache.invalidate(CacheKey(entry.key.bytes)) }
            gateway.stats.writes.add(1, ordering: .relaxed)
            return .simple("OK")
        case .delete(let keys):
            return try await deleteByShard(parsed, keys.map { Array($0.readableBytesView) }, route: route, gateway: gateway)
        case .watch(let keys):
            try SessionCommands.checkWatch(session: session)
            for key in keys {
                let bytes = Array(key.readableBytesView)
                // The primary's watch point: the node's EXEC compares with it (WATCHVER).
                let reply = try await client.execute(
                    [Array("WATCHPOINT".utf8), bytes], key: bytes, isWrite: false, options: RequestOptions(readPolicy: .primary)
                ).reply
                guard case .integer(let point) = reply else {
                    if case .error(let message) = reply { return .error(message) }
                    throw CommandError(message: "ERR unexpected reply to WATCHPOINT: \(reply)")
                }
                session.client.watched.append(WatchedKey(key: ByteBuffer(bytes: bytes), point: WatchPoint(wire: point)))
            }
            return .simple("OK")
        case .exec:
            return try await exec(session: &session, route: route, gateway: gateway)
        case .flush:
            for reply in try await client.executeOnPrimaries(bytes(parsed.arguments)) {
                if case .error(let message) = reply { return .error(message) }
            }
            cache.invalidateAll { _ in true }
            return .simple("OK")
        case .dbSize:
            let replies = try await client.executeOnPrimaries(bytes(parsed.arguments))
            return .integer(replies.reduce(0) { total, reply in if case .integer(let count) = reply { total + count } else { total } })
        case .keys:
            var keys: [RESPValue] = []
            for case .array(let found) in try await client.executeOnPrimaries(bytes(parsed.arguments)) { keys += found }
            return .array(keys)
        case .randomKey:
            let found = try await client.executeOnPrimaries(bytes(parsed.arguments)).filter { if case .bulkString = $0 { true } else { false } }
            return found.randomElement() ?? .null
        case .scan(let scan):
            return try await self.scan(scan, route: route)
        default:
            return try await forward(parsed, route: route, gateway: gateway)
        }
    }

    /// Any other command, routed by its first key: a write to the primary (the
    /// cache drops every key it names), a read per the read policy.
    private static func forward(_ parsed: ParsedCommand, route: TenantRoute, gateway: GatewayCore) async throws -> RESPValue {
        guard let spec = parsed.spec else { throw CommandError.unknownCommand(parsed.arguments.map { $0.readableBytesView }) }
        let keys = spec.keyArguments(parsed.arguments).map { Array($0.readableBytesView) }
        guard let first = keys.first else {
            throw CommandError(message: "ERR '\(spec.name)' is not served by the gateway; send it to a node")
        }
        let isWrite = spec.flags.contains(.write)
        let (reply, _) = try await route.client.execute(bytes(parsed.arguments), key: first, isWrite: isWrite)
        if isWrite {
            for key in keys { route.cache.invalidate(CacheKey(key)) }
            gateway.stats.writes.add(1, ordering: .relaxed)
        }
        return reply
    }

    /// Values of several keys through the cache, all loads in parallel.
    private static func cachedValues(_ keys: [[UInt8]], route: TenantRoute) async throws -> [[UInt8]?] {
        try await withThrowingTaskGroup(of: (Int, [UInt8]?).self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask { (index, try await cachedGet(key, route: route).value) }
            }
            var values = [[UInt8]?](repeating: nil, count: keys.count)
            for try await (index, value) in group { values[index] = value }
            return values
        }
    }

    /// DEL/UNLINK: one command per shard, all shards in parallel; each key's
    /// cache entry becomes "deleted at the version the shard gave".
    private static func deleteByShard(
        _ parsed: ParsedCommand, _ keys: [[UInt8]], route: TenantRoute, gateway: GatewayCore
    ) async throws -> RESPValue {
        let client = route.client
        let map = try await client.clusterMap()
        var groups: [ShardID: [[UInt8]]] = [:]
        for key in keys { groups[client.shard(of: key, in: map), default: []].append(key) }
        let name = Array(parsed.arguments[0].readableBytesView)
        let removed = try await withThrowingTaskGroup(of: Int64.self) { group in
            for keys in groups.values {
                group.addTask {
                    let (reply, version) = try await client.execute([name] + keys, key: keys[0], isWrite: true)
                    for key in keys {
                        if let version { route.cache.put(CacheKey(key), value: nil, version: version) } else { route.cache.invalidate(CacheKey(key)) }
                    }
                    if case .integer(let count) = reply { return count }
                    return 0
                }
            }
            return try await group.reduce(0, +)
        }
        gateway.stats.writes.add(1, ordering: .relaxed)
        return .integer(removed)
    }

    /// SCAN over the whole ring, one shard at a time: the cursor is a
    /// placement-hash position; each page comes from the primary of the shard
    /// holding the cursor, bounded by the shard's end (`RANGEEND`).
    private static func scan(_ scan: ScanCommand, route: TenantRoute) async throws -> RESPValue {
        let client = route.client
        for _ in 0..<3 {
            let map = try await client.clusterMap()
            let shard = map.shard(forHash: scan.cursor)
            guard let primary = shard.primary else {
                throw CommandError(message: "CLUSTERDOWN shard \(shard.id) has no primary")
            }
            var arguments: [[UInt8]] = [Array("SCAN".utf8), Array(String(scan.cursor).utf8)]
            if let pattern = scan.pattern { arguments += [Array("MATCH".utf8), Array(pattern.readableBytesView)] }
            if let type = scan.type { arguments += [Array("TYPE".utf8), Array(type.readableBytesView)] }
            arguments += [Array("COUNT".utf8), Array(String(scan.count).utf8)]
            arguments += [Array("RANGEEND".utf8), Array(String(shard.range.last).utf8)]
            let reply = try await client.execute(arguments, on: primary)
            // The shard moved meanwhile: its new primary answers for it.
            guard (try await client.clusterMap()).shard(shard.id)?.primary == primary else { continue }
            guard case .array(let parts) = reply, parts.count == 2, case .bulkString(let nextText) = parts[0],
                let next = UInt64(String(buffer: nextText))
            else { throw CommandError(message: "ERR unexpected SCAN reply from \(primary)") }
            let cursor = next != 0 ? next : (shard.range.last == .max ? 0 : shard.range.last + 1)
            return .array([.bulk(String(cursor)), parts[1]])
        }
        throw CommandError(message: "TRYAGAIN the shard kept moving during SCAN")
    }

    /// EXEC: the queued commands, their keys on one shard, sent with the
    /// watched versions to that shard's primary as one pipeline.
    private static func exec(session: inout GatewaySession, route: TenantRoute, gateway: GatewayCore) async throws -> RESPValue {
        let (transaction, watched) = try SessionCommands.takeTransaction(session: &session)
        let client = route.client
        let map = try await client.clusterMap()
        var keys: [[UInt8]] = watched.map { Array($0.key.readableBytesView) }
        var writesEverything = false
        for queued in transaction.queued {
            guard let spec = queued.spec else { continue }
            let named = spec.keyArguments(queued.arguments)
            keys += named.map { Array($0.readableBytesView) }
            if spec.flags.contains(.write), named.isEmpty { writesEverything = true }
        }
        guard Set(keys.map { client.shard(of: $0, in: map) }).count <= 1 else { throw CommandError.crossShard }
        let reply = try await client.executeTransaction(
            transaction.queued.map { bytes($0.arguments) },
            watching: watched.map { (Array($0.key.readableBytesView), $0.point) }, key: keys.first)
        for key in keys { route.cache.invalidate(CacheKey(key)) }
        if writesEverything { route.cache.invalidateAll { _ in true } }
        gateway.stats.writes.add(1, ordering: .relaxed)
        return reply
    }
}
