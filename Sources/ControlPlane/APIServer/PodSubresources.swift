package import APIMachinery
import Foundation

// Pods' binding and eviction subresources, as kube's pod storage serves them: a Binding assigns a
// pod to a node (the scheduler's write), an Eviction deletes a pod unless a PodDisruptionBudget
// forbids it (kubectl drain's write).

extension Handlers {
    /// kube's answer to a binding or eviction that went through: a Success Status with code 201.
    static var createdStatus: JSON {
        .object(
            JSONObject([("kind", "Status"), ("apiVersion", "v1"), ("metadata", .object(JSONObject())), ("status", "Success"), ("code", 201)]
            ))
    }

    /// POST pods/<name>/binding: sets `spec.nodeName` to the Binding's target (once), copies the
    /// Binding's annotations onto the pod and marks it PodScheduled.
    package func bind(_ pods: ResourceInfo, namespace: String?, name: String, body: [UInt8], dryRun: Bool) async throws(APIStatus) -> Answer
    {
        let binding = try decodeObject(body, kind: "Binding", group: "", version: "v1")
        if let bound = binding["metadata"]?["name"]?.string, !bound.isEmpty, bound != name {
            throw .badRequest("name in URL does not match name in Binding object")
        }
        let kind = binding["target"]?["kind"]?.string ?? ""
        let node = binding["target"]?["name"]?.string ?? ""
        var errors: [FieldError] = []
        if !kind.isEmpty && kind != "Node" {
            errors.append(
                FieldError(.notSupported, field: "target.kind", value: Self.quoted(kind), detail: #"supported values: "Node", "<empty>""#))
        }
        if node.isEmpty { errors.append(FieldError(.required, field: "target.name", value: nil)) }
        if !errors.isEmpty { throw .invalid(kind: "Binding", group: "", name: name, errors: errors) }
        let annotations = binding["metadata"]?["annotations"]?.object ?? JSONObject()
        let now = Self.timestamp(clock())
        _ = try await registry.update(pods, namespace: namespace, name: name, dryRun: dryRun) {
            (current) throws(APIStatus) -> Registry.Change in
            guard var pod = current else { throw .notFound(resource: "pods", group: "", name: name) }
            func conflict(_ why: String) -> APIStatus {
                APIStatus(
                    code: 409, reason: .conflict, message: "Operation cannot be fulfilled on pods/binding \(Self.quoted(name)): \(why)",
                    details: .init(name: name, kind: "pods/binding"))
            }
            if pod["metadata"]?["deletionTimestamp"] != nil { throw conflict("pod \(name) is being deleted, cannot be assigned to a host") }
            if let assigned = pod["spec"]?["nodeName"]?.string, !assigned.isEmpty {
                throw conflict("pod \(name) is already assigned to node \(Self.quoted(assigned))")
            }
            pod.set(.string(node), at: ["spec", "nodeName"])
            if !annotations.isEmpty {
                var merged = pod["metadata"]?["annotations"]?.object ?? JSONObject()
                for (k, v) in annotations { merged[k] = v }
                pod.set(.object(merged), at: ["metadata", "annotations"])
            }
            var conditions = pod["status"]?["conditions"]?.array ?? []
            let scheduled: JSON = .object(
                JSONObject([("type", "PodScheduled"), ("status", "True"), ("lastProbeTime", .null), ("lastTransitionTime", .string(now))]))
            if let i = conditions.firstIndex(where: { $0["type"]?.string == "PodScheduled" }) {
                if conditions[i]["status"]?.string != "True" { conditions[i] = scheduled }
            } else {
                conditions.append(scheduled)
            }
            pod.set(.array(conditions), at: ["status", "conditions"])
            return .write(pod)
        }
        return Answer(201, Self.createdStatus)
    }

    /// POST pods/<name>/eviction: deletes the pod (with the Eviction's delete options) unless the one
    /// PodDisruptionBudget selecting it allows no disruption now; a pod that has finished, is not
    /// running yet, or is already being deleted is deleted whatever the budgets say.
    package func evict(_ pods: ResourceInfo, namespace: String?, name: String, body: [UInt8], dryRun: Bool) async throws(APIStatus)
        -> Answer
    {
        let eviction = try decodeObject(body, kind: "Eviction", group: "policy", version: "v1")
        if let evicted = eviction["metadata"]?["name"]?.string, !evicted.isEmpty, evicted != name {
            throw .badRequest("name in URL does not match name in Eviction object")
        }
        var options = DeleteOptions()
        if let given = eviction["deleteOptions"], !given.isNull { try options.read(given.serialized()) }
        options.dryRun = options.dryRun || dryRun
        let pod = try await registry.get(pods, namespace: namespace, name: name)
        let phase = pod["status"]?["phase"]?.string ?? ""
        let exempt = phase == "Succeeded" || phase == "Failed" || phase == "Pending" || pod["metadata"]?["deletionTimestamp"] != nil
        if !exempt, let budget = try await disruptionBudget(for: pod, namespace: namespace) {
            let budgetName = budget["metadata"]?["name"]?.string ?? ""
            let observed = budget["status"]?["observedGeneration"]?.int64 ?? 0
            let generation = budget["metadata"]?["generation"]?.int64 ?? 0
            let allowed = budget["status"]?["disruptionsAllowed"]?.int64 ?? 0
            let why: String? =
                observed < generation
                ? "The disruption budget \(budgetName) is still being processed by the server."
                : allowed <= 0
                    ? "The disruption budget \(budgetName) needs \(budget["status"]?["desiredHealthy"]?.int64 ?? 0) healthy pods and has \(budget["status"]?["currentHealthy"]?.int64 ?? 0) currently"
                    : nil
            if let why {
                throw APIStatus(
                    code: 429, reason: .tooManyRequests, message: "Cannot evict pod as it would violate the pod's disruption budget.",
                    details: .init(causes: [.init(reason: "DisruptionBudget", message: why, field: "")], retryAfterSeconds: 0))
            }
        }
        _ = try await delete(pods, namespace: namespace, name: name, options: options)
        return Answer(201, Self.createdStatus)
    }

    /// The PodDisruptionBudget of the pod's namespace whose selector matches it; more than one is kube's 500.
    func disruptionBudget(for pod: JSON, namespace: String?) async throws(APIStatus) -> JSON? {
        guard let budgets = BuiltinResources.resource(group: "policy", version: "v1", name: "poddisruptionbudgets") else { return nil }
        let page = try await registry.list(budgets, namespace: namespace, Registry.ListOptions(), strategy: Strategy.of(budgets))
        var labels: [String: String] = [:]
        for (k, v) in pod["metadata"]?["labels"]?.object ?? JSONObject() { labels[k] = v.string ?? "" }
        let matching = page.items.filter { budget in
            guard let selector = budget["spec"]?["selector"], !selector.isNull,
                let parsed = try? LabelSelector(parsing: Self.scaleSelector(budget, resource: budgets))
            else { return false }
            return parsed.matches(labels)
        }
        if matching.count > 1 {
            throw APIStatus(
                code: 500, reason: .internalError,
                message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
        }
        return matching.first
    }
}
