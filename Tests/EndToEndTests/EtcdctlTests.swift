import Foundation
import Testing

/// The real `etcdctl` (Debian's etcd-client, 3.4, installed by .ci/run) against a real
/// `capstan store` process on loopback.
@Suite(.serialized) struct EtcdctlTests {
    /// The `capstan` executable `swift test` built beside the test bundle.
    static func capstanBinary() -> String? {
        let bundle = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        let candidates = [
            bundle.deletingLastPathComponent().appendingPathComponent("capstan").path,
            bundle.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("capstan").path,
            FileManager.default.currentDirectoryPath + "/.build/debug/capstan"
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func etcdctlBinary() -> String? {
        ["/usr/bin/etcdctl", "/usr/local/bin/etcdctl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// One member process; stopped (SIGTERM, then SIGKILL) by `stop`.
    final class StoreProcess: @unchecked Sendable {
        let process = Process()
        let dataDir: String
        var endpoint = ""

        /// A single member on free ports.
        convenience init(binary: String) throws {
            let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-e2e-\(UInt64.random(in: 0...UInt64.max))")
                .path
            try self.init(
                binary: binary, dataDir: dataDir,
                arguments: [
                    "--name", "e2e", "--listen-client-urls", "http://127.0.0.1:0", "--advertise-client-urls", "http://127.0.0.1:0",
                    "--listen-peer-urls", "http://127.0.0.1:0", "--heartbeat-interval", "20", "--election-timeout", "200"
                ])
        }

        /// `capstan store --data-dir dataDir` with these arguments; returns once it serves clients.
        init(binary: String, dataDir: String, arguments: [String]) throws {
            self.dataDir = dataDir
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["store", "--data-dir", dataDir] + arguments
            // Standard error goes to a file the test polls (reading a pipe with Foundation's
            // non-throwing API traps on a read error).
            let logPath = dataDir + ".log"
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            let startOffset = try log.seekToEnd()
            process.standardError = log
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The member says where it listens once it does.
            var seen = ""
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && process.isRunning {
                let all = (try? Data(contentsOf: URL(fileURLWithPath: logPath))) ?? Data()
                seen = String(decoding: all.dropFirst(Int(startOffset)), as: UTF8.self)
                if let r = seen.range(of: #"serving clients on (\S+), "#, options: .regularExpression) {
                    let match = String(seen[r])
                    endpoint = String(match.dropFirst("serving clients on ".count).dropLast(2))
                    break
                }
                usleep(20_000)
            }
            if endpoint.isEmpty {
                stop()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "capstan store did not start: \(seen)"])
            }
        }

        /// Kills the process at once (SIGKILL), leaving its data.
        func kill9() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                let deadline = Date().addingTimeInterval(10)
                while process.isRunning && Date() < deadline { usleep(20_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: dataDir + ".log")
        }
    }

    /// Runs etcdctl; returns (exit status, stdout, stderr).
    static func etcdctl(_ endpoint: String, _ args: [String], stdin: String? = nil) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: etcdctlBinary()!)
        p.arguments = ["--endpoints", endpoint, "--dial-timeout", "5s", "--command-timeout", "10s"] + args
        p.environment = ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        // The throwing write: etcdctl may exit before reading its input.
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func keyValueCommandsWorkUnchanged() throws {
        let capstan = try #require(Self.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let store = try StoreProcess(binary: capstan)
        defer { store.stop() }
        let ep = store.endpoint
        func ok(_ args: [String], stdin: String? = nil) throws -> String {
            let (status, out, err) = try Self.etcdctl(ep, args, stdin: stdin)
            #expect(status == 0, "etcdctl \(args.joined(separator: " ")) failed: \(err)")
            return out
        }
        #expect(try ok(["put", "foo", "bar"]) == "OK\n")
        #expect(try ok(["put", "foo2", "baz"]) == "OK\n")
        #expect(try ok(["get", "foo"]) == "foo\nbar\n")
        #expect(try ok(["get", "foo", "--prefix", "--keys-only"]) == "foo\n\nfoo2\n\n")
        #expect(try ok(["get", "foo", "--prefix", "--limit", "1", "--print-value-only"]) == "bar\n")
        #expect(try ok(["get", "foo", "--rev", "2", "--print-value-only"]) == "bar\n")
        #expect(try ok(["get", "", "--from-key", "--sort-by", "VALUE", "--order", "DESCEND", "--print-value-only"]) == "baz\nbar\n")
        #expect(try ok(["put", "foo", "new", "--prev-kv"]) == "OK\nfoo\nbar\n")
        let json = try ok(["get", "foo", "-w", "json"])
        #expect(json.contains("\"revision\":4") && json.contains("\"version\":2") && json.contains("\"create_revision\":2"))
        // A transaction from standard input, etcdctl's interactive format.
        let txn = try ok(["txn"], stdin: "value(\"foo\") = \"new\"\n\nput foo txn-won\n\nput foo txn-lost\n\n")
        #expect(txn == "SUCCESS\n\nOK\n")
        #expect(try ok(["get", "foo", "--print-value-only"]) == "txn-won\n")
        #expect(try ok(["del", "foo", "--prefix"]) == "2\n")
        #expect(try ok(["get", "foo", "--prefix"]) == "")
        #expect(try ok(["compaction", "3"]) == "compacted revision 3\n")
        // etcdctl 3.4 prints the health line on standard error.
        let (healthStatus, _, health) = try Self.etcdctl(ep, ["endpoint", "health"])
        #expect(healthStatus == 0 && health.contains("\(ep) is healthy: successfully committed proposal"))
        #expect(try ok(["endpoint", "status"]).contains("3.4.23"))
        #expect(try ok(["endpoint", "hashkv"]).contains(ep))
        #expect(try ok(["alarm", "list"]) == "")
        #expect(try ok(["defrag"]).contains("Finished defragmenting"))
    }

    /// `etcdctl watch` as a background process: history from a past revision, then live events,
    /// with prev_kv; a watch from a compacted revision is cancelled with etcd's message.
    @Test func watchFromThePastAndLive() throws {
        let capstan = try #require(Self.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let store = try StoreProcess(binary: capstan)
        defer { store.stop() }
        let ep = store.endpoint
        _ = try Self.etcdctl(ep, ["put", "foo", "a"])
        _ = try Self.etcdctl(ep, ["put", "foo", "b"])
        let outPath = store.dataDir + ".watch"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: Self.etcdctlBinary()!)
        watch.arguments = ["--endpoints", ep, "watch", "foo", "--prefix", "--rev", "1", "--prev-kv"]
        watch.environment = ["ETCDCTL_API": "3"]
        watch.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        defer {
            if watch.isRunning { watch.terminate() }
            watch.waitUntilExit()
        }
        _ = try Self.etcdctl(ep, ["put", "foo2", "c"])
        _ = try Self.etcdctl(ep, ["del", "foo"])
        let expected = "PUT\nfoo\na\nPUT\nfoo\na\nfoo\nb\nPUT\nfoo2\nc\nDELETE\nfoo\nb\nfoo\n\n"
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            seen = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            if seen == expected { break }
            usleep(50_000)
        }
        #expect(seen == expected)
        // Below the compaction revision the watch is cancelled, as etcd cancels it.
        _ = try Self.etcdctl(ep, ["compaction", "4"])
        let (status, out, err) = try Self.etcdctl(ep, ["watch", "foo", "--rev", "2"])
        #expect(status != 0 || (out + err).contains("required revision has been compacted"), "\(out)\(err)")
        #expect((out + err).contains("etcdserver: mvcc: required revision has been compacted"))
    }

    @Test func errorsAreEtcdsOwn() throws {
        let capstan = try #require(Self.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let store = try StoreProcess(binary: capstan)
        defer { store.stop() }
        let ep = store.endpoint
        func fails(_ args: [String], _ message: String, stdin: String? = nil) throws {
            let (status, _, err) = try Self.etcdctl(ep, args, stdin: stdin)
            #expect(status != 0, "etcdctl \(args.joined(separator: " ")) should fail")
            #expect(err.contains(message), "etcdctl \(args.joined(separator: " ")): \(err)")
        }
        try fails(["get", "foo", "--rev", "100"], "etcdserver: mvcc: required revision is a future revision")
        for i in 0..<5 { _ = try Self.etcdctl(ep, ["put", "k", "\(i)"]) }
        _ = try Self.etcdctl(ep, ["compaction", "4"])
        try fails(["get", "k", "--rev", "2"], "etcdserver: mvcc: required revision has been compacted")
        try fails(["compaction", "3"], "etcdserver: mvcc: required revision has been compacted")
        try fails(["put", "k", "v", "--lease", "1234"], "etcdserver: requested lease not found")
        try fails(["txn"], "etcdserver: duplicate key given in txn request", stdin: "\nput a 1\nput a 2\n\n\n")
        // Over --max-request-bytes (1.5 MiB by default): etcd's own error, and nothing written.
        try fails(["put", "big"], "etcdserver: request is too large", stdin: String(repeating: "x", count: 1_700_000))
        #expect(try Self.etcdctl(ep, ["get", "big"]).1 == "")
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension EtcdctlTests {
    /// `--quota-backend-bytes`: writes past the quota raise NOSPACE for the member, fail with
    /// etcd's error, and work again once space is freed and the alarm disarmed.
    @Test func aFullStoreRaisesNoSpace() throws {
        let capstan = try #require(Self.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-e2e-\(UInt64.random(in: 0...UInt64.max))").path
        let store = try StoreProcess(
            binary: capstan, dataDir: dataDir,
            arguments: [
                "--name", "quota", "--listen-client-urls", "http://127.0.0.1:0", "--listen-peer-urls", "http://127.0.0.1:0",
                "--quota-backend-bytes", "2000", "--heartbeat-interval", "20", "--election-timeout", "200"
            ])
        defer { store.stop() }
        let ep = store.endpoint
        var failed = ""
        for i in 0..<40 {
            let (status, _, err) = try Self.etcdctl(ep, ["put", "k\(i)", String(repeating: "v", count: 40)])
            if status != 0 {
                failed = err
                break
            }
        }
        #expect(failed.contains("etcdserver: mvcc: database space exceeded"), "\(failed)")
        let memberID = try #require(try Self.etcdctl(ep, ["endpoint", "status", "-w", "json"]).1.firstMatch(of: /"member_id":(\d+)/)?.1)
        #expect(try Self.etcdctl(ep, ["alarm", "list"]).1 == "memberID:\(memberID) alarm:NOSPACE \n")
        // Reads still work; free space, disarm, and writes work again.
        #expect(try Self.etcdctl(ep, ["get", "k0", "--print-value-only"]).1 == String(repeating: "v", count: 40) + "\n")
        _ = try Self.etcdctl(ep, ["del", "k", "--prefix"])
        let revision = try #require(try Self.etcdctl(ep, ["get", "x", "-w", "json"]).1.firstMatch(of: /"revision":(\d+)/)?.1)
        _ = try Self.etcdctl(ep, ["compaction", String(revision)])
        #expect(try Self.etcdctl(ep, ["alarm", "disarm"]).1 == "memberID:\(memberID) alarm:NOSPACE \n")
        #expect(try Self.etcdctl(ep, ["put", "after", "ok"]).1 == "OK\n")
    }

    /// `--listen-metrics-urls`: Prometheus text on /metrics under etcd's metric names, etcd's
    /// JSON on /health.
    @Test func metricsAndHealthAreServed() async throws {
        let capstan = try #require(Self.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-e2e-\(UInt64.random(in: 0...UInt64.max))").path
        let store = try StoreProcess(
            binary: capstan, dataDir: dataDir,
            arguments: [
                "--name", "metrics", "--listen-client-urls", "http://127.0.0.1:0", "--listen-peer-urls", "http://127.0.0.1:0",
                "--listen-metrics-urls", "http://127.0.0.1:0", "--heartbeat-interval", "20", "--election-timeout", "200"
            ])
        defer { store.stop() }
        let log = (try? String(contentsOfFile: dataDir + ".log", encoding: .utf8)) ?? ""
        let address = String(try #require(log.firstMatch(of: /serving \/metrics and \/health on (\S+)\n/)?.1, "\(log)"))
        for i in 0..<5 { _ = try Self.etcdctl(store.endpoint, ["put", "k\(i)", "v"]) }
        func get(_ path: String) async throws -> (Int, String) {
            let (data, response) = try await URLSession.shared.data(from: URL(string: "http://\(address)\(path)")!)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let (healthStatus, health) = try await get("/health")
        #expect(healthStatus == 200 && health == #"{"health":"true","reason":""}"#)
        let (metricsStatus, metrics) = try await get("/metrics")
        #expect(metricsStatus == 200)
        for line in ["etcd_server_has_leader 1", "etcd_server_is_leader 1", "etcd_server_leader_changes_seen_total 1"] {
            #expect(metrics.contains(line + "\n") || metrics.contains(line + ".0\n"), "\(line) missing")
        }
        for name in [
            "etcd_disk_wal_fsync_duration_seconds_count", "etcd_server_apply_duration_seconds_count",
            "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total", "etcd_server_proposals_failed_total",
            "etcd_mvcc_db_total_size_in_bytes", "etcd_debugging_mvcc_watcher_total", "capstan_server_raft_term"
        ] {
            #expect(metrics.contains("\n\(name) ") || metrics.contains("\(name){") || metrics.hasPrefix("\(name) "), "\(name) missing")
        }
        let applied = metrics.firstMatch(of: /\netcd_server_proposals_applied_total ([0-9.]+)\n/).flatMap { Double($0.1) } ?? 0
        #expect(applied >= 5)
        #expect(try await get("/nope").0 == 404)

        // A watching client killed mid-stream leaves nothing behind: its watchers and stream go.
        func gauge(_ name: String) async throws -> Double {
            let text = try await get("/metrics").1
            return text.firstMatch(of: try Regex("\n\(name) ([0-9.]+)\n")).flatMap { Double(String($0.output[1].substring ?? "")) } ?? -1
        }
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: Self.etcdctlBinary()!)
        watcher.arguments = ["--endpoints", store.endpoint, "watch", "k", "--prefix"]
        watcher.environment = ["ETCDCTL_API": "3"]
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
        var deadline = ContinuousClock.now + .seconds(20)
        while try await gauge("etcd_debugging_mvcc_watcher_total") != 1 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await gauge("etcd_debugging_mvcc_watcher_total") == 1)
        kill(watcher.processIdentifier, SIGKILL)
        watcher.waitUntilExit()
        deadline = ContinuousClock.now + .seconds(20)
        while try await gauge("etcd_debugging_mvcc_watch_stream_total") != 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await gauge("etcd_debugging_mvcc_watcher_total") == 0)
        #expect(try await gauge("etcd_debugging_mvcc_watch_stream_total") == 0)
    }
}
