// Writes a key through StrataClient, reads it back and counts visits: run it
// against the local cluster (`Scripts/cluster.sh up`) with
// `swift run --package-path Examples StrataExample cluster.json`.
import Foundation
import StrataClient

let arguments = CommandLine.arguments.dropFirst()
guard let configPath = arguments.first else {
    print("usage: StrataExample <cluster.json> [tenant secret]")
    exit(2)
}
var configuration = try StrataClientConfiguration(
    clusterConfigPath: configPath, tenant: arguments.dropFirst().first, secret: arguments.dropFirst(2).first)
configuration.requestTimeout = .seconds(2)
let client = try StrataClient(configuration: configuration)

try await withThrowingDiscardingTaskGroup { group in
    group.addTask { try await client.run() }
    try await client.set("example:greeting", "hello from StrataClient", ttl: .seconds(60))
    let greeting = try await client.getString("example:greeting") ?? "(missing)"
    let visits = try await client.increment("example:visits")
    print("\(greeting); visit \(visits)")
    group.cancelAll()
}
