import Foundation
import Testing
import StrataCluster

/// `Scripts/cluster.sh` against a cluster.json of free ports in a temporary directory.
@Suite("cluster.sh", .serialized)
struct ClusterScriptTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    struct Run {
        let status: Int32
        let output: String
    }

    static func script(_ arguments: [String], config: String, state: String) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repository + "/Scripts/cluster.sh"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CONFIG"] = config
        environment["CLUSTER_STATE"] = state
        environment["BUILD"] = "debug"
        environment["SKIP_BUILD"] = "1"
        process.environment = environment
        // A file, not a pipe: the daemons the script starts must not keep our end open.
        let outputPath = state + "-\(arguments[0])-\(UUID().uuidString).out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Run(status: process.terminationStatus, output: text)
    }

    static func writeConfig(directory: String) throws -> (path: String, config: ClusterConfig) {
        var config = ClusterConfig(
            coordinator: .init(host: "127.0.0.1", port: UInt16(NodeProcess.freePort()), metricsPort: UInt16(NodeProcess.freePort()),
                               dataDir: directory + "/coordinator", heartbeatIntervalMs: 100, suspectAfterMs: 400, downAfterMs: 1500),
            nodes: ["n1", "n2", "n3"].map {
                .init(id: $0, host: "127.0.0.1", dataPort: UInt16(NodeProcess.freePort()), metricsPort: UInt16(NodeProcess.freePort()),
                      dataDir: directory + "/" + $0, zone: $0)
            },
            replicationFactor: 2, shardCount: 16, vnodes: 64, defaultTenant: .loopback,
            caches: [.init(id: "c1", host: "127.0.0.1", port: UInt16(NodeProcess.freePort()), metricsPort: UInt16(NodeProcess.freePort()))])
        config.internalSecret = "script-test-secret"
        return (try NodeProcess.writeConfig(config, in: directory), config)
    }

    @Test("up starts coordinator, nodes and the cache gateway, status shows them, down leaves no process behind")
    func upStatusDown() throws {
        let directory = NodeProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (config, cluster) = try Self.writeConfig(directory: directory)
        let state = directory + "/state"
        // A stale pid file from an earlier crash is noticed and removed.
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try "999999\n".write(toFile: state + "/n2.pid", atomically: true, encoding: .utf8)

        let up = try Self.script(["up"], config: config, state: state)
        #expect(up.status == 0, "\(up.output)")
        #expect(up.output.contains("removing stale pid file"))
        #expect(up.output.contains("Strata local cluster is up"))
        let pids = try ["coordinator", "n1", "n2", "n3", "c1"].map { name -> Int32 in
            Int32(try String(contentsOfFile: state + "/\(name).pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        }
        for pid in pids { #expect(kill(pid, 0) == 0) }

        let status = try Self.script(["status"], config: config, state: state)
        #expect(status.output.components(separatedBy: " up").count - 1 >= 5, "\(status.output)")
        #expect(status.output.contains("map epoch"))

        let again = try Self.script(["up"], config: config, state: state)
        #expect(again.status != 0)
        #expect(again.output.contains("already running"))

        let client = try RESPTestClient(port: Int(cluster.nodes[0].dataPort))
        #expect(try client.call("PING").text == "PONG")
        // Through the gateway: a write, then the read served from its cache.
        let gateway = try RESPTestClient(port: Int(cluster.caches![0].port))
        #expect(try gateway.call("SET", "via-gateway", "1").text == "OK")
        #expect(try gateway.call("GET", "via-gateway").text == "1")

        let down = try Self.script(["down"], config: config, state: state)
        #expect(down.status == 0, "\(down.output)")
        usleep(200_000)
        for pid in pids { #expect(kill(pid, 0) != 0, "process \(pid) is still running") }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: state).filter { $0.hasSuffix(".pid") })?.isEmpty == true)
    }

    @Test("a port in use is a clear error, and nothing is left running")
    func portInUse() throws {
        let directory = NodeProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (config, cluster) = try Self.writeConfig(directory: directory)
        let state = directory + "/state"
        // Occupy n2's port with a node of another cluster.
        let squatter = try NodeProcess(
            arguments: ["node", "--standalone", "--port", "\(cluster.nodes[1].dataPort)", "--data-dir", directory + "/squatter"],
            port: Int(cluster.nodes[1].dataPort), metricsPort: 0, directory: directory)
        defer { squatter.cleanup() }
        let up = try Self.script(["up"], config: config, state: state)
        #expect(up.status != 0)
        #expect(up.output.contains("in use"), "\(up.output)")
        let pidFiles = (try? FileManager.default.contentsOfDirectory(atPath: state).filter { $0.hasSuffix(".pid") }) ?? []
        #expect(pidFiles.isEmpty, "a failed check must start nothing: \(pidFiles)")
    }
}
