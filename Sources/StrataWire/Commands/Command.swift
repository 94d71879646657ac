import NIOCore

/// A command parsed against its spec (``CommandTable/parse(_:)``): the typed
/// value the servers execute. Keys and values are slices of the input, bytes
/// throughout; nothing here decodes them as text.
public indirect enum Command: Sendable {
    // MARK: Connection
    /// `PING [message]`.
    case ping(message: ByteBuffer?)
    /// `ECHO message`.
    case echo(ByteBuffer)
    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
    case hello(Hello)
    /// `AUTH [username] password`.
    case auth(Credentials)
    /// `CLIENT <subcommand>`.
    case client(ClientCommand)
    /// `SELECT index`.
    case select(Int64)
    /// `RESET`.
    case reset
    /// `QUIT`.
    case quit
    /// `READONLY`: this connection may read from replicas.
    case readOnly
    /// `READWRITE`.
    case readWrite

    // MARK: Server
    /// `COMMAND [COUNT | LIST | INFO name… | DOCS name…]`.
    case command(Introspection)
    /// `CONFIG GET pattern…` (the other subcommands are refused).
    case configGet(patterns: ArraySlice<ByteBuffer>)
    /// `CONFIG SET parameter value [parameter value …]`: the node's transfer limits; other parameters are refused.
    case configSet(pairs: [(name: ByteBuffer, value: ByteBuffer)])
    /// `CONFIG RESETSTAT|REWRITE`: refused, the configuration is cluster.json.
    case configChange
    /// `INFO [section…]`.
    case info(sections: ArraySlice<ByteBuffer>)
    /// `DBSIZE`.
    case dbSize
    /// `FLUSHDB [ASYNC | SYNC]` and `FLUSHALL` (the tenant's keys only).
    case flush(FlushMode)
    /// `DEBUG FOLLOW-PAUSE milliseconds` (internal): this node's replicas stop applying for a while (they go on asking their primaries, so they know how far behind they fall).
    case debugFollowPause(milliseconds: Int64)

    // MARK: Strings
    /// `GET key`.
    case get(key: ByteBuffer)
    /// `GETVER key`: the value and its version.
    case getVersion(key: ByteBuffer)
    /// `SET`, `SETNX`, `SETEX`, `PSETEX`, `GETSET`: one write with options.
    case set(SetCommand)
    /// `GETDEL key`.
    case getDelete(key: ByteBuffer)
    /// `GETEX key [EX | PX | EXAT | PXAT n | PERSIST]`.
    case getExpire(key: ByteBuffer, expiry: GetExpiry?)
    /// `MGET key…`.
    case multiGet(keys: ArraySlice<ByteBuffer>)
    /// `MSET key value…` (`onlyIfNoneExist`: `MSETNX`).
    case multiSet(pairs: ArraySlice<ByteBuffer>, onlyIfNoneExist: Bool)
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`.
    case incrementBy(key: ByteBuffer, amount: Int64)
    /// `INCRBYFLOAT key increment`.
    case incrementByFloat(key: ByteBuffer, amount: Float80)
    /// `APPEND key value`.
    case append(key: ByteBuffer, value: ByteBuffer)
    /// `STRLEN key`.
    case stringLength(key: ByteBuffer)
    /// `GETRANGE key start end`.
    case getRange(key: ByteBuffer, start: Int64, end: Int64)
    /// `SETRANGE key offset value`.
    case setRange(key: ByteBuffer, offset: Int64, value: ByteBuffer)

    // MARK: Keys
    /// `DEL key…` and `UNLINK key…`.
    case delete(keys: ArraySlice<ByteBuffer>)
    /// `EXISTS key…`.
    case exists(keys: ArraySlice<ByteBuffer>)
    /// `TOUCH key…`: how many exist.
    case touch(keys: ArraySlice<ByteBuffer>)
    /// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`.
    case expire(ExpireCommand)
    /// `TTL key` (`milliseconds`: `PTTL`).
    case timeToLive(key: ByteBuffer, milliseconds: Bool)
    /// `EXPIRETIME key` (`milliseconds`: `PEXPIRETIME`).
    case expireTime(key: ByteBuffer, milliseconds: Bool)
    /// `PERSIST key`.
    case persist(key: ByteBuffer)
    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
    case scan(ScanCommand)
    /// `KEYS pattern`.
    case keys(pattern: ByteBuffer)
    /// `TYPE key`.
    case type(key: ByteBuffer)
    /// `RENAME key newkey` (`onlyIfNew`: `RENAMENX`).
    case rename(from: ByteBuffer, to: ByteBuffer, onlyIfNew: Bool)
    /// `COPY source destination [DB 0] [REPLACE]`.
    case copy(from: ByteBuffer, to: ByteBuffer, replace: Bool)
    /// `RANDOMKEY`.
    case randomKey

    // MARK: Transactions
    /// `MULTI`.
    case multi
    /// `EXEC`.
    case exec
    /// `DISCARD`.
    case discard
    /// `WATCH key…`.
    case watch(keys: ArraySlice<ByteBuffer>)
    /// `WATCHVER key version…` (Strata): watch keys as of versions read earlier
    /// (how the gateway forwards a client's `WATCH`).
    case watchVersions(pairs: [(key: ByteBuffer, point: WatchPoint)])
    /// `UNWATCH`.
    case unwatch
    /// `WATCHPOINT key` (Strata): the version a watch of the key compares
    /// against (what the gateway reads for a client's `WATCH`).
    case watchPoint(key: ByteBuffer)

    // MARK: Strata's client protocol
    /// `REQID id command…`: the write `command` runs once per id.
    case requestID(id: ByteBuffer, command: ParsedCommand)
    /// `WAITSEQ shard sequence timeout-ms`.
    case waitForSequence(shard: Int64, sequence: Int64, timeoutMilliseconds: Int64)
    /// `FEED shard after…`: the change feed.
    case feed(positions: [(shard: Int64, after: Int64)], wait: Int64?)

    // MARK: Replication (internal)
    /// `REPLFETCH node [WAIT ms] [BYTES n] (shard after epoch mapEpoch)…`: `wait` is how
    /// long the primary may hold the fetch while it has nothing new; `maxBytes` bounds the reply.
    case replicationFetch(follower: ByteBuffer, shards: [ReplicationFetchShard], wait: Int64?, maxBytes: Int64?)
    /// `REPLSNAPSHOT shard [CHUNK after maxBytes]`: the whole shard, or one page of it.
    case replicationSnapshot(shard: Int64, chunk: (after: [UInt8], maxBytes: Int64)?)
    /// `SHARDCHECKSUM shard`.
    case shardChecksum(shard: Int64, asOf: Int64)
    /// `SHARDSIZE shard`: `[records, bytes]` of this node's copy (internal).
    case shardSize(shard: Int64)
    /// `COPYPROGRESS`: per shard this node is copying, `[shard, bytes, records, milliseconds, total records, total bytes]` (internal).
    case copyProgress

    // MARK: Coordinator
    /// `CLUSTER <subcommand>`.
    case cluster(ClusterCommand)
}

