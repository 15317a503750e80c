// The apiserver's certificate directory (kube-apiserver's `--cert-dir`): with no `--tls-cert-file`,
// a cluster CA, a serving certificate signed by it and an admin kubeconfig (as kubeadm's admin.conf)
// are made there on the first start and reused on later ones.

import Crypto
package import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files in an apiserver's certificate directory: the cluster CA (`ca.crt`, `ca.key`), the
/// serving certificate (`apiserver.crt`, `apiserver.key`) and the admin kubeconfig
/// (`admin.kubeconfig`). Keys are ECDSA P-256 written as PKCS#8 (`PRIVATE KEY`) PEM with mode 0600;
/// certificates are `CERTIFICATE` PEM with mode 0644. Every file is written atomically.
package struct CertDir: Sendable {
    /// The directory that holds the files.
    package let directory: String

    /// The cluster CA's certificate.
    package var caCertificatePath: String { "\(directory)/ca.crt" }

    /// The cluster CA's private key.
    package var caKeyPath: String { "\(directory)/ca.key" }

    /// The apiserver's serving certificate, signed by the CA.
    package var servingCertificatePath: String { "\(directory)/apiserver.crt" }

    /// The serving certificate's private key.
    package var servingKeyPath: String { "\(directory)/apiserver.key" }

    /// The kubeconfig of the cluster administrator (O=system:masters), with its client certificate embedded.
    package var adminKubeconfigPath: String { "\(directory)/admin.kubeconfig" }

    /// The subject common name of a CA this makes.
    package static let caCommonName = "capstan-ca"

    /// The subject common name of the serving certificate.
    package static let servingCommonName = "kube-apiserver"

    /// The admin user's name: its client certificate's common name and its kubeconfig user.
    package static let adminUserName = "kubernetes-admin"

    /// The admin's group: its client certificate's organization, bound to cluster-admin.
    package static let adminGroup = "system:masters"

    /// A directory at `directory`; nothing is read or written until `ensure`.
    package init(directory: String) {
        self.directory = directory
    }

    /// Makes sure the directory holds a CA, a serving certificate valid for `dnsNames` and `ipAddresses`, and an
    /// admin kubeconfig pointing at `serverURL`; creates what is missing; returns what it did (for the log).
    ///
    /// An existing CA is always kept (a new one would invalidate every kubeconfig it signed); when only one of its
    /// two files exists, or its key does not match its certificate, this throws instead. An existing serving
    /// certificate is kept when it is signed by the CA, has more than a day left and covers every name and
    /// address asked for; an existing kubeconfig is kept when it points at `serverURL` with this CA and its client
    /// certificate is still good. Anything else is made anew.
    package func ensure(
        dnsNames: [String], ipAddresses: [String], serverURL: String, clusterName: String = "capstan", now: Date = Date()
    ) throws -> [String] {
        let addresses = try ipAddresses.map { text in
            guard let bytes = IPAddress.parse(text) else {
                throw CertDirError(path: nil, "serving certificate address \"\(text)\" is not an IPv4 or IPv6 address")
            }
            return bytes
        }
        var log: [String] = []
        try makeDirectory(&log)
        let ca = try loadOrMakeCA(now: now, &log)

        if let problem = servingProblem(ca: ca, dnsNames: dnsNames, addresses: addresses, now: now) {
            let certificate = try issueServing(ca: ca, dnsNames: dnsNames, addresses: addresses, now: now)
            log.append("issued \(servingCertificatePath) (\(Self.describe(certificate))): \(problem)")
        } else {
            log.append("kept \(servingCertificatePath): signed by the CA, valid for every name and address asked for")
        }

        if let problem = kubeconfigProblem(ca: ca, serverURL: serverURL, clusterName: clusterName, now: now) {
            let certificate = try writeKubeconfig(ca: ca, serverURL: serverURL, clusterName: clusterName, now: now)
            log.append(
                "wrote \(adminKubeconfigPath) for \(serverURL) with a new admin certificate (\(Self.describe(certificate))): \(problem)")
        } else {
            log.append("kept \(adminKubeconfigPath): it points at \(serverURL) with this CA")
        }
        return log
    }

    /// The address of the `kubernetes` service in a service range: the range's first address after its
    /// network address, as kube-apiserver picks it ("10.96.0.0/12" gives "10.96.0.1", "fd00::/108" gives
    /// "fd00::1"). Host bits in the address are ignored, as Go's ParseCIDR does. One range, not a list.
    package static func firstServiceIP(ofRange cidr: String) throws -> String {
        let text = cidr.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> CertDirError {
            CertDirError(path: nil, "service range \"\(cidr)\": \(why)")
        }
        if text.contains(",") {
            throw bad("give one range (for dual-stack, ask for each range on its own)")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw bad("not a CIDR (address/prefix-length)") }
        guard var bytes = IPAddress.parse(String(parts[0])) else { throw bad("\"\(parts[0])\" is not an IPv4 or IPv6 address") }
        let bits = bytes.count * 8
        guard let prefix = Int(parts[1]), parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), (0...bits).contains(prefix)
        else {
            throw bad("\"\(parts[1])\" is not a prefix length from 0 to \(bits)")
        }
        guard prefix <= bits - 2 else { throw bad("too small: a /\(prefix) leaves no address for the kubernetes service") }
        for index in bytes.indices {
            let keep = min(max(prefix - index * 8, 0), 8)
            bytes[index] &= keep == 0 ? 0 : ~UInt8(0) << (8 - keep)
        }
        // At least two host bits, so the network address's last bit is clear: adding one sets it.
        bytes[bytes.count - 1] |= 1
        return IPAddress.format(bytes)
    }
}

