// Tests of the apiserver's certificate directory: the files made on a first start, checked with the openssl
// command line tool (verification, names, usages, key files, a mutual TLS handshake), what later starts keep and
// replace, the errors that protect the CA, and the kubernetes service's address in a service range.

import APIServer
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let dnsNames = [
    "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "node-1"
]
private let ipAddresses = ["127.0.0.1", "10.96.0.1", "::1"]
private let serverURL = "https://127.0.0.1:6443"
private let openssl = "/usr/bin/openssl"
private let kubectl = "/usr/bin/kubectl"

/// A fresh temporary directory; the certificate directory is `certs` inside it, not made yet.
private struct Scratch {
    let root: String
    let certDir: CertDir

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("certdir-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        certDir = CertDir(directory: "\(root)/certs")
    }

    var allPaths: [String] {
        [
            certDir.caCertificatePath, certDir.caKeyPath, certDir.servingCertificatePath, certDir.servingKeyPath,
            certDir.adminKubeconfigPath
        ]
    }

    func ensure(ips: [String] = ipAddresses, server: String = serverURL, now: Date = Date()) throws -> [String] {
        try certDir.ensure(dnsNames: dnsNames, ipAddresses: ips, serverURL: server, now: now)
    }

    func contents() throws -> [String: Data] {
        var result: [String: Data] = [:]
        for path in allPaths { result[path] = try Data(contentsOf: URL(fileURLWithPath: path)) }
        return result
    }

