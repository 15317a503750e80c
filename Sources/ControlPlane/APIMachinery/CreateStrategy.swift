// The registry strategies' PrepareForCreate for built-in kinds (pkg/registry/*/strategy.go).

/// What kube-apiserver sets on create that is neither defaulting nor admission: pod status and
/// QoS class, the namespace finalizer, the Job selector, generation 1, service IP families.
/// Call after the system metadata (uid, creationTimestamp) is filled: the Job selector uses the uid.
package enum CreateStrategy {
    /// Kinds whose strategy starts `metadata.generation` at 1.
    private static let generationTracked: Set<String> = [
        "apps/Deployment", "apps/ReplicaSet", "apps/StatefulSet", "apps/DaemonSet", "/ReplicationController", "batch/Job",
        "batch/CronJob", "policy/PodDisruptionBudget", "apiextensions.k8s.io/CustomResourceDefinition"
    ]

    /// Prepares a new `object` of `resource`'s kind for storing.
    package static func prepare(_ object: inout JSON, resource: ResourceInfo) {
        if generationTracked.contains("\(resource.group)/\(resource.kind)") {
            object.editStruct("metadata") { $0["generation"] = 1 }
        }
        switch (resource.group, resource.kind) {
        case ("", "Pod"): object["status"] = ["phase": "Pending", "qosClass": .string(qosClass(object["spec"] ?? [:]))]
        case ("", "Namespace"): namespace(&object)
        case ("", "Service"): serviceIPFamilies(&object)
        case ("batch", "Job"): jobSelector(&object)
        default: break
        }
    }

    /// Namespaces start Active and always carry the `kubernetes` finalizer.
    private static func namespace(_ ns: inout JSON) {
        ns["status"] = ["phase": "Active"]
        ns.editStruct("spec") { spec in
            let finalizers = spec.list("finalizers")
            spec["finalizers"] = .array(finalizers.contains("kubernetes") ? finalizers : finalizers + ["kubernetes"])
        }
    }

    /// The IP family fields the service REST sets while allocating (a single-stack IPv4
    /// cluster): SingleStack/[IPv4], or RequireDualStack for a headless service without selector.
    private static func serviceIPFamilies(_ svc: inout JSON) {
        svc.editStruct("spec") { spec in
            guard spec.text("type") != "ExternalName" else { return }
            let headlessWithoutSelector = spec.text("clusterIP") == "None" && spec.isZero("selector")
            spec.setIfUnset("ipFamilyPolicy", headlessWithoutSelector ? "RequireDualStack" : "SingleStack")
            spec.setIfUnset("ipFamilies", ["IPv4"])
        }
    }

    /// The labels batch/v1 Jobs use to find their pods (and their legacy forms).
    package static let controllerUIDLabel = "batch.kubernetes.io/controller-uid"
    package static let jobNameLabel = "batch.kubernetes.io/job-name"
    private static let legacyControllerUIDLabel = "controller-uid"
    private static let legacyJobNameLabel = "job-name"

    /// generateSelector, unless `manualSelector`: the template is labelled with the job's name
    /// and uid (new and legacy keys), and the selector matches the uid.
    private static func jobSelector(_ job: inout JSON) {
        guard job["spec"]?["manualSelector"]?.bool != true else { return }
        let name = job["metadata"]?["name"]?.string ?? ""
        let uid = job["metadata"]?["uid"]?.string ?? ""
        job.editStruct("spec") { spec in
            spec.editStruct("template") { template in
                template.editStruct("metadata") { meta in
                    var labels = meta.members("labels")
                    for key in [legacyJobNameLabel, jobNameLabel] where labels[key] == nil { labels[key] = .string(name) }
                    for key in [legacyControllerUIDLabel, controllerUIDLabel] where labels[key] == nil { labels[key] = .string(uid) }
                    meta["labels"] = .object(labels)
                }
            }
            spec.editStruct("selector") { selector in
                var match = selector.members("matchLabels")
                if match[controllerUIDLabel] == nil { match[controllerUIDLabel] = .string(uid) }
                selector["matchLabels"] = .object(match)
            }
        }
    }

    /// The resources QoS classes are computed on.
    private static let qosResources = ["cpu", "memory"]

    /// The pod's QoS class (qos.GetPodQOS): BestEffort without any cpu/memory request or limit,
    /// Guaranteed when every container limits both and requests equal limits, else Burstable.
    package static func qosClass(_ spec: JSON) -> String {
        var anySet = false
        var guaranteed = true
        for c in spec.list("containers") + spec.list("initContainers") {
            let requests = nonZero(c["resources"]?["requests"])
            let limits = nonZero(c["resources"]?["limits"])
            if !requests.isEmpty || !limits.isEmpty { anySet = true }
            for name in qosResources {
                guard let limit = limits[name] else {
                    guaranteed = false
                    continue
                }
                if let request = requests[name], request.compare(limit) != 0 { guaranteed = false }
            }
        }
        if !anySet { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }

    private static func nonZero(_ list: JSON?) -> [String: Quantity] {
        var out: [String: Quantity] = [:]
        for (name, value) in list?.object ?? JSONObject() where qosResources.contains(name) {
            if let q = try? Quantity(json: value), !q.isZero { out[name] = q }
        }
        return out
    }
}