/// A problem with a file in the certificate directory, or with what `CertDir` was asked for.
package struct CertDirError: Error, CustomStringConvertible {
    /// The file concerned, if any.
    package let path: String?

    /// What is wrong, in plain words.
    package let message: String

    /// A problem with `path` (nil when no file is concerned).
    package init(path: String?, _ message: String) {
        self.path = path
        self.message = message
    }

    /// The file and the problem, as one line.
    package var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }
}

// MARK: - The CA

/// A loaded or new CA: its certificate, PEM text and key, and the key identifier its certificates carry.
private struct Authority {
    var certificate: Certificate
    var pem: String
    var key: Certificate.PrivateKey
    var keyIdentifier: ArraySlice<UInt8>
}

extension CertDir {
    private func makeDirectory(_ log: inout [String]) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CertDirError(path: directory, "exists and is not a directory") }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        do {
            if !parent.isEmpty { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        } catch {
            throw CertDirError(path: parent, "cannot create the directory: \(error)")
        }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw CertDirError(path: directory, "cannot create the directory: \(String(cString: strerror(errno)))")
        }
        _ = chmod(directory, 0o700)
        log.append("created \(directory) (mode 0700)")
    }

    private func loadOrMakeCA(now: Date, _ log: inout [String]) throws -> Authority {
        let manager = FileManager.default
        switch (manager.fileExists(atPath: caCertificatePath), manager.fileExists(atPath: caKeyPath)) {
        case (true, true):
            let authority = try loadCA(now: now)
            log.append("using the CA in \(caCertificatePath) (\(Self.describe(authority.certificate)))")
            return authority
        case (true, false):
            throw CertDirError(
                path: caKeyPath,
                "missing while \(caCertificatePath) exists; restore it, or remove \(caCertificatePath) too to make a new CA "
                    + "(which invalidates every certificate and kubeconfig the old one signed)")
        case (false, true):
            throw CertDirError(
                path: caCertificatePath,
                "missing while \(caKeyPath) exists; restore it, or remove \(caKeyPath) too to make a new CA "
                    + "(which invalidates every certificate and kubeconfig the old one signed)")
        case (false, false):
            let authority = try makeCA(now: now)
            log.append("created the CA \(caCertificatePath) and \(caKeyPath) (\(Self.describe(authority.certificate)))")
            return authority
        }
    }

    private func loadCA(now: Date) throws -> Authority {
        let pem = try Self.readText(caCertificatePath)
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: pem)
        } catch {
            throw CertDirError(path: caCertificatePath, "not a PEM certificate: \(error)")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: try Self.readText(caKeyPath))
        } catch let error as CertDirError {
            throw error
        } catch {
            throw CertDirError(path: caKeyPath, "not a PEM private key: \(error)")
        }
        guard key.publicKey == certificate.publicKey else {
            throw CertDirError(path: caKeyPath, "does not match \(caCertificatePath): the key's public key is not the certificate's")
        }
        guard case .some(.isCertificateAuthority) = try? certificate.extensions.basicConstraints else {
            throw CertDirError(path: caCertificatePath, "not a CA certificate (no basicConstraints CA:TRUE)")
        }
        guard certificate.notValidAfter > now else {
            throw CertDirError(
                path: caCertificatePath,
                "expired at \(Self.timestamp(certificate.notValidAfter)); remove \(caCertificatePath) and \(caKeyPath) "
                    + "to make a new CA (which invalidates every certificate and kubeconfig the old one signed)")
        }
        let identifier = (try? certificate.extensions.subjectKeyIdentifier)?.keyIdentifier
        return Authority(
            certificate: certificate, pem: pem, key: key,
            keyIdentifier: identifier ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier)
    }

    private func makeCA(now: Date) throws -> Authority {
        let signingKey = P256.Signing.PrivateKey()
        let key = Certificate.PrivateKey(signingKey)
        let identifier = SubjectKeyIdentifier(hash: key.publicKey)
        let certificate = try Self.wrap(caCertificatePath) {
            let name = try DistinguishedName { CommonName(Self.caCommonName) }
            return try Certificate(
                version: .v3, serialNumber: Self.randomSerialNumber(), publicKey: key.publicKey,
                notValidBefore: now - Self.clockSkew, notValidAfter: now + 10 * Self.year, issuer: name, subject: name,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    identifier
                },
                issuerPrivateKey: key)
        }
        let pem = try Self.pem(certificate, path: caCertificatePath)
        // The key first: a crash between the two leaves a key with no certificate, which the next start reports.
        try Self.writeAtomically(signingKey.pemRepresentation, to: caKeyPath, mode: 0o600)
        try Self.writeAtomically(pem, to: caCertificatePath, mode: 0o644)
        return Authority(certificate: certificate, pem: pem, key: key, keyIdentifier: identifier.keyIdentifier)
    }
}

