import Foundation
import Synchronization
import StrataCluster

/// A real `strata` process on 127.0.0.1, started for one test and stopped after it.
final class NodeProcess {
    let port: Int
    let metricsPort: Int
    let directory: String
    private(set) var process: Process
    private let arguments: [String]
    /// Variables added to the test process's environment for the node.
    private let environment: [String: String]
    let logPath: String

    static func strataPath() throws -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("strata").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw RESPTestClient.Failure(description: "strata executable not found near \(CommandLine.arguments[0])")
    }

    /// Runs `strata arguments…` to its end (a CLI command: failover, cluster …) and returns its exit status and standard output.
    static func runStrata(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try strataPath())
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// A free TCP port on 127.0.0.1, picked below Linux's ephemeral range.
    ///
    /// A port nothing listens on, picked below Linux's ephemeral range (32768–60999):
    /// a port from that range could be taken by some process's outgoing
    /// connection between this check and the server's bind.
    static func freePort() -> Int {
        while true {
            let port = Int.random(in: 20_000..<32_000)
            // Never the same port twice in one test run: ports picked for one cluster are not bound
            // yet when the next is picked, so the bind check alone could hand one out twice.
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if bound == 0 { return port }
        }
    }

    /// Every port `freePort` returned in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "strata-it-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts a standalone node.
    /// `environment` is added to the test process's own.
    static func standalone(extra: [String] = [], environment: [String: String] = [:], directory: String? = nil) throws
        -> NodeProcess
    {
        let directory = directory ?? temporaryDirectory()
        let port = freePort()
        let metricsPort = freePort()
        return try NodeProcess(
            arguments: ["node", "--standalone", "--port", "\(port)", "--metrics-port", "\(metricsPort)", "--data-dir", directory + "/data"] + extra,
            port: port, metricsPort: metricsPort, directory: directory, environment: environment)
    }

    /// Starts node `id` of a cluster.json written into a fresh directory.
    static func clusterNode(config: ClusterConfig, id: String, directory: String, extra: [String] = []) throws
        -> NodeProcess
    {
        let path = try writeConfig(config, in: directory)
        let node = config.nodes.first { $0.id == id }!
        return try NodeProcess(
            arguments: ["node", "--config", path, "--id", id] + extra,
            port: Int(node.dataPort), metricsPort: Int(node.metricsPort ?? 0), directory: directory)
    }

    /// Writes `config` as `directory/cluster.json` and returns its path.
    static func writeConfig(_ config: ClusterConfig, in directory: String) throws -> String {
        let path = directory + "/cluster.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(config).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Starts the coordinator of a cluster.json written into `directory`.
    static func coordinator(config: ClusterConfig, directory: String) throws -> NodeProcess {
        let path = try writeConfig(config, in: directory)
        return try NodeProcess(
            arguments: ["coordinator", "--config", path],
            port: Int(config.coordinator!.port), metricsPort: Int(config.coordinator!.metricsPort ?? 0), directory: directory)
    }

    init(arguments: [String], port: Int, metricsPort: Int, directory: String, environment: [String: String] = [:]) throws {
        self.arguments = arguments
        self.environment = environment
        self.port = port
        self.metricsPort = metricsPort
        self.directory = directory
        self.logPath = directory + "/node-\(port).log"
        process = Process()
        try start()
    }

    private func start() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.strataPath())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try waitUntilReady()
    }

    /// Polls PING until the node answers (or 30 s pass).
    func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !process.isRunning {
                throw RESPTestClient.Failure(description: "strata exited: \(log())")
            }
            if let client = try? RESPTestClient(port: port), let reply = try? client.call("PING"),
               reply.text == "PONG" || reply.isError {
                return
            }
            usleep(50_000)
        }
        throw RESPTestClient.Failure(description: "strata did not answer within 30 s: \(log())")
    }

    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    func client() throws -> RESPTestClient { try RESPTestClient(port: port) }

    /// SIGTERM and wait: a graceful stop.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Stops gracefully, then starts again with the same arguments and data.
    func restart() throws {
        stop()
        try start()
    }

    /// Stops the process and removes its files.
    func cleanup() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
