import ArgumentParser
import Foundation
import Robustness

/// `capstan fuzz`: bad input on the wire against a member — by default a single `capstan store`
/// of this executable started for the run, or any etcd v3 endpoint given with --endpoint.
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract:
            "Send random and mutated messages to every RPC, drop connections part-way, hold idle connections; check the member copes.",
        discussion: """
            Every call must get a gRPC status within --call-timeout seconds; afterwards the member \
            must still be running, serve a linearizable read and Status, and have given back the \
            file descriptors of the connections (within 16). Prints one summary line; exits 1 on a \
            failure, listing the calls that got no answer (method and the request's bytes in hex).
            """
    )

    @Option(help: "An etcd v3 endpoint (host:port) to fuzz instead of a member started for the run.") var endpoint: String?
    @Option(help: "The endpoint's server process ID, to watch its file descriptors and memory.") var pid: Int32?
    @Option(help: "Calls with random and mutated messages.") var calls = 2_000
    @Option(help: "Concurrent callers.") var concurrency = 16
    @Option(help: "Seed of the inputs (a seed replays a run's inputs).") var seed: UInt64 = 1
    @Option(help: "Connections dropped part-way through the preface, a frame or a message.") var disconnects = 200
    @Option(help: "Idle connections held open at once.") var idle = 1_000
    @Option(name: .customLong("call-timeout"), help: "Seconds a call may take to be answered.") var callTimeout = 5.0
    @Option(help: "Only these methods, comma-separated (e.g. Range,Watch; default: all).") var methods: String?
    @Flag(help: "Print every call: method, request bytes, outcome.") var verbose = false
    @Option(name: .customLong("report"), help: "Also write the whole report as JSON to this file.") var reportFile: String?

    func run() async throws {
        var cluster: StoreCluster?
        var config = FuzzConfig(endpoint: endpoint ?? "")
        if endpoint == nil {
            let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "capstan-fuzz-\(UInt64.random(in: 0...UInt64.max))"
            ).path
            let c = try StoreCluster(binary: binary, directory: directory, size: 1)
            cluster = c
            config.endpoint = c.endpoints[0]
            config.pid = c.pid(0)
        } else {
            config.pid = pid
        }
        config.calls = calls
        config.concurrency = max(1, concurrency)
        config.seed = seed
        config.abruptDisconnects = disconnects
        config.idleConnections = idle
        config.callTimeout = .milliseconds(Int64(callTimeout * 1000))
        config.methods = methods.map { $0.split(separator: ",").map(String.init) } ?? []
        let report: FuzzReport
        do {
            report = try await WireFuzzer.run(config) { [verbose] line in if verbose { print(line) } }
        } catch {
            cluster?.shutdown()
            throw error
        }
        cluster?.shutdown()
        if let path = reportFile {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: path))
        }
        for u in report.unanswered.prefix(20) { print("  unanswered: \(u)") }
        print("fuzz \(config.endpoint), seed \(seed): \(report.summary)")
        if report.passed, let c = cluster { try? FileManager.default.removeItem(atPath: c.directory) }
        if !report.passed {
            if let c = cluster { print("  the member's data and log: \(c.directory)") }
            throw ExitCode(1)
        }
    }
}
