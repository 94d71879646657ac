import Foundation
import Synchronization
import Testing
import StrataCluster
import StrataWire

@Suite("Storage node over real sockets")
struct NodeCommandTests {
    @Test("string commands, versions and compare-and-set")
    func stringCommands() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let c = try node.client()
        #expect(try c.call("PING").text == "PONG")
        #expect(try c.call("ECHO", "hi").text == "hi")
        #expect(try c.call("GET", "missing").isNull)
        #expect(try c.call("SET", "k", "v1").text == "OK")
        #expect(try c.call("GET", "k").text == "v1")
        let versioned = try #require(try c.call("GETVER", "k").elements)
        #expect(versioned[0].text == "v1")
        let v1 = try #require(versioned[1].int)
        #expect(v1 > 0)
        // Compare-and-set: the wrong version names the current one; the right one applies.
        let conflict = try c.call("SET", "k", "v2", "IFVERSION", "\(v1 + 100)")
        #expect(conflict.isError)
        #expect(conflict.text == "VERSIONMISMATCH current version is \(v1)")
        #expect(try c.call("GET", "k").text == "v1")
        #expect(try c.call("SET", "k", "v2", "IFVERSION", "\(v1)").text == "OK")
        let v2 = try #require(try c.call("GETVER", "k").elements?[1].int)
        #expect(v2 > v1)
        #expect(try c.call("SET", "new", "x", "IFVERSION", "0").text == "OK")
        #expect(try c.call("SET", "new", "y", "IFVERSION", "0").isError)
        // NX / XX / GET.
        #expect(try c.call("SET", "k", "nx", "NX").isNull)
        #expect(try c.call("SET", "absent", "xx", "XX").isNull)
        #expect(try c.call("SET", "k", "v3", "GET").text == "v2")
        #expect(try c.call("SET", "k", "v", "NX", "XX").text == "ERR syntax error")
        // Counters and strings.
        #expect(try c.call("INCR", "n").int == 1)
        #expect(try c.call("INCRBY", "n", "41").int == 42)
        #expect(try c.call("DECR", "n").int == 41)
        #expect(try c.call("DECRBY", "n", "1").int == 40)
        #expect(try c.call("INCR", "k").text == "ERR value is not an integer or out of range")
        #expect(try c.call("SET", "big", "9223372036854775807").text == "OK")
        #expect(try c.call("INCR", "big").text == "ERR increment or decrement would overflow")
        #expect(try c.call("APPEND", "s", "ab").int == 2)
        #expect(try c.call("APPEND", "s", "cd").int == 4)
        #expect(try c.call("STRLEN", "s").int == 4)
        #expect(try c.call("GETDEL", "s").text == "abcd")
        #expect(try c.call("GET", "s").isNull)
        // Multi-key.
        #expect(try c.call("MSET", "a", "1", "b", "2").text == "OK")
        let values = try #require(try c.call("MGET", "a", "nope", "b").elements)
        #expect(values.map(\.text) == ["1", nil, "2"])
        #expect(try c.call("EXISTS", "a", "b", "nope", "a").int == 3)
        #expect(try c.call("DEL", "a", "b", "nope").int == 2)
        #expect(try c.call("EXISTS", "a").int == 0)
        // Errors keep the connection usable.
        #expect(try c.call("GET").text == "ERR wrong number of arguments for 'get' command")
        #expect(try c.call("NOSUCH", "x").text?.hasPrefix("ERR unknown command 'NOSUCH'") == true)
        #expect(try c.call("SELECT", "0").text == "OK")
        #expect(try c.call("SELECT", "1").isError)
        #expect(try c.call("PING").text == "PONG")
    }

    @Test("binary-safe keys and values")
    func binarySafe() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let c = try node.client()
        let key: [UInt8] = [0, 13, 10, 255, 0]
        let value: [UInt8] = [0, 0, 36, 45, 49, 13, 10]
        #expect(try c.call([Array("SET".utf8), key, value]).text == "OK")
        guard case .bulkString(let bytes) = try c.call([Array("GET".utf8), key]) else {
            Issue.record("expected a bulk string")
            return
        }
        #expect(Array(bytes.readableBytesView) == value)
        #expect(try c.call([Array("GET".utf8), [0, 13, 10, 255]]).isNull)
    }

    @Test("expiry: EX/PX, TTL, PTTL, PERSIST, EXPIRE, and keys vanish when due")
    func expiry() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let c = try node.client()
        #expect(try c.call("SET", "t", "v", "EX", "100").text == "OK")
        let ttl = try #require(try c.call("TTL", "t").int)
        #expect(ttl > 95 && ttl <= 100)
        #expect(try c.call("PTTL", "t").int ?? 0 > 95_000)
        #expect(try c.call("TTL", "nope").int == -2)
        #expect(try c.call("PERSIST", "t").int == 1)
        #expect(try c.call("TTL", "t").int == -1)
        #expect(try c.call("EXPIRE", "t", "50").int == 1)
        #expect(try c.call("EXPIRE", "t", "10", "GT").int == 0)
        #expect(try c.call("SET", "t", "v2", "KEEPTTL").text == "OK")
        #expect(try c.call("TTL", "t").int ?? 0 > 40)
        #expect(try c.call("SET", "x", "v", "EX", "0").text == "ERR invalid expire time in 'set' command")
        #expect(try c.call("SET", "short", "v", "PX", "150").text == "OK")
        #expect(try c.call("INCR", "counter").int == 1)
        #expect(try c.call("PEXPIRE", "counter", "150").int == 1)
        usleep(400_000)
        #expect(try c.call("GET", "short").isNull)
        #expect(try c.call("EXISTS", "counter").int == 0)
        #expect(try c.call("INCR", "counter").int == 1, "an expired counter starts over")
        #expect(try c.call("EXPIRE", "counter", "-1").int == 1)
        #expect(try c.call("GET", "counter").isNull)
    }

    @Test("SCAN walks every key once, MATCH filters, DBSIZE counts")
    func scanAndDbsize() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let c = try node.client()
        for i in 0..<250 { try c.call("SET", "user:\(i)", "v") }
        for i in 0..<30 { try c.call("SET", "{tag}:\(i)", "v") }
        #expect(try c.call("DBSIZE").int == 280)
        var cursor = "0"
        var seen: [String] = []
        repeat {
            let reply = try #require(try c.call("SCAN", cursor, "COUNT", "20").elements)
            cursor = try #require(reply[0].text)
            seen += try #require(reply[1].elements).compactMap(\.text)
        } while cursor != "0"
        #expect(seen.count == 280)
        #expect(Set(seen).count == 280)
        var matched: [String] = []
        cursor = "0"
        repeat {
            let reply = try #require(try c.call("SCAN", cursor, "MATCH", "{tag}:*", "COUNT", "100").elements)
            cursor = try #require(reply[0].text)
            matched += try #require(reply[1].elements).compactMap(\.text)
        } while cursor != "0"
        #expect(Set(matched) == Set((0..<30).map { "{tag}:\($0)" }))
    }

    @Test("connection commands: HELLO 3, CLIENT, CONFIG GET, INFO, COMMAND, QUIT")
    func connectionCommands() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let c = try node.client()
        guard case .map(let pairs) = try c.call("HELLO", "3") else {
            Issue.record("HELLO 3 must answer a RESP3 map")
            return
        }
        #expect(pairs.contains { $0.key.text == "proto" && $0.value.int == 3 })
        #expect(try c.call("GET", "missing").isNull)
        #expect(try c.call("HELLO", "4").text == "NOPROTO unsupported protocol version")
        #expect(try c.call("CLIENT", "SETNAME", "tester").text == "OK")
        #expect(try c.call("CLIENT", "GETNAME").text == "tester")
        #expect(try c.call("CLIENT", "ID").int ?? 0 > 0)
        guard case .map(let config) = try c.call("CONFIG", "GET", "save") else {
            Issue.record("CONFIG GET in RESP3 is a map")
            return
        }
        #expect(config.first?.key.text == "save")
        #expect(try c.call("INFO", "server").text?.contains("strata_version:") == true)
        let info = try #require(try c.call("INFO").text)
        for section in ["# Server", "# Clients", "# Stats", "# Keyspace", "# Replication"] {
            #expect(info.contains(section))
        }
        #expect(try c.call("COMMAND", "COUNT").int ?? 0 > 20)
        #expect(try c.call("QUIT").text == "OK")
        #expect(try c.read() == nil, "QUIT closes the connection")
    }

    @Test("redis-cli speaks to the node, including CONFIG GET for redis-benchmark")
    func redisCLI() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        func cli(_ args: String...) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            process.arguments = ["-p", "\(node.port)"] + args
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            process.waitUntilExit()
            return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try cli("SET", "greeting", "hello world") == "OK")
        #expect(try cli("GET", "greeting") == "hello world")
        #expect(try cli("INCR", "visits") == "1")
        #expect(try cli("CONFIG", "GET", "appendonly") == "appendonly\nno")
        #expect(try cli("DBSIZE") == "2")
        #expect(try cli("GETVER", "greeting").hasPrefix("hello world\n"))
    }

    @Test("metrics and health over HTTP")
    func metrics() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        try node.client().call("SET", "a", "b")
        let health = try httpGet(port: node.metricsPort, path: "/health")
        #expect(health.hasPrefix("HTTP/1.1 200"))
        #expect(health.hasSuffix("\r\n\r\nok\n"))
        let metrics = try httpGet(port: node.metricsPort, path: "/metrics")
        #expect(metrics.contains("strata_writes_total 1\n"))
        #expect(try httpGet(port: node.metricsPort, path: "/nope").hasPrefix("HTTP/1.1 404"))
    }

    @Test("restart keeps data and versions; new writes get larger versions")
    func restartKeepsData() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        var c = try node.client()
        for i in 0..<100 { try c.call("SET", "key\(i)", "value\(i)") }
        let before = try #require(try c.call("GETVER", "key7").elements?[1].int)
        node.stop()
        try node.restart()
        c = try node.client()
        let after = try #require(try c.call("GETVER", "key7").elements)
        #expect(after[0].text == "value7")
        #expect(after[1].int == before)
        #expect(try c.call("DBSIZE").int == 100)
        try c.call("SET", "key7", "again")
        let next = try #require(try c.call("GETVER", "key7").elements?[1].int)
        #expect(next > before)
    }

    @Test("a pipeline mixing GETs answered from memory, GETs that need the disk, writes and errors keeps request order")
    func pipelineOrder() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        var c = try node.client()
        for i in 0..<300 { try c.call("SET", "p\(i)", "v\(i)") }
        // Before the restart every read is in memory; after it, reads go to the disk until cached.
        for round in 0..<2 {
            if round == 1 {
                node.stop()
                try node.restart()
                c = try node.client()
            }
            var expected: [String] = []
            var pipeline: [[String]] = []
            for i in 0..<300 {
                pipeline.append(["GET", "p\(i)"])
                expected.append(round == 0 ? "v\(i)" : "w\(i)")
                if i % 7 == 0 {
                    pipeline.append(["SET", "p\(i)", "w\(i)"])
                    expected.append("OK")
                    pipeline.append(["get", "p\(i)"])
                    expected.append("w\(i)")
                } else if round == 0 {
                    // Round 1 reads the values round 0 left.
                    pipeline.append(["SET", "p\(i)", "w\(i)"])
                    expected.append("OK")
                }
                if i % 11 == 0 {
                    pipeline.append(["GET", "p\(i)", "extra"])
                    expected.append("ERR wrong number of arguments for 'get' command")
                    pipeline.append(["GET", "absent\(i)"])
                    expected.append("(nil)")
                }
            }
            try c.send(pipeline: pipeline)
            for (index, want) in expected.enumerated() {
                let reply = try #require(try c.read())
                let got = reply.isNull ? "(nil)" : reply.text ?? "?"
                #expect(got == want, "reply \(index) of round \(round)")
                if got != want { return }
            }
        }
    }

    @Test("concurrent pipelined read-modify-writes from many connections lose nothing; versions only grow")
    func concurrentReadModifyWrites() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        // Many connections' pipelined batches share write groups: every INCR must see the one before it.
        let connections = 8
        let rounds = 20
        let perRound = 25
        let keys = ["c0", "c1", "c2", "c3"]
        let failures = Mutex(0)
        let port = node.port
        DispatchQueue.concurrentPerform(iterations: connections) { worker in
            do {
                let c = try RESPTestClient(port: port)
                for round in 0..<rounds {
                    var raw: [UInt8] = []
                    for i in 0..<perRound {
                        let key = keys[(worker + round + i) % keys.count]
                        raw += Array("*2\r\n$4\r\nINCR\r\n$\(key.utf8.count)\r\n\(key)\r\n".utf8)
                        let own = "w\(worker)"
                        raw += Array("*3\r\n$3\r\nSET\r\n$\(own.utf8.count)\r\n\(own)\r\n$\(String(round).utf8.count)\r\n\(round)\r\n".utf8)
                    }
                    try c.send(raw: raw)
                    for _ in 0..<(2 * perRound) {
                        guard let reply = try c.read(), !reply.isError else { failures.withLock { $0 += 1 }; return }
                    }
                }
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let c = try node.client()
        var total = 0
        for key in keys { total += Int(try #require(try c.call("GET", key).text)) ?? -1 }
        #expect(total == connections * rounds * perRound)
        // A key's version is the shard sequence number of its last write: larger after every later write.
        let before = try #require(try c.call("GETVER", "c0").elements?[1].int)
        #expect(try c.call("INCR", "c0").int != nil)
        let after = try #require(try c.call("GETVER", "c0").elements?[1].int)
        #expect(after > before)
        for worker in 0..<connections { #expect(try c.call("GET", "w\(worker)").text == String(rounds - 1)) }
    }
}
