import ArgumentParser
import Foundation
import Robustness

/// `capstan robustness`: the fault-injecting harness on a local three-member cluster of this
/// executable's own `capstan store`, one fault per run, every history checked.
struct RobustnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "robustness",
        abstract: "Run real members under faults and check the recorded histories (linearizability, watch guarantees).",
        discussion: """
            Each run starts three `capstan store` members on loopback, drives --clients KV clients \
            (with kv traffic: gets, ranges, puts, deletes, compare-and-sets, two-key txns and leases on --keys groups of two keys), --readers readers each staying with \
            one member, and --watchers watchers of every key, \
            injects one fault once --writes writes are acknowledged (and half of --duration has \
            passed), runs as long again after it, then checks the history. Prints one line per run \
            and a summary line; exits 1 if any check failed (the run's data and logs are kept).
            """
    )

    @Option(help: "Faults, comma-separated, or 'all': \(Fault.allCases.map(\.rawValue).joined(separator: ", ")).")
    var fault = "all"
    @Option(help: "How many times to go through the faults.") var runs = 1
    @Flag(help: "Inject all the faults given in one run, one after the other, each followed by a phase (one run per traffic).")
    var together = false
    @Option(
        help:
            "The clients' traffic: kv (get, range, put, delete, compare-and-set, two-key txn, leases; linearizability), kubernetes (lists and txns on mod_revision), etcd (etcd's mix incl. leases and 4-key txns; both checked by revisions), or all."
    )
    var traffic = "kv"
    @Option(help: "Seconds of traffic per run at least (half before the fault, half after).") var duration = 0.0
    @Option(help: "Writes acknowledged before the fault, and again after it, at least.") var writes = 200
    @Option(help: "Concurrent KV clients.") var clients = 6
    @Option(help: "Clients that only read, each from one member (spread over the members).") var readers = 3
    @Option(help: "Keys the clients share: groups of two keys (kv traffic), three times as many keys (the others).") var keys = 3
    @Option(help: "Watchers of every key.") var watchers = 2
    @Option(name: .customLong("inject-bug"), help: "Start the members with a planted bug (to see the checks catch it).")
    var injectBugs: [String] = []
    @Option(
        name: .customLong("store-argument"), parsing: .unconditionalSingleValue,
        help: "One more argument for every member's capstan store (repeat for more; e.g. --store-argument=--experimental-wal-on-loop).")
    var storeArguments: [String] = []
    @Option(help: "Where runs keep their data (default: a new temporary directory).") var directory: String?
    @Option(help: "Seconds a phase may take to see its writes acknowledged before the run fails (at least three times half of --duration).")
    var phaseLimit = 90.0
    @Option(help: "Also write every run's report, as a JSON array, to this file.") var report: String?

    func validate() throws {
        _ = try faults()
        _ = try traffics()
        guard runs > 0, writes > 0, clients > 0, keys > 0, watchers >= 0, readers >= 0, duration >= 0, phaseLimit > 0 else {
            throw ValidationError(
                "--runs, --writes, --clients, --keys and --phase-limit must be positive; --watchers, --readers and --duration not negative")
        }
    }

    func traffics() throws -> [Traffic] {
        if traffic == "all" { return Traffic.allCases }
        guard let t = Traffic(rawValue: traffic) else {
            throw ValidationError("--traffic must be kv, kubernetes, etcd or all, not '\(traffic)'")
        }
        return [t]
    }

    func faults() throws -> [Fault] {
        if fault == "all" { return Fault.allCases }
        return try fault.split(separator: ",").map { name in
            guard let f = Fault(rawValue: String(name)) else {
                throw ValidationError("--fault: '\(name)' is not one of \(Fault.allCases.map(\.rawValue).joined(separator: ", ")), all")
            }
            return f
        }
    }

    /// One line to standard output at once (unbuffered: long runs are watched with tail -f).
    func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    func run() async throws {
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let base =
            directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("capstan-robustness-\(UInt64.random(in: 0...UInt64.max))").path
        var runsStarted = 0
        var operations = 0
        var failures = 0
        var injected = 0
        var unknown = 0
        var reports: [RobustnessReport] = []
        let started = Date()
        let all = try faults()
        for r in 1...runs {
            for f in together ? [all[0]] : all {
                for t in try traffics() {
                    runsStarted += 1
                    var config = RobustnessConfig(binary: binary, directory: "\(base)/run\(r)-\(f.rawValue)-\(t.rawValue)", fault: f)
                    if together { config.thenFaults = Array(all.dropFirst()) }
                    config.traffic = t
                    config.plantedBugs = injectBugs
                    config.memberArguments += storeArguments
                    config.clients = clients
                    config.readers = readers
                    config.keys = keys
                    config.watchers = watchers
                    config.writesPerPhase = writes
                    config.phaseDuration = .milliseconds(Int64(duration * 500))
                    config.phaseLimit = max(.milliseconds(Int64(phaseLimit * 1000)), config.phaseDuration * 3)
                    let report: RobustnessReport
                    do {
                        report = try await Robustness.run(config)
                    } catch {
                        say("run \(r), \(f.rawValue): the run did not complete: \(error) (data and logs in \(config.directory))")
                        failures += 1
                        continue
                    }
                    reports.append(report)
                    injected += report.faults.count
                    operations += report.operations
                    unknown += report.unknownOutcomes
                    say("run \(r), \(report.summary)")
                    if report.passed {
                        try? FileManager.default.removeItem(atPath: config.directory)
                    } else {
                        failures += 1
                        if let l = report.linearizabilityFailure { say(l) }
                        if let d = report.divergence { say("  members: \(d)") }
                        for v in report.watchViolations.prefix(20) { say("  watch: \(v)") }
                        for v in report.revisionViolations.prefix(20) { say("  revisions: \(v)") }
                        if report.watchViolations.count > 20 { say("  … \(report.watchViolations.count - 20) more watch violations") }
                        say("  data and logs kept in \(config.directory)")
                    }
                }
            }
        }
        if failures == 0 { try? FileManager.default.removeItem(atPath: base) }
        if let report {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(reports).write(to: URL(fileURLWithPath: report))
        }
        say(
            String(
                format: "robustness: %d runs, %d faults injected, %d operations checked (%d unknown outcomes), %d failed, %.0f s",
                runsStarted, injected, operations, unknown, failures, Date().timeIntervalSince(started)))
        if failures > 0 { throw ExitCode(1) }
    }
}
