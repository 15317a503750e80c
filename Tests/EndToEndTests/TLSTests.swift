import Foundation
import Testing

/// TLS on the client and peer ports with etcd's flags, certificates made by tools/gen-certs.sh,
/// and the real etcdctl with `--cacert --cert --key`.
@Suite(.serialized) struct TLSTests {
    typealias E = EtcdctlTests

    /// The repository's root (this file is Tests/EndToEndTests/TLSTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .path

    /// Runs tools/gen-certs.sh into a new temporary directory; returns it.
    static func certificates() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-certs-\(UInt64.random(in: 0...UInt64.max))").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["\(root)/tools/gen-certs.sh", dir]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "tools/gen-certs.sh failed (is openssl installed?)"])
        }
        return dir
    }

    /// etcdctl against `endpoints` with `tls` flags; expected failures wait 2 s at most.
    static func etcdctl(_ endpoints: String, _ tls: [String], _ args: [String], quick: Bool = false) throws -> (Int32, String, String) {
        try E.etcdctl(endpoints, tls + (quick ? ["--dial-timeout", "2s", "--command-timeout", "2s"] : []) + args)
    }

    static func memberFlags(_ certs: String, peerCerts: String? = nil) -> [String] {
        let peer = peerCerts ?? certs
        return [
            "--cert-file", "\(certs)/server.pem", "--key-file", "\(certs)/server-key.pem",
            "--trusted-ca-file", "\(certs)/ca.pem", "--client-cert-auth=true",
            "--peer-cert-file", "\(peer)/peer.pem", "--peer-key-file", "\(peer)/peer-key.pem",
            "--peer-trusted-ca-file", "\(peer)/ca.pem", "--peer-client-cert-auth"
        ]
    }

    @Test func aTLSQuorumServesClientsWithCertificatesAndRefusesTheRest() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let certs = try Self.certificates()
        let rogue = try Self.certificates()  // a second CA nobody trusts
        defer {
            try? FileManager.default.removeItem(atPath: certs)
            try? FileManager.default.removeItem(atPath: rogue)
        }
        let c = try ClusterTests.Cluster(binary: capstan, extraArguments: Self.memberFlags(certs), scheme: "https")
        defer { c.shutdown() }
        let endpoints = c.clientPorts.map { "https://127.0.0.1:\($0)" }
        let all = endpoints.joined(separator: ",")
        let good = ["--cacert", "\(certs)/ca.pem", "--cert", "\(certs)/client.pem", "--key", "\(certs)/client-key.pem"]

        // Every member healthy: each has a leader, so the peers found each other over TLS.
        let deadline = Date().addingTimeInterval(20)
        var health = (Int32(1), "", "")
        repeat { health = try Self.etcdctl(all, good, ["endpoint", "health"]) } while health.0 != 0 && Date() < deadline
        #expect(health.0 == 0, "\(health.1)\(health.2)")
        #expect(
            health.1.components(separatedBy: "is healthy").count + health.2.components(separatedBy: "is healthy").count == 5,
            "\(health.1)\(health.2)")
        for (i, endpoint) in endpoints.enumerated() {
            let (code, out, err) = try Self.etcdctl(endpoint, good, ["put", "tls\(i)", "v\(i)"])
            #expect(code == 0 && out == "OK\n", "\(err)")
        }
        let read = try Self.etcdctl(all, good, ["get", "tls", "--prefix", "--print-value-only"])
        #expect(read.1 == "v0\nv1\nv2\n", "\(read.2)")
        let members = try Self.etcdctl(all, good, ["member", "list"])
        #expect(members.0 == 0 && members.1.components(separatedBy: "https://127.0.0.1:").count == 7, "\(members.1)\(members.2)")

        // Refused: no client certificate; a certificate another CA signed; no TLS at all; a
        // server the client cannot verify. None of them writes anything.
        let refusals: [(String, [String], String)] = [
            ("no client certificate", ["--cacert", "\(certs)/ca.pem"], all),
            (
                "a client certificate of another CA",
                ["--cacert", "\(certs)/ca.pem", "--cert", "\(rogue)/client.pem", "--key", "\(rogue)/client-key.pem"], all
            ),
            ("plaintext", [], c.clientPorts.map { "http://127.0.0.1:\($0)" }.joined(separator: ",")),
            (
                "an untrusted server", ["--cacert", "\(rogue)/ca.pem", "--cert", "\(certs)/client.pem", "--key", "\(certs)/client-key.pem"],
                all
            )
        ]
        for (what, flags, eps) in refusals {
            let (code, out, err) = try Self.etcdctl(eps, flags, ["put", "refused", what], quick: true)
            #expect(code != 0, "\(what): etcdctl succeeded: \(out)")
            #expect(!out.contains("OK"), "\(what): \(out) \(err)")
        }
        let after = try Self.etcdctl(all, good, ["get", "refused", "--print-value-only"])
        #expect(after.0 == 0 && after.1.isEmpty, "a refused client wrote: \(after.1)")
        // The members say whom they refused, as etcd's "rejected connection" lines.
        let logs = (0..<3).map { (try? String(contentsOfFile: "\(c.base)/m\($0 + 1).etcd.log", encoding: .utf8)) ?? "" }.joined()
        #expect(logs.contains("rejected connection from 127.0.0.1:"), "\(logs)")
    }

    @Test func aMemberWithAPeerCertificateOfAnotherCAIsShutOut() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let certs = try Self.certificates()
        let rogue = try Self.certificates()
        defer {
            try? FileManager.default.removeItem(atPath: certs)
            try? FileManager.default.removeItem(atPath: rogue)
        }
        // m3's peer certificate (and the CA it trusts for peers) is the rogue one.
        let c = try ClusterTests.Cluster(
            binary: capstan,
            memberArguments: [Self.memberFlags(certs), Self.memberFlags(certs), Self.memberFlags(certs, peerCerts: rogue)],
            scheme: "https")
        defer { c.shutdown() }
        let endpoints = c.clientPorts.map { "https://127.0.0.1:\($0)" }
        let good = ["--cacert", "\(certs)/ca.pem", "--cert", "\(certs)/client.pem", "--key", "\(certs)/client-key.pem"]

        // m1 and m2 form a quorum and serve writes; m3 never hears from them.
        let deadline = Date().addingTimeInterval(20)
        var put = (Int32(1), "", "")
        repeat { put = try Self.etcdctl(endpoints[0] + "," + endpoints[1], good, ["put", "k", "v"]) } while put.0 != 0 && Date() < deadline
        #expect(put.0 == 0, "\(put.2)")
        let m3 = try Self.etcdctl(endpoints[2], good, ["endpoint", "health"], quick: true)
        #expect(m3.0 != 0, "m3 is healthy without its peers: \(m3.1)")
        let m3Read = try Self.etcdctl(endpoints[2], good, ["get", "k", "--consistency", "s", "--print-value-only"], quick: true)
        #expect(!m3Read.1.contains("v"), "m3 has the quorum's data: \(m3Read.1)")
        let m1Log = (try? String(contentsOfFile: "\(c.base)/m1.etcd.log", encoding: .utf8)) ?? ""
        #expect(m1Log.contains("rejected connection from 127.0.0.1:"), "\(m1Log)")
        let m3Log = (try? String(contentsOfFile: "\(c.base)/m3.etcd.log", encoding: .utf8)) ?? ""
        #expect(m3Log.contains("cannot reach peer"), "\(m3Log)")
    }

    @Test func unusableTLSFlagsStopTheMemberWithTheReason() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        let certs = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: certs) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-tls-flags-\(UInt64.random(in: 0...UInt64.max))")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = ClusterTests.freePorts(2)
        let base = [
            "store", "--data-dir", dir, "--listen-peer-urls", "http://127.0.0.1:\(port[1])",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(port[1])"
        ]
        let https = ["--listen-client-urls", "https://127.0.0.1:\(port[0])"]
        let cases: [([String], String)] = [
            (https, "give the server's certificate with --cert-file and --key-file"),
            (
                https + ["--cert-file", "\(certs)/nothing.pem", "--key-file", "\(certs)/server-key.pem"],
                "--cert-file \(certs)/nothing.pem: no such readable file"
            ),
            (
                https + ["--cert-file", "\(certs)/server-key.pem", "--key-file", "\(certs)/server-key.pem"],
                "--cert-file \(certs)/server-key.pem: not a PEM certificate"
            ),
            (https + ["--cert-file", "\(certs)/server.pem", "--key-file", "\(certs)/client-key.pem"], "cannot be used together"),
            (["--client-cert-auth"], "--client-cert-auth needs an https --listen-client-urls"),
            (
                ["--listen-peer-urls", "https://127.0.0.1:\(port[1])", "--initial-advertise-peer-urls", "https://127.0.0.1:\(port[1])"],
                "give this member's certificate with --peer-cert-file and --peer-key-file"
            )
        ]
        for (args, message) in cases {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: capstan)
            p.arguments = base + args
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus != 0, "\(args) started")
            #expect(text.contains(message), "\(args): \(text)")
        }
    }
}
