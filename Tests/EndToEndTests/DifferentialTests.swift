import Foundation
import Testing

/// One scripted etcdctl session against a real etcd 3.4 (Debian's etcd-server, installed by
/// .ci/run) and against Capstan, each a single fresh member: the outputs must be identical
/// apart from IDs, ports, timings and version strings.
@Suite(.serialized) struct DifferentialTests {
    typealias E = EtcdctlTests

    /// A real etcd member on free ports; stopped and removed by `stop`.
    final class EtcdProcess: @unchecked Sendable {
        let process = Process()
        let dataDir: String
        let endpoint: String

        init(binary: String) throws {
            dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-diff-\(UInt64.random(in: 0...UInt64.max))").path
            let ports = ClusterTests.freePorts(2)
            endpoint = "127.0.0.1:\(ports[0])"
            let peer = "http://127.0.0.1:\(ports[1])"
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--name", "diff", "--data-dir", dataDir, "--listen-client-urls", "http://\(endpoint)",
                                 "--advertise-client-urls", "http://\(endpoint)", "--listen-peer-urls", peer,
                                 "--initial-advertise-peer-urls", peer, "--initial-cluster", "diff=\(peer)",
                                 "--initial-cluster-token", "diff", "--logger", "zap", "--log-outputs", dataDir + ".log"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if let (status, _, _) = try? E.etcdctl(endpoint, ["endpoint", "health"]), status == 0 { return }
                usleep(100_000)
            }
            stop()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "etcd did not become healthy"])
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: dataDir + ".log")
        }
    }

    /// The session: (arguments, standard input).
    static let script: [([String], String?)] = [
        (["put", "foo", "bar"], nil),
        (["put", "foo2", "baz"], nil),
        (["put", "zoo", "1"], nil),
        (["get", "foo"], nil),
        (["get", "foo", "--prefix"], nil),
        (["get", "foo", "--prefix", "--keys-only"], nil),
        (["get", "foo", "--prefix", "--print-value-only"], nil),
        (["get", "", "--from-key", "--limit", "2"], nil),
        (["get", "", "--from-key", "--limit", "2", "-w", "json"], nil),
        (["get", "", "--from-key", "--sort-by", "VALUE", "--order", "DESCEND"], nil),
        (["get", "f", "--prefix", "--sort-by", "CREATE", "--order", "DESCEND", "-w", "fields"], nil),
        (["get", "foo", "--rev", "2"], nil),
        (["get", "foo", "--rev", "1"], nil),
        (["get", "foo", "foo3"], nil),
        (["put", "foo", "new", "--prev-kv"], nil),
        (["put", "foo", "newer", "--prev-kv", "-w", "json"], nil),
        (["get", "foo", "-w", "json"], nil),
        (["del", "foo2", "--prev-kv"], nil),
        (["del", "nothing"], nil),
        (["get", "nothing"], nil),
        (["txn"], "value(\"foo\") = \"newer\"\n\nput foo txn-won\nget zoo\n\nput foo txn-lost\n\n"),
        (["txn", "-w", "json"], "mod(\"zoo\") > \"0\"\n\ndel zoo\n\n\n"),
        (["txn"], "\nput a 1\nput a 2\n\n\n"),
        (["get", "foo", "--prefix", "--count-only", "-w", "json"], nil),
        (["compaction", "3"], nil),
        (["get", "foo", "--rev", "2"], nil),
        (["get", "foo", "--rev", "1000"], nil),
        (["compaction", "2"], nil),
        (["put", "k", "v", "--lease", "1234"], nil),
        (["lease", "timetolive", "1234"], nil),
        (["lease", "revoke", "1234"], nil),
        (["lease", "grant", "9000000001"], nil),
        (["lease", "list"], nil),
        (["alarm", "list"], nil),
        (["alarm", "disarm"], nil),
        (["put", "", "empty-key"], nil),
        (["get", "", "--prefix", "--keys-only"], nil),
        (["del", "", "--prefix"], nil),
        (["get", "", "--from-key"], nil),
        (["put", "missing", "--ignore-value"], nil),
        (["put", "zoo2", "v"], nil),
        (["put", "zoo2", "--ignore-value"], nil),
        (["get", "zoo2", "--consistency", "s", "-w", "json"], nil),
        (["lease", "grant", "60"], nil),
        (["put", "zoo2", "x", "--ignore-lease"], nil),
        (["compaction", "12", "--physical"], nil),
        (["get", "zoo", "--prefix", "--min-mod-revision", "13", "--keys-only"], nil),
        (["del", "zoo", "--from-key"], nil),
        (["defrag"], nil),
        (["member", "list"], nil),
        (["member", "list", "-w", "json"], nil),
        (["member", "remove", "1234"], nil),
        (["member", "promote", "1234"], nil),
        (["member", "add", "x", "--peer-urls", "bad"], nil),
        (["get", "b", "a"], nil),
        (["del", "b", "a"], nil),
        (["get", "a", "--from-key", "--keys-only", "--limit", "1"], nil),
        (["txn"], "\n" + (0..<129).map { "put many\($0) v\n" }.joined() + "\n\n"),
        (["txn"], "\n" + (0..<128).map { "put many\($0) v\n" }.joined() + "\n\n"),
        (["get", "many", "--prefix", "--count-only", "-w", "fields"], nil),
        (["endpoint", "health"], nil),
        (["endpoint", "hashkv", "-w", "json"], nil),
    ]

    /// IDs, ports, timings and versions out; etcd's JSON log lines (retry warnings) dropped.
    static func normalize(_ s: String, endpoint: String) -> String {
        var out = s.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("{\"level\"") }
            .joined(separator: "\n")
        out = out.replacingOccurrences(of: endpoint, with: "ENDPOINT")
        out = out.replacing(/127\.0\.0\.1:\d+/) { _ in "ADDRESS" }
        out = out.replacing(/"(ID|id)"\s?:\s?\d+/) { "\"\($0.1)\":ID" }
        out = out.replacing(/"(cluster_id|member_id|ClusterID|MemberID)"\s?:\s?\d+/) { "\"\($0.1)\":ID" }
        out = out.replacing(/"(raft_term|RaftTerm)"\s?:\s?\d+/) { "\"\($0.1)\":TERM" }
        out = out.replacing(/"hash":\d+/) { _ in "\"hash\":HASH" }
        out = out.replacing(/took = [0-9.]+[µmn]?s/) { _ in "took = TIME" }
        out = out.replacing(/\b[0-9a-f]{16}\b/) { _ in "HEXID" }
        return out
    }

    @Test func anEtcdctlSessionPrintsWhatEtcdPrints() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let etcdBinary = try #require(["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                      "etcd is missing: apt-get install -y etcd-server (what .ci/run does)")
        let etcd = try EtcdProcess(binary: etcdBinary)
        defer { etcd.stop() }
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-diff-\(UInt64.random(in: 0...UInt64.max))").path
        let ports = ClusterTests.freePorts(2)
        let (client, peer) = ("http://127.0.0.1:\(ports[0])", "http://127.0.0.1:\(ports[1])")
        let store = try E.StoreProcess(binary: capstan, dataDir: dataDir, arguments: [
            "--name", "diff", "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer, "--initial-cluster", "diff=\(peer)", "--initial-cluster-token", "diff",
        ])
        defer { store.stop() }
        var differences = 0
        for (args, stdin) in Self.script {
            let theirs = try E.etcdctl(etcd.endpoint, args, stdin: stdin)
            let ours = try E.etcdctl(store.endpoint, args, stdin: stdin)
            let a = (theirs.0, Self.normalize(theirs.1, endpoint: etcd.endpoint), Self.normalize(theirs.2, endpoint: etcd.endpoint))
            let b = (ours.0, Self.normalize(ours.1, endpoint: store.endpoint), Self.normalize(ours.2, endpoint: store.endpoint))
            if a != b {
                differences += 1
                Issue.record("etcdctl \(args.joined(separator: " ")):\n etcd    → \(a.0) \(a.1.debugDescription) \(a.2.debugDescription)\n capstan → \(b.0) \(b.1.debugDescription) \(b.2.debugDescription)")
            }
        }
        #expect(differences == 0)
    }
}
