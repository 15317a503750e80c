import Foundation
import Robustness
import Testing

/// The real kubectl (the machine's dispatcher at /usr/bin/kubectl, which runs kubectl 1.32 for a
/// server whose /version says 1.32) against a real `capstan apiserver` process, on a
/// three-member Capstan store and on a three-member etcd 3.4: the same session, kubectl's own
/// output compared with what it prints against Kubernetes 1.32.
@Suite(.serialized) struct KubectlTests {
    static func kubectlBinary() -> String? {
        ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `capstan apiserver` on `store`'s endpoints with a generated certificate directory; stopped by `stop`.
    final class APIServerProcess: @unchecked Sendable {
        let process = Process()
        let directory: String
        let port: Int
        var kubeconfig: String { "\(directory)/certs/admin.kubeconfig" }
        var log: String { "\(directory)/apiserver.log" }

        init(binary: String, etcdServers: [String]) throws {
            directory =
                FileManager.default.temporaryDirectory.appendingPathComponent("capstan-kubectl-\(UInt64.random(in: 0...UInt64.max))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            port = StoreCluster.freePorts(1)[0]
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "apiserver", "--etcd-servers", etcdServers.map { "http://\($0)" }.joined(separator: ","), "--secure-port", String(port),
                "--cert-dir", "\(directory)/certs", "--min-request-timeout", "30"
            ]
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && process.isRunning {
                if FileManager.default.fileExists(atPath: kubeconfig),
                    let (status, out, _) = try? kubectl(["get", "--raw", "/readyz"]), status == 0, out == "ok"
                {
                    return
                }
                usleep(100_000)
            }
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            stop()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the apiserver did not become ready: \(text)"])
        }

        /// Runs kubectl with this server's admin kubeconfig and a cache of its own; (status, stdout, stderr).
        func kubectl(_ args: [String], stdin: String? = nil) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: KubectlTests.kubectlBinary()!)
            p.arguments = ["--kubeconfig", kubeconfig, "--cache-dir", "\(directory)/cache", "--request-timeout", "20s"] + args
            p.environment = ["PATH": "/usr/bin:/bin", "HOME": directory]
            // Output to files: a pipe's buffer would block kubectl on a long answer.
            let id = UInt64.random(in: 0...UInt64.max)
            let outPath = "\(directory)/out-\(id)"
            let errPath = "\(directory)/err-\(id)"
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            defer {
                try? FileManager.default.removeItem(atPath: outPath)
                try? FileManager.default.removeItem(atPath: errPath)
            }
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            let input = Pipe()
            p.standardInput = input
            try p.run()
            if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
            try? input.fileHandleForWriting.close()
            p.waitUntilExit()
            return (
                p.terminationStatus, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            )
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                let deadline = Date().addingTimeInterval(5)
                while process.isRunning && Date() < deadline { usleep(20_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func kubectlOnACapstanStore() throws {
        let capstan = try #require(EtcdctlTests.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.kubectlBinary(), "kubectl is missing (the machine's dispatcher at /usr/bin/kubectl)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capstan-kubectl-store-\(UInt64.random(in: 0...UInt64.max))"
        ).path
        let cluster = try StoreCluster(binary: capstan, directory: directory, size: 3)
        defer {
            cluster.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let api = try APIServerProcess(binary: capstan, etcdServers: cluster.endpoints)
        defer { api.stop() }
        try Self.session(api)
        try Self.pythonClientSuite(api, etcdEndpoints: cluster.endpoints)
    }

    @Test func kubectlOnEtcd() throws {
        let capstan = try #require(EtcdctlTests.capstanBinary(), "the capstan executable was not built")
        _ = try #require(Self.kubectlBinary(), "kubectl is missing (the machine's dispatcher at /usr/bin/kubectl)")
        let etcdBinary = try #require(
            ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "etcd is missing: apt-get install -y etcd-server (what .ci/run does)")
        let etcd = try DifferentialTests.EtcdCluster(binary: etcdBinary)
        defer { etcd.stop() }
        let api = try APIServerProcess(binary: capstan, etcdServers: etcd.endpoints)
        defer { api.stop() }
        try Self.session(api)
        try Self.pythonClientSuite(api, etcdEndpoints: etcd.endpoints)
    }

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: nginx
                image: nginx:1.27
                ports:
                - containerPort: 80
        """

    /// One kubectl session; each step's output is what kubectl 1.32 prints against Kubernetes 1.32.
    static func session(_ api: APIServerProcess) throws {
        @discardableResult
        func ok(_ args: [String], stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
            let (status, out, err) = try api.kubectl(args, stdin: stdin)
            #expect(status == 0, "kubectl \(args.joined(separator: " ")) failed: \(err)", sourceLocation: sourceLocation)
            return out
        }
        func fails(_ args: [String], stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
            let (status, _, err) = try api.kubectl(args, stdin: stdin)
            #expect(status != 0, "kubectl \(args.joined(separator: " ")) should have failed", sourceLocation: sourceLocation)
            return err
        }

        // The dispatcher picked kubectl 1.32 from /version.
        let version = try ok(["version", "-o", "json"])
        #expect(version.contains(#""gitVersion": "v1.32.5+capstan""#), "\(version)")
        #expect(version.contains(#""minor": "32""#))
        // Discovery.
        let resources = try ok(["api-resources", "--no-headers"])
        #expect(
            resources.contains { _ in true }
                && resources.split(separator: "\n").contains { $0.split(separator: " ").first == "deployments" })
        #expect(resources.contains("apps/v1") && resources.contains("Deployment"))
        // The system namespaces exist.
        let namespaces = try ok(["get", "namespaces", "-o", "name"])
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] { #expect(namespaces.contains("namespace/\(ns)\n")) }

        // Create from a manifest (JSON on the wire), twice: the second is AlreadyExists.
        let manifest =
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: e2e}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one, namespace: e2e}\ndata: {a: b}\n"
        #expect(try ok(["create", "-f", "-"], stdin: manifest) == "namespace/e2e created\nconfigmap/one created\n")
        let again = try fails(["create", "-f", "-"], stdin: manifest)
        #expect(
            again.contains(#"Error from server (AlreadyExists): error when creating "STDIN": namespaces "e2e" already exists"#), "\(again)")
        #expect(
            again.contains(#"Error from server (AlreadyExists): error when creating "STDIN": configmaps "one" already exists"#), "\(again)")
        #expect(try ok(["-n", "e2e", "get", "configmap", "one", "-o", "jsonpath={.data.a}"]) == "b")
        let yaml = try ok(["-n", "e2e", "get", "configmap", "one", "-o", "yaml"])
        #expect(yaml.contains("kind: ConfigMap\nmetadata:\n  creationTimestamp: \""), "\(yaml)")
        #expect(yaml.contains("  name: one\n  namespace: e2e\n  resourceVersion: \""), "\(yaml)")
        // Errors in kubectl's words.
        #expect(
            try fails(["-n", "e2e", "get", "configmap", "missing"]) == "Error from server (NotFound): configmaps \"missing\" not found\n")
        let missingNS = try fails(["-n", "nowhere", "create", "-f", "-"], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        #expect(
            missingNS.contains(#"Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not found"#),
            "\(missingNS)")
        let badName = try fails(["-n", "e2e", "create", "-f", "-"], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n")
        #expect(
            badName.contains(
                #"The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of"#
            ),
            "\(badName)")

        // apply twice (the second a strategic merge patch), scale, label, annotate, JSON patch.
        #expect(try ok(["-n", "e2e", "apply", "-f", "-"], stdin: deployment) == "deployment.apps/web created\n")
        #expect(try ok(["-n", "e2e", "get", "deployment", "web", "-o", "jsonpath={.metadata.generation} {.spec.replicas}"]) == "1 2")
        let changed = deployment.replacingOccurrences(of: "replicas: 2", with: "replicas: 3").replacingOccurrences(of: "1.27", with: "1.28")
        #expect(try ok(["-n", "e2e", "apply", "-f", "-"], stdin: changed) == "deployment.apps/web configured\n")
        #expect(
            try ok([
                "-n", "e2e", "get", "deployment", "web", "-o",
                "jsonpath={.metadata.generation} {.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"
            ])
                == "2 3 nginx:1.28 80")
        #expect(try ok(["-n", "e2e", "scale", "deployment", "web", "--replicas=5"]) == "deployment.apps/web scaled\n")
        #expect(try ok(["-n", "e2e", "label", "deployment", "web", "tier=front"]) == "deployment.apps/web labeled\n")
        #expect(try ok(["-n", "e2e", "annotate", "deployment", "web", "note=hi"]) == "deployment.apps/web annotated\n")
        #expect(
            try ok([
                "-n", "e2e", "patch", "deployment", "web", "--type=json", "-p", #"[{"op":"replace","path":"/spec/replicas","value":1}]"#
            ])
                == "deployment.apps/web patched\n")
        #expect(
            try ok([
                "-n", "e2e", "get", "deployment", "web", "-o",
                "jsonpath={.metadata.generation} {.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.note}"
            ])
                == "4 1 front hi")
        // Server-side tables: kubectl prints the columns the server's Table gives (wide adds priority-1 ones).
        let table = try ok(["-n", "e2e", "get", "deployment", "web"]).split(separator: "\n").map {
            $0.split(separator: " ").map(String.init)
        }
        #expect(table.first == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "\(table)")
        #expect(table.count == 2 && Array(table[1].prefix(4)) == ["web", "0/1", "0", "0"], "\(table)")
        let wide = try ok(["-n", "e2e", "get", "deployment", "web", "-o", "wide"]).split(separator: "\n").map {
            $0.split(separator: " ").map(String.init)
        }
        #expect(wide.first == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"], "\(wide)")
        #expect(wide.count == 2 && Array(wide[1].suffix(3)) == ["nginx", "nginx:1.28", "app=web"], "\(wide)")
        #expect(
            try ok(["-n", "e2e", "get", "configmaps", "-o", "custom-columns=N:.metadata.name,A:.data.a", "--no-headers"]) == "one   b\n")
        // kubectl's typed commands send protobuf bodies.
        #expect(try ok(["create", "namespace", "typed"]) == "namespace/typed created\n")
        #expect(try ok(["-n", "typed", "create", "configmap", "c", "--from-literal=a=b"]) == "configmap/c created\n")
        #expect(try ok(["-n", "typed", "create", "secret", "generic", "s", "--from-literal=k=v"]) == "secret/s created\n")
        #expect(try ok(["-n", "typed", "create", "deployment", "d", "--image=nginx:1.27", "--replicas=2"]) == "deployment.apps/d created\n")
        #expect(try ok(["-n", "typed", "run", "p", "--image=busybox"]) == "pod/p created\n")
        #expect(try ok(["-n", "typed", "get", "configmap", "c", "-o", "jsonpath={.data.a}"]) == "b")
        #expect(try ok(["-n", "typed", "get", "secret", "s", "-o", "jsonpath={.data.k} {.type}"]) == "dg== Opaque")
        #expect(
            try ok([
                "-n", "typed", "get", "deployment", "d", "-o",
                "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image}"
            ])
                == "2 d nginx:1.27")
        #expect(
            try ok(["-n", "typed", "get", "pod", "p", "-o", "jsonpath={.metadata.labels.run} {.spec.containers[0].image}"]) == "p busybox")
        // Services get cluster IPs and node ports from the ranges; the kubernetes service has the first address.
        #expect(
            try ok(["-n", "default", "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].targetPort}"])
                == "10.0.0.1 \(api.port)")
        #expect(try ok(["-n", "typed", "create", "service", "nodeport", "np", "--tcp=80:8080"]) == "service/np created\n")
        let nodePort = try ok(["-n", "typed", "get", "service", "np", "-o", "jsonpath={.spec.ports[0].nodePort} {.spec.clusterIP}"])
        let allocated = nodePort.split(separator: " ")
        #expect(
            allocated.count == 2 && (30000...32767).contains(Int(allocated[0]) ?? 0) && allocated[1].hasPrefix("10.0.0."), "\(nodePort)")
        let taken = try fails(["-n", "typed", "create", "service", "clusterip", "dup", "--tcp=80", "--clusterip=10.0.0.1"])
        #expect(
            taken.contains(
                #"Service "dup" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: provided IP is already allocated"#
            ),
            "\(taken)")
        #expect(try ok(["delete", "namespace", "typed", "--wait=false"]) == "namespace \"typed\" deleted\n")

        // Optimistic concurrency: an update from a stale resourceVersion is a Conflict.
        let stale = try ok(["-n", "e2e", "get", "configmap", "one", "-o", "json"])
        _ = try ok(["-n", "e2e", "label", "configmap", "one", "v=2"])
        let conflict = try fails(["replace", "-f", "-"], stdin: stale)
        #expect(
            conflict.contains(
                #"Operation cannot be fulfilled on configmaps "one": the object has been modified; please apply your changes to the latest version and try again"#
            ),
            "\(conflict)")

        // Watch: kubectl get -w sees a change made while it watches.
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: kubectlBinary()!)
        watcher.arguments = [
            "--kubeconfig", api.kubeconfig, "--cache-dir", "\(api.directory)/cache", "-n", "e2e", "get", "configmaps", "-w", "-o", "name",
            "--request-timeout", "0"
        ]
        watcher.environment = ["PATH": "/usr/bin:/bin", "HOME": api.directory]
        let watchOut = "\(api.directory)/watch.out"
        _ = FileManager.default.createFile(atPath: watchOut, contents: nil)
        watcher.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: watchOut))
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
        defer {
            if watcher.isRunning { watcher.terminate() }
            watcher.waitUntilExit()
        }
        // The initial list first, then the new object's event.
        var seen = ""
        var deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !seen.contains("configmap/one") {
            usleep(100_000)
            seen = (try? String(contentsOfFile: watchOut, encoding: .utf8)) ?? ""
        }
        _ = try ok(["-n", "e2e", "create", "-f", "-"], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\n")
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !seen.contains("configmap/watched") {
            usleep(100_000)
            seen = (try? String(contentsOfFile: watchOut, encoding: .utf8)) ?? ""
        }
        #expect(seen.contains("configmap/one\n") && seen.contains("configmap/watched\n"), "\(seen)")

        // Pagination through kubectl's own chunked lists (--chunk-size).
        for i in 0..<5 {
            _ = try ok(["-n", "e2e", "create", "-f", "-"], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: page-\(i)}\n")
        }
        let paged = try ok(["-n", "e2e", "get", "configmaps", "-o", "name", "--chunk-size", "2"])
        #expect(
            paged
                == "configmap/one\nconfigmap/page-0\nconfigmap/page-1\nconfigmap/page-2\nconfigmap/page-3\nconfigmap/page-4\nconfigmap/watched\n",
            "\(paged)")
        let raw = try ok(["get", "--raw", "/api/v1/namespaces/e2e/configmaps?limit=2"])
        #expect(raw.contains(#""remainingItemCount":5"#) && raw.contains(#""continue":""#), "\(raw)")
        // Selectors.
        #expect(try ok(["-n", "e2e", "get", "configmaps", "-l", "v=2", "-o", "name"]) == "configmap/one\n")
        #expect(
            try ok(["-n", "e2e", "get", "configmaps", "--field-selector", "metadata.name=page-3", "-o", "name"]) == "configmap/page-3\n")
        let badSelector = try fails(["-n", "e2e", "get", "configmaps", "--field-selector", "spec.nodeName=x"])
        #expect(badSelector.contains("field label not supported: spec.nodeName"), "\(badSelector)")

        // Binding (the scheduler's write) and eviction (kubectl drain's), with a disruption budget that holds it back.
        #expect(
            try ok(["create", "-f", "-"], stdin: #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"e2e-node"}}"#)
                == "node/e2e-node created\n")
        _ = try ok(["-n", "e2e", "run", "bound", "--image=busybox"])
        let binding = "\(api.directory)/binding.json"
        try Data(#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"bound"},"target":{"kind":"Node","name":"e2e-node"}}"#.utf8)
            .write(to: URL(fileURLWithPath: binding))
        #expect(
            try ok(["create", "--raw", "/api/v1/namespaces/e2e/pods/bound/binding", "-f", binding])
                == #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}"# + "\n")
        let rebind = try fails(["create", "--raw", "/api/v1/namespaces/e2e/pods/bound/binding", "-f", binding])
        #expect(
            rebind.contains(#"Operation cannot be fulfilled on pods/binding "bound": pod bound is already assigned to node "e2e-node""#),
            "\(rebind)")
        #expect(
            try ok(["-n", "e2e", "get", "pod", "bound", "-o", "jsonpath={.spec.nodeName} {.status.conditions[0].type}"])
                == "e2e-node PodScheduled")
        _ = try ok(["-n", "e2e", "patch", "pod", "bound", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Running"}}"#])
        _ = try ok(["-n", "e2e", "create", "pdb", "hold", "--selector=run=bound", "--min-available=1"])
        let held = try fails(["drain", "e2e-node", "--force", "--grace-period=0", "--timeout=3s"])
        #expect(held.contains(#"error when evicting pods/"bound" -n "e2e""#), "\(held)")
        _ = try ok(["-n", "e2e", "delete", "pdb", "hold"])
        let drained = try ok(["drain", "e2e-node", "--force", "--grace-period=0", "--timeout=20s"])
        #expect(drained.contains("pod/bound evicted") && drained.contains("node/e2e-node drained"), "\(drained)")
        #expect(try fails(["-n", "e2e", "get", "pod", "bound"]) == "Error from server (NotFound): pods \"bound\" not found\n")

        // delete, then the object is gone.
        #expect(try ok(["-n", "e2e", "delete", "configmap", "one"]) == "configmap \"one\" deleted\n")
        #expect(try fails(["-n", "e2e", "get", "configmap", "one"]) == "Error from server (NotFound): configmaps \"one\" not found\n")
        #expect(try ok(["-n", "e2e", "delete", "deployment", "web", "--cascade=background"]) == "deployment.apps \"web\" deleted\n")
        #expect(try ok(["-n", "e2e", "delete", "configmaps", "-l", "v!=2"]).contains("configmap \"page-0\" deleted"))
    }
}