    func text(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// Writes the admin kubeconfig's client certificate and key to `admin.crt` and `admin.key` in the root.
    func extractAdmin() throws -> (certificate: String, key: String) {
        let kubeconfig = try text(certDir.adminKubeconfigPath)
        let certificate = "\(root)/admin.crt"
        let key = "\(root)/admin.key"
        try #require(kubeconfigValue(kubeconfig, "client-certificate-data").flatMap { Data(base64Encoded: $0) })
            .write(to: URL(fileURLWithPath: certificate))
        try #require(kubeconfigValue(kubeconfig, "client-key-data").flatMap { Data(base64Encoded: $0) })
            .write(to: URL(fileURLWithPath: key))
        return (certificate, key)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// The value of the first `key: value` line in a kubeconfig.
private func kubeconfigValue(_ text: String, _ key: String) -> String? {
    for line in text.split(separator: "\n") {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("\(key): ") { return String(trimmed.dropFirst(key.count + 2)) }
    }
    return nil
}

private func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try #require(attributes[.posixPermissions] as? NSNumber).intValue & 0o777
}

/// Ends `process` (if still running) and waits for it. SIGKILL, not Process.terminate(): a child started from a
/// test thread inherits that thread's signal mask, in which SIGTERM is blocked.
private func stopProcess(_ process: Process) {
    if process.isRunning { _ = kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

/// Runs openssl with `arguments`; see `runTool`.
private func runOpenSSL(_ arguments: [String], input: String? = nil, timeout: TimeInterval = 30) throws -> (status: Int32, output: String) {
    try runTool(openssl, arguments, input: input, timeout: timeout)
}

/// Runs `tool` with `arguments`, standard input from `input`, and gives its exit status and its output and errors
/// together; a run that takes longer than `timeout` is terminated.
private func runTool(_ tool: String, _ arguments: [String], input: String? = nil, timeout: TimeInterval = 30) throws -> (
    status: Int32, output: String
) {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("certdir-tool-\(UUID().uuidString).out").path
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    defer { try? output.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    defer { stopProcess(process) }
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    let deadline = Date() + timeout
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
        stopProcess(process)
        Issue.record("\(tool) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
    }
    let text = try String(contentsOfFile: outputPath, encoding: .utf8)
    return (process.terminationStatus, text)
}

/// `openssl s_server` with the serving certificate on a free port of 127.0.0.1, asking for a client certificate
/// from the CA, answering with its status page (-www), `connections` times if given; `stop()` ends it.
private struct TestServer {
    let process: Process
    let port: Int
    private let output: FileHandle

    init(_ dir: CertDir, root: String, connections: Int? = nil) throws {
        let outputPath = "\(root)/s_server.out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        var arguments = [
            "s_server", "-cert", dir.servingCertificatePath, "-key", dir.servingKeyPath, "-CAfile", dir.caCertificatePath, "-Verify", "1",
            "-accept", "127.0.0.1:0", "-www"
        ]
        if let connections { arguments += ["-naccept", "\(connections)"] }
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = Pipe()
        try process.run()

        // The port the server bound (it picks a free one), from its "ACCEPT 127.0.0.1:<port>" line.
        var port: Int?
        let deadline = Date() + 20
        while port == nil && process.isRunning && Date() < deadline {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT 127.0.0.1:") }) {
                port = Int(line.dropFirst("ACCEPT 127.0.0.1:".count))
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        guard let port else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            stopProcess(process)
            try? output.close()
            throw TestServerError(message: "s_server did not start: \(text)")
        }
        self.port = port
    }

    func stop() {
        stopProcess(process)
        try? output.close()
    }
}

private struct TestServerError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

@Suite struct CertDirTests {
    @Test func firstEnsureMakesFilesOpenSSLAccepts() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        let log = try scratch.ensure()
        #expect(log.contains { $0.hasPrefix("created the CA") })
        #expect(log.contains { $0.hasPrefix("issued \(dir.servingCertificatePath)") })
        #expect(log.contains { $0.hasPrefix("wrote \(dir.adminKubeconfigPath)") })

        for path in scratch.allPaths { #expect(FileManager.default.fileExists(atPath: path), "\(path)") }
        #expect(try mode(dir.directory) == 0o700)
        #expect(try mode(dir.caKeyPath) == 0o600)
        #expect(try mode(dir.servingKeyPath) == 0o600)
        #expect(try mode(dir.adminKubeconfigPath) == 0o600)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.directory).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)

        // The CA.
        let ca = try runOpenSSL(["x509", "-noout", "-text", "-in", dir.caCertificatePath])
        #expect(ca.status == 0)
        #expect(ca.output.contains("Subject: CN = capstan-ca"))
        #expect(ca.output.contains("Issuer: CN = capstan-ca"))
        #expect(ca.output.contains("X509v3 Basic Constraints: critical\n                CA:TRUE"))
        #expect(ca.output.contains("X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign"))
        #expect(ca.output.contains("X509v3 Subject Key Identifier"))
        #expect(ca.output.contains("ASN1 OID: prime256v1"))
        #expect(ca.output.contains("ecdsa-with-SHA256"))
        let serial = try runOpenSSL(["x509", "-noout", "-serial", "-in", dir.caCertificatePath]).output
        let serialHex = serial.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
        #expect(serialHex.count >= 32, "\(serial)")
        #expect(try runOpenSSL(["x509", "-noout", "-checkend", "\(9 * 365 * 86400)", "-in", dir.caCertificatePath]).status == 0)
        #expect(try runOpenSSL(["x509", "-noout", "-checkend", "\(11 * 365 * 86400)", "-in", dir.caCertificatePath]).status == 1)

        // The serving certificate.
        let verify = try runOpenSSL(["verify", "-purpose", "sslserver", "-CAfile", dir.caCertificatePath, dir.servingCertificatePath])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("\(dir.servingCertificatePath): OK"))
        let san = try runOpenSSL(["x509", "-noout", "-ext", "subjectAltName", "-in", dir.servingCertificatePath])
        #expect(san.status == 0)
        for name in dnsNames { #expect(san.output.contains("DNS:\(name),") || san.output.contains("DNS:\(name)\n"), "\(name)") }
        #expect(san.output.contains("IP Address:127.0.0.1"))
        #expect(san.output.contains("IP Address:10.96.0.1"))
        #expect(san.output.contains("IP Address:0:0:0:0:0:0:0:1") || san.output.contains("IP Address:::1"))
        let serving = try runOpenSSL(["x509", "-noout", "-text", "-in", dir.servingCertificatePath]).output
        #expect(serving.contains("Subject: CN = kube-apiserver"))
        #expect(serving.contains("Issuer: CN = capstan-ca"))
        #expect(serving.contains("CA:FALSE"))
        #expect(serving.contains("X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment"))
        #expect(serving.contains("TLS Web Server Authentication"))
        let caKeyID = try #require(
            ca.output.components(separatedBy: "X509v3 Subject Key Identifier: \n").last?.split(separator: "\n").first
        )
        .trimmingCharacters(in: .whitespaces)
        #expect(caKeyID.count == 59, "\(caKeyID)")
        #expect(serving.contains("X509v3 Authority Key Identifier: \n                \(caKeyID)"))
        #expect(try runOpenSSL(["x509", "-noout", "-checkend", "\(364 * 86400)", "-in", dir.servingCertificatePath]).status == 0)
        #expect(try runOpenSSL(["x509", "-noout", "-checkend", "\(366 * 86400)", "-in", dir.servingCertificatePath]).status == 1)

        // The admin client certificate inside the kubeconfig.
        let admin = try scratch.extractAdmin()
        let adminVerify = try runOpenSSL(["verify", "-purpose", "sslclient", "-CAfile", dir.caCertificatePath, admin.certificate])
        #expect(adminVerify.status == 0, "\(adminVerify.output)")
        let subject = try runOpenSSL(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", admin.certificate]).output
        #expect(subject.contains("CN=kubernetes-admin"))
        #expect(subject.contains("O=system:masters"))
        let usage = try runOpenSSL(["x509", "-noout", "-ext", "extendedKeyUsage", "-in", admin.certificate]).output
        #expect(usage.contains("TLS Web Client Authentication"))
        #expect(!usage.contains("TLS Web Server Authentication"))

        // The key files: PKCS#8 P-256 keys openssl reads.
        for key in [dir.caKeyPath, dir.servingKeyPath, admin.key] {
            let parsed = try runOpenSSL(["pkey", "-in", key, "-noout", "-text"])
            #expect(parsed.status == 0, "\(key): \(parsed.output)")
            #expect(parsed.output.contains("ASN1 OID: prime256v1"), "\(key)")
            #expect(try scratch.text(key).hasPrefix("-----BEGIN PRIVATE KEY-----\n"), "\(key)")
        }
        #expect(try scratch.text(dir.caCertificatePath).hasPrefix("-----BEGIN CERTIFICATE-----\n"))
    }

    @Test func kubeconfigLayout() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try dir.ensure(dnsNames: dnsNames, ipAddresses: ipAddresses, serverURL: serverURL, clusterName: "lab")
        let text = try scratch.text(dir.adminKubeconfigPath)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let caData = try Data(contentsOf: URL(fileURLWithPath: dir.caCertificatePath)).base64EncodedString()
        let expected = [
            "apiVersion: v1", "clusters:", "- cluster:", "    certificate-authority-data: \(caData)", "    server: \(serverURL)",
            "  name: lab", "contexts:", "- context:", "    cluster: lab", "    user: kubernetes-admin", "  name: kubernetes-admin@lab",
            "current-context: kubernetes-admin@lab", "kind: Config", "preferences: {}", "users:", "- name: kubernetes-admin", "  user:"
        ]
        #expect(Array(lines.prefix(expected.count)) == expected)
        #expect(lines.count == expected.count + 3)
        #expect(lines[expected.count].hasPrefix("    client-certificate-data: LS0t"))
        #expect(lines[expected.count + 1].hasPrefix("    client-key-data: LS0t"))
        #expect(lines.last == "")
        let key = try #require(kubeconfigValue(text, "client-key-data").flatMap { Data(base64Encoded: $0) })
        #expect(String(decoding: key, as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    }

    @Test func mutualTLSHandshakeWithOpenSSL() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try scratch.ensure()
        let admin = try scratch.extractAdmin()

        let server = try TestServer(dir, root: scratch.root, connections: 1)
        defer { server.stop() }

        let client = try runOpenSSL(
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", dir.caCertificatePath, "-verify_return_error", "-verify_ip",
                "127.0.0.1", "-cert", admin.certificate, "-key", admin.key, "-ign_eof"
            ],
            input: "GET / HTTP/1.0\r\n\r\n")
        #expect(client.status == 0, "\(client.output)")
        #expect(client.output.contains("Verify return code: 0 (ok)"))
        #expect(client.output.contains("subject=CN = kube-apiserver"))
        // The -www page: the request was answered after the server verified the client certificate.
        #expect(client.output.contains("HTTP/1.0 200 ok"))
        #expect(client.output.contains("Client certificate"))
    }

    /// kubectl (Go's TLS and client-go's kubeconfig loading) with the admin kubeconfig, against openssl s_server.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: kubectl)))
    func kubectlUsesTheAdminKubeconfig() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try scratch.ensure()
        let server = try TestServer(dir, root: scratch.root)
        defer { server.stop() }
        let result = try runTool(
            kubectl,
            [
                "--kubeconfig", dir.adminKubeconfigPath, "--cache-dir", "\(scratch.root)/kube-cache", "--server",
                "https://127.0.0.1:\(server.port)", "get", "--raw", "/"
            ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Client certificate"), "\(result.output)")
        let context = try runTool(kubectl, ["--kubeconfig", dir.adminKubeconfigPath, "config", "current-context"])
        #expect(context.output == "kubernetes-admin@capstan\n")
    }

    @Test func secondEnsureChangesNothing() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        _ = try scratch.ensure()
        let before = try scratch.contents()
        let log = try scratch.ensure()
        #expect(try scratch.contents() == before)
        #expect(log.count == 3)
        #expect(log[0].hasPrefix("using the CA in \(scratch.certDir.caCertificatePath)"))
        #expect(log[1].hasPrefix("kept \(scratch.certDir.servingCertificatePath)"))
        #expect(log[2].hasPrefix("kept \(scratch.certDir.adminKubeconfigPath)"))
    }

    @Test func extraAddressReissuesOnlyTheServingCertificate() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try scratch.ensure()
        let before = try scratch.contents()
        let log = try scratch.ensure(ips: ipAddresses + ["192.168.7.9"])
        let after = try scratch.contents()
        #expect(log.contains { $0.hasPrefix("issued \(dir.servingCertificatePath)") && $0.hasSuffix("did not cover 192.168.7.9") })
        #expect(after[dir.caCertificatePath] == before[dir.caCertificatePath])
        #expect(after[dir.caKeyPath] == before[dir.caKeyPath])
        #expect(after[dir.adminKubeconfigPath] == before[dir.adminKubeconfigPath])
        #expect(after[dir.servingCertificatePath] != before[dir.servingCertificatePath])
        #expect(after[dir.servingKeyPath] != before[dir.servingKeyPath])
        let san = try runOpenSSL(["x509", "-noout", "-ext", "subjectAltName", "-in", dir.servingCertificatePath]).output
        #expect(san.contains("IP Address:192.168.7.9"))
        #expect(try runOpenSSL(["verify", "-CAfile", dir.caCertificatePath, dir.servingCertificatePath]).status == 0)
        // Asking for fewer names than the certificate has keeps it.
        #expect(try scratch.ensure(ips: ["127.0.0.1"]).contains { $0.hasPrefix("kept \(dir.servingCertificatePath)") })
    }

    @Test func newServerURLRewritesOnlyTheKubeconfig() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try scratch.ensure()
        let before = try scratch.contents()
        let log = try scratch.ensure(server: "https://10.0.0.5:6443")
        let after = try scratch.contents()
        #expect(log.contains { $0.hasPrefix("wrote \(dir.adminKubeconfigPath)") })
        for path in scratch.allPaths where path != dir.adminKubeconfigPath { #expect(after[path] == before[path], "\(path)") }
        #expect(after[dir.adminKubeconfigPath] != before[dir.adminKubeconfigPath])
        let text = try scratch.text(dir.adminKubeconfigPath)
        #expect(kubeconfigValue(text, "server") == "https://10.0.0.5:6443")
        #expect(try mode(dir.adminKubeconfigPath) == 0o600)
        let admin = try scratch.extractAdmin()
        #expect(try runOpenSSL(["verify", "-CAfile", dir.caCertificatePath, admin.certificate]).status == 0)
    }

    @Test func expiredCertificatesAreReissuedWithTheSameCA() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try scratch.ensure(now: Date() - 400 * 86400)
        let before = try scratch.contents()
        #expect(try runOpenSSL(["verify", "-CAfile", dir.caCertificatePath, dir.servingCertificatePath]).status != 0)
        let log = try scratch.ensure()
        let after = try scratch.contents()
        #expect(log.contains { $0.hasPrefix("issued \(dir.servingCertificatePath)") && $0.contains("expires at") })
        #expect(log.contains { $0.hasPrefix("wrote \(dir.adminKubeconfigPath)") && $0.contains("expires at") })
        #expect(after[dir.caCertificatePath] == before[dir.caCertificatePath])
        #expect(after[dir.caKeyPath] == before[dir.caKeyPath])
        #expect(try runOpenSSL(["verify", "-CAfile", dir.caCertificatePath, dir.servingCertificatePath]).status == 0)
        let admin = try scratch.extractAdmin()
        #expect(try runOpenSSL(["verify", "-CAfile", dir.caCertificatePath, admin.certificate]).status == 0)
    }

