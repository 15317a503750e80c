import Foundation
import Testing

/// `capstan bench` against a real three-member quorum: every workload completes with the
/// operations asked for, no errors, the servers found from their ports, and the JSON line the
/// comparison script reads. (Figures are not checked: benchmarks are never timed tests.)
@Suite(.serialized) struct BenchEndToEndTests {
    static func run(_ binary: String, _ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Runs a workload and returns its JSON line as a dictionary.
    static func bench(_ binary: String, _ args: [String]) throws -> [String: Any] {
        let (status, out, err) = try run(binary, ["bench"] + args + ["--json"])
        #expect(status == 0, "capstan bench \(args.joined(separator: " ")): \(err)")
        let last = out.split(separator: "\n").last.map(String.init) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        return try #require(object, "no JSON line in: \(out)")
    }

    @Test func everyWorkloadRunsAgainstAQuorum() throws {
        let capstan = try #require(EtcdctlTests.capstanBinary(), "the capstan executable was not built")
        _ = try #require(EtcdctlTests.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let c = try ClusterTests.Cluster(binary: capstan)
        defer { c.shutdown() }
        _ = try #require(c.leader(among: [0, 1, 2]), "no leader")
        let common = ["--endpoints", c.all, "--conns", "3", "--clients", "12"]
        func check(_ r: [String: Any], _ workload: String, ops: Int) {
            #expect(r["workload"] as? String == workload)
            #expect(r["ops"] as? Int == ops, "\(r)")
            #expect(r["errors"] as? Int == 0, "\(r)")
            #expect((r["server_pids"] as? [Int])?.count == 3, "the three members are found from their ports: \(r)")
            #expect((r["server_cpu_seconds"] as? Double).map { $0 > 0 } == true && (r["server_rss_bytes"] as? Int).map { $0 > 0 } == true)
            let latency = r["latency_ms"] as? [String: Double]
            #expect(
                latency.map { $0["p50"]! > 0 && $0["p50"]! <= $0["p90"]! && $0["p90"]! <= $0["p99"]! && $0["p99"]! <= $0["max"]! } == true,
                "\(r)")
            #expect((r["throughput"] as? Double).map { $0 > 0 } == true && (r["seconds"] as? Double).map { $0 > 0 } == true)
        }
        check(
            try Self.bench(
                capstan, ["put"] + common + ["--total", "300", "--val-size", "256", "--key-space-size", "50", "--sequential-keys"]), "put",
            ops: 300)
        // The sequential keys 00000000..00000049 are all there.
        let written = try EtcdctlTests.etcdctl(c.endpoints[0], ["get", "0", "--prefix", "--keys-only"]).1.split(separator: "\n")
        #expect(written == (0..<50).map { Substring(String(format: "%08d", $0)) })
        check(
            try Self.bench(capstan, ["range", "00000000", "00000050"] + common + ["--total", "200", "--consistency", "l"]), "range",
            ops: 200)
        check(try Self.bench(capstan, ["range", "00000007"] + common + ["--total", "200", "--consistency", "s"]), "range", ops: 200)
        let txn = try Self.bench(capstan, ["txn-put"] + common + ["--total", "240", "--key-space-size", "120", "--key-size", "6"])
        check(txn, "txn-put", ops: 240)
        #expect(txn["conflicts"] as? Int == 0, "each client has its own keys: \(txn)")
        check(try Self.bench(capstan, ["lease-keepalive"] + common + ["--total", "200"]), "lease-keepalive", ops: 200)
        let watch = try Self.bench(capstan, ["watch"] + common + ["--watchers", "40", "--streams", "4", "--put-total", "100"])
        check(watch, "watch", ops: 4000)
        #expect(watch["events_missing"] as? Int == 0 && watch["puts"] as? Int == 100, "\(watch)")
        let keys = try Self.bench(
            capstan, ["watch"] + common + ["--watchers", "30", "--streams", "3", "--watch-keys", "10", "--put-total", "100"])
        check(keys, "watch", ops: 300)
        let latency = try Self.bench(
            capstan, ["watch-latency"] + common + ["--watchers", "10", "--streams", "2", "--put-total", "50", "--put-rate", "50"])
        check(latency, "watch-latency", ops: 500)
    }

    @Test func badFlagsAreRefusedClearly() throws {
        let capstan = try #require(EtcdctlTests.capstanBinary(), "the capstan executable was not built")
        let (s1, _, e1) = try Self.run(capstan, ["bench", "range", "k", "--consistency", "x"])
        #expect(s1 != 0 && e1.contains("--consistency must be l or s, not 'x'"), "\(e1)")
        let (s2, _, e2) = try Self.run(capstan, ["bench", "put", "--endpoints", "nowhere"])
        #expect(s2 != 0 && e2.contains("endpoint 'nowhere' is not host:port"), "\(e2)")
        let (s3, _, e3) = try Self.run(capstan, ["bench", "put", "--clients", "0"])
        #expect(s3 != 0 && e3.contains("--conns, --clients and --total must be positive"), "\(e3)")
        let (s4, _, e4) = try Self.run(capstan, ["bench", "watch", "--watchers", "2", "--streams", "5"])
        #expect(s4 != 0 && e4.contains("--streams between 1 and --watchers"), "\(e4)")
        // Nobody listens: the benchmark says so before it starts.
        let port = ClusterTests.freePorts(1)[0]
        let (s5, _, e5) = try Self.run(capstan, ["bench", "put", "--endpoints", "127.0.0.1:\(port)", "--total", "3", "--json"])
        #expect(s5 != 0 && e5.contains("cannot connect to 127.0.0.1:\(port): ") && e5.contains("refused"), "\(e5)")
    }
}
