import Foundation
import Testing

/// One scripted etcdctl session against a real etcd 3.4 cluster (Debian's etcd-server, installed
/// by .ci/run) and against a Capstan cluster, three fresh members each started with the same
/// flags, etcdctl given all three endpoints: the outputs must be identical apart from IDs,
/// ports, timings and version strings (and the order of lines where etcdctl asks the members
/// concurrently or sorts by ID).
@Suite(.serialized) struct DifferentialTests {
    typealias E = EtcdctlTests

    /// A real three-member etcd cluster on free ports, started with the flags
    /// `../shared/tools/etcd-cluster.sh` gives each member; stopped and removed by `stop`.
    final class EtcdCluster: @unchecked Sendable {
        var processes: [Process] = []
        let base: String
        let endpoints: [String]

        init(binary: String) throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-diff-\(UInt64.random(in: 0...UInt64.max))").path
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            let ports = ClusterTests.freePorts(6)
            endpoints = (0..<3).map { "127.0.0.1:\(ports[$0])" }
            let cluster = (0..<3).map { "m\($0 + 1)=http://127.0.0.1:\(ports[3 + $0])" }.joined(separator: ",")
            for i in 0..<3 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: binary)
                p.arguments = [
                    "--name", "m\(i + 1)", "--data-dir", "\(base)/m\(i + 1).etcd",
                    "--listen-client-urls", "http://\(endpoints[i])", "--advertise-client-urls", "http://\(endpoints[i])",
                    "--listen-peer-urls", "http://127.0.0.1:\(ports[3 + i])",
                    "--initial-advertise-peer-urls", "http://127.0.0.1:\(ports[3 + i])",
                    "--initial-cluster", cluster, "--initial-cluster-token", "e2e-cluster", "--initial-cluster-state", "new",
                    "--logger", "zap", "--log-outputs", "\(base)/m\(i + 1).log"
                ]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                processes.append(p)
            }
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let (status, _, _) = try? E.etcdctl(endpoints.joined(separator: ","), ["endpoint", "health"]), status == 0 { return }
                usleep(200_000)
            }
            stop()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "etcd did not become healthy"])
        }

        func stop() {
            for p in processes where p.isRunning { p.terminate() }
            for p in processes { p.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: base)
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
        (["get", "zoo2", "-w", "json"], nil),
        (["lease", "grant", "60"], nil),
        (["put", "zoo2", "x", "--ignore-lease"], nil),
        (["compaction", "12", "--physical"], nil),
        (["get", "zoo", "--prefix", "--min-mod-revision", "13", "--keys-only"], nil),
        (["del", "zoo", "--from-key"], nil),
        (["defrag"], nil),
        (["member", "list"], nil),
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
        (["endpoint", "hashkv", "-w", "json"], nil)
    ]

    /// IDs, ports, timings and versions out; etcd's JSON log lines (retry warnings) dropped.
    static func normalize(_ s: String, unordered: Bool) -> String {
        var out = s.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("{\"level\"") }
            .joined(separator: "\n")
        out = out.replacing(/127\.0\.0\.1:\d+/) { _ in "ADDRESS" }
        out = out.replacing(/"(ID|id)"\s?:\s?\d+/) { "\"\($0.1)\":ID" }
        out = out.replacing(/"(cluster_id|member_id|ClusterID|MemberID)"\s?:\s?\d+/) { "\"\($0.1)\":ID" }
        out = out.replacing(/"(raft_term|RaftTerm)"\s?:\s?\d+/) { "\"\($0.1)\":TERM" }
        out = out.replacing(/"hash":\d+/) { _ in "\"hash\":HASH" }
        out = out.replacing(/took = [0-9.]+[µmn]?s/) { _ in "took = TIME" }
        out = out.replacing(/\b[0-9a-f]{12,16}\b/) { _ in "HEXID" }
        return unordered ? out.split(separator: "\n").sorted().joined(separator: "\n") : out
    }

    @Test func anEtcdctlSessionPrintsWhatEtcdPrints() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let etcdBinary = try #require(
            ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "etcd is missing: apt-get install -y etcd-server (what .ci/run does)")
        let etcd = try EtcdCluster(binary: etcdBinary)
        defer { etcd.stop() }
        let capstanCluster = try ClusterTests.Cluster(binary: capstan)
        defer { capstanCluster.shutdown() }
        _ = try #require(capstanCluster.leader(among: [0, 1, 2]), "no leader")
        var differences = 0
        for (args, stdin) in Self.script {
            let unordered = ["endpoint health", "member list"].contains(args.prefix(2).joined(separator: " "))
            let theirs = try E.etcdctl(etcd.endpoints.joined(separator: ","), args, stdin: stdin)
            let ours = try E.etcdctl(capstanCluster.all, args, stdin: stdin)
            let a = (theirs.0, Self.normalize(theirs.1, unordered: unordered), Self.normalize(theirs.2, unordered: unordered))
            let b = (ours.0, Self.normalize(ours.1, unordered: unordered), Self.normalize(ours.2, unordered: unordered))
            if a != b {
                differences += 1
                Issue.record(
                    "etcdctl \(args.joined(separator: " ")):\n etcd    → \(a.0) \(a.1.debugDescription) \(a.2.debugDescription)\n capstan → \(b.0) \(b.1.debugDescription) \(b.2.debugDescription)"
                )
            }
        }
        #expect(differences == 0)
    }
}