    @Test func missingHalfOfTheCAThrows() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let dir = scratch.certDir
        _ = try scratch.ensure()
        let caCertificate = try Data(contentsOf: URL(fileURLWithPath: dir.caCertificatePath))
        try FileManager.default.removeItem(atPath: dir.caKeyPath)
        let error = try #require(throws: CertDirError.self) { try scratch.ensure() }
        #expect(error.path == dir.caKeyPath)
        #expect(error.description.hasPrefix("\(dir.caKeyPath): missing"))
        #expect(!FileManager.default.fileExists(atPath: dir.caKeyPath))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.caCertificatePath)) == caCertificate)

        try FileManager.default.removeItem(atPath: dir.caCertificatePath)
        try Data("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n".utf8).write(to: URL(fileURLWithPath: dir.caKeyPath))
        let other = try #require(throws: CertDirError.self) { try scratch.ensure() }
        #expect(other.path == dir.caCertificatePath)
        #expect(other.description.contains("ca.crt: missing"))
    }

    @Test func caKeyNotMatchingTheCertificateThrows() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let otherScratch = try Scratch()
        defer { otherScratch.remove() }
        _ = try scratch.ensure()
        _ = try otherScratch.ensure()
        let dir = scratch.certDir
        try FileManager.default.removeItem(atPath: dir.caKeyPath)
        try FileManager.default.copyItem(atPath: otherScratch.certDir.caKeyPath, toPath: dir.caKeyPath)
        let before = try scratch.contents()
        let error = try #require(throws: CertDirError.self) { try scratch.ensure() }
        #expect(error.path == dir.caKeyPath)
        #expect(error.description.contains("does not match \(dir.caCertificatePath)"))
        #expect(try scratch.contents() == before)

        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: dir.caKeyPath))
        let garbage = try #require(throws: CertDirError.self) { try scratch.ensure() }
        #expect(garbage.path == dir.caKeyPath)
    }

    @Test func badAddressThrows() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let error = try #require(throws: CertDirError.self) { try scratch.ensure(ips: ["127.0.0.1", "10.96.0.300"]) }
        #expect(error.description.contains("\"10.96.0.300\" is not an IPv4 or IPv6 address"))
    }

    @Test(arguments: [
        ("10.96.0.0/12", "10.96.0.1"), ("10.0.0.0/24", "10.0.0.1"), ("10.96.12.34/12", "10.96.0.1"), ("192.168.0.0/16", "192.168.0.1"),
        ("0.0.0.0/0", "0.0.0.1"), ("172.16.0.0/30", "172.16.0.1"), (" 10.0.0.0/24 ", "10.0.0.1"), ("fd00::/108", "fd00::1"),
        ("fd00:10:96::/112", "fd00:10:96::1"), ("FD00:0:0:1::/64", "fd00:0:0:1::1"), ("2001:db8:1:2:3:4:5:6/120", "2001:db8:1:2:3:4:5:1")
    ])
    func firstServiceIP(range: String, expected: String) throws {
        #expect(try CertDir.firstServiceIP(ofRange: range) == expected)
    }

    @Test(arguments: [
        "", "10.96.0.0", "10.96.0.0/", "10.96.0.0/33", "10.96.0.0/-1", "10.96.0.0/+8", "banana/12", "10.96.0/12", "10.96.0.0.1/12",
        "10.96.0.0/12,fd00::/108", "10.0.0.0/31", "10.0.0.0/32", "fd00::/127", "fd00::/129", "fd00:::1/64", "10.96.0.0/12/3"
    ])
    func firstServiceIPRejects(range: String) throws {
        let error = try #require(throws: CertDirError.self) { try CertDir.firstServiceIP(ofRange: range) }
        #expect(error.path == nil)
        #expect(error.description.hasPrefix("service range \"\(range)\": "))
    }
}
