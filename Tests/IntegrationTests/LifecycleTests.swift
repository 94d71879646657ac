import Foundation
import Testing

/// How a node stops: gracefully, under load, with nothing acknowledged lost.
@Suite("Node lifecycle", .serialized)
struct LifecycleTests {
    @Test("SIGTERM during a pipelined write load: the node exits 0 and every acknowledged write is there after a restart", .timeLimit(.minutes(2)))
    func sigtermUnderLoad() throws {
        let node = try NodeProcess.standalone()
        defer { node.cleanup() }
        let client = try node.client()
        // Values only grow per key: a key must hold its last acknowledged value or a later one.
        var acknowledged: [String: Int] = [:]
        var counter = 0
        let started = Date()
        var signalled = false
        writing: while Date().timeIntervalSince(started) < 20 {
            var pipeline: [[String]] = []
            for _ in 0..<50 {
                counter += 1
                pipeline.append(["SET", "k\(counter % 500)", String(counter)])
            }
            do {
                try client.send(pipeline: pipeline)
                for command in pipeline {
                    guard let reply = try client.read() else { break writing }
                    if reply.text == "OK" { acknowledged[command[1]] = Int(command[2]) }
                }
            } catch {
                break writing
            }
            if !signalled, Date().timeIntervalSince(started) > 0.3 {
                // Mid-stream: the writes already sent keep coming while the node shuts down.
                node.process.terminate()
                signalled = true
            }
        }
        #expect(signalled)
        node.process.waitUntilExit()
        #expect(node.process.terminationReason == .exit && node.process.terminationStatus == 0)
        #expect(acknowledged.count == 500, "the load ran before the signal")

        try node.restart()
        let reader = try node.client()
        for (key, value) in acknowledged {
            let stored = try reader.call("GET", key).text.flatMap { Int($0) } ?? 0
            #expect(stored >= value, "\(key): acknowledged \(value), stored \(stored)")
        }
    }
}
