/// The commands a node implements, for COMMAND and COMMAND COUNT (what redis-cli needs).
enum CommandTable {
    struct Entry {
        let name: String
        let arity: Int
        let flags: [String]
        let firstKey: Int64
        let lastKey: Int64
        let step: Int64
    }

    static let entries: [Entry] = [
        Entry(name: "get", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "set", arity: -3, flags: ["write", "denyoom"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "getver", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "getdel", arity: 2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "del", arity: -2, flags: ["write"], firstKey: 1, lastKey: -1, step: 1),
        Entry(name: "unlink", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: -1, step: 1),
        Entry(name: "exists", arity: -2, flags: ["readonly", "fast"], firstKey: 1, lastKey: -1, step: 1),
        Entry(name: "mget", arity: -2, flags: ["readonly", "fast"], firstKey: 1, lastKey: -1, step: 1),
        Entry(name: "mset", arity: -3, flags: ["write", "denyoom"], firstKey: 1, lastKey: -1, step: 2),
        Entry(name: "incr", arity: 2, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "incrby", arity: 3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "decr", arity: 2, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "decrby", arity: 3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "append", arity: 3, flags: ["write", "denyoom"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "strlen", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "expire", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "pexpire", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "expireat", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "pexpireat", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "ttl", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "pttl", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "persist", arity: 2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1),
        Entry(name: "scan", arity: -2, flags: ["readonly"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "dbsize", arity: 1, flags: ["readonly"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "ping", arity: -1, flags: ["fast", "stale"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "echo", arity: 2, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "hello", arity: -1, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "auth", arity: -2, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "client", arity: -2, flags: ["admin", "noscript", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "select", arity: 2, flags: ["loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "command", arity: -1, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "config", arity: -2, flags: ["admin", "noscript", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "info", arity: -1, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "quit", arity: -1, flags: ["loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "readonly", arity: 1, flags: ["fast", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0),
        Entry(name: "readwrite", arity: 1, flags: ["fast", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0),
    ]
}
