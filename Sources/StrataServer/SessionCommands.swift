import NIOCore
import StrataWire

/// The connection commands every server answers the same way — `PING`,
/// `ECHO`, `HELLO`, `AUTH`, `CLIENT`, `SELECT`, `RESET`, `QUIT`, `COMMAND`,
/// and `MULTI`'s queueing — so the node, the gateway and the coordinator share
/// one session model. A server calls ``admit(_:session:)``, then
/// ``queueInTransaction(_:session:)``, then ``execute(_:session:table:identity:authenticate:)``,
/// and runs what is left itself.
public enum SessionCommands {
    /// Checks that `session` may run `parsed` at all: before authentication
    /// only commands flagged `no_auth`; an internal connection only the
    /// replication commands (and those flagged for both); a tenant's never the
    /// internal ones. A command refused inside `MULTI` aborts the transaction, and a refused
    /// `EXEC` discards it (`EXECABORT`), as in Redis.
    /// - Throws: `NOAUTH`, `NOPERM`, or the parse's own error for a command that was rejected.
    public static func admit<Session: ServerSession>(_ parsed: ParsedCommand, session: inout Session) throws(CommandError) {
        do {
            try check(parsed, session: session)
        } catch {
            if parsed.spec?.name == "exec" {
                // Redis's EXEC refused before it runs discards the transaction.
                session.client.transaction = nil
                session.client.watched = []
                let reason = error.message.hasPrefix("ERR ") ? String(error.message.dropFirst(4)) : error.message
                throw CommandError(message: "EXECABORT Transaction discarded because of: \(reason)")
            }
            session.client.transaction?.aborted = true
            throw error
        }
    }

    private static func check<Session: ServerSession>(_ parsed: ParsedCommand, session: Session) throws(CommandError) {
        if parsed.rejectedBeforeExecution, case .failure(let error) = parsed.parsed { throw error }
        guard let spec = parsed.spec else { return }
        guard session.isAuthenticated || spec.flags.contains(.noAuth) else { throw .noAuth }
        if session.isInternal {
            guard spec.flags.contains(.internal) || spec.flags.contains(.internalToo) || spec.flags.contains(.noAuth) else {
                throw CommandError(message: "ERR internal connections only replicate")
            }
        } else if spec.flags.contains(.internal) {
            throw CommandError(message: "NOPERM '\(spec.name)' is for the cluster's own connections (AUTH @internal)")
        }
    }

    /// Inside `MULTI` (after ``admit(_:session:)``): queues `parsed` and
    /// answers `+QUEUED`, or refuses a command not allowed in a transaction
    /// and marks the transaction aborted, as Redis does.
    /// - Returns: The reply, or `nil` when no transaction is open or the
    ///   command runs at once (`EXEC`, `DISCARD`, `MULTI`, `WATCH`, `QUIT`, `RESET`).
    public static func queueInTransaction<Session: ServerSession>(
        _ parsed: ParsedCommand, session: inout Session
    ) -> RESPValue? {
        guard session.client.transaction != nil else { return nil }
        if case .success(let command) = parsed.parsed {
            switch command {
            case .exec, .discard, .multi, .watch, .watchVersions, .quit, .reset: return nil
            default: break
            }
        }
        if parsed.spec?.flags.contains(.noMulti) ?? false {
            session.client.transaction?.aborted = true
            return .errorMessage("ERR Command not allowed inside a transaction")
        }
        session.client.transaction?.queued.append(parsed)
        return .simple("QUEUED")
    }