// MARK: - The serving certificate and the admin kubeconfig

extension CertDir {
    /// Why the serving certificate must be issued anew, or nil when the one there will do.
    private func servingProblem(ca: Authority, dnsNames: [String], addresses: [[UInt8]], now: Date) -> String? {
        let manager = FileManager.default
        guard manager.fileExists(atPath: servingCertificatePath) else { return "\(servingCertificatePath) did not exist" }
        guard manager.fileExists(atPath: servingKeyPath) else { return "\(servingKeyPath) did not exist" }
        guard let certificate = try? Certificate(pemEncoded: Self.readText(servingCertificatePath)) else {
            return "\(servingCertificatePath) was not a PEM certificate"
        }
        guard let key = try? Certificate.PrivateKey(pemEncoded: Self.readText(servingKeyPath)), key.publicKey == certificate.publicKey
        else {
            return "\(servingKeyPath) did not hold the certificate's key"
        }
        if let problem = Self.validityProblem(certificate, ca: ca, now: now) { return "the old one \(problem)" }
        guard let usage = try? certificate.extensions.extendedKeyUsage, usage.contains(.serverAuth) else {
            return "the old one was not for serverAuth"
        }
        var names: Set<String> = []
        var ips: Set<[UInt8]> = []
        for name in (try? certificate.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames() {
            switch name {
            case .dnsName(let dns): names.insert(dns.lowercased())
            case .ipAddress(let ip): ips.insert(Array(ip.bytes))
            default: break
            }
        }
        let missing =
            dnsNames.filter { !names.contains($0.lowercased()) }
            + addresses.filter { !ips.contains($0) }.map { IPAddress.format($0) }
        if !missing.isEmpty { return "the old one did not cover \(missing.joined(separator: ", "))" }
        return nil
    }

    private func issueServing(ca: Authority, dnsNames: [String], addresses: [[UInt8]], now: Date) throws -> Certificate {
        var names: [GeneralName] = []
        var seenNames: Set<String> = []
        for name in dnsNames where seenNames.insert(name.lowercased()).inserted { names.append(.dnsName(name)) }
        var seenAddresses: Set<[UInt8]> = []
        for address in addresses where seenAddresses.insert(address).inserted {
            names.append(.ipAddress(ASN1OctetString(contentBytes: address[...])))
        }
        let signingKey = P256.Signing.PrivateKey()
        let certificate = try issue(
            ca: ca, publicKey: Certificate.PublicKey(signingKey.publicKey), path: servingCertificatePath, now: now,
            subject: { try DistinguishedName { CommonName(Self.servingCommonName) } },
            extensions: {
                try Certificate.Extensions {
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.serverAuth])
                    Critical(BasicConstraints.notCertificateAuthority)
                    AuthorityKeyIdentifier(keyIdentifier: ca.keyIdentifier)
                    if !names.isEmpty { SubjectAlternativeNames(names) }
                }
            })
        // The key first: a crash between the two leaves a pair that does not match, which the next start replaces.
        try Self.writeAtomically(signingKey.pemRepresentation, to: servingKeyPath, mode: 0o600)
        try Self.writeAtomically(try Self.pem(certificate, path: servingCertificatePath), to: servingCertificatePath, mode: 0o644)
        return certificate
    }

    /// Why the admin kubeconfig must be written anew, or nil when the one there will do.
    private func kubeconfigProblem(ca: Authority, serverURL: String, clusterName: String, now: Date) -> String? {
        guard FileManager.default.fileExists(atPath: adminKubeconfigPath) else { return "\(adminKubeconfigPath) did not exist" }
        guard let text = try? Self.readText(adminKubeconfigPath) else { return "\(adminKubeconfigPath) could not be read" }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        func value(_ key: String) -> String? {
            lines.first { $0.hasPrefix("\(key): ") }.map { String($0.dropFirst(key.count + 2)) }
        }
        func decoded(_ key: String) -> String? {
            value(key).flatMap { Data(base64Encoded: $0) }.flatMap { String(data: $0, encoding: .utf8) }
        }
        guard let server = value("server"), server == Kubeconfig.scalar(serverURL) else {
            return "its server was \(value("server") ?? "missing"), not \(serverURL)"
        }
        guard value("current-context") == Kubeconfig.scalar("\(Self.adminUserName)@\(clusterName)") else {
            return "its current context was not \(Self.adminUserName)@\(clusterName)"
        }
        guard let caPEM = decoded("certificate-authority-data"), (try? Certificate(pemEncoded: caPEM)) == ca.certificate else {
            return "its certificate-authority-data was not this CA"
        }
        guard let certificatePEM = decoded("client-certificate-data"), let certificate = try? Certificate(pemEncoded: certificatePEM) else {
            return "its client-certificate-data was not a PEM certificate"
        }
        guard let keyPEM = decoded("client-key-data"), let key = try? Certificate.PrivateKey(pemEncoded: keyPEM),
            key.publicKey == certificate.publicKey
        else {
            return "its client-key-data did not hold the client certificate's key"
        }
        if let problem = Self.validityProblem(certificate, ca: ca, now: now) { return "its client certificate \(problem)" }
        return nil
    }

    private func writeKubeconfig(ca: Authority, serverURL: String, clusterName: String, now: Date) throws -> Certificate {
        let signingKey = P256.Signing.PrivateKey()
        let certificate = try issue(
            ca: ca, publicKey: Certificate.PublicKey(signingKey.publicKey), path: adminKubeconfigPath, now: now,
            subject: {
                try DistinguishedName {
                    OrganizationName(Self.adminGroup)
                    CommonName(Self.adminUserName)
                }
            },
            extensions: {
                try Certificate.Extensions {
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.clientAuth])
                    Critical(BasicConstraints.notCertificateAuthority)
                    AuthorityKeyIdentifier(keyIdentifier: ca.keyIdentifier)
                }
            })
        let text = Kubeconfig.text(
            clusterName: clusterName, serverURL: serverURL, caPEM: ca.pem, userName: Self.adminUserName,
            certificatePEM: try Self.pem(certificate, path: adminKubeconfigPath), keyPEM: signingKey.pemRepresentation)
        try Self.writeAtomically(text, to: adminKubeconfigPath, mode: 0o600)
        return certificate
    }

    /// A certificate for `publicKey` signed by the CA: a random serial, valid from five minutes ago for a year (never
    /// past the CA's own end).
    private func issue(
        ca: Authority, publicKey: Certificate.PublicKey, path: String, now: Date,
        subject: () throws -> DistinguishedName, extensions: () throws -> Certificate.Extensions
    ) throws -> Certificate {
        try Self.wrap(path) {
            try Certificate(
                version: .v3, serialNumber: Self.randomSerialNumber(), publicKey: publicKey, notValidBefore: now - Self.clockSkew,
                notValidAfter: min(now + Self.year, ca.certificate.notValidAfter), issuer: ca.certificate.subject,
                subject: try subject(), extensions: try extensions(), issuerPrivateKey: ca.key)
        }
    }
}

