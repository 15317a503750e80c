import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StoreNode

/// `capstan dev`: a local cluster for development.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local development cluster.",
        subcommands: [Up.self]
    )

    /// `capstan dev up`: a quorum on loopback in one process, its data in a local folder.
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a local cluster on 127.0.0.1 (three members by default) and serve until Ctrl-C.",
            discussion: """
                Members are named infra1, infra2, ... with client ports 2379, 22379, 32379 and peer \
                ports 2380, 22380, 32380 (etcd's Procfile layout; --members 5 adds 42379 and \
                52379). The data lives in <data-dir>/<N>-members/infraK, so running the command \
                again resumes where it stopped, and clusters of different sizes never share data.
                """
        )

        @Option(help: "Members in the cluster (1, 3, 5 or 7; 1 is the embedded single-member store).") var members = 3
        @Option(name: .customLong("data-dir"), help: "Where the members keep their data.") var dataDir = ".capstan/dev"
        @Option(name: .customLong("heartbeat-interval"), help: "Time (ms) of a heartbeat interval.") var heartbeatInterval = 100
        @Option(name: .customLong("election-timeout"), help: "Time (ms) for an election to time out.") var electionTimeout = 1000

        func validate() throws {
            guard [1, 3, 5, 7].contains(members) else {
                throw ValidationError("--members must be 1, 3, 5 or 7 (an odd quorum of at most 7), not \(members)")
            }
        }

        static func clientPort(_ i: Int) -> Int { i == 1 ? 2379 : i * 10_000 + 2379 }
        static func peerPort(_ i: Int) -> Int { i == 1 ? 2380 : i * 10_000 + 2380 }

        func run() async throws {
            let root = "\(dataDir)/\(members)-member\(members == 1 ? "" : "s")"
            let cluster = (1...members).map { "infra\($0)=http://127.0.0.1:\(Self.peerPort($0))" }.joined(separator: ",")
            var nodes: [StoreNode] = []
            for i in 1...members {
                var args = [
                    "--name", "infra\(i)", "--data-dir", "\(root)/infra\(i)",
                    "--listen-client-urls", "http://127.0.0.1:\(Self.clientPort(i))",
                    "--advertise-client-urls", "http://127.0.0.1:\(Self.clientPort(i))",
                    "--listen-peer-urls", "http://127.0.0.1:\(Self.peerPort(i))",
                    "--initial-advertise-peer-urls", "http://127.0.0.1:\(Self.peerPort(i))",
                    "--initial-cluster", cluster, "--initial-cluster-token", "capstan-dev",
                    "--heartbeat-interval", "\(heartbeatInterval)", "--election-timeout", "\(electionTimeout)",
                    "--experimental-corrupt-check-time", "1m"
                ]
                let existing = FileManager.default.fileExists(atPath: "\(root)/infra\(i)/member/wal")
                args += ["--initial-cluster-state", existing ? "existing" : "new"]
                nodes.append(StoreNode(config: try Store.parse(args).nodeConfig()))
            }
            let resumed = FileManager.default.fileExists(atPath: "\(root)/infra1/member/wal")
            let endpoints = (1...members).map { "127.0.0.1:\(Self.clientPort($0))" }.joined(separator: ",")
            let banner = """
                capstan dev: \(members == 1 ? "a single member" : "\(members) members") on 127.0.0.1, \
                \(resumed ? "resumed from" : "data in") \(root)
                  endpoints: \(endpoints)
                  try:       ETCDCTL_API=3 etcdctl --endpoints=\(endpoints) put foo bar
                             ETCDCTL_API=3 etcdctl --endpoints=\(endpoints) -w table endpoint status
                  Ctrl-C stops every member; run the same command again to resume from the same data.

                """
            Logs.bootstrap(level: .info)
            let logger = Logger(label: "capstan.dev")
            // One member failing stops the others (a partial dev cluster is not what was asked
            // for); one removed from the cluster stops alone.
            let group = ServiceGroup(configuration: .serve(nodes, endsTheGroup: false, logger: logger))
            try await Logs.exitOnFailure(logger) {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    tasks.addTask {
                        try await Task.sleep(for: .milliseconds(300))
                        FileHandle.standardOutput.write(Data(banner.utf8))
                    }
                    try await tasks.next()
                    try await tasks.next()
                }
            }
        }
    }
}