    /// Runs `command` if it is one of the shared connection commands.
    /// - Parameters:
    ///   - command: The parsed command.
    ///   - session: The connection's session, updated in place.
    ///   - table: The server's command table, for `COMMAND`.
    ///   - identity: How the server names itself in `HELLO`.
    ///   - authenticate: The server's check of credentials; it sets the
    ///     session's identity or throws `WRONGPASS`.
    /// - Returns: The reply, or `nil` for a command the server runs itself.
    public static func execute<Session: ServerSession>(
        _ command: Command, session: inout Session, table: CommandTable, identity: ServerIdentity,
        authenticate: (Credentials, inout Session) throws(CommandError) -> Void
    ) throws(CommandError) -> RESPValue? {
        switch command {
        case .ping(let message):
            return message.map { .bulkString($0) } ?? .simple("PONG")
        case .echo(let message):
            return .bulkString(message)
        case .hello(let hello):
            if let credentials = hello.credentials { try authenticate(credentials, &session) }
            guard session.isAuthenticated else {
                throw CommandError(
                    message: "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
            }
            if let name = hello.clientName { session.client.name = name.readableBytes == 0 ? nil : Array(name.readableBytesView) }
            if let version = hello.protocolVersion { session.client.protocolVersion = version == 3 ? .resp3 : .resp2 }
            return .map([
                (.bulk("server"), .bulk(identity.server)),
                (.bulk("version"), .bulk(identity.version)),
                (.bulk("proto"), .integer(session.client.protocolVersion == .resp3 ? 3 : 2)),
                (.bulk("id"), .integer(Int64(session.client.id))),
                (.bulk("mode"), .bulk(identity.mode)),
                (.bulk("role"), .bulk(identity.role)),
                (.bulk("modules"), .array([])),
                (.bulk("strata_version"), .bulk(ServerIdentity.strataVersion)),
            ])
        case .auth(let credentials):
            try authenticate(credentials, &session)
            return .simple("OK")
        case .client(let client):
            return try Self.client(client, session: &session)
        case .select(let index):
            guard index == 0 else { throw .databaseOutOfRange }
            return .simple("OK")
        case .reset:
            session.client.reset()
            session.resetIdentity()
            return .simple("RESET")
        case .quit:
            session.client.closeAfterReply = true
            return .simple("OK")
        case .command(let form):
            return try table.introspectionReply(form)
        case .multi:
            guard session.client.transaction == nil else { throw CommandError(message: "ERR MULTI calls can not be nested") }
            session.client.transaction = Transaction()
            return .simple("OK")
        case .discard:
            guard session.client.transaction != nil else { throw CommandError(message: "ERR DISCARD without MULTI") }
            session.client.transaction = nil
            session.client.watched = []
            return .simple("OK")
        case .unwatch:
            session.client.watched = []
            return .simple("OK")
        default:
            return nil
        }
    }

    /// Checks that `EXEC` may run: a transaction is open and was not aborted.
    /// - Returns: The transaction, taken out of the session (with the watched keys).
    public static func takeTransaction<Session: ServerSession>(
        session: inout Session
    ) throws(CommandError) -> (Transaction, [WatchedKey]) {
        guard let transaction = session.client.transaction else { throw CommandError(message: "ERR EXEC without MULTI") }
        let watched = session.client.watched
        session.client.transaction = nil
        session.client.watched = []
        guard !transaction.aborted else {
            throw CommandError(message: "EXECABORT Transaction discarded because of previous errors.")
        }
        return (transaction, watched)
    }

    /// Checks `WATCH` may run now (not inside `MULTI`).
    public static func checkWatch<Session: ServerSession>(session: Session) throws(CommandError) {
        guard session.client.transaction == nil else { throw CommandError(message: "ERR WATCH inside MULTI is not allowed") }
    }

    private static func client<Session: ServerSession>(
        _ command: ClientCommand, session: inout Session
    ) throws(CommandError) -> RESPValue? {
        switch command {
        case .setName(let name):
            session.client.name = name.readableBytes == 0 ? nil : Array(name.readableBytesView)
            return .simple("OK")
        case .getName:
            return session.client.name.map { .bulk($0) } ?? .null
        case .id:
            return .integer(Int64(session.client.id))
        case .info, .list:
            return .verbatim(infoLine(session))
        case .setInfo(let attribute, let value):
            switch attribute {
            case .libraryName: session.client.libraryName = Array(value.readableBytesView)
            case .libraryVersion: session.client.libraryVersion = Array(value.readableBytesView)
            }
            return .simple("OK")
        case .noEvict, .noTouch:
            return .simple("OK")
        case .tracking(let on):
            guard !on else {
                throw CommandError(message: "ERR CLIENT TRACKING is not supported; follow the change feed (FEED) or use the gateway's cache")
            }
            return .simple("OK")
        case .acks:
            return nil
        case .help:
            return .array([
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME", "    Return the name of the current connection.",
                "ID", "    Return the ID of the current connection.",
                "INFO", "    Return information about the current client connection.",
                "LIST", "    Return information about client connections (here: the current one).",
                "SETNAME <name>", "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client meta attr.",
                "NO-EVICT (ON|OFF)", "    Accepted; connections are never evicted.",
                "NO-TOUCH (ON|OFF)", "    Accepted; no access times are kept.",
                "TRACKING (ON|OFF)", "    OFF only; follow the change feed instead.",
                "ACKS (ALL|LEADER)", "    Strata, on nodes: when this connection's writes are acknowledged.",
                "HELP", "    Print this help.",
            ].map { .simple($0) })
        }
    }

    /// `CLIENT INFO`'s line, in Redis's `key=value` form (the fields Strata keeps).
    static func infoLine<Session: ServerSession>(_ session: Session) -> String {
        let client = session.client
        func text(_ bytes: [UInt8]?) -> String { bytes.map { String(decoding: $0, as: UTF8.self) } ?? "" }
        let multi = client.transaction.map { String($0.queued.count) } ?? "-1"
        return "id=\(client.id) addr=\(client.peer) laddr=\(client.local) fd=-1 name=\(text(client.name)) db=0 "
            + "multi=\(multi) watch=\(client.watched.count) user=\(client.user) resp=\(client.protocolVersion == .resp3 ? 3 : 2) "
            + "lib-name=\(text(client.libraryName)) lib-ver=\(text(client.libraryVersion))\n"
    }
}
