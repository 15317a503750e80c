import Foundation
import Testing

/// The Python `kubernetes` client's own calls (Tests/EndToEndTests/python/client_suite.py) against
/// the apiserver of a kubectl session, with each client line .ci/run installs: the 32 line
/// (Kubernetes 1.32's) and the newest. Each line lives in a virtual environment under
/// `.build-python/` (or the interpreters CAPSTAN_PYTHON_CLIENTS lists, colon-separated).
extension KubectlTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The interpreters of the client lines, and whether a missing one is a failure (in CI) or a
    /// skip (a developer machine without the environments).
    static func pythonClients() -> (interpreters: [String], required: Bool) {
        if let listed = ProcessInfo.processInfo.environment["CAPSTAN_PYTHON_CLIENTS"], !listed.isEmpty {
            return (listed.split(separator: ":").map(String.init), true)
        }
        let lines = ["kube-1.32", "kube-newest"].map { "\(repositoryRoot)/.build-python/\($0)/bin/python" }
        return (lines, ProcessInfo.processInfo.environment["CI"] == "true")
    }

    /// Runs the suite with every client line; each must pass every check. Then the bad-input run
    /// (python/fuzz_api.py, seed FUZZ_SEED or 1) with the newest line: a Status for every bad
    /// request, the server alive, nothing half written.
    static func pythonClientSuite(_ api: APIServerProcess, etcdEndpoints: [String]) throws {
        let (interpreters, required) = pythonClients()
        var scripts = interpreters.map { ($0, "client_suite.py") }
        if let newest = interpreters.last { scripts.append((newest, "fuzz_api.py")) }
        for (python, script) in scripts {
            guard FileManager.default.isExecutableFile(atPath: python) else {
                if required { Issue.record("no Python client at \(python): .ci/run makes it (python3 -m venv, pip install -r ...)") }
                continue
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = ["\(repositoryRoot)/Tests/EndToEndTests/python/\(script)"]
            p.environment = [
                "KUBECONFIG": api.kubeconfig, "ETCD_ENDPOINTS": etcdEndpoints.map { "http://\($0)" }.joined(separator: ","),
                "PATH": "/usr/bin:/bin", "HOME": api.directory, "FUZZ_SEED": ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "1"
            ]
            let output = Pipe()
            p.standardOutput = output
            p.standardError = output
            try p.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(python) \(script) failed:\n\(text)")
            let summary = text.split(separator: "\n").last { $0.hasPrefix("kubernetes-") || $0.hasPrefix("fuzz seed") } ?? "no summary line"
            #expect(summary.contains(" 0 failed") || summary.hasSuffix(" 0 failures"), "\(summary)")
        }
    }
}