// MARK: - Helpers

extension CertDir {
    private static let clockSkew: TimeInterval = 5 * 60
    private static let year: TimeInterval = 365 * 24 * 60 * 60
    private static let renewBefore: TimeInterval = 24 * 60 * 60

    /// Why `certificate` is not a good certificate from `ca` at `now` (with a day to spare), or nil.
    private static func validityProblem(_ certificate: Certificate, ca: Authority, now: Date) -> String? {
        guard certificate.issuer == ca.certificate.subject,
            ca.certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
        else {
            return "was not signed by this CA"
        }
        if certificate.notValidBefore > now { return "is not valid until \(timestamp(certificate.notValidBefore))" }
        if certificate.notValidAfter <= now + renewBefore { return "expires at \(timestamp(certificate.notValidAfter))" }
        return nil
    }

    /// A positive 20-byte serial number: random, its top bit clear and its first byte not zero.
    private static func randomSerialNumber() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = bytes[0] & 0x7F | 0x01
        return Certificate.SerialNumber(bytes: bytes)
    }

    private static func describe(_ certificate: Certificate) -> String {
        "\(certificate.subject), valid until \(timestamp(certificate.notValidAfter))"
    }

    private static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    private static func pem(_ certificate: Certificate, path: String) throws -> String {
        try wrap(path) { try certificate.serializeAsPEM().pemString + "\n" }
    }

    /// Runs `body`, turning what it throws into a `CertDirError` about `path`.
    private static func wrap<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CertDirError {
            throw error
        } catch {
            throw CertDirError(path: path, "cannot make the certificate: \(error)")
        }
    }

    private static func readText(_ path: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CertDirError(path: path, "cannot be read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CertDirError(path: path, "is not UTF-8 text") }
        return text
    }

    /// Writes `text` to a new file beside `path` with `mode`, syncs it, and renames it over `path`.
    private static func writeAtomically(_ text: String, to path: String, mode: mode_t) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temporary = "\(directory)/.\(name).\(suffix).tmp"
        func failure(_ what: String) -> CertDirError {
            CertDirError(path: path, "cannot \(what): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure("create \(temporary)") }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        var closed = false
        defer { if !closed { close(descriptor) } }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("write \(temporary)")
            }
            written += count
        }
        guard fchmod(descriptor, mode) == 0 else { throw failure("set the mode of \(temporary)") }
        guard fsync(descriptor) == 0 else { throw failure("sync \(temporary)") }
        closed = true
        guard close(descriptor) == 0 else { throw failure("close \(temporary)") }
        guard rename(temporary, path) == 0 else { throw failure("rename \(temporary) to it") }
        renamed = true
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}

