package import APIMachinery
package import Foundation

/// The discovery documents kubectl and the client libraries read before anything else: `/api`
/// (APIVersions), `/apis` (APIGroupList), `/api/v1` and `/apis/<group>/<version>`
/// (APIResourceList), and aggregated discovery v2 (APIGroupDiscoveryList) for both, served when
/// the client asks for it in `Accept`. Built from the served resources; the bytes are made once
/// per set of resources and shared.
package enum Discovery {
    /// The content type of an aggregated discovery answer, exactly as clients compare it.
    package static let aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

    /// `GET /api`.
    package static func apiVersions(serverAddress: String) -> Data {
        encode(
            APIVersions(
                kind: "APIVersions", versions: ["v1"],
                serverAddressByClientCIDRs: [ServerAddress(clientCIDR: "0.0.0.0/0", serverAddress: serverAddress)]))
    }

    /// `GET /apis`: every non-core group with its versions, the first one preferred.
    package static func groupList(_ resources: [ResourceInfo]) -> Data {
        let groups = ResourceInfo.groups(in: resources).map { group in
            let versions = group.versions.map { GroupVersionForDiscovery(groupVersion: "\(group.name)/\($0)", version: $0) }
            return APIGroup(name: group.name, versions: versions, preferredVersion: versions[0])
        }
        return encode(APIGroupList(kind: "APIGroupList", apiVersion: "v1", groups: groups))
    }

    /// `GET /api/v1` or `GET /apis/<group>/<version>`; nil when nothing is served there.
    package static func resourceList(group: String, version: String, _ resources: [ResourceInfo]) -> Data? {
        let served = resources.filter { $0.group == group && $0.version == version }
        guard !served.isEmpty else { return nil }
        var entries: [APIResource] = []
        for r in served {
            entries.append(
                APIResource(
                    name: r.name, singularName: r.singularName, namespaced: r.namespaced, group: nil, version: nil, kind: r.kind,
                    verbs: r.verbs, shortNames: r.shortNames.isEmpty ? nil : r.shortNames,
                    categories: r.categories.isEmpty ? nil : r.categories))
            for s in r.subresources {
                let other = s.group != r.group || s.version != r.version
                entries.append(
                    APIResource(
                        name: "\(r.name)/\(s.name)", singularName: "", namespaced: r.namespaced, group: other ? s.group : nil,
                        version: other ? s.version : nil, kind: s.kind, verbs: s.verbs, shortNames: nil, categories: nil))
            }
        }
        let groupVersion = group.isEmpty ? version : "\(group)/\(version)"
        return encode(
            APIResourceList(kind: "APIResourceList", apiVersion: group.isEmpty ? nil : "v1", groupVersion: groupVersion, resources: entries)
        )
    }

    /// Aggregated discovery: of the core group for `/api` (`core` true), of every other group for `/apis`.
    package static func aggregated(core: Bool, _ resources: [ResourceInfo]) -> Data {
        let groups: [(name: String, versions: [String])] = core ? [("", ["v1"])] : ResourceInfo.groups(in: resources)
        let items = groups.map { group in
            APIGroupDiscovery(
                metadata: DiscoveryMeta(name: group.name.isEmpty ? nil : group.name),
                versions: group.versions.map { version in
                    APIVersionDiscovery(
                        version: version,
                        resources: resources.filter { $0.group == group.name && $0.version == version }.map(resourceDiscovery),
                        freshness: "Current")
                })
        }
        return encode(
            APIGroupDiscoveryList(kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2", metadata: [:], items: items))
    }

    private static func resourceDiscovery(_ r: ResourceInfo) -> APIResourceDiscovery {
        APIResourceDiscovery(
            resource: r.name, responseKind: GVK(group: r.group, version: r.version, kind: r.kind),
            scope: r.namespaced ? "Namespaced" : "Cluster", singularResource: r.singularName, verbs: r.verbs,
            shortNames: r.shortNames.isEmpty ? nil : r.shortNames, categories: r.categories.isEmpty ? nil : r.categories,
            subresources: r.subresources.isEmpty
                ? nil
                : r.subresources.map {
                    APISubresourceDiscovery(
                        subresource: $0.name, responseKind: GVK(group: $0.group, version: $0.version, kind: $0.kind), verbs: $0.verbs)
                })
    }

    private static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // The documents are built from strings and booleans only: encoding cannot fail.
        return (try? encoder.encode(value)) ?? Data()
    }
}

// MARK: - The documents' shapes (field names as Kubernetes writes them; nil fields are left out)

private struct APIVersions: Encodable {
    var kind: String
    var versions: [String]
    var serverAddressByClientCIDRs: [ServerAddress]
}

private struct ServerAddress: Encodable {
    var clientCIDR: String
    var serverAddress: String
}

private struct APIGroupList: Encodable {
    var kind: String
    var apiVersion: String
    var groups: [APIGroup]
}

private struct APIGroup: Encodable {
    var name: String
    var versions: [GroupVersionForDiscovery]
    var preferredVersion: GroupVersionForDiscovery
}

private struct GroupVersionForDiscovery: Encodable {
    var groupVersion: String
    var version: String
}

private struct APIResourceList: Encodable {
    var kind: String
    var apiVersion: String?
    var groupVersion: String
    var resources: [APIResource]
}

private struct APIResource: Encodable {
    var name: String
    var singularName: String
    var namespaced: Bool
    var group: String?
    var version: String?
    var kind: String
    var verbs: [String]
    var shortNames: [String]?
    var categories: [String]?
}

private struct APIGroupDiscoveryList: Encodable {
    var kind: String
    var apiVersion: String
    var metadata: [String: String]
    var items: [APIGroupDiscovery]
}

private struct DiscoveryMeta: Encodable {
    var name: String?
    // Kubernetes writes `"creationTimestamp":null` in every ObjectMeta it serializes.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeNil(forKey: .creationTimestamp)
    }
    private enum Keys: String, CodingKey { case name, creationTimestamp }
}

private struct APIGroupDiscovery: Encodable {
    var metadata: DiscoveryMeta
    var versions: [APIVersionDiscovery]
}

private struct APIVersionDiscovery: Encodable {
    var version: String
    var resources: [APIResourceDiscovery]
    var freshness: String
}

private struct GVK: Encodable {
    var group: String
    var version: String
    var kind: String
}

private struct APIResourceDiscovery: Encodable {
    var resource: String
    var responseKind: GVK
    var scope: String
    var singularResource: String
    var verbs: [String]
    var shortNames: [String]?
    var categories: [String]?
    var subresources: [APISubresourceDiscovery]?
}

private struct APISubresourceDiscovery: Encodable {
    var subresource: String
    var responseKind: GVK
    var verbs: [String]
}
