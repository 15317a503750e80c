import APIMachinery
import Testing

/// The strategic-merge metadata derived from Kubernetes 1.32's definitions, checked against the
/// merge keys kubectl's apply relies on (COMPAT.md).
@Suite struct PatchSchemaTests {
    @Test func listsMergeByTheirKeys() throws {
        let containers = try #require(
            PatchSchema.field(at: ["spec", "template", "spec", "containers"], from: "io.k8s.api.apps.v1.Deployment"))
        #expect(containers.shape == .list && containers.merges && containers.mergeKey == "name")
        #expect(containers.ref == "io.k8s.api.core.v1.Container" && containers.listMapKeys == ["name"])
        let ports = try #require(PatchSchema.field("ports", of: "io.k8s.api.core.v1.Container"))
        #expect(ports.mergeKey == "containerPort" && ports.listMapKeys == ["containerPort", "protocol"])
        #expect(PatchSchema.field("env", of: "io.k8s.api.core.v1.Container")?.mergeKey == "name")
        let volumes = try #require(PatchSchema.field("volumes", of: "io.k8s.api.core.v1.PodSpec"))
        #expect(volumes.merges && volumes.retainsKeys && volumes.mergeKey == "name")
    }

    @Test func setsAtomicListsMapsAndValues() throws {
        let finalizers = try #require(PatchSchema.field("finalizers", of: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"))
        #expect(finalizers.shape == .list && finalizers.merges && finalizers.mergeKey == nil && finalizers.listType == "set")
        let args = try #require(PatchSchema.field("args", of: "io.k8s.api.core.v1.Container"))
        #expect(!args.merges && args.listType == "atomic")
        #expect(PatchSchema.field("labels", of: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")?.shape == .map)
        let limits = try #require(PatchSchema.field(at: ["resources", "limits"], from: "io.k8s.api.core.v1.Container"))
        #expect(limits.shape == .map && limits.ref == nil)
        #expect(PatchSchema.field("creationTimestamp", of: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")?.shape == .value)
        #expect(PatchSchema.field("strategy", of: "io.k8s.api.apps.v1.DeploymentSpec")?.retainsKeys == true)
        #expect(PatchSchema.field("image", of: "io.k8s.api.core.v1.Container") == nil)
    }

    @Test func everyServedKindIsKnown() {
        for resource in BuiltinResources.all { #expect(PatchSchema.knows(resource.definition), "\(resource.definition)") }
        #expect(PatchSchema.knows("io.k8s.api.autoscaling.v1.Scale"))
        #expect(!PatchSchema.knows("io.example.Widget"))
    }
}
