import APIMachinery
import APIServer
import Testing

/// How a request is read before any storage is touched: its path and verb (RequestInfo), its query
/// (Query, as Go's url.ParseQuery), its continue token, the representation its Accept header asks
/// for, and the metric labels it counts under. Expectations are kube-apiserver 1.32's.
@Suite struct RequestTests {
    @Test func pathsNameGroupNamespaceResourceAndVerb() throws {
        let pod = try #require(RequestInfo(method: "GET", path: "/api/v1/namespaces/ns/pods/web", watch: false))
        #expect(pod.group == "" && pod.version == "v1" && pod.namespace == "ns" && pod.resource == "pods" && pod.name == "web")
        #expect(pod.verb == .get && pod.subresource == nil && pod.objectNamespace == "ns")

        let scale = try #require(RequestInfo(method: "PATCH", path: "/apis/apps/v1/namespaces/ns/deployments/d/scale", watch: false))
        #expect(scale.group == "apps" && scale.resource == "deployments" && scale.subresource == "scale" && scale.verb == .patch)

        let all = try #require(RequestInfo(method: "GET", path: "/api/v1/pods", watch: false))
        #expect(all.namespace == nil && all.verb == .list)
        #expect(RequestInfo(method: "GET", path: "/api/v1/pods", watch: true)?.verb == .watch)
        // The deprecated /watch/ prefix still means watch.
        let legacy = try #require(RequestInfo(method: "GET", path: "/api/v1/watch/namespaces/ns/pods", watch: false))
        #expect(legacy.verb == .watch && legacy.namespace == "ns")

        #expect(RequestInfo(method: "DELETE", path: "/api/v1/namespaces/ns/pods", watch: false)?.verb == .deletecollection)
        #expect(RequestInfo(method: "DELETE", path: "/api/v1/namespaces/ns/pods/p", watch: false)?.verb == .delete)
        #expect(RequestInfo(method: "POST", path: "/api/v1/namespaces/ns/pods", watch: false)?.verb == .create)
        #expect(RequestInfo(method: "PUT", path: "/api/v1/namespaces/ns/pods/p/status", watch: false)?.verb == .update)
    }

    @Test func namespacesAreTheirOwnObjects() throws {
        // /api/v1/namespaces/x is the namespace x (kube reports it as the request's namespace too).
        let ns = try #require(RequestInfo(method: "GET", path: "/api/v1/namespaces/x", watch: false))
        #expect(ns.resource == "namespaces" && ns.name == "x" && ns.namespace == "x" && ns.objectNamespace == nil)
        let finalize = try #require(RequestInfo(method: "PUT", path: "/api/v1/namespaces/x/finalize", watch: false))
        #expect(finalize.resource == "namespaces" && finalize.name == "x" && finalize.subresource == "finalize")
        #expect(RequestInfo(method: "GET", path: "/api/v1/namespaces", watch: false)?.verb == .list)
    }

    @Test func otherPathsAreNoResourceRequests() {
        #expect(RequestInfo(method: "GET", path: "/version", watch: false) == nil)
        #expect(RequestInfo(method: "GET", path: "/apis/apps", watch: false) == nil)
        #expect(RequestInfo(method: "GET", path: "/api", watch: false) == nil)
        #expect(RequestInfo(method: "OPTIONS", path: "/api/v1/pods", watch: false) == nil)
        #expect(RequestInfo(method: "GET", path: "/api/v1/namespaces/ns/pods/p/log/extra", watch: false) == nil)
    }

    @Test func queriesDecodeAsGoDoes() {
        let q = Query("labelSelector=app%3Dweb&fieldSelector=a+b&watch=1&dryRun=All&dryRun=All&empty=&flag")
        #expect(q.value("labelSelector") == "app=web")
        #expect(q.value("fieldSelector") == "a b")
        // kube's bool decoding: anything present but 0/false (any case) is true.
        #expect(q.flag("watch") && q.flag("empty") && q.flag("flag") && !q.flag("missing"))
        #expect(Query("watch=True").flag("watch") && !Query("watch=FALSE").flag("watch") && !Query("watch=0").flag("watch"))
        #expect(Query("sendInitialEvents=false").boolean("sendInitialEvents") == false && Query("").boolean("x") == nil)
        #expect(q.values("dryRun") == ["All", "All"])
        #expect(q.has("flag") && q.value("flag") == "" && q.has("empty"))
        #expect(Query("").value("x") == nil)
    }

