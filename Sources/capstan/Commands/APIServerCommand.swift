import APIServer
import ArgumentParser
import EtcdClient
import Foundation
import Logging
import ServiceLifecycle

/// `capstan apiserver`: the Kubernetes API on an etcd v3 store, with kube-apiserver's flag names.
struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Run the Kubernetes API server (kube-apiserver's flags) on a Capstan or etcd store.",
        discussion: """
            Serves Kubernetes 1.32's API over HTTPS to kubectl and the client libraries, keeping \
            objects in the store named by --etcd-servers under --etcd-prefix, laid out as \
            Kubernetes lays them out. With no --tls-cert-file, a CA, a serving certificate and an \
            admin kubeconfig (admin.kubeconfig) are made in --cert-dir on first start. docs/apiserver.md \
            says what is built.
            """
    )

    @Option(name: .customLong("etcd-servers"), help: "Store endpoints, comma-separated (http:// or https://).")
    var etcdServers: String
    @Option(name: .customLong("etcd-prefix"), help: "The prefix of every key in the store.") var etcdPrefix = "/registry"
    @Option(name: .customLong("etcd-cafile"), help: "CA file to check the store's certificates with.") var etcdCAFile: String?
    @Option(name: .customLong("etcd-certfile"), help: "Client certificate for the store.") var etcdCertFile: String?
    @Option(name: .customLong("etcd-keyfile"), help: "Client key for the store.") var etcdKeyFile: String?
    @Option(name: .customLong("bind-address"), help: "Address to serve on (127.0.0.1: this machine only).") var bindAddress = "127.0.0.1"
    @Option(name: .customLong("secure-port"), help: "Port to serve HTTPS on.") var securePort = 6443
    @Option(name: .customLong("advertise-address"), help: "Address to advertise to clients (default: --bind-address).")
    var advertiseAddress: String?
    @Option(
        name: .customLong("cert-dir"),
        help: "Directory for the generated CA, serving certificate and admin.kubeconfig (ignored with --tls-cert-file).")
    var certDir = "/var/run/kubernetes"
    @Option(name: .customLong("tls-cert-file"), help: "Serving certificate (PEM, with its chain).") var tlsCertFile: String?
    @Option(name: .customLong("tls-private-key-file"), help: "Serving key (PEM).") var tlsPrivateKeyFile: String?
    @Option(name: .customLong("client-ca-file"), help: "CA whose client certificates are accepted.") var clientCAFile: String?
    @Option(name: .customLong("service-cluster-ip-range"), help: "CIDR of service cluster IPs.") var serviceClusterIPRange = "10.0.0.0/24"
    @Option(name: .customLong("service-node-port-range"), help: "Port range of NodePort services.") var serviceNodePortRange = "30000-32767"
    @Option(name: .customLong("max-requests-inflight"), help: "Concurrent non-mutating requests before 429.") var maxRequestsInflight = 400
    @Option(name: .customLong("max-mutating-requests-inflight"), help: "Concurrent mutating requests before 429.")
    var maxMutatingRequestsInflight = 200
    @Option(name: .customLong("request-timeout"), help: "Longest time a non-watch request may take (e.g. 1m0s, 60s).")
    var requestTimeout = "1m0s"
    @Option(name: .customLong("min-request-timeout"), help: "Seconds a watch lasts at least (randomized up to twice that).")
    var minRequestTimeout = 1800
    @Option(name: .customLong("watch-cache"), help: "Serve watches and lists from a cache (true or false).") var watchCache = "true"
    @Option(name: .customLong("storage-media-type"), help: "How objects are stored: application/json.")
    var storageMediaType = "application/json"
    @Option(name: .customLong("authorization-mode"), help: "AlwaysAllow (Node,RBAC come with the security work).")
    var authorizationMode = "AlwaysAllow"
    @Option(
        name: [.customShort("v"), .customLong("v")], help: "Log verbosity (kube's -v: 0 errors and notices, 2 info, 4 debug, 6+ trace).")
    var verbosity = 0

    func validate() throws {
        guard storageMediaType == "application/json" else {
            throw ValidationError("--storage-media-type \(storageMediaType) is not supported: application/json is")
        }
        guard authorizationMode == "AlwaysAllow" else {
            throw ValidationError("--authorization-mode \(authorizationMode) is not built yet: AlwaysAllow is")
        }
        guard (tlsCertFile == nil) == (tlsPrivateKeyFile == nil) else {
            throw ValidationError("--tls-cert-file and --tls-private-key-file go together")
        }
        guard ["true", "false"].contains(watchCache) else { throw ValidationError("--watch-cache takes true or false") }
        _ = try Store.duration(requestTimeout)
    }

    func run() async throws {
        let level: Logger.Level = verbosity >= 6 ? .trace : verbosity >= 4 ? .debug : verbosity >= 2 ? .info : .notice
        Logs.bootstrap(level: level)
        let logger = Logger(label: "capstan.apiserver")
        var options = APIServerOptions()
        options.etcdServers = etcdServers.split(separator: ",").map { String($0) }
        options.etcdPrefix = etcdPrefix
        if etcdCAFile != nil || etcdCertFile != nil || etcdKeyFile != nil {
            options.etcdTLS = EtcdClient.TLSFiles(caFile: etcdCAFile, certFile: etcdCertFile, keyFile: etcdKeyFile)
        }
        options.bindAddress = bindAddress
        options.securePort = securePort
        options.advertiseAddress = advertiseAddress
        options.certDir = certDir
        options.clientCAFile = clientCAFile
        options.serviceClusterIPRange = serviceClusterIPRange
        options.serviceNodePortRange = serviceNodePortRange
        options.maxRequestsInflight = maxRequestsInflight
        options.maxMutatingRequestsInflight = maxMutatingRequestsInflight
        options.requestTimeout = try Store.duration(requestTimeout)
        options.minRequestTimeout = minRequestTimeout
        options.watchCache = watchCache == "true"
        options.verbosity = verbosity
        do {
            if let tlsCertFile, let tlsPrivateKeyFile {
                options.tlsCertFile = tlsCertFile
                options.tlsPrivateKeyFile = tlsPrivateKeyFile
            } else {
                let dir = CertDir(directory: certDir)
                let host = advertiseAddress ?? bindAddress
                let serverHost = host == "0.0.0.0" ? "127.0.0.1" : host
                var ips = ["127.0.0.1", try CertDir.firstServiceIP(ofRange: serviceClusterIPRange)]
                if serverHost != "127.0.0.1" { ips.append(serverHost) }
                let names = [
                    "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
                    ProcessInfo.processInfo.hostName
                ]
                for line in try dir.ensure(
                    dnsNames: names, ipAddresses: ips,
                    serverURL: "https://\(serverHost.contains(":") ? "[\(serverHost)]" : serverHost):\(securePort)")
                {
                    logger.notice("\(line)")
                }
                options.tlsCertFile = dir.servingCertificatePath
                options.tlsPrivateKeyFile = dir.servingKeyPath
                if options.clientCAFile == nil { options.clientCAFile = dir.caCertificatePath }
            }
            let store = try EtcdClient(endpoints: options.etcdServers, tls: options.etcdTLS)
            // The service ranges, checked before serving (an unusable range is a start-up error).
            _ = try APIServer.serviceAllocator(options, store: store)
            let server = APIServer(options: options, store: store, logger: logger)
            let app = try server.application()
            // The system namespaces and the kubernetes service, once the store answers (readyz says whether it does meanwhile).
            let namespaces = Task {
                while !Task.isCancelled {
                    do {
                        try await server.ensureSystemNamespaces()
                        try await server.ensureKubernetesService()
                        return
                    } catch {
                        logger.warning("creating the system namespaces and the kubernetes service: \(error); trying again in 1 s")
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
            defer { namespaces.cancel() }
            logger.notice("serving the Kubernetes API on https://\(bindAddress):\(securePort), store \(etcdServers)\(etcdPrefix)")
            try await ServiceGroup(configuration: .serve([app], logger: logger)).run()
            store.close()
        } catch let error as APIServerError {
            logger.error("\(error.description)")
            throw ExitCode(1)
        } catch let error as CertDirError {
            logger.error("\(error.description)")
            throw ExitCode(1)
        }
    }
}