/// A command as the connection decoded it and the table parsed it.
public struct ParsedCommand: Sendable {
    /// The arguments as sent, the name first.
    public let arguments: [ByteBuffer]
    /// The command's spec (a subcommand's for a container); `nil` for an unknown command.
    public let spec: CommandSpec?
    /// The typed command, or the error reply its arguments earn.
    public let parsed: Result<Command, CommandError>
    /// Whether the error came before the command could run at all (unknown
    /// command or subcommand, wrong argument count): inside `MULTI` such a
    /// command is not queued and the transaction is aborted, as in Redis;
    /// other errors are the command's reply when it runs.
    public let rejectedBeforeExecution: Bool

    /// A parsed command.
    public init(
        arguments: [ByteBuffer], spec: CommandSpec?, parsed: Result<Command, CommandError>,
        rejectedBeforeExecution: Bool = false
    ) {
        self.arguments = arguments
        self.spec = spec
        self.parsed = parsed
        self.rejectedBeforeExecution = rejectedBeforeExecution
    }

    /// The spec's flags, or none for an unknown command.
    public var flags: CommandFlags { spec?.flags ?? [] }
}

/// `HELLO`'s arguments.
public struct Hello: Sendable {
    /// The protocol version asked for (2 or 3), if any.
    public var protocolVersion: Int64?
    /// `AUTH username password`.
    public var credentials: Credentials?
    /// `SETNAME clientname`.
    public var clientName: ByteBuffer?
}