    @Test func continueTokensRoundTripAndRejectForgeries() throws {
        let token = ContinueToken.encode(revision: 42, start: "web-2\u{0}")
        let decoded = try ContinueToken.decode(token)
        #expect(decoded.revision == 42 && decoded.start == "web-2\u{0}")
        // kube's tokens are base64 of {"v":"meta.k8s.io/v1","rv":N,"start":K}.
        #expect(ContinueToken.encode(revision: 7, start: "a") == "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Nywic3RhcnQiOiJhIn0=")
        // Unpadded (Go's RawURLEncoding) tokens are taken.
        #expect(try ContinueToken.decode("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Nywic3RhcnQiOiJhIn0").revision == 7)
        func rejected(_ token: String) -> APIStatus? {
            do {
                _ = try ContinueToken.decode(token)
                return nil
            } catch {
                return error
            }
        }
        #expect(rejected("not base64!")?.code == 400)
        #expect(rejected("not base64!")?.message == "continue key is not valid: not base64!")
        // Another token version: {"v":"x","rv":7,"start":"a"}.
        #expect(
            rejected("eyJ2IjoieCIsInJ2Ijo3LCJzdGFydCI6ImEifQ==")?.message
                == "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        // A start key that climbs out of the collection is refused.
        let escape = ContinueToken.encode(revision: 7, start: "../secrets/x")
        #expect(rejected(escape)?.message == "continue key is not valid: \(escape)")
        #expect(rejected(ContinueToken.encode(revision: 0, start: "a"))?.code == 400)
    }

    @Test func acceptChoosesTheRepresentation() throws {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        #expect(try Representation(accept: kubectl) == .table(version: "v1"))
        #expect(try Representation(accept: "") == .object)
        #expect(try Representation(accept: "*/*") == .object)
        #expect(try Representation(accept: "application/vnd.kubernetes.protobuf, application/json") == .object)
        #expect(
            try Representation(accept: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
                == .partialMetadata(list: true, version: "v1"))
        // A conversion the server cannot make is skipped for the next clause.
        #expect(try Representation(accept: "application/json;as=Other;g=x;v=v1, application/json") == .object)
        // q orders the clauses; q=0 is refused.
        #expect(try Representation(accept: "application/json;q=0.5, application/json;as=Table;g=meta.k8s.io;v=v1") == .table(version: "v1"))
        #expect(throws: APIStatus.self) { try Representation(accept: "application/json;q=0") }
        do {
            _ = try Representation(accept: "application/vnd.kubernetes.protobuf")
            Issue.record("protobuf alone is not served")
        } catch {
            #expect(error.code == 406 && error.reason == .notAcceptable)
            #expect(error.message == "only the following media types are accepted: application/json")
        }
    }

    @Test func metricLabelsAreKubesCleanedLabels() throws {
        let list = try #require(RequestInfo(method: "GET", path: "/api/v1/namespaces/ns/pods", watch: false))
        let labels = APIMetrics.Labels(list, served: true, apply: false, dryRun: false)
        #expect(labels.verb == "LIST" && labels.scope == "namespace" && labels.resource == "pods" && labels.component == "apiserver")
        let one = try #require(RequestInfo(method: "PATCH", path: "/apis/apps/v1/namespaces/ns/deployments/d/scale", watch: false))
        let apply = APIMetrics.Labels(one, served: true, apply: true, dryRun: true)
        #expect(apply.verb == "APPLY" && apply.scope == "resource" && apply.subresource == "scale" && apply.group == "apps" && apply.dryRun)
        let nodes = try #require(RequestInfo(method: "GET", path: "/api/v1/nodes", watch: true))
        #expect(APIMetrics.Labels(nodes, served: true, apply: false, dryRun: false).scope == "cluster")
        // An unknown resource is counted without its name: the label set stays bounded.
        let unknown = try #require(RequestInfo(method: "GET", path: "/api/v1/madeup", watch: false))
        #expect(APIMetrics.Labels(unknown, served: false, apply: false, dryRun: false).resource == "")
        #expect(APIMetrics.Labels(method: "GET", path: "/healthz/etcd").subresource == "/healthz/etcd")
        #expect(APIMetrics.Labels(method: "GET", path: "/random/path").subresource == "other")
        #expect(APIMetrics.Labels(method: "GET", path: "/apis/").subresource == "/apis")
    }

    @Test func metricsAreWrittenInTheTextFormat() {
        let metrics = APIMetrics()
        let info = RequestInfo(method: "GET", path: "/api/v1/namespaces/ns/pods", watch: false)!
        metrics.record(APIMetrics.Labels(info, served: true, apply: false, dryRun: false), code: 200, duration: .milliseconds(30))
        metrics.record(APIMetrics.Labels(info, served: true, apply: false, dryRun: false), code: 200, duration: .milliseconds(3))
        let text = String(decoding: metrics.text(), as: UTF8.self)
        #expect(
            text.contains(
                #"apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 2"#
            ))
        #expect(
            text.contains(
                #"apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1",le="0.005"} 1"#
            ))
        #expect(
            text.contains(
                #"apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 2"#
            ))
    }
}
