import Foundation
import StrataClient
import StrataCluster
import Testing

/// The README's and the doc comments' Swift snippets live here, compiled with
/// the tests and run against a real cluster; a test checks every snippet in
/// those files is one of these (so a snippet cannot drift from compiling code).
@Suite("Documentation snippets", .serialized)
struct SnippetTests {
    // snippet: quick start (README, StrataClient doc comment)
    static func quickStart() async throws {
        let client = try StrataClient(configuration: .init(clusterConfigPath: "cluster.json"))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await client.run() }
            try await client.set("greeting", "hello", ttl: .seconds(60))
            print(try await client.getString("greeting") ?? "missing")
            group.cancelAll()
        }
    }

    // snippet: tenants, read policies, read-your-writes (README)
    static func policiesAndSessions() async throws -> String? {
        var configuration = try StrataClientConfiguration(
            clusterConfigPath: "cluster.json", tenant: "acme", secret: "s3cret")
        configuration.readPolicy = .leastOutstanding
        configuration.hedgeAfterAtLeast = .milliseconds(5)
        let client = try StrataClient(configuration: configuration)

        let session = StrataSession()
        try await client.set("cart:42", "3 items", options: .init(session: session))
        // A replica serves this read only once it has the session's write.
        let cart = try await client.getString("cart:42", options: .init(session: session))
        return cart
    }

    // snippet: versions, Codable, errors (README)
    static func compareAndSet(client: StrataClient) async throws {
        struct Profile: Codable {
            var name: String
            var visits: Int
        }
        try await client.set("profile:7", encoding: Profile(name: "Ada", visits: 1))
        while true {
            guard let current = try await client.getWithVersion("profile:7") else { break }
            var profile = try JSONValueCoder().decode(Profile.self, from: current.value)
            profile.visits += 1
            do {
                try await client.compareAndSet(
                    "profile:7", JSONValueCoder().encode(profile), expectedVersion: current.version)
                break
            } catch let error as StrataError where error.code == .versionConflict {
                continue  // someone else wrote first: read again
            }
        }
    }
    // end of snippets

    /// The root of the package (two levels above this file's directory).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The code of a snippet block: lines without their indentation or doc-comment prefix, blank lines dropped.
    static func normalized(_ lines: [Substring]) -> [String] {
        lines.map { line -> String in
            var text = line.drop { $0 == " " }
            if text.hasPrefix("///") { text = text.dropFirst(3) }
            return text.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
    }

    /// The ```swift blocks of a file.
    static func blocks(in path: String) throws -> [[String]] {
        let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        var blocks: [[String]] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let bare = normalized([line]).first ?? ""
            if current == nil, bare == "```swift" {
                current = []
            } else if current != nil, bare == "```" {
                blocks.append(normalized(current!))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("every Swift snippet in the README and the client's doc comments is compiled code in this file")
    func snippetsAreCompiled() throws {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let compiled = Self.normalized(
            source.components(separatedBy: "// end of snippets")[0].split(separator: "\n", omittingEmptySubsequences: false))
        let documents = ["README.md", "Sources/StrataClient/StrataClient.swift"]
        var checked = 0
        for document in documents {
            for block in try Self.blocks(in: document) {
                // A snippet matches when its lines appear, in order and contiguous, among the compiled lines.
                let found = compiled.indices.contains { start in
                    start + block.count <= compiled.count && Array(compiled[start..<start + block.count]) == block
                }
                #expect(found, "\(document): snippet not compiled by SnippetTests:\n\(block.joined(separator: "\n"))")
                checked += 1
            }
        }
        #expect(checked >= 4)
    }

    @Test("the snippets run against a real cluster", .timeLimit(.minutes(2)))
    func snippetsRun() async throws {
        let cluster = try ClusterTests.Cluster.start(
            downAfterMs: 1500, heartbeatIntervalMs: 200, internalSecret: ReplicationTests.secret,
            tenants: ["acme": .init(secretHash: TenantSecret.hash(Array("s3cret".utf8)))])
        defer { cluster.cleanup() }
        try FailoverTests.waitUntilHealthy(cluster)
        // The snippets read ./cluster.json.
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(cluster.directory)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }

        try await Self.quickStart()
        let client = try StrataClient(configuration: .init(clusterConfigPath: "cluster.json"))
        #expect(try await client.getString("greeting") == "hello")
        #expect(try await Self.policiesAndSessions() == "3 items")
        #expect(try await client.getString("cart:42") == nil, "acme's key is not the default tenant's")
        try await Self.compareAndSet(client: client)
        try await Self.compareAndSet(client: client)
        #expect(try await client.getString("profile:7") == #"{"name":"Ada","visits":2}"#)
    }
}
