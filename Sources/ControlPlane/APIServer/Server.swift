import APIMachinery
import Base
package import EtcdClient
import Foundation
package import Hummingbird
import HummingbirdHTTP2
package import Logging
import NIOCore
import NIOSSL

// The apiserver's HTTP side: one responder for every path (kube-apiserver's paths are data, not
// routes: CRDs add resources at run time), over Hummingbird's HTTP/1.1 and HTTP/2 with TLS.

/// The settings `capstan apiserver` takes (kube-apiserver's flags).
package struct APIServerOptions: Sendable {
    package var etcdServers: [String] = []
    package var etcdPrefix = "/registry"
    package var etcdTLS: EtcdClient.TLSFiles?
    package var bindAddress = "127.0.0.1"
    package var securePort = 6443
    package var advertiseAddress: String?
    package var certDir = "/var/run/kubernetes"
    package var tlsCertFile: String?
    package var tlsPrivateKeyFile: String?
    package var clientCAFile: String?
    package var serviceClusterIPRange = "10.0.0.0/24"
    package var serviceNodePortRange = "30000-32767"
    package var maxRequestsInflight = 400
    package var maxMutatingRequestsInflight = 200
    package var requestTimeout: Duration = .seconds(60)
    package var minRequestTimeout = 1800
    package var watchCache = true
    package var storageMediaType = "application/json"
    package var authorizationMode = "AlwaysAllow"
    package var verbosity = 0
    package init() {}
}

/// The version `/version` reports: Kubernetes 1.32 (kubectl's dispatcher picks its binary by the minor).
package enum ServedVersion {
    package static let major = "1"
    package static let minor = "32"
    package static let gitVersion = "v1.32.5+capstan"

    static var document: JSON {
        .object(
            JSONObject([
                ("major", .string(major)), ("minor", .string(minor)), ("gitVersion", .string(gitVersion)),
                ("gitCommit", "0000000000000000000000000000000000000000"), ("gitTreeState", "clean"),
                ("buildDate", "2026-12-01T00:00:00Z"), ("goVersion", "go1.23.8"), ("compiler", "gc"),
                ("platform", .string(platform))
            ]))
    }

    static var platform: String {
        #if arch(arm64)
        "linux/arm64"
        #else
        "linux/amd64"
        #endif
    }
}