/// A user (or tenant) and its secret.
public struct Credentials: Sendable {
    /// The user; `nil` in the one-argument `AUTH password` form (Redis's `default` user).
    public var user: ByteBuffer?
    /// The secret.
    public var password: ByteBuffer
}

/// `CLIENT`'s subcommands.
public enum ClientCommand: Sendable {
    /// `CLIENT SETNAME name` (empty clears it).
    case setName(ByteBuffer)
    /// `CLIENT GETNAME`.
    case getName
    /// `CLIENT ID`.
    case id
    /// `CLIENT INFO`.
    case info
    /// `CLIENT LIST [TYPE normal|…] [ID id…]`: this server lists the calling connection only.
    case list
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`.
    case setInfo(attribute: ClientAttribute, value: ByteBuffer)
    /// `CLIENT NO-EVICT ON|OFF`.
    case noEvict(Bool)
    /// `CLIENT NO-TOUCH ON|OFF`.
    case noTouch(Bool)
    /// `CLIENT TRACKING ON|OFF [options…]`: only OFF is supported.
    case tracking(Bool)
    /// `CLIENT ACKS ALL|LEADER` (Strata): when this connection's writes are acknowledged.
    case acks(all: Bool)
    /// `CLIENT HELP`.
    case help
}

/// The library attributes `CLIENT SETINFO` sets.
public enum ClientAttribute: Sendable {
    /// `LIB-NAME`.
    case libraryName
    /// `LIB-VER`.
    case libraryVersion
}

/// `COMMAND`'s forms.
public enum Introspection: Sendable {
    /// `COMMAND`: every command's info.
    case all
    /// `COMMAND COUNT`.
    case count
    /// `COMMAND LIST`.
    case list
    /// `COMMAND INFO name…` (none: all).
    case info(names: ArraySlice<ByteBuffer>)
    /// `COMMAND DOCS name…` (none: all).
    case docs(names: ArraySlice<ByteBuffer>)
    /// `COMMAND GETKEYS command…`.
    case getKeys(arguments: ArraySlice<ByteBuffer>)
    /// `COMMAND HELP`.
    case help
}

/// `FLUSHDB`'s and `FLUSHALL`'s mode: the tenant's keys go either way (a
/// node deletes them in its write group before replying, for both).
public enum FlushMode: Sendable {
    /// No option given.
    case `default`
    /// `ASYNC`.
    case async
    /// `SYNC`.
    case sync
}

/// One write of a string value with its conditions, the common form of
/// `SET`, `SETNX`, `SETEX`, `PSETEX` and `GETSET`.
public struct SetCommand: Sendable {
    /// The key.
    public var key: ByteBuffer
    /// The value.
    public var value: ByteBuffer
    /// `NX` or `XX`.
    public var condition: SetCondition = .always
    /// The expiry, or ``SetExpiry/keepTTL``; `nil` clears any expiry.
    public var expiry: SetExpiry?
    /// `IFVERSION n` (Strata): applies only at this version (0: the key must not exist).
    public var ifVersion: UInt64?
    /// What the reply is.
    public var reply: SetReply = .ok
    /// The command's name, for error messages (`set`, `setex`, …).
    public var name: String = "set"

    /// Whether the outcome does not depend on what is stored: no condition, no
    /// `GET`, no `KEEPTTL`, no version check (a blind write, which the node
    /// prepares on its event loop).
    public var isBlind: Bool {
        condition == .always && ifVersion == nil && reply == .ok && expiry != .keepTTL
    }
}

/// `SET`'s `NX` / `XX`.
public enum SetCondition: Sendable, Equatable {
    /// Write whatever is there.
    case always
    /// `NX`: only if the key does not exist.
    case ifAbsent
    /// `XX`: only if it exists.
    case ifPresent
}

/// What a write of ``SetCommand`` answers.
public enum SetReply: Sendable, Equatable {
    /// `+OK`, or nil when a condition stopped it (`SET`, `SETEX`, `PSETEX`).
    case ok
    /// `:1` or `:0` (`SETNX`).
    case integer
    /// The old value or nil (`SET … GET`, `GETSET`).
    case oldValue
}

/// An expiry as a command gives it.
public enum SetExpiry: Sendable, Equatable {
    /// `EX` / `PX`: milliseconds from when the write is staged.
    case relative(milliseconds: Int64)
    /// `EXAT` / `PXAT`: milliseconds since the Unix epoch.
    case absolute(milliseconds: Int64)
    /// `KEEPTTL`: keep the key's expiry.
    case keepTTL

    /// SET's `option` (EX, PX, EXAT or PXAT) with its `amount`, or Redis's
    /// error for an amount that is not positive or overflows in milliseconds.
    public init(option: String, amount: Int64, command: String) throws(CommandError) {
        guard amount > 0 else { throw .invalidExpire(command) }
        let inSeconds = option == "EX" || option == "EXAT"
        let (milliseconds, overflow) = inSeconds ? amount.multipliedReportingOverflow(by: 1000) : (amount, false)
        guard !overflow else { throw .invalidExpire(command) }
        self = option == "EX" || option == "PX" ? .relative(milliseconds: milliseconds) : .absolute(milliseconds: milliseconds)
    }

    /// The expiry in milliseconds since the Unix epoch, for a write made at
    /// `now`; `nil` for ``keepTTL`` (the caller keeps the current one).
    public func expiresAt(now: Int64, command: String) throws(CommandError) -> Int64? {
        switch self {
        case .absolute(let milliseconds): return milliseconds
        case .relative(let milliseconds):
            let (sum, overflow) = now.addingReportingOverflow(milliseconds)
            guard !overflow else { throw .invalidExpire(command) }
            return sum
        case .keepTTL: return nil
        }
    }
}

/// `GETEX`'s options. Redis checks the amount only when the key exists, so it
/// stays unparsed until then (``SetExpiry/init(option:amount:command:)``).
public enum GetExpiry: Sendable {
    /// `EX|PX|EXAT|PXAT n`: the option, upper-cased, and its amount as sent.
    case set(option: String, amount: ByteBuffer)
    /// `PERSIST`.
    case persist
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT` and `PEXPIREAT`.
public struct ExpireCommand: Sendable {
    /// The key.
    public var key: ByteBuffer
    /// The amount as given.
    public var amount: Int64
    /// Whether the amount is in milliseconds (`P…`).
    public var milliseconds: Bool
    /// Whether it is a Unix time (`…AT`) rather than a time from now.
    public var absolute: Bool
    /// `NX`, `XX`, `GT`, `LT` (`XX` combines with `GT` or `LT`).
    public var conditions: ExpireConditions
    /// The command's name, for error messages.
    public var name: String
}

/// `EXPIRE`'s conditions.
public struct ExpireConditions: OptionSet, Sendable {
    /// The raw bits.
    public let rawValue: UInt8
    /// Conditions from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `NX`: only if the key has no expiry.
    public static let ifNone = ExpireConditions(rawValue: 1)
    /// `XX`: only if it has one.
    public static let ifSome = ExpireConditions(rawValue: 2)
    /// `GT`: only if the new expiry is later (no expiry counts as infinite).
    public static let ifGreater = ExpireConditions(rawValue: 4)
    /// `LT`: only if it is sooner.
    public static let ifLess = ExpireConditions(rawValue: 8)
}

/// `SCAN`'s arguments.
public struct ScanCommand: Sendable {
    /// Where to resume: a placement-hash position (0 starts).
    public var cursor: UInt64
    /// `MATCH pattern`.
    public var pattern: ByteBuffer?
    /// `COUNT count` (10 by default).
    public var count: Int = 10
    /// `TYPE type`: every Strata value is a string.
    public var type: ByteBuffer?
    /// `RANGEEND hash` (Strata, for the gateway): stop after this hash, and
    /// answer cursor 0 once past it, so a scan can walk one shard at a time.
    public var rangeEnd: UInt64?
}

/// One shard of a `REPLFETCH`.
public struct ReplicationFetchShard: Sendable {
    /// The shard.
    public var shard: Int64
    /// The follower's applied position.
    public var after: Int64
    /// The epoch of the follower's entry there (0 if unknown).
    public var epoch: Int64
    /// The shard epoch in the follower's map.
    public var mapEpoch: Int64
}

/// The coordinator's `CLUSTER` subcommands.
public enum ClusterCommand: Sendable {
    /// `CLUSTER MAP`: the map as JSON.
    case map
    /// `CLUSTER EPOCH`.
    case epoch
    /// `CLUSTER NODES`: the status table.
    case nodes
    /// `CLUSTER HEARTBEAT node [shard sequence]… [CAUGHTUP [shard epoch follower]…] [VERIFIED [shard]…] [SIZES [shard bytes]…]`.
    case heartbeat(
        node: ByteBuffer, applied: [(shard: Int64, sequence: Int64)], caughtUp: [(shard: Int64, epoch: Int64, follower: ByteBuffer)],
        verified: [Int64], sizes: [(shard: Int64, bytes: Int64)])
    /// `CLUSTER SUBSCRIBE`: map pushes from now on.
    case subscribe
    /// `CLUSTER FAILOVER shard [node]`.
    case failover(shard: Int64, target: ByteBuffer?)
    /// `CLUSTER ADDNODE id host port [METRICSPORT port] [ZONE zone] [WEIGHT weight]`.
    case addNode(NodeAnnouncement)
    /// `CLUSTER REMOVENODE id`: decommission.
    case removeNode(ByteBuffer)
    /// `CLUSTER SETWEIGHT id weight`: a node's relative capacity.
    case setWeight(ByteBuffer, Int64)
    /// `CLUSTER SPLIT shard`: split a shard's hash range in two.
    case split(shard: Int64)
}

/// A snapshot page's cursor (`REPLSNAPSHOT … CHUNK <after>`): the last encoded
/// key of the previous page, binary, so it travels as lowercase hexadecimal
/// (empty: from the start).
public enum SnapshotCursor {
    /// The hexadecimal form of `key`.
    public static func encode(_ key: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(key.count * 2)
        for byte in key {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The key whose hexadecimal form is `text`, or `nil` when it is not hexadecimal.
    public static func decode<Bytes: Collection<UInt8>>(_ text: Bytes) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var key: [UInt8] = []
        key.reserveCapacity(text.count / 2)
        var high: UInt8?
        for character in text {
            guard let nibble = InlineSplitter.hexValue(character) else { return nil }
            if let first = high {
                key.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return key
    }
}

/// A node announced to the coordinator (`CLUSTER ADDNODE`).
public struct NodeAnnouncement: Sendable, Equatable {
    /// The node's id.
    public var id: String
    /// The host clients and peers connect to.
    public var host: String
    /// Its RESP data port.
    public var port: UInt16
    /// Its HTTP port, if any.
    public var metricsPort: UInt16?
    /// Its failure domain (default `default`).
    public var zone: String?
    /// Its relative capacity (default 1).
    public var weight: Int?

    /// An announcement of the node `id` at `host:port`.
    public init(id: String, host: String, port: UInt16, metricsPort: UInt16? = nil, zone: String? = nil, weight: Int? = nil) {
        self.id = id
        self.host = host
        self.port = port
        self.metricsPort = metricsPort
        self.zone = zone
        self.weight = weight
    }

    /// The `CLUSTER ADDNODE` arguments that announce it.
    public var arguments: [String] {
        var arguments = ["CLUSTER", "ADDNODE", id, host, String(port)]
        if let metricsPort { arguments += ["METRICSPORT", String(metricsPort)] }
        if let zone { arguments += ["ZONE", zone] }
        if let weight { arguments += ["WEIGHT", String(weight)] }
        return arguments
    }
}

/// What a watch of a key compares against at `EXEC`: the version of the key
/// when it existed, or — when it did not — the shard's sequence number then.
/// On the wire (`WATCHPOINT`'s reply, `WATCHVER`'s arguments) one integer:
/// the version, or `-(sequence + 1)` for a key that did not exist.
public enum WatchPoint: Sendable, Equatable {
    /// The key existed, written last at this version.
    case version(UInt64)
    /// The key did not exist; the shard was at this sequence number.
    case absent(since: UInt64)

    /// The point an integer on the wire stands for.
    public init(wire: Int64) {
        self = wire >= 0 ? .version(UInt64(wire)) : .absent(since: UInt64(-(wire + 1)))
    }

    /// The integer that stands for it on the wire.
    public var wire: Int64 {
        switch self {
        case .version(let version): return Int64(truncatingIfNeeded: version)
        case .absent(let sequence): return -Int64(truncatingIfNeeded: sequence) - 1
        }
    }
}
