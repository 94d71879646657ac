import Foundation
import Testing
import StrataCluster
import StrataWire

@Suite("Tenants, limits, routing")
struct NodeSecurityTests {
    /// A one-node cluster.json with tenants alpha and beta and no default tenant.
    static func tenantConfig(directory: String, port: Int, access: ClusterConfig.DefaultTenantAccess) -> ClusterConfig {
        ClusterConfig(
            coordinator: nil,
            nodes: [.init(id: "n1", host: "127.0.0.1", dataPort: UInt16(port), metricsPort: nil, dataDir: directory + "/n1", zone: nil, weight: nil)],
            replicationFactor: 1, shardCount: 16, vnodes: 64,
            tenants: [
                "alpha": .init(secretHash: TenantSecret.hash(Array("alpha-secret".utf8))),
                "beta": .init(secretHash: TenantSecret.hash(Array("beta-secret".utf8)), placement: .colocate),
            ],
            defaultTenant: access, caches: nil)
    }

    /// A running node of `tenantConfig` (no default tenant).
    static func tenantNode() throws -> NodeProcess {
        let directory = NodeProcess.temporaryDirectory()
        let port = NodeProcess.freePort()
        return try NodeProcess.clusterNode(config: tenantConfig(directory: directory, port: port, access: .never), id: "n1", directory: directory)
    }

    /// A connection to `node` authenticated as `tenant` (whose secret is `<tenant>-secret`).
    static func client(of node: NodeProcess, as tenant: String) throws -> RESPTestClient {
        let client = try node.client()
        #expect(try client.call("AUTH", tenant, "\(tenant)-secret").text == "OK")
        return client
    }

    @Test("tenant A cannot see, scan, count, delete or overwrite tenant B's keys")
    func tenantIsolation() throws {
        let node = try Self.tenantNode()
        defer { node.cleanup() }
        let alpha = try node.client()
        let beta = try node.client()
        #expect(try alpha.call("GET", "k").text == "NOAUTH Authentication required.")
        #expect(try alpha.call("AUTH", "alpha", "wrong").text?.hasPrefix("WRONGPASS") == true)
        #expect(try alpha.call("AUTH", "nosuch", "alpha-secret").text?.hasPrefix("WRONGPASS") == true)
        #expect(try alpha.call("AUTH", "alpha", "alpha-secret").text == "OK")
        #expect(try beta.call("HELLO", "2", "AUTH", "beta", "beta-secret").isError == false)

        #expect(try alpha.call("SET", "shared", "from-alpha").text == "OK")
        #expect(try alpha.call("SET", "only-alpha", "1").text == "OK")
        #expect(try beta.call("GET", "shared").isNull)
        #expect(try beta.call("EXISTS", "shared", "only-alpha").int == 0)
        #expect(try beta.call("DBSIZE").int == 0)
        let scan = try #require(try beta.call("SCAN", "0", "COUNT", "1000").elements)
        #expect(scan[1].elements?.isEmpty == true)
        #expect(try beta.call("DEL", "shared", "only-alpha").int == 0)
        #expect(try beta.call("SET", "shared", "from-beta").text == "OK")
        #expect(try beta.call("INCR", "only-alpha").int == 1)
        #expect(try alpha.call("GET", "shared").text == "from-alpha")
        #expect(try alpha.call("GET", "only-alpha").text == "1")
        #expect(try beta.call("GET", "shared").text == "from-beta")
        #expect(try alpha.call("DBSIZE").int == 2)
        #expect(try beta.call("DBSIZE").int == 2)
        let alphaKeys = try #require(try alpha.call("SCAN", "0", "COUNT", "1000").elements?[1].elements).compactMap(\.text)
        #expect(Set(alphaKeys) == ["shared", "only-alpha"])
    }