/// The apiserver: its store client, registry and handlers, and the HTTP responder.
package final class APIServer: Sendable {
    package let options: APIServerOptions
    package let registry: Registry
    package let handlers: Handlers
    package let logger: Logger
    let resources: [ResourceInfo]
    let discovery: DiscoveryCache
    let openAPI = OpenAPIDocuments()
    let inflight = Locked((reading: 0, mutating: 0))
    /// The watches open now (`apiserver_longrunning_requests`).
    let openWatches = Locked(0)
    package let metrics = APIMetrics()
    /// The largest request body taken (kube-apiserver's 3 MiB); larger is a 413.
    package static let maxBodyBytes = 3 * 1024 * 1024

    package init(options: APIServerOptions, store: EtcdClient, logger: Logger) {
        self.options = options
        self.logger = logger
        registry = Registry(store: store, prefix: options.etcdPrefix)
        handlers = Handlers(registry: registry, services: try? Self.serviceAllocator(options, store: store))
        resources = BuiltinResources.all
        discovery = DiscoveryCache(
            resources: resources, serverAddress: "\(options.advertiseAddress ?? options.bindAddress):\(options.securePort)")
    }

    /// The allocator of the service ranges the options name (throws for a range it cannot serve).
    package static func serviceAllocator(_ options: APIServerOptions, store: EtcdClient) throws -> ServiceAllocator {
        ServiceAllocator(
            ips: try RangeAllocator.serviceIPs(store: store, prefix: options.etcdPrefix, range: options.serviceClusterIPRange),
            ports: try RangeAllocator.nodePorts(store: store, prefix: options.etcdPrefix, range: options.serviceNodePortRange))
    }

    /// The `default/kubernetes` service (the range's first address, port 443 to the secure port) and
    /// its endpoints (this apiserver's advertised address), as kube-apiserver's bootstrap controller
    /// keeps them; made when missing.
    package func ensureKubernetesService() async throws {
        guard let services = BuiltinResources.resource(group: "", version: "v1", name: "services"),
            let endpoints = BuiltinResources.resource(group: "", version: "v1", name: "endpoints")
        else { return }
        let ip = try CertDir.firstServiceIP(ofRange: options.serviceClusterIPRange)
        let port = options.securePort
        let address = options.advertiseAddress ?? options.bindAddress
        let service = #"""
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"kubernetes","namespace":"default","labels":{"component":"apiserver","provider":"kubernetes"}},"spec":{"clusterIP":"\#(ip)","ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":\#(port)}],"sessionAffinity":"None","type":"ClusterIP"}}
            """#
        let endpoint = #"""
            {"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"kubernetes","namespace":"default","labels":{"endpointslice.kubernetes.io/skip-mirror":"true"}},"subsets":[{"addresses":[{"ip":"\#(address)"}],"ports":[{"name":"https","port":\#(port),"protocol":"TCP"}]}]}
            """#
        for (resource, body) in [(services, service), (endpoints, endpoint)] {
            if try await registry.read(resource, "default", "kubernetes") != nil { continue }
            let made: Result<Answer, APIStatus> = await Self.capture { () throws(APIStatus) in
                try await self.handlers.create(resource, namespace: "default", body: Array(body.utf8), dryRun: false)
            }
            if case .failure(let status) = made, status.reason != .alreadyExists { throw status }
        }
    }

    /// Creates the namespaces every cluster has (default, kube-system, kube-public, kube-node-lease)
    /// when they are missing, as kube-apiserver's system namespaces controller does.
    package func ensureSystemNamespaces() async throws {
        let namespaces = BuiltinResources.resource(group: "", version: "v1", name: "namespaces")!
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if try await registry.read(namespaces, nil, name) != nil { continue }
            let body = Array(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(name)"}}"#.utf8)
            // AlreadyExists: another apiserver made it meanwhile.
            let made: Result<Answer, APIStatus> = await Self.capture { () throws(APIStatus) in
                try await self.handlers.create(namespaces, namespace: nil, body: body, dryRun: false)
            }
            if case .failure(let status) = made, status.reason != .alreadyExists { throw status }
        }
    }

    /// A typed-throwing call's result (a `catch ... where` on typed throws in a loop crashes
    /// Swift 6.3.1's SILGen cleanup: "Found ownership error").
    static func capture<T>(_ body: () async throws(APIStatus) -> T) async -> Result<T, APIStatus> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }

    // MARK: - Responding

    /// Answers one request, and counts it in the metrics.
    package func respond(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path.removingPercentEncoding ?? request.uri.path
        var labels = APIMetrics.Labels(method: request.method.rawValue, path: path)
        let response = await answer(request, path: path, labels: &labels)
        metrics.record(labels, code: Int(response.status.code), duration: ContinuousClock.now - started)
        return response
    }

    /// Answers one request; `labels` become the resource request's once the path names one.
    func answer(_ request: Request, path: String, labels: inout APIMetrics.Labels) async -> Response {
        var request = request
        let query = Query(request.uri.query ?? "")
        let method = request.method.rawValue
        let format = ResponseFormat(request: request, query: query)
        do {
            if let answer = try await nonResource(path: path, query: query, request: request, format: format) { return answer }
            guard let info = RequestInfo(method: method, path: path, watch: query.flag("watch")) else {
                throw APIStatus(code: 404, reason: .notFound, message: "the server could not find the requested resource")
            }
            let apply = request.headers[.contentType]?.hasPrefix("application/apply-patch") ?? false
            labels = APIMetrics.Labels(info, served: false, apply: apply, dryRun: query.has("dryRun"))
            let resource = try resolve(info)
            labels = APIMetrics.Labels(info, served: true, apply: apply, dryRun: query.has("dryRun"))
            let shown = try Shown(accept: request.headers[.accept] ?? "", query: query)
            if info.verb == .watch {
                // Long-running: outside the in-flight limits and the request timeout.
                var watch = try watchRequest(info, resource, query: query)
                watch.shown = shown
                return watchResponse(watch)
            }
            let mutating = [.create, .update, .patch, .delete, .deletecollection].contains(info.verb)
            try admit(mutating: mutating)
            defer { release(mutating: mutating) }
            var body: [UInt8] = []
            if method != "GET" && method != "HEAD" {
                do {
                    let buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
                    body = Array(buffer.readableBytesView)
                } catch {
                    throw APIStatus.requestEntityTooLarge(limit: Self.maxBodyBytes)
                }
            }
            let input = body
            let contentType = request.headers[.contentType]
            var answer = try await withTimeout(options.requestTimeout) {
                try await self.resourceRequest(info, query: query, body: input, contentType: contentType)
            }
            if (info.verb == .get || info.verb == .list) && info.subresource == nil && answer.code == 200 {
                answer.body = try shown.transform(answer.body, list: info.verb == .list, resource: resource, now: Date())
            }
            var response = format.response(answer.code, answer.body)
            for warning in answer.warnings { response.headers.append(.init(name: Self.warningName, value: Self.warningHeader(warning))) }
            return response
        } catch let status as APIStatus {
            return format.status(status)
        } catch {
            logger.error("request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return format.status(APIStatus(code: 500, reason: .internalError, message: "\(error)"))
        }
    }

    /// kube's max-in-flight filter: beyond the limits, 429 with Retry-After (watches are not counted).
    func admit(mutating: Bool) throws(APIStatus) {
        let admitted = inflight.withLock { n -> Bool in
            if mutating {
                guard n.mutating < options.maxMutatingRequestsInflight else { return false }
                n.mutating += 1
            } else {
                guard n.reading < options.maxRequestsInflight else { return false }
                n.reading += 1
            }
            return true
        }
        if !admitted { throw APIStatus.tooManyRequests(retryAfterSeconds: 1) }
        let now = inflight.withLock { $0 }
        metrics.inflight(reading: now.reading, mutating: now.mutating)
    }

    func release(mutating: Bool) {
        let now = inflight.withLock { n in
            if mutating { n.mutating -= 1 } else { n.reading -= 1 }
            return n
        }
        metrics.inflight(reading: now.reading, mutating: now.mutating)
    }

    func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw APIStatus(
                    code: 504, reason: .timeout, message: "Timeout: request did not complete within the allotted timeout",
                    details: .init(retryAfterSeconds: 0))
            }
            return value
        }
    }

    // MARK: - Paths that are not resources

    func nonResource(path: String, query: Query, request: Request, format: ResponseFormat) async throws -> Response? {
        let accept = request.headers[.accept] ?? ""
        let aggregated = accept.contains("as=APIGroupDiscoveryList")
        switch path {
        case "/metrics":
            return Self.raw(200, metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/version", "/version/":
            return format.response(200, ServedVersion.document, forcePretty: true)
        case "/api", "/api/":
            if aggregated { return Self.raw(200, discovery.aggregatedCore, contentType: Discovery.aggregatedContentType) }
            return Self.raw(200, discovery.apiVersions, contentType: "application/json")
        case "/apis", "/apis/":
            if aggregated { return Self.raw(200, discovery.aggregatedGroups, contentType: Discovery.aggregatedContentType) }
            return Self.raw(200, discovery.groupList, contentType: "application/json")
        case "/openapi/v2":
            // client-go asks for protobuf first; this server has the JSON document only.
            if !accept.isEmpty && !accept.contains("json") && !accept.contains("*/*") {
                throw APIStatus(code: 406, reason: .notAcceptable, message: "only the following media types are accepted: application/json")
            }
            guard let v2 = openAPI.v2 else { return nil }
            return Self.raw(200, v2, contentType: "application/json")
        case "/openapi/v3", "/openapi/v3/":
            guard let index = openAPI.v3Index else { return nil }
            return Self.raw(200, index, contentType: "application/json")
        case "/healthz", "/livez", "/readyz", "/healthz/", "/livez/", "/readyz/":
            return await health(path: path.trimmingCharacters(in: ["/"]), query: query, only: nil)
        default:
            break
        }
        if path.hasPrefix("/openapi/v3/") {
            let name = String(path.dropFirst("/openapi/v3/".count)).trimmingCharacters(in: ["/"])
            guard let doc = openAPI.v3[name] else { return nil }
            var response = Self.raw(200, doc, contentType: "application/json")
            if query.has("hash") { response.headers[.cacheControl] = "public, immutable" }
            return response
        }
        let parts = path.split(separator: "/").map(String.init)
        if parts.count == 2, ["healthz", "livez", "readyz"].contains(parts[0]) {
            return await health(path: parts[0], query: query, only: parts[1])
        }
        if parts.count == 2, parts[0] == "api", let list = discovery.resourceList(group: "", version: parts[1]) {
            return Self.raw(200, list, contentType: "application/json")
        }
        if parts.count == 3, parts[0] == "apis", let list = discovery.resourceList(group: parts[1], version: parts[2]) {
            return Self.raw(200, list, contentType: "application/json")
        }
        if parts.count == 2, parts[0] == "apis", let group = discovery.group(parts[1]) {
            return Self.raw(200, group, contentType: "application/json")
        }
        return nil
    }

    /// The checks /healthz, /livez and /readyz run: ping, and (for readyz and healthz) the store.
    func health(path: String, query: Query, only: String?) async -> Response {
        var checks: [(String, Bool)] = [("ping", true), ("log", true)]
        if path != "livez" {
            var storeOK = true
            do {
                _ = try await registry.store.range(from: Array("\(registry.prefix)/health".utf8), countOnly: true)
            } catch {
                storeOK = false
            }
            checks.append(("etcd", storeOK))
        }
        if let only {
            guard let check = checks.first(where: { $0.0 == only }) else {
                return Self.raw(404, Array("404 page not found\n".utf8), contentType: "text/plain; charset=utf-8")
            }
            return Self.raw(
                check.1 ? 200 : 500, Array((check.1 ? "ok" : "internal server error: \(only) failed").utf8),
                contentType: "text/plain; charset=utf-8")
        }
        let excluded = Set(query.values("exclude"))
        let counted = checks.filter { !excluded.contains($0.0) }
        let ok = counted.allSatisfy(\.1)
        if query.has("verbose") || !ok {
            var text = ""
            for (name, passed) in counted { text += passed ? "[+]\(name) ok\n" : "[-]\(name) failed: reason withheld\n" }
            for name in excluded.sorted() where checks.contains(where: { $0.0 == name }) { text += "[+]\(name) excluded: ok\n" }
            text += ok ? "\(path) check passed\n" : "\(path) check failed\n"
            return Self.raw(ok ? 200 : 500, Array(text.utf8), contentType: "text/plain; charset=utf-8")
        }
        return Self.raw(200, Array("ok".utf8), contentType: "text/plain; charset=utf-8")
    }

    static func raw(_ code: Int, _ bytes: [UInt8], contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-cache, private"
        return Response(status: .init(code: code), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func raw(_ code: Int, _ data: Data, contentType: String) -> Response {
        raw(code, [UInt8](data), contentType: contentType)
    }

    // MARK: - Resources

    /// The resource a request names, with its verb allowed; 404 or 405 otherwise.
    func resolve(_ info: RequestInfo) throws(APIStatus) -> ResourceInfo {
        guard let resource = resources.first(where: { $0.group == info.group && $0.version == info.version && $0.name == info.resource })
        else {
            throw APIStatus(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        if let sub = info.subresource, resource.subresource(sub) == nil {
            throw APIStatus(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        let verbs = info.subresource.flatMap { resource.subresource($0)?.verbs } ?? resource.verbs
        if !verbs.contains(info.verb.rawValue) {
            throw APIStatus(
                code: 405, reason: .methodNotAllowed, message: "the server does not allow this method on the requested resource")
        }
        if resource.namespaced && info.namespace == nil && info.name != nil {
            throw APIStatus(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        if resource.namespaced && info.namespace == nil && info.verb != .list && info.verb != .watch {
            throw APIStatus(
                code: 405, reason: .methodNotAllowed, message: "the server does not allow this method on the requested resource")
        }
        return resource
    }

    func resourceRequest(_ info: RequestInfo, query: Query, body: [UInt8], contentType: String?) async throws -> Answer {
        let resource = try resolve(info)
        let namespace = resource.namespaced ? info.namespace : nil
        let dryRun = try Self.dryRun(query)
        var body = body
        if [.create, .update, .delete, .deletecollection].contains(info.verb) && !body.isEmpty {
            body = try Self.jsonBody(body, contentType: contentType, info: info, resource: resource)
        }
        switch info.verb {
        case .get:
            if let sub = info.subresource {
                return try await handlers.getSubresource(resource, namespace: namespace, name: info.name!, subresource: sub)
            }
            return try await handlers.get(resource, namespace: namespace, name: info.name!, subresource: nil)
        case .list:
            return try await handlers.list(resource, namespace: namespace, options: try listOptions(query))
        case .create:
            if resource.group.isEmpty && resource.name == "pods", let name = info.name {
                if info.subresource == "binding" {
                    return try await handlers.bind(resource, namespace: namespace, name: name, body: body, dryRun: dryRun)
                }
                if info.subresource == "eviction" {
                    return try await handlers.evict(resource, namespace: namespace, name: name, body: body, dryRun: dryRun)
                }
            }
            guard info.subresource == nil else {
                throw APIStatus(
                    code: 405, reason: .methodNotAllowed, message: "the server does not allow this method on the requested resource")
            }
            return try await handlers.create(
                resource, namespace: namespace, body: body, dryRun: dryRun,
                fieldValidation: try FieldValidation(query: query.value("fieldValidation"), optionsKind: "CreateOptions"))
        case .update:
            if info.subresource == "scale" {
                return try await handlers.updateScale(resource, namespace: namespace, name: info.name!, body: body, dryRun: dryRun)
            }
            return try await handlers.update(
                resource, namespace: namespace, name: info.name!, subresource: info.subresource, body: body, dryRun: dryRun,
                fieldValidation: try FieldValidation(query: query.value("fieldValidation"), optionsKind: "UpdateOptions"))
        case .delete:
            var options = try deleteOptions(query)
            try options.read(body)
            options.dryRun = options.dryRun || dryRun
            return try await handlers.delete(resource, namespace: namespace, name: info.name!, options: options)
        case .deletecollection:
            var options = try deleteOptions(query)
            try options.read(body)
            options.dryRun = options.dryRun || dryRun
            return try await handlers.deleteCollection(
                resource, namespace: namespace, listOptions: try listOptions(query), options: options)
        case .patch:
            let type = try Handlers.PatchType(contentType: contentType)
            return try await handlers.patch(
                resource, namespace: namespace, name: info.name!, subresource: info.subresource, type: type, body: body, dryRun: dryRun,
                fieldValidation: try FieldValidation(query: query.value("fieldValidation"), optionsKind: "PatchOptions"))
        case .watch:
            throw APIStatus(
                code: 405, reason: .methodNotAllowed, message: "the server does not allow this method on the requested resource")
        }
    }

    static let warningName = HTTPFields.Element.Name("Warning")!

    /// A `Warning` header value as kube-apiserver writes one: code 299, agent `-`, the text quoted
    /// (RFC 7234; `"` and `\` escaped).
    static func warningHeader(_ text: String) -> String {
        var quoted = ""
        for c in text {
            if c == "\"" || c == "\\" { quoted.append("\\") }
            quoted.append(c.isASCII && (c.asciiValue! < 0x20 || c.asciiValue! == 0x7F) ? " " : c)
        }
        return "299 - \"\(quoted)\""
    }

    /// The media types a request body may have (create, update, delete options).
    static let bodyMediaTypes = ["application/json", KubeProtobuf.mediaType]

    /// A create, update or delete body as JSON: JSON as sent, a Kubernetes protobuf body (kubectl's
    /// typed commands send them) decoded to the JSON its Go type marshals to. Any other media type is a
    /// 415; a protobuf body that does not decode is kube's 400 for an undecodable object.
    static func jsonBody(_ body: [UInt8], contentType: String?, info: RequestInfo, resource: ResourceInfo) throws(APIStatus) -> [UInt8] {
        let type =
            (contentType ?? "application/json").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            ?? ""
        switch type {
        case "application/json", "*/*", "":
            return body
        case KubeProtobuf.mediaType:
            let expected = Self.bodyKind(info, resource)
            do {
                return try KubeProtobuf.decode(body, defaultAPIVersion: expected.apiVersion, defaultKind: expected.kind).serialized()
            } catch {
                throw .badRequest(error.badRequestMessage(expectedKind: expected.kind, body: body))
            }
        default:
            throw APIStatus(
                code: 415, reason: .unsupportedMediaType,
                message:
                    "the body of the request was in an unknown format - accepted media types include: \(bodyMediaTypes.joined(separator: ", "))"
            )
        }
    }

    /// The kind a request body holds: the resource's (or its subresource's), or DeleteOptions for deletes.
    static func bodyKind(_ info: RequestInfo, _ resource: ResourceInfo) -> (apiVersion: String, kind: String) {
        if info.verb == .delete || info.verb == .deletecollection { return ("meta.k8s.io/v1", "DeleteOptions") }
        if let name = info.subresource, let sub = resource.subresource(name) {
            return (sub.group.isEmpty ? sub.version : "\(sub.group)/\(sub.version)", sub.kind)
        }
        return (resource.groupVersion, resource.kind)
    }

    static func dryRun(_ query: Query) throws(APIStatus) -> Bool {
        let values = query.values("dryRun")
        for v in values where v != "All" {
            throw .badRequest("Invalid dry run value: \(v): Valid values are All")
        }
        return !values.isEmpty
    }

    func listOptions(_ query: Query, watch: Bool = false) throws(APIStatus) -> Registry.ListOptions {
        var options = Registry.ListOptions()
        if let s = query.value("labelSelector") { options.labels = try LabelSelector(parsing: s) }
        if let s = query.value("fieldSelector") { options.fields = try FieldSelector(parsing: s) }
        if let s = query.value("limit"), !s.isEmpty {
            guard let n = Int64(s) else { throw .badRequest("invalid limit: \(s)") }
            options.limit = max(n, 0)
        }
        if let token = query.value("continue"), !token.isEmpty { options.continueToken = token }
        let rv = query.value("resourceVersion") ?? ""
        let match = query.value("resourceVersionMatch") ?? ""
        if !rv.isEmpty && rv != "0" {
            guard let n = Int64(rv), n > 0 else {
                throw Self.invalidListOptions(
                    FieldError(.invalid, field: "resourceVersion", value: Handlers.quoted(rv), detail: "must be a non-negative integer"))
            }
            if match == "Exact" { options.revision = n }
        }
        if options.continueToken != nil && !rv.isEmpty && rv != "0" {
            throw .badRequest("specifying resource version is not allowed when using continue")
        }
        switch match {
        case "", "NotOlderThan", "Exact": break
        default: throw .badRequest("resourceVersionMatch \(match) is not supported: supported values are Exact, NotOlderThan")
        }
        // A watch's resourceVersionMatch goes with sendInitialEvents (checked by the watch).
        if !match.isEmpty && rv.isEmpty && !watch {
            throw Self.invalidListOptions(
                FieldError(
                    .forbidden, field: "resourceVersionMatch", value: nil,
                    detail: "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        }
        options.anyRevision = rv == "0"
        return options
    }

    /// A 422 for list or watch options, as kube words it (`ListOptions.meta.k8s.io "" is invalid: ...`).
    static func invalidListOptions(_ error: FieldError) -> APIStatus {
        .invalid(kind: "ListOptions", group: "meta.k8s.io", name: "", errors: [error])
    }

    func deleteOptions(_ query: Query) throws(APIStatus) -> Handlers.DeleteOptions {
        var options = Handlers.DeleteOptions()
        if let g = query.value("gracePeriodSeconds") {
            guard let n = Int64(g) else { throw .badRequest("invalid gracePeriodSeconds: \(g)") }
            options.gracePeriodSeconds = n
        }
        if let p = query.value("propagationPolicy") { options.propagationPolicy = p }
        if let o = query.value("orphanDependents") { options.orphanDependents = o == "true" }
        return options
    }

    // MARK: - Serving

    /// Serves until the service group is told to stop.
    package func application() throws -> some ApplicationProtocol {
        let tls = try serverTLS()
        let responder = CallbackResponder { (request: Request, _: BasicRequestContext) async throws -> Response in
            await self.respond(request)
        }
        return Application(
            responder: responder,
            server: try .http2Upgrade(tlsConfiguration: tls),
            configuration: .init(address: .hostname(options.bindAddress, port: options.securePort), serverName: nil),
            logger: logger)
    }

    func serverTLS() throws -> TLSConfiguration {
        guard let cert = options.tlsCertFile, let key = options.tlsPrivateKeyFile else {
            throw APIServerError("no serving certificate: give --tls-cert-file and --tls-private-key-file, or --cert-dir")
        }
        let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        if let ca = options.clientCAFile {
            tls.trustRoots = .file(ca)
            tls.certificateVerification = .optionalVerification
        }
        return tls
    }
}

/// A startup failure with its reason.
package struct APIServerError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// A query string as Go's url.ParseQuery reads it (`+` is a space, percent escapes decoded).
package struct Query: Sendable {
    var pairs: [(String, String)] = []

    package init(_ text: String) {
        for part in text.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((Self.decode(kv[0]), kv.count > 1 ? Self.decode(kv[1]) : ""))
        }
    }

    static func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    package func value(_ key: String) -> String? { pairs.first { $0.0 == key }?.1 }
    package func values(_ key: String) -> [String] { pairs.filter { $0.0 == key }.map(\.1) }
    package func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }
    /// A boolean parameter as kube's query decoder reads it: absent is false; present, anything but
    /// `0` or `false` (in any case) is true, so `watch=True`, `watch=yes` and a bare `watch` watch.
    package func flag(_ key: String) -> Bool { boolean(key) ?? false }

    /// A boolean parameter, nil when absent.
    package func boolean(_ key: String) -> Bool? {
        value(key).map { $0 != "0" && $0.lowercased() != "false" }
    }
}

/// How to write an answer: JSON, pretty-printed for `?pretty=true` and for curl and browsers (as kube does).
struct ResponseFormat {
    var pretty: Bool

    init(request: Request, query: Query) {
        let agent = request.headers[.userAgent] ?? ""
        pretty =
            query.value("pretty").map { $0 == "true" || $0 == "1" }
            ?? (agent.hasPrefix("curl") || agent.hasPrefix("Wget") || agent.hasPrefix("Mozilla/"))
    }

    func response(_ code: Int, _ body: JSON, forcePretty: Bool = false) -> Response {
        var bytes = pretty || forcePretty ? body.serialized(indent: "  ") : body.serialized()
        bytes.append(0x0A)
        return APIServer.raw(code, bytes, contentType: "application/json")
    }

    func status(_ status: APIStatus) -> Response {
        var response = APIServer.raw(status.code, status.json, contentType: "application/json")
        if let after = status.details?.retryAfterSeconds, status.code == 429 || after > 0 {
            response.headers[.retryAfter] = String(after)
        }
        return response
    }
}

/// The discovery documents, made once.
struct DiscoveryCache: Sendable {
    let apiVersions: Data
    let groupList: Data
    let aggregatedCore: Data
    let aggregatedGroups: Data
    let lists: [String: Data]
    let groups: [String: [UInt8]]

    init(resources: [ResourceInfo], serverAddress: String) {
        apiVersions = Discovery.apiVersions(serverAddress: serverAddress)
        groupList = Discovery.groupList(resources)
        aggregatedCore = Discovery.aggregated(core: true, resources)
        aggregatedGroups = Discovery.aggregated(core: false, resources)
        var lists: [String: Data] = [:]
        var groups: [String: [UInt8]] = [:]
        for r in resources where lists[r.groupVersion] == nil {
            lists[r.groupVersion] = Discovery.resourceList(group: r.group, version: r.version, resources)
        }
        for g in ResourceInfo.groups(in: resources) {
            let versions: [JSON] = g.versions.map {
                .object(JSONObject([("groupVersion", .string("\(g.name)/\($0)")), ("version", .string($0))]))
            }
            let doc: JSON = .object(
                JSONObject([
                    ("kind", "APIGroup"), ("apiVersion", "v1"), ("name", .string(g.name)), ("versions", .array(versions)),
                    ("preferredVersion", versions[0])
                ]))
            groups[g.name] = doc.serialized() + [0x0A]
        }
        self.lists = lists
        self.groups = groups
    }

    func resourceList(group: String, version: String) -> Data? { lists[group.isEmpty ? version : "\(group)/\(version)"] }
    func group(_ name: String) -> [UInt8]? { groups[name] }
}
