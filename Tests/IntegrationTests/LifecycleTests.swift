import Foundation
import Testing
import StrataCluster

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

    @Test("a failing WAL fsync at shutdown: the node exits non-zero and logs why", .timeLimit(.minutes(2)))
    func finalFsyncFailure() throws {
        // A real fsync failure, not a code path for tests: an LD_PRELOAD library makes fsync and
        // fdatasync fail with EIO once a trigger file exists (what a dying disk or a full thin
        // volume does), so RocksDB's own WAL sync fails inside the node.
        let directory = NodeProcess.temporaryDirectory()
        let shim = try Self.buildFailingFsyncLibrary(in: directory)
        let trigger = directory + "/fsync-fails"
        let node = try NodeProcess.standalone(
            environment: ["LD_PRELOAD": shim, "STRATA_TEST_FSYNC_FAILS_AFTER": trigger], directory: directory)
        defer { node.cleanup() }
        let client = try node.client()
        for i in 0..<100 { #expect(try client.call("SET", "k\(i)", "v\(i)").text == "OK") }
        // Fsyncs work until now (the node started, wrote and synced its WAL); from here they fail.
        #expect(FileManager.default.createFile(atPath: trigger, contents: nil))
        #expect(try client.call("SET", "last", "v").text == "OK")
        node.process.terminate()
        node.process.waitUntilExit()
        #expect(node.process.terminationReason == .exit && node.process.terminationStatus != 0)
        let log = node.log()
        #expect(log.contains("final WAL fsync failed"), "the log says why: \(log.suffix(2000))")
        #expect(log.contains("Input/output error") || log.contains("EIO"), "with the disk's error: \(log.suffix(2000))")
    }

    /// Compiles the fsync-failing preload library into `directory` with the toolchain's C compiler.
    static func buildFailingFsyncLibrary(in directory: String) throws -> String {
        let source = directory + "/failing-fsync.c"
        let library = directory + "/failing-fsync.so"
        try """
            #define _GNU_SOURCE
            #include <dlfcn.h>
            #include <errno.h>
            #include <stdlib.h>
            #include <unistd.h>
            static int armed(void) {
                const char *trigger = getenv("STRATA_TEST_FSYNC_FAILS_AFTER");
                return trigger != NULL && access(trigger, F_OK) == 0;
            }
            int fsync(int fd) {
                if (armed()) { errno = EIO; return -1; }
                int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
                return real(fd);
            }
            int fdatasync(int fd) {
                if (armed()) { errno = EIO; return -1; }
                int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
                return real(fd);
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["clang", "-shared", "-fPIC", "-O1", "-o", library, source, "-ldl"]
        try compiler.run()
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else {
            throw RESPTestClient.Failure(description: "clang could not build the fsync-failing library")
        }
        return library
    }

    @Test("a client's request id (REQID) is logged by the primary when the write commits and by the replica when it applies it", .timeLimit(.minutes(2)))
    func requestIDInLogs() throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 100, internalSecret: ReplicationTests.secret,
            nodeArguments: ["--log-level", "debug"])
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        let key = "logged-key"
        let shard = try cluster.map().shard(
            forHash: PlacementKey.hash(tenant: Array("default".utf8), key: Array(key.utf8), placement: .spread))
        let (primary, replica) = (try #require(shard.primary), shard.replicas[1])
        // Retried on TRYAGAIN (a lease not yet renewed on a loaded machine), as clients do: the same id runs once.
        let reply = try ClusterTests.callFollowingMoved(ClientTests.port(cluster, primary), "REQID", "req-7f3a", "SET", key, "v")
        #expect(reply.elements?.first?.text == "OK", "\(reply)")
        try ReplicationTests.waitForConvergence(cluster)

        func logged(_ node: NodeID, _ message: String) throws -> Bool {
            let log = try String(contentsOfFile: try #require(cluster.nodes[node.rawValue]).logPath, encoding: .utf8)
            return log.split(separator: "\n").contains { $0.contains(message) && $0.contains("request-id=req-7f3a") }
        }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, !(try logged(primary, "write committed") && logged(replica, "replicated write applied")) {
            usleep(50_000)
        }
        #expect(try logged(primary, "write committed"))
        #expect(try logged(replica, "replicated write applied"))
    }
}
