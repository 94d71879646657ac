import NIOCore
import StrataCluster
import StrataServer
import StrataStorage
import StrataWire

/// The node's part of the connection and server commands: authentication
/// (tenants and `@internal`), `CLIENT ACKS`, `READONLY`, `INFO`, `CONFIG`.
/// The rest of the session model is `SessionCommands`, shared by every server.
extension CommandRun {
    /// `AUTH [tenant] secret`, also `HELLO … AUTH`: the one-argument form is the `default` tenant.
    func authenticate(_ credentials: Credentials, session: inout NodeSession) throws(CommandError) {
        let principal = tenants.credentials.authenticate(
            user: credentials.user.map { Array($0.readableBytesView) }, secret: Array(credentials.password.readableBytesView))
        switch principal {
        case .internal:
            session.tenant = nil
            session.isInternal = true
            session.client.user = ClusterCredentials.internalUser
        case .tenant(let name) where tenants.contexts[name] != nil:
            session.tenant = tenants.contexts[name]
            session.isInternal = false
            session.client.user = String(decoding: name, as: UTF8.self)
        case .tenant, nil:
            stats.authFailures.add(1)
            throw .wrongPass
        }
    }

    /// `CONFIG GET pattern…`: the configuration parameters matching the patterns, the transfer limits among them.
    func configGet(_ patterns: ArraySlice<ByteBuffer>, reply: inout Reply) {
        var matched: [(String, String)] = []
        for pattern in patterns {
            let bytes = Array(pattern.readableBytesView)
            for (key, value) in info.configValues + executor.transfer.configValues
            where GlobPattern.matches(pattern: bytes[...], string: Array(key.utf8)[...], caseInsensitive: true) {
                if !matched.contains(where: { $0.0 == key }) { matched.append((key, value)) }
            }
        }
        reply.mapHeader(matched.count)
        for (key, value) in matched {
            reply.bulk(key)
            reply.bulk(value)
        }
    }

    /// Runs `command` if it is one of the node's own connection or server commands.
    /// - Returns: Whether it was one.
    func connection(_ command: Command, session: inout NodeSession, reply: inout Reply) throws(CommandError) -> Bool {
        switch command {
        case .client(.acks(let all)):
            session.acksAll = all
            reply.ok()
        case .readOnly:
            session.readOnly = true
            reply.ok()
        case .readWrite:
            session.readOnly = false
            reply.ok()
        case .configGet(let patterns):
            configGet(patterns, reply: &reply)
        case .configSet:
            throw CommandError(message: "ERR CONFIG SET is for the cluster's internal user (strata cluster throttle)")
        case .configChange:
            throw CommandError(message: "ERR CONFIG is read-only on Strata; change cluster.json or the command line and restart")
        case .info(let sections):
            let tenant = session.tenant
            let names = sections.map { CommandArguments.keyword($0).lowercased() }
            let wantsKeyspace = names.isEmpty || !Set(names).isDisjoint(with: ["keyspace", "all", "everything", "default"])
            var keyCount: Int?
            if let tenant, wantsKeyspace {
                var count = 0
                try forEachKey(of: tenant) { (_: DataKey) throws(CommandError) in
                    count += 1
                    return true
                }
                keyCount = count
            }
            let text = info.render(
                sections: names, stats: stats, topology: topology,
                keyspace: keyspace, progress: executor.progress, tenant: tenant, keyCount: keyCount,
                health: executor.health.current)
            reply.value(.verbatim(text))
        default:
            return false
        }
        return true
    }
}