/// The admin kubeconfig's text, laid out as client-go writes kubeadm's admin.conf (keys sorted).
private enum Kubeconfig {
    static func text(clusterName: String, serverURL: String, caPEM: String, userName: String, certificatePEM: String, keyPEM: String)
        -> String
    {
        let context = "\(userName)@\(clusterName)"
        return """
            apiVersion: v1
            clusters:
            - cluster:
                certificate-authority-data: \(base64(caPEM))
                server: \(scalar(serverURL))
              name: \(scalar(clusterName))
            contexts:
            - context:
                cluster: \(scalar(clusterName))
                user: \(scalar(userName))
              name: \(scalar(context))
            current-context: \(scalar(context))
            kind: Config
            preferences: {}
            users:
            - name: \(scalar(userName))
              user:
                client-certificate-data: \(base64(certificatePEM))
                client-key-data: \(base64(keyPEM))

            """
    }

    static func base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }

    /// `value` as a YAML scalar that reads back as that string: plain when that is unambiguous, else double-quoted.
    static func scalar(_ value: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/:@[]%+=~?&")
        let words: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null"]
        if let first = value.first, first.isASCII, first.isLetter, value.allSatisfy(safe.contains), value.last != ":",
            !words.contains(value.lowercased())
        {
            return value
        }
        var quoted = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                quoted += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}

/// IP addresses as the bytes certificates carry: 4 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6.
enum IPAddress {
    static func parse(_ text: String) -> [UInt8]? {
        if !text.contains(":") { return parseIPv4(Substring(text)) }
        guard let bytes = parseIPv6(text) else { return nil }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }

    private static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), part == "0" || part.first != "0",
                let value = UInt8(part)
            else {
                return nil
            }
            bytes.append(value)
        }
        return bytes
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ half: String, last: Bool) -> [UInt8]? {
            if half.isEmpty { return [] }
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            var bytes: [UInt8] = []
            for (index, part) in parts.enumerated() {
                if last && index == parts.count - 1 && part.contains(".") {
                    guard let v4 = parseIPv4(part) else { return nil }
                    bytes += v4
                } else {
                    guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit), let value = UInt16(part, radix: 16) else {
                        return nil
                    }
                    bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
                }
            }
            return bytes
        }
        if halves.count == 1 {
            guard let bytes = groups(halves[0], last: true), bytes.count == 16 else { return nil }
            return bytes
        }
        guard let head = groups(halves[0], last: false), let tail = groups(halves[1], last: true), head.count + tail.count <= 14 else {
            return nil
        }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Dotted decimal for IPv4; RFC 5952 text for IPv6 (lower case, the longest run of zero groups as `::`).
    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var best = (start: -1, length: 0)
        var index = 0
        while index < groups.count {
            var end = index
            while end < groups.count && groups[end] == 0 { end += 1 }
            if end - index > best.length { best = (index, end - index) }
            index = max(end, index + 1)
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return "\(head)::\(tail)"
    }
}
