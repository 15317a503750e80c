// What a request asks for, read from its method and path as kube-apiserver reads them: the API
// prefix, group and version, the namespace, the resource, name and subresource, and the verb.

/// A request for a resource (as opposed to discovery, health or version paths).
package struct RequestInfo: Equatable, Sendable {
    package enum Verb: String, Sendable {
        case get, list, watch, create, update, patch, delete, deletecollection
    }

    package var group: String
    package var version: String
    /// The namespace in the path (nil for a cluster-scoped resource or an all-namespaces list).
    package var namespace: String?
    package var resource: String
    package var name: String?
    package var subresource: String?
    package var verb: Verb

    /// Reads a path under `/api/v1/` or `/apis/<group>/<version>/` with its HTTP method; nil for
    /// any other path (discovery documents and the like), a method that is no verb, or a path
    /// too short to name a resource. `watch` says whether the query asked to watch
    /// (`watch=true` or `watch=1`).
    package init?(method: String, path: String, watch: Bool) {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let prefix = parts.first else { return nil }
        parts.removeFirst()
        switch prefix {
        case "api":
            guard parts.count >= 1 else { return nil }
            group = ""
            version = parts.removeFirst()
        case "apis":
            guard parts.count >= 2 else { return nil }
            group = parts.removeFirst()
            version = parts.removeFirst()
        default:
            return nil
        }
        // The deprecated /watch/ prefix (kube 1.32 still serves it).
        var watching = watch
        if parts.first == "watch" {
            parts.removeFirst()
            watching = true
        }
        guard !parts.isEmpty else { return nil }
        // namespaces/<ns>/<resource>/... is a namespaced request; namespaces and namespaces/<name>
        // (with its subresources status and finalize) are the namespaces resource itself.
        if parts[0] == "namespaces" && parts.count >= 3 && !Self.namespaceSubresources.contains(parts[2]) {
            namespace = parts[1]
            parts.removeFirst(2)
        } else {
            namespace = nil
        }
        resource = parts[0]
        name = parts.count > 1 ? parts[1] : nil
        subresource = parts.count > 2 ? parts[2] : nil
        if parts.count > 3 { return nil }
        if parts[0] == "namespaces" && namespace == nil && parts.count >= 2 {
            // /api/v1/namespaces/<name>[/<sub>]: the namespace is the object; kube also reports it as
            // the request's namespace.
            namespace = parts[1]
        }
        switch method {
        case "GET", "HEAD":
            verb = name == nil ? (watching ? .watch : .list) : (watching ? .watch : .get)
        case "POST": verb = .create
        case "PUT": verb = .update
        case "PATCH": verb = .patch
        case "DELETE": verb = name == nil ? .deletecollection : .delete
        default: return nil
        }
    }

    /// The namespace's own subresources: `namespaces/<name>/status` and `/finalize` are not a
    /// resource inside the namespace.
    static let namespaceSubresources: Set<String> = ["status", "finalize"]

    /// The namespace the object lives in: the path's, except for the namespaces resource itself.
    package var objectNamespace: String? { resource == "namespaces" ? nil : namespace }
}
