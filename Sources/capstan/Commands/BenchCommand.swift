import ArgumentParser
import Bench
import Foundation

/// `capstan bench`: etcd's benchmark tool's workloads, against any etcd v3 endpoint.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark any etcd v3 endpoint (etcd's benchmark tool's workloads and flags).",
        discussion: """
            Reports throughput, latency percentiles (HDR histogram), errors, and the CPU seconds \
            and RSS of the server processes when they run on this machine (--server-pids, or \
            the processes listening on the endpoints' ports), with CPU per operation. With \
            --json the last line is one JSON object.
            """,
        subcommands: [Put.self, RangeWorkload.self, TxnPut.self, Watch.self, WatchLatency.self, LeaseKeepAlive.self]
    )

    struct Common: ParsableArguments {
        @Option(help: "Comma-separated etcd v3 endpoints (host:port or http://host:port).")
        var endpoints = "127.0.0.1:2379"
        @Option(help: "Total number of gRPC connections.") var conns = 1
        @Option(help: "Total number of concurrent clients.") var clients = 1
        @Option(
            name: .customLong("server-pids"),
            help: "Comma-separated server process IDs to measure (default: found from the endpoints' ports).")
        var serverPIDs: String?
        @Flag(help: "Print one JSON object as the last line.") var json = false

        func options(total: Int, rate: Double) throws -> BenchOptions {
            var o = BenchOptions()
            o.endpoints = endpoints.split(separator: ",").map(String.init)
            o.conns = conns
            o.clients = clients
            o.total = total
            o.rate = rate
            if let serverPIDs {
                o.serverPIDs = try serverPIDs.split(separator: ",").map {
                    guard let pid = Int32($0) else { throw ValidationError("--server-pids: '\($0)' is not a process ID") }
                    return pid
                }
            }
            o.progress = isatty(STDERR_FILENO) == 1
            return o
        }
    }

    struct Keys: ParsableArguments {
        @Option(name: .customLong("key-size"), help: "Key size in bytes.") var keySize = 8
        @Option(name: .customLong("val-size"), help: "Value size in bytes.") var valSize = 8
        @Flag(name: .customLong("sequential-keys"), help: "Use sequential keys instead of random ones.") var sequentialKeys = false
        @Option(name: .customLong("key-space-size"), help: "Maximum possible keys.") var keySpaceSize = 1

        func apply(_ o: inout BenchOptions) {
            o.keySize = keySize
            o.valSize = valSize
            o.sequentialKeys = sequentialKeys
            o.keySpaceSize = keySpaceSize
        }
    }

    /// Runs `work` on a new `Bench` and prints its report.
    static func run(_ common: Common, _ options: BenchOptions, _ work: (Bench) async throws -> BenchReport) async throws {
        let bench: Bench
        do { bench = try Bench(options: options) } catch let e as BenchError { throw ValidationError(e.description) }
        let report: BenchReport
        do {
            try await bench.connect()
            report = try await work(bench)
        } catch {
            await bench.close()
            throw error
        }
        await bench.close()
        print(report.text, terminator: "")
        if common.json { print(report.json) }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put keys (values of --val-size bytes).")
        @OptionGroup var common: Common
        @OptionGroup var keys: Keys
        @Option(help: "Total number of put requests.") var total = 10_000
        @Option(help: "Maximum puts per second (0: no limit).") var rate: Double = 0

        func run() async throws {
            var o = try common.options(total: total, rate: rate)
            keys.apply(&o)
            try await BenchCommand.run(common, o) { await $0.put() }
        }
    }

    struct RangeWorkload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "range", abstract: "Range requests over [key, end) (just key without end).")
        @OptionGroup var common: Common
        @Argument(help: "The key (or the start of the range).") var key: String
        @Argument(help: "The end of the range (exclusive).") var end: String?
        @Option(help: "Total number of range requests.") var total = 10_000
        @Option(help: "Maximum requests per second (0: no limit).") var rate: Double = 0
        @Option(help: "Linearizable (l) or serializable (s).") var consistency = "l"

        func validate() throws {
            guard ["l", "s"].contains(consistency) else { throw ValidationError("--consistency must be l or s, not '\(consistency)'") }
        }

        func run() async throws {
            var o = try common.options(total: total, rate: rate)
            o.linearizable = consistency == "l"
            try await BenchCommand.run(common, o) { await $0.range(key: key, end: end ?? "") }
        }
    }

    struct TxnPut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "txn-put",
            abstract: "Kubernetes' update shape: txn(mod_revision == last seen) then put, else get.")
        @OptionGroup var common: Common
        @OptionGroup var keys: Keys
        @Option(help: "Total number of txn requests.") var total = 10_000
        @Option(help: "Maximum txns per second (0: no limit).") var rate: Double = 0

        func run() async throws {
            var o = try common.options(total: total, rate: rate)
            keys.apply(&o)
            try await BenchCommand.run(common, o) { await $0.txnPut() }
        }
    }

    struct WatchFlags: ParsableArguments {
        @Option(help: "Watchers in all, spread over the streams.") var watchers: Int?
        @Option(help: "Watch streams, spread over the connections.") var streams: Int?
        @Option(name: .customLong("watch-keys"), help: "0: all watchers on one prefix; K: watcher i watches key i mod K.")
        var watchKeys: Int?
        @Option(name: .customLong("put-total"), help: "Puts made while watching.") var putTotal: Int?
        @Option(name: .customLong("put-rate"), help: "Puts per second (0: as fast as the clients go).") var putRate: Double?

        func options(defaults: WatchOptions) -> WatchOptions {
            var w = defaults
            if let watchers { w.watchers = watchers }
            if let streams { w.streams = streams }
            if let watchKeys { w.watchKeys = watchKeys }
            if let putTotal { w.putTotal = putTotal }
            if let putRate { w.putRate = putRate }
            return w
        }
    }

    /// Runs a watch workload with the flags given over these defaults.
    static func runWatch(
        _ common: Common, _ keys: Keys, _ flags: WatchFlags, name: String,
        defaults: (watchers: Int, keys: Int, puts: Int, rate: Double)
    ) async throws {
        var o = try common.options(total: 1, rate: 0)
        keys.apply(&o)
        var base = WatchOptions()
        base.watchers = defaults.watchers
        base.streams = 10
        base.watchKeys = defaults.keys
        base.putTotal = defaults.puts
        base.putRate = defaults.rate
        let w = flags.options(defaults: base)
        do { try w.check() } catch let e as BenchError { throw ValidationError(e.description) }
        try await run(common, o) { try await $0.watch(w, name: name) }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Watch fan-out: events delivered per second and put→event lag (defaults: 1000 watchers, 10 streams, one prefix, 10000 puts)."
        )
        @OptionGroup var common: Common
        @OptionGroup var keys: Keys
        @OptionGroup var flags: WatchFlags

        func run() async throws {
            try await runWatch(common, keys, flags, name: "watch", defaults: (1000, 0, 10_000, 0))
        }
    }

    struct WatchLatency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch-latency",
            abstract: "Put→event latency at a steady put rate (defaults: 100 watchers on one key, 10 streams, 100 puts/s, 1000 puts).")
        @OptionGroup var common: Common
        @OptionGroup var keys: Keys
        @OptionGroup var flags: WatchFlags

        func run() async throws {
            try await runWatch(common, keys, flags, name: "watch-latency", defaults: (100, 1, 1000, 100))
        }
    }

    struct LeaseKeepAlive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lease-keepalive", abstract: "Lease keep-alive round trips (one lease and stream per client).")
        @OptionGroup var common: Common
        @Option(help: "Total number of keep-alive requests.") var total = 10_000
        @Option(help: "Maximum keep-alives per second (0: no limit).") var rate: Double = 0

        func run() async throws {
            let o = try common.options(total: total, rate: rate)
            try await BenchCommand.run(common, o) { await $0.leaseKeepAlive() }
        }
    }
}