    @Test("pipelined plain SETs (addressed on the event loop) stay in their tenant, get growing versions, and an AUTH inside a pipeline applies to the SETs after it")
    func pipelinedPlainSets() throws {
        let node = try Self.tenantNode()
        defer { node.cleanup() }
        let alpha = try Self.client(of: node, as: "alpha")
        let beta = try Self.client(of: node, as: "beta")
        // Same key names, many shards, two rounds so every key is rewritten.
        for round in 0..<2 {
            try alpha.send(pipeline: (0..<200).map { ["SET", "k\($0)", "alpha-\(round)-\($0)"] })
            try beta.send(pipeline: (0..<200).map { ["SET", "k\($0)", "beta-\(round)-\($0)"] })
            for _ in 0..<200 {
                #expect(try alpha.read()?.text == "OK")
                #expect(try beta.read()?.text == "OK")
            }
        }
        var firstVersions: [Int64] = []
        for i in 0..<200 {
            #expect(try alpha.call("GET", "k\(i)").text == "alpha-1-\(i)")
            #expect(try beta.call("GET", "k\(i)").text == "beta-1-\(i)")
            firstVersions.append(try #require(try alpha.call("GETVER", "k\(i)").elements?[1].int))
        }
        #expect(try alpha.call("DBSIZE").int == 200)
        #expect(try beta.call("DBSIZE").int == 200)
        // A rewrite in a later pipeline gets a larger version.
        try alpha.send(pipeline: (0..<200).map { ["SET", "k\($0)", "again"] })
        for _ in 0..<200 { #expect(try alpha.read()?.text == "OK") }
        for i in 0..<200 {
            let version = try #require(try alpha.call("GETVER", "k\(i)").elements?[1].int)
            #expect(version > firstVersions[i])
        }
        // A fresh connection: SET before AUTH is refused, SETs after it land in the tenant AUTH named.
        let switching = try node.client()
        try switching.send(pipeline: [["SET", "z", "before"], ["AUTH", "beta", "beta-secret"], ["SET", "z", "after"]])
        #expect(try switching.read()?.text == "NOAUTH Authentication required.")
        #expect(try switching.read()?.text == "OK")
        #expect(try switching.read()?.text == "OK")
        #expect(try beta.call("GET", "z").text == "after")
        #expect(try alpha.call("GET", "z").isNull)
    }

    @Test("pipelined SETs with only an expiry: each option sets the TTL Redis would, bad ones get Redis's errors, the rest still land")
    func pipelinedExpiringSets() throws {
        let node = try Self.tenantNode()
        defer { node.cleanup() }
        let c = try Self.client(of: node, as: "alpha")
        let nowSeconds = Int64(Date().timeIntervalSince1970)
        // Every command a blind SET: the event loop prepares the batch.
        try c.send(pipeline: [
            ["SET", "e1", "v", "EX", "100"], ["SET", "e2", "v", "PX", "100000"],
            ["SET", "e3", "v", "EXAT", "\(nowSeconds + 100)"], ["SET", "e4", "v", "pxat", "\((nowSeconds + 100) * 1000)"],
            ["SET", "p", "v"], ["SET", "short", "v", "PX", "50"],
        ])
        for _ in 0..<6 { #expect(try c.read()?.text == "OK") }
        for key in ["e1", "e3"] {
            let ttl = try #require(try c.call("TTL", key).int)
            #expect((90...100).contains(ttl), "TTL \(key) = \(ttl)")
        }
        for key in ["e2", "e4"] {
            let pttl = try #require(try c.call("PTTL", key).int)
            #expect((90_000...100_000).contains(pttl), "PTTL \(key) = \(pttl)")
        }
        #expect(try c.call("TTL", "p").int == -1)
        // A write the loop prepared whose expiry overflows when staged fails alone.
        try c.send(pipeline: [["SET", "o1", "v", "PX", "9223372036854775807"], ["SET", "o2", "v", "EX", "5"]])
        #expect(try c.read()?.text == "ERR invalid expire time in 'set' command")
        #expect(try c.read()?.text == "OK")
        // Bad expiries in a batch: the writer runs it, with the errors SET gives anywhere.
        try c.send(pipeline: [
            ["SET", "b1", "v", "EX", "10"], ["SET", "b2", "v", "EX", "0"], ["SET", "b3", "v", "EX", "abc"],
            ["SET", "b4", "v", "EX", "9223372036854775807"], ["SET", "b5", "v", "EX", "10", "NX"],
        ])
        #expect(try c.read()?.text == "OK")
        #expect(try c.read()?.text == "ERR invalid expire time in 'set' command")
        #expect(try c.read()?.text == "ERR value is not an integer or out of range")
        #expect(try c.read()?.text == "ERR invalid expire time in 'set' command")
        #expect(try c.read()?.text == "OK")
        #expect(try c.call("EXISTS", "b1", "b2", "b3", "b4", "b5", "o1", "o2").int == 3)
        // And an expiry is kept: after it passes, the key is gone.
        Thread.sleep(forTimeInterval: 0.2)
        #expect(try c.call("GET", "short").isNull)
        #expect(try c.call("GET", "p").text == "v")
    }

    @Test("pipelined MSETs and SETs (prepared on the event loop): every pair lands in the connection's tenant, one reply per command")
    func pipelinedMultiSets() throws {
        let node = try Self.tenantNode()
        defer { node.cleanup() }
        let alpha = try Self.client(of: node, as: "alpha")
        let beta = try Self.client(of: node, as: "beta")
        // Forty MSETs of five keys each (many shards), with a SET between every two.
        var pipeline: [[String]] = []
        for m in 0..<40 {
            pipeline.append(["MSET"] + (0..<5).flatMap { ["m\(m)-\($0)", "a\(m)-\($0)"] })
            if m % 2 == 1 { pipeline.append(["SET", "s\(m)", "a\(m)", "PX", "100000"]) }
        }
        try alpha.send(pipeline: pipeline)
        for _ in pipeline { #expect(try alpha.read()?.text == "OK") }
        for m in 0..<40 {
            for k in 0..<5 {
                #expect(try alpha.call("GET", "m\(m)-\(k)").text == "a\(m)-\(k)")
                #expect(try beta.call("GET", "m\(m)-\(k)").isNull)
            }
        }
        #expect(try alpha.call("DBSIZE").int == 220)
        #expect(try beta.call("DBSIZE").int == 0)
        // The same key twice in one MSET and across a pipeline: the last write wins.
        try beta.send(pipeline: [["MSET", "x", "1", "y", "2", "x", "3"], ["MSET", "y", "4"], ["SET", "x", "5", "EX", "100"]])
        for _ in 0..<3 { #expect(try beta.read()?.text == "OK") }
        #expect(try beta.call("MGET", "x", "y").elements?.map(\.text) == ["5", "4"])
        // A malformed MSET leaves the batch to the writer, which answers each command as usual.
        try beta.send(pipeline: [["MSET", "p", "1"], ["MSET", "q"], ["MSET", "r", "3"]])
        #expect(try beta.read()?.text == "OK")
        #expect(try beta.read()?.text == "ERR wrong number of arguments for 'mset' command")
        #expect(try beta.read()?.text == "OK")
        #expect(try beta.call("EXISTS", "p", "q", "r").int == 2)
    }

    @Test("unauthenticated connections get strict parser limits; breaking one errors and closes")
    func unauthenticatedLimits() throws {
        let node = try Self.tenantNode()
        defer { node.cleanup() }
        let c = try node.client()
        try c.send((0..<11).map { _ in Array("x".utf8) })
        let reply = try #require(try c.read())
        #expect(reply.isError)
        #expect(try c.read() == nil, "the connection is closed")
        let big = try node.client()
        try big.send([Array("AUTH".utf8), Array("alpha".utf8), [UInt8](repeating: 65, count: 17 * 1024)])
        #expect(try big.read()?.isError == true)
        #expect(try big.read() == nil)
        // After AUTH the normal limits apply.
        let authed = try Self.client(of: node, as: "alpha")
        #expect(try authed.call(([Array("MSET".utf8)] + (0..<20).map { Array("k\($0)".utf8) })).text == "OK")
        #expect(try authed.call([Array("SET".utf8), Array("big".utf8), [UInt8](repeating: 66, count: 100_000)]).text == "OK")
    }

    @Test("malformed frames and broken limits: an error reply, a closed connection, the server stays up")
    func malformedInput() throws {
        let node = try NodeProcess.standalone(extra: ["--max-bulk", "1024"])
        defer { node.cleanup() }
        let cases: [String] = [
            "*2147483648\r\n",
            "*1\r\n$9223372036854775807\r\n",
            "*1\r\n$-5\r\n",
            "*1\r\n$99999999999999999999\r\n",
            "*1\r\n$2000\r\n",
            "*1\r\n:5\r\n",
            "*2\r\n$3\r\nGET\r\n$1\r\nkX\r\n\r\n",
        ]
        for frame in cases {
            let c = try node.client()
            try c.send(raw: Array(frame.utf8))
            let reply = try #require(try c.read(), "no reply to \(frame.debugDescription)")
            #expect(reply.isError, "\(frame.debugDescription)")
            #expect(reply.text?.contains("Protocol error") == true, "\(frame.debugDescription): \(reply)")
            #expect(try c.read() == nil, "connection stays open after \(frame.debugDescription)")
        }
        // A top-level `$…` line is an inline command, as in Redis: an error reply, connection kept.
        let inline = try node.client()
        try inline.send(raw: Array("$9223372036854775807\r\n".utf8))
        #expect(try inline.read()?.text?.hasPrefix("ERR unknown command") == true)
        #expect(try inline.call("PING").text == "PONG")
        // Garbage fuzz: the server never crashes.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let c = try node.client()
            try? c.send(raw: (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } + Array("\r\n".utf8))
        }
        let healthy = try node.client()
        #expect(try healthy.call("PING").text == "PONG")
        // Pipelined commands before a bad frame are answered first.
        let pipelined = try node.client()
        try pipelined.send(raw: Array("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n".utf8))
        #expect(try pipelined.read()?.text == "PONG")
        #expect(try pipelined.read()?.text == "PONG")
        #expect(try pipelined.read()?.isError == true)
        #expect(try pipelined.read() == nil)
    }

    @Test("max clients refuses the connection beyond the limit with an error; idle connections are closed")
    func connectionLimits() throws {
        let node = try NodeProcess.standalone(extra: ["--max-clients", "2", "--idle-timeout", "1"])
        defer { node.cleanup() }
        // NodeProcess's readiness probes have closed by now; give the server a moment to notice.
        usleep(200_000)
        let first = try node.client()
        let second = try node.client()
        #expect(try first.call("PING").text == "PONG")
        #expect(try second.call("PING").text == "PONG")
        let third = try node.client()
        #expect(try third.read()?.text == "ERR max number of clients reached")
        #expect(try third.read() == nil)
        #expect(try first.call("PING").text == "PONG", "existing clients are unaffected")
        // Idle for longer than the timeout: the server closes the connection.
        sleep(2)
        #expect(try second.read() == nil)
        let fresh = try node.client()
        #expect(try fresh.call("PING").text == "PONG", "closed idle connections free their slots")
    }

    @Test("a reply batch over the output cap is refused with an error and the connection closed; the server stays up")
    func outputCap() throws {
        let node = try NodeProcess.standalone(extra: ["--max-output-mb", "2"])
        defer { node.cleanup() }
        let c = try node.client()
        let megabyte = [UInt8](repeating: 0x61, count: 1 << 20)
        #expect(try c.call([Array("SET".utf8), Array("big".utf8), megabyte]).text == "OK")
        guard case .bulkString(let one) = try c.call("GET", "big") else {
            Issue.record("GET big must return the value")
            return
        }
        #expect(one.readableBytes == 1 << 20)
        let reply = try c.call("MGET", "big", "big", "big")
        #expect(reply.text?.hasPrefix("ERR reply exceeds the output buffer limit") == true, "\(reply)")
        #expect(try c.read() == nil)
        #expect(try node.client().call("PING").text == "PONG")
    }

    @Test("a key of a shard this node does not serve gets MOVED to its owner")
    func moved() throws {
        let directory = NodeProcess.temporaryDirectory()
        let portA = NodeProcess.freePort()
        let portB = NodeProcess.freePort()
        let config = ClusterConfig(
            coordinator: nil,
            nodes: [
                .init(id: "n1", host: "127.0.0.1", dataPort: UInt16(portA), metricsPort: nil, dataDir: directory + "/n1", zone: nil, weight: nil),
                .init(id: "n2", host: "127.0.0.1", dataPort: UInt16(portB), metricsPort: nil, dataDir: directory + "/n2", zone: nil, weight: nil),
            ],
            replicationFactor: 1, shardCount: 16, vnodes: 64, tenants: [:], defaultTenant: .loopback, caches: nil)
        let map = try config.bootstrapMap()
        let n1 = try NodeProcess.clusterNode(config: config, id: "n1", directory: directory)
        defer { n1.cleanup() }
        let c = try n1.client()
        var movedSeen = 0
        var localSeen = 0
        for i in 0..<40 {
            let key = "key\(i)"
            let hash = PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8))
            let shard = map.shard(forHash: hash)
            let reply = try c.call("SET", key, "v")
            if shard.primary == "n1" {
                #expect(reply.text == "OK")
                localSeen += 1
            } else {
                #expect(reply.text == "MOVED \(shard.id.rawValue) 127.0.0.1:\(portB) \(shard.epoch)")
                #expect(try c.call("GET", key).text == "MOVED \(shard.id.rawValue) 127.0.0.1:\(portB) \(shard.epoch)")
                movedSeen += 1
            }
        }
        #expect(movedSeen > 0 && localSeen > 0)
    }
}
