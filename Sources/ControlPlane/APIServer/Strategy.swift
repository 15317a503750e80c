package import APIMachinery

// What differs between resources in the generic create, update, delete and list code: kube's
// registry strategies, as facts of Kubernetes 1.32 per resource.

/// One resource's rules for the generic storage code.
package struct Strategy: Sendable {
    /// Whether `metadata.generation` starts at 1 and is bumped when anything but metadata and status changes.
    package var tracksGeneration: Bool
    /// Whether a delete answers with the deleted object (else a `Status` with `status: Success`).
    package var returnsDeletedObject: Bool
    /// Whether a PUT of a missing object creates it.
    package var allowsCreateOnUpdate: Bool
    /// The field selector fields beyond metadata.name and metadata.namespace, each with its path
    /// in the object.
    package var fields: [String: [String]]

    /// The strategy of a built-in resource.
    package static func of(_ resource: ResourceInfo) -> Strategy {
        let key = resource.group.isEmpty ? resource.name : "\(resource.name).\(resource.group)"
        return Strategy(
            tracksGeneration: generationTracked.contains(key), returnsDeletedObject: returnsObject.contains(key),
            allowsCreateOnUpdate: createOnUpdate.contains(key), fields: fieldPaths[key] ?? [:])
    }

    /// The field selector fields this resource supports.
    package var supportedFields: Set<String> { Set(fields.keys).union(["metadata.name", "metadata.namespace"]) }

    /// The fields' values of an object, for matching a field selector (booleans as `true`/`false`).
    package func fieldValues(of object: JSON) -> [String: String] {
        var values = [
            "metadata.name": object["metadata"]?["name"]?.string ?? "",
            "metadata.namespace": object["metadata"]?["namespace"]?.string ?? ""
        ]
        for (field, path) in fields {
            switch object.value(at: path) {
            case .string(let s)?: values[field] = s
            case .bool(let b)?: values[field] = b ? "true" : "false"
            case .number(let n)?: values[field] = n.text
            default:
                // Go formats the typed field's zero value.
                switch path.last {
                case "hostNetwork", "unschedulable": values[field] = "false"
                case "replicas", "succeeded": values[field] = "0"
                default: values[field] = ""
                }
            }
        }
        return values
    }

    // Resources whose objects carry metadata.generation (their strategies set it on create and bump
    // it on spec changes).
    private static let generationTracked: Set<String> = [
        "replicationcontrollers", "deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch",
        "cronjobs.batch", "poddisruptionbudgets.policy", "customresourcedefinitions.apiextensions.k8s.io",
        "priorityclasses.scheduling.k8s.io"
    ]
    // ReturnDeletedObject in kube's registries.
    private static let returnsObject: Set<String> = ["pods", "services", "serviceaccounts", "namespaces"]
    // AllowCreateOnUpdate in kube's registries.
    private static let createOnUpdate: Set<String> = ["endpoints", "events", "events.events.k8s.io", "leases.coordination.k8s.io"]

    private static let eventFields: [String: [String]] = [
        "involvedObject.kind": ["involvedObject", "kind"], "involvedObject.namespace": ["involvedObject", "namespace"],
        "involvedObject.name": ["involvedObject", "name"], "involvedObject.uid": ["involvedObject", "uid"],
        "involvedObject.apiVersion": ["involvedObject", "apiVersion"],
        "involvedObject.resourceVersion": ["involvedObject", "resourceVersion"],
        "involvedObject.fieldPath": ["involvedObject", "fieldPath"], "reason": ["reason"], "reportingComponent": ["reportingComponent"],
        "source": ["source", "component"], "type": ["type"]
    ]

    // The field selectors of 1.32's resources (their GetAttrs / field label conversion functions).
    private static let fieldPaths: [String: [String: [String]]] = [
        "pods": [
            "spec.nodeName": ["spec", "nodeName"], "spec.restartPolicy": ["spec", "restartPolicy"],
            "spec.schedulerName": ["spec", "schedulerName"], "spec.serviceAccountName": ["spec", "serviceAccountName"],
            "spec.hostNetwork": ["spec", "hostNetwork"], "status.phase": ["status", "phase"], "status.podIP": ["status", "podIP"],
            "status.nominatedNodeName": ["status", "nominatedNodeName"]
        ],
        "nodes": ["spec.unschedulable": ["spec", "unschedulable"]],
        "namespaces": ["status.phase": ["status", "phase"]],
        "secrets": ["type": ["type"]],
        "services": ["spec.clusterIP": ["spec", "clusterIP"], "spec.type": ["spec", "type"]],
        "replicationcontrollers": ["status.replicas": ["status", "replicas"]],
        "replicasets.apps": ["status.replicas": ["status", "replicas"]],
        "jobs.batch": ["status.successful": ["status", "succeeded"]],
        "events": eventFields,
        "events.events.k8s.io": eventFields
    ]
}
