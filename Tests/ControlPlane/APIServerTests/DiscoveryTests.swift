import APIMachinery
import APIServer
import Foundation
import Testing

/// The built-in resource table (generated from Kubernetes 1.32's API definition) and the discovery
/// documents built from it, checked against what a 1.32 kube-apiserver serves.
@Suite struct DiscoveryTests {
    private func object(_ data: Data?) throws -> [String: Any] {
        let data = try #require(data)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func entries(_ document: [String: Any], _ key: String) throws -> [[String: Any]] {
        try #require(document[key] as? [[String: Any]])
    }

    @Test func theTableHoldsWhatKubernetesServes() throws {
        let pods = try #require(BuiltinResources.resource(group: "", version: "v1", name: "pods"))
        #expect(pods.kind == "Pod" && pods.namespaced && pods.singularName == "pod")
        #expect(pods.verbs == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
        #expect(pods.shortNames == ["po"] && pods.categories == ["all"])
        #expect(pods.definition == "io.k8s.api.core.v1.Pod")
        #expect(pods.subresources.map(\.name) == ["binding", "eviction", "log", "status"])
        #expect(pods.subresource("eviction")?.group == "policy" && pods.subresource("eviction")?.kind == "Eviction")
        #expect(pods.subresource("log")?.verbs == ["get"])

        let namespaces = try #require(BuiltinResources.resource(group: "", version: "v1", name: "namespaces"))
        #expect(!namespaces.namespaced && !namespaces.verbs.contains("deletecollection"))
        #expect(namespaces.subresource("finalize")?.verbs == ["update"])

        let scale = try #require(BuiltinResources.resource(group: "apps", version: "v1", name: "deployments")?.subresource("scale"))
        #expect(scale.group == "autoscaling" && scale.version == "v1" && scale.kind == "Scale")
        #expect(
            BuiltinResources.resource(group: "apiextensions.k8s.io", version: "v1", name: "customresourcedefinitions")?.shortNames == [
                "crd", "crds"
            ])
        #expect(BuiltinResources.resource(group: "", version: "v1", name: "componentstatuses") == nil)
        #expect(BuiltinResources.all.count == 31)
    }

    @Test func objectsAreKeptWhereKubeAPIServerKeepsThem() throws {
        let pods = try #require(BuiltinResources.resource(group: "", version: "v1", name: "pods"))
        #expect(pods.storeKey(prefix: "/registry", namespace: "default", name: "web") == "/registry/pods/default/web")
        #expect(pods.storePrefix(prefix: "/registry/", namespace: nil) == "/registry/pods/")
        let nodes = try #require(BuiltinResources.resource(group: "", version: "v1", name: "nodes"))
        #expect(nodes.storeKey(prefix: "/registry", namespace: "ignored", name: "n1") == "/registry/minions/n1")
        let services = try #require(BuiltinResources.resource(group: "", version: "v1", name: "services"))
        #expect(services.storeKey(prefix: "/k", namespace: "kube-system", name: "dns") == "/k/services/specs/kube-system/dns")
        let deployments = try #require(BuiltinResources.resource(group: "apps", version: "v1", name: "deployments"))
        #expect(deployments.storeKey(prefix: "/registry", namespace: "a", name: "b") == "/registry/deployments/a/b")
        #expect(deployments.collectionPath == "/apis/apps/v1/deployments" && deployments.groupVersion == "apps/v1")
    }

    @Test func coreResourceListHasResourcesAndSubresources() throws {
        let list = try object(Discovery.resourceList(group: "", version: "v1", BuiltinResources.all))
        #expect(list["kind"] as? String == "APIResourceList" && list["groupVersion"] as? String == "v1")
        #expect(list["apiVersion"] == nil)
        let resources = try entries(list, "resources")
        let pods = try #require(resources.first { $0["name"] as? String == "pods" })
        #expect(pods["namespaced"] as? Bool == true && pods["kind"] as? String == "Pod")
        #expect(pods["shortNames"] as? [String] == ["po"] && pods["singularName"] as? String == "pod")
        let status = try #require(resources.first { $0["name"] as? String == "pods/status" })
        #expect(status["verbs"] as? [String] == ["get", "patch", "update"] && status["singularName"] as? String == "")
        let eviction = try #require(resources.first { $0["name"] as? String == "pods/eviction" })
        #expect(eviction["group"] as? String == "policy" && eviction["version"] as? String == "v1")
        let configmaps = try #require(resources.first { $0["name"] as? String == "configmaps" })
        #expect(configmaps["categories"] == nil)
        #expect(Discovery.resourceList(group: "apps", version: "v2", BuiltinResources.all) == nil)
    }

    @Test func groupListPrefersItsOnlyVersion() throws {
        let list = try object(Discovery.groupList(BuiltinResources.all))
        #expect(list["kind"] as? String == "APIGroupList" && list["apiVersion"] as? String == "v1")
        let groups = try entries(list, "groups")
        #expect(groups.compactMap { $0["name"] as? String }.first == "apps")
        #expect(!groups.contains { $0["name"] as? String == "" })
        let apps = try #require(groups.first { $0["name"] as? String == "apps" })
        let preferred = try #require(apps["preferredVersion"] as? [String: Any])
        #expect(preferred["groupVersion"] as? String == "apps/v1" && preferred["version"] as? String == "v1")
        let versions = try object(Discovery.apiVersions(serverAddress: "127.0.0.1:6443"))
        #expect(versions["kind"] as? String == "APIVersions" && versions["versions"] as? [String] == ["v1"])
    }

    @Test func aggregatedDiscoveryHasItsShape() throws {
        #expect(Discovery.aggregatedContentType == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        let core = try object(Discovery.aggregated(core: true, BuiltinResources.all))
        #expect(core["kind"] as? String == "APIGroupDiscoveryList" && core["apiVersion"] as? String == "apidiscovery.k8s.io/v2")
        let coreItems = try entries(core, "items")
        #expect(coreItems.count == 1)
        let meta = try #require(coreItems[0]["metadata"] as? [String: Any])
        #expect(meta["name"] == nil && meta["creationTimestamp"] is NSNull)
        let versions = try #require(coreItems[0]["versions"] as? [[String: Any]])
        #expect(versions.first?["version"] as? String == "v1" && versions.first?["freshness"] as? String == "Current")
        let resources = try #require(versions.first?["resources"] as? [[String: Any]])
        let pods = try #require(resources.first { $0["resource"] as? String == "pods" })
        #expect(pods["scope"] as? String == "Namespaced" && pods["singularResource"] as? String == "pod")
        let nodes = try #require(resources.first { $0["resource"] as? String == "nodes" })
        #expect(nodes["scope"] as? String == "Cluster")

        let groups = try entries(try object(Discovery.aggregated(core: false, BuiltinResources.all)), "items")
        let apps = try #require(groups.first { ($0["metadata"] as? [String: Any])?["name"] as? String == "apps" })
        let appsResources = try #require((apps["versions"] as? [[String: Any]])?.first?["resources"] as? [[String: Any]])
        let deployments = try #require(appsResources.first { $0["resource"] as? String == "deployments" })
        let subresources = try #require(deployments["subresources"] as? [[String: Any]])
        let scale = try #require(subresources.first { $0["subresource"] as? String == "scale" })
        #expect((scale["responseKind"] as? [String: String]) == ["group": "autoscaling", "version": "v1", "kind": "Scale"])
    }
}
