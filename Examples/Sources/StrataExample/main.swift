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
let client: StrataClient
do {
    client = try StrataClient(configuration: StrataClientConfiguration(
        clusterConfigPath: configPath, tenant: arguments.dropFirst().first, secret: arguments.dropFirst(2).first))
} catch {
    print("StrataExample: \(error)")
    exit(1)
}

do {
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await client.run() }
        try await client.set("example:greeting", "hello from StrataClient", ttl: .seconds(60))
        let greeting = try await client.getString("example:greeting") ?? "(missing)"
        let visits = try await client.increment("example:visits")
        print("\(greeting); visit \(visits)")
        group.cancelAll()
    }
} catch {
    print("StrataExample: \(error)")
    exit(1)
}
