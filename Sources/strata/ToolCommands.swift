import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataBench
import StrataCache
import StrataClient
import StrataCluster
import StrataCoordinator
import StrataGateway
import StrataNode
import StrataWire

/// `strata hash-secret`: print the `secretHash` value for cluster.json.
struct HashSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-secret",
        abstract: "Print the sha256:<hex> form of a tenant secret for cluster.json's secretHash."
    )

    @Argument(help: "The secret.") var secret: String

    func run() throws {
        print(TenantSecret.hash(Array(secret.utf8)))
    }
}

/// `strata commands`: the command reference, generated from the command table.
struct CommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "Print the commands clients send, as the README's Markdown tables (generated from the command table); --cluster: the replication and coordinator commands (docs/architecture.md)."
    )

    @Flag(help: "The replication and coordinator commands instead.") var cluster = false

    func run() throws {
        print(CommandReference.markdown(groups: cluster ? CommandReference.clusterGroups : CommandReference.userGroups), terminator: "")
    }
}

/// `strata config`: read cluster.json for scripts.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect cluster.json.",
        subcommands: [ListNodes.self, ShowCoordinator.self, ListCaches.self]
    )

    /// `strata config caches`: one line per cache gateway: id host port metricsPort ("-" for none).
    struct ListCaches: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "caches", abstract: "Print 'id host port metricsPort' for every cache gateway.")

        @Option(help: "Path to cluster.json.") var config = "cluster.json"

        func run() throws {
            let cluster = try ClusterConfig.load(path: config)
            for cache in cluster.caches ?? [] {
                print("\(cache.id) \(cache.host) \(cache.port) \(cache.metricsPort.map(String.init) ?? "-")")
            }
        }
    }

    /// `strata config coordinator`: 'host port metricsPort' of the coordinator, or nothing.
    struct ShowCoordinator: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coordinator", abstract: "Print 'host port metricsPort' of the coordinator (nothing if none).")

        @Option(help: "Path to cluster.json.") var config = "cluster.json"

        func run() throws {
            let cluster = try ClusterConfig.load(path: config)
            guard let coordinator = cluster.coordinator else { return }
            print("\(coordinator.host) \(coordinator.port) \(coordinator.metricsPort.map(String.init) ?? "-")")
        }
    }

    /// `strata config nodes`: one line per storage node: id host dataPort metricsPort ("-" for none).
    struct ListNodes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nodes", abstract: "Print 'id host dataPort metricsPort' for every storage node.")

        @Option(help: "Path to cluster.json.") var config = "cluster.json"

        func run() throws {
            let cluster = try ClusterConfig.load(path: config)
            for node in cluster.nodes {
                print("\(node.id) \(node.host) \(node.dataPort) \(node.metricsPort.map(String.init) ?? "-")")
            }
        }
    }
}
