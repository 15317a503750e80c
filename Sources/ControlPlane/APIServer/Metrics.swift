package import Prometheus

// `/metrics` with kube-apiserver's names, so dashboards and alerts written for Kubernetes read
// Capstan's apiserver unchanged: the request counter and latency histogram by verb, group,
// version, resource, subresource and scope, and the in-flight gauges.

/// The apiserver's request metrics in the Prometheus text format.
package struct APIMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()

    /// kube-apiserver's buckets for `apiserver_request_duration_seconds`, in seconds.
    static let durationBucketsSeconds: [Double] = [
        0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60
    ]
    static let durationBuckets: [Duration] = durationBucketsSeconds.map { .nanoseconds(Int64(($0 * 1e9).rounded())) }

    /// The paths other than resources whose requests are counted under their own path (kube puts a
    /// non-resource path in the `subresource` label); every other path counts as `other`, so a client
    /// cannot grow the label set without bound.
    static let namedPaths: Set<String> = [
        "/version", "/api", "/apis", "/openapi/v2", "/openapi/v3", "/healthz", "/livez", "/readyz", "/metrics"
    ]

    /// One request's labels, as kube-apiserver cleans them.
    package struct Labels: Sendable, Equatable {
        /// `GET LIST WATCH POST PUT PATCH APPLY DELETE DELETECOLLECTION`, or the HTTP method of a
        /// path that is not a resource.
        package var verb: String
        package var group = ""
        package var version = ""
        package var resource = ""
        package var subresource = ""
        /// `resource` (one named object), `namespace`, `cluster`, or empty for paths that are not resources.
        package var scope = ""
        package var dryRun = false
        package var component = ""

        /// The labels of a request for a path that is not a resource.
        package init(method: String, path: String) {
            verb = method
            let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            subresource =
                APIMetrics.namedPaths.contains(trimmed)
                    || APIMetrics.namedPaths.contains(where: { trimmed.hasPrefix($0 + "/") && $0 != "/api" && $0 != "/apis" })
                ? trimmed : "other"
        }

        /// The labels of a resource request. The resource is named only once it is known to be served
        /// (a request for an unknown resource counts with an empty one, keeping the label set bounded).
        package init(_ info: RequestInfo, served: Bool, apply: Bool, dryRun: Bool) {
            switch info.verb {
            case .get: verb = "GET"
            case .list: verb = "LIST"
            case .watch: verb = "WATCH"
            case .create: verb = "POST"
            case .update: verb = "PUT"
            case .patch: verb = apply ? "APPLY" : "PATCH"
            case .delete: verb = "DELETE"
            case .deletecollection: verb = "DELETECOLLECTION"
            }
            component = "apiserver"
            self.dryRun = dryRun
            guard served else { return }
            group = info.group
            version = info.version
            resource = info.resource
            subresource = info.subresource ?? ""
            scope = info.name != nil ? "resource" : (info.namespace != nil ? "namespace" : "cluster")
        }

        var common: [(String, String)] {
            [
                ("component", component), ("dry_run", dryRun ? "All" : ""), ("group", group), ("resource", resource),
                ("scope", scope), ("subresource", subresource), ("verb", verb), ("version", version)
            ]
        }
    }

    static var requestTotal: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "apiserver_request", unitName: "total",
            helpText: "Requests answered, by verb, dry run, group, version, resource, scope, component and HTTP code.")
    }
    static var requestDuration: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "apiserver_request_duration", unitName: "seconds",
            helpText: "Time to answer a request (watches aside), by verb, dry run, group, version, resource, scope and component.")
    }
    static var inflightRequests: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "apiserver_current_inflight", unitName: "requests",
            helpText: "Requests being answered now, read-only and mutating (the --max-*-requests-inflight limits).")
    }
    static var longRunning: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "apiserver_longrunning", unitName: "requests", helpText: "Long-running requests (watches) open now.")
    }

    package init() {}

    /// Counts one finished request and, unless it is a watch (long-running), its latency.
    package func record(_ labels: Labels, code: Int, duration: Duration) {
        var counted = labels.common
        counted.insert(("code", String(code)), at: 0)
        registry.makeCounter(descriptor: Self.requestTotal, labels: counted).increment()
        guard labels.verb != "WATCH" else { return }
        registry.makeDurationHistogram(
            descriptor: Self.requestDuration, labels: labels.common,
            buckets: Self.durationBuckets
        ).record(duration)
    }

    /// Sets `apiserver_current_inflight_requests` for read-only and mutating requests.
    package func inflight(reading: Int, mutating: Int) {
        registry.makeGauge(descriptor: Self.inflightRequests, labels: [("request_kind", "readOnly")]).set(Double(reading))
        registry.makeGauge(descriptor: Self.inflightRequests, labels: [("request_kind", "mutating")]).set(Double(mutating))
    }

    /// Sets `apiserver_longrunning_requests` (the watches open now).
    package func watches(_ open: Int) {
        registry.makeGauge(descriptor: Self.longRunning, labels: [("verb", "WATCH")]).set(
            Double(open))
    }

    /// The text format body.
    package func text() -> [UInt8] { registry.emitToBuffer() }
}
