import ArgumentParser
import Logging
import ServiceLifecycle
import StoreNode
import Synchronization

/// The process's logging and lifecycle, set up the same way by every serving command.
enum Logs {
    private static let bootstrapped = Atomic<Bool>(false)

    /// swift-log's standard-error handler at `level`, once per process (`capstan dev up` runs
    /// several nodes in one).
    static func bootstrap(level: Logger.Level) {
        guard !bootstrapped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Runs `body`; a node that could not start or failed is logged as the one line it says,
    /// and the process exits with status 1 (as etcd does).
    static func exitOnFailure(_ logger: Logger, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as StoreNodeError {
            logger.error("\(error.description)")
            throw ExitCode(1)
        }
    }
}

extension ServiceGroupConfiguration {
    /// `services` until SIGINT or SIGTERM shuts them down gracefully; one that fails shuts the
    /// others down too; one that ends by itself (a member removed from its cluster) ends the
    /// process only when it was the last (`endsTheGroup`).
    static func serve(_ services: [any Service], endsTheGroup: Bool = true, logger: Logger) -> ServiceGroupConfiguration {
        var config = ServiceGroupConfiguration(
            services: services.map {
                .init(
                    service: $0, successTerminationBehavior: endsTheGroup ? .gracefullyShutdownGroup : .ignore,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            logger: logger)
        config.gracefulShutdownSignals = [.sigterm, .sigint]
        return config
    }
}
