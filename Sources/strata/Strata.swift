import ArgumentParser
import Logging
import ServiceLifecycle

/// The `strata` executable: subcommands only; the logic lives in the server modules.
@main
struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "A sharded key-value store with a write-through cache tier.",
        subcommands: [
            CoordinatorCommand.self, NodeCommand.self, StatusCommand.self, FailoverCommand.self, ClusterAdminCommand.self, HashSecretCommand.self, CommandsCommand.self,
            ConfigCommand.self, CacheCommand.self, ClientLatencyCommand.self, ReplicationLatencyCommand.self, MembershipLoadCommand.self, CacheSimulationCommand.self, StampedeCommand.self, BenchCommand.self, BenchReportCommand.self,
        ]
    )
}

/// Runs a server subcommand's service until SIGTERM or SIGINT shuts it down gracefully.
func serveUntilSignalled(_ service: some Service, logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// Sets up swift-log once for a server subcommand.
func bootstrapLogging(level: String) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = Logger.Level(rawValue: level) ?? .info
        return handler
    }
}
