// Kubernetes 1.32's validation of built-in objects on create and update, over the object JSON
// after defaulting: ObjectMeta (k8s.io/apimachinery pkg/api/validation), label selectors
// (pkg/apis/meta/v1/validation), and per kind pkg/apis/{core,apps,batch,...}/validation, with
// Kubernetes' field paths and messages.

/// Validation of built-in objects; the errors are in the order kube-apiserver reports them
/// (map members in the JSON's order, where Go's is random).
package enum Validation {
    /// The total size of an object's annotations (keys and values) kube accepts.
    package static let totalAnnotationSizeLimit = 256 * 1024
    /// The total size of a ConfigMap's or Secret's data.
    package static let maxDataSize = 1024 * 1024
    /// A CronJob's name leaves room for the 11 characters its Jobs' names add.
    package static let maxCronJobNameLength = 52
    /// User-defined priority classes may not go above this.
    package static let highestUserDefinablePriority: Int64 = 1_000_000_000

    /// The problems with `object` (a `resource` object, already defaulted); `old` is the stored
    /// object on update, nil on create.
    package static func validate(_ object: JSON, resource: ResourceInfo, old: JSON?) -> [FieldError] {
        var errors: [FieldError]
        if let old {
            errors = metadataUpdate(object["metadata"], old["metadata"])
        } else {
            errors = metadata(object["metadata"], namespaced: resource.namespaced, name: nameRule(resource))
        }
        errors += kindErrors(object, resource: resource, old: old)
        return errors
    }

    /// How each kind's names are checked (ValidateNameFunc), as problems of a name or prefix.
    static func nameRule(_ resource: ResourceInfo) -> (String) -> [String] {
        switch (resource.group, resource.kind) {
        case ("", "Namespace"): return Rules.dns1123Label
        case ("", "Service"): return Rules.dns1035Label
        case ("rbac.authorization.k8s.io", _), ("", "Event"), ("events.k8s.io", "Event"): return Names.pathSegmentProblems
        default: return Rules.dns1123Subdomain
        }
    }

    private static func kindErrors(_ o: JSON, resource: ResourceInfo, old: JSON?) -> [FieldError] {
        switch (resource.group, resource.kind) {
        case ("", "Pod"): return PodValidation.pod(o, old: old)
        case ("", "PodTemplate"): return PodValidation.template(o["template"], path: "template")
        case ("", "ReplicationController"): return WorkloadValidation.replicationController(o, old: old)
        case ("", "Service"): return ServiceValidation.service(o, old: old)
        case ("", "ConfigMap"): return DataValidation.configMap(o, old: old)
        case ("", "Secret"): return DataValidation.secret(o, old: old)
        case ("", "Namespace"): return DataValidation.namespace(o)
        case ("apps", "Deployment"): return WorkloadValidation.deployment(o, old: old)
        case ("apps", "ReplicaSet"): return WorkloadValidation.replicaSet(o, old: old)
        case ("apps", "StatefulSet"): return WorkloadValidation.statefulSet(o, old: old)
        case ("apps", "DaemonSet"): return WorkloadValidation.daemonSet(o, old: old)
        case ("batch", "Job"): return BatchValidation.job(o, old: old)
        case ("batch", "CronJob"): return BatchValidation.cronJob(o, old: old)
        case ("coordination.k8s.io", "Lease"): return DataValidation.lease(o)
        case ("scheduling.k8s.io", "PriorityClass"): return DataValidation.priorityClass(o, old: old)
        case ("policy", "PodDisruptionBudget"): return DataValidation.podDisruptionBudget(o)
        case ("rbac.authorization.k8s.io", "Role"): return RBACValidation.rules(o, namespaced: true)
        case ("rbac.authorization.k8s.io", "ClusterRole"): return RBACValidation.rules(o, namespaced: false)
        case ("rbac.authorization.k8s.io", "RoleBinding"): return RBACValidation.binding(o, old: old, namespaced: true)
        case ("rbac.authorization.k8s.io", "ClusterRoleBinding"): return RBACValidation.binding(o, old: old, namespaced: false)
        default: return []
        }
    }

    // MARK: - ObjectMeta

    /// ValidateObjectMetaAccessor: names (or generateName), namespace, generation, labels,
    /// annotations, ownerReferences, finalizers.
    package static func metadata(_ meta: JSON?, namespaced: Bool, name rule: (String) -> [String], path: String = "metadata")
        -> [FieldError]
    {
        let meta = meta ?? [:]
        var errors: [FieldError] = []
        let generateName = meta.text("generateName")
        if !generateName.isEmpty {
            errors += rule(Rules.asPrefix(generateName)).map { .invalid("\(path).generateName", GoValue.quote(generateName), $0) }
        }
        let name = meta.text("name")
        if name.isEmpty {
            errors.append(.required("\(path).name", "name or generateName is required"))
        } else {
            errors += rule(name).map { .invalid("\(path).name", GoValue.quote(name), $0) }
        }
        let namespace = meta.text("namespace")
        if namespaced {
            if namespace.isEmpty {
                errors.append(.required("\(path).namespace"))
            } else {
                errors += Rules.dns1123Label(namespace).map { .invalid("\(path).namespace", GoValue.quote(namespace), $0) }
            }
        } else if !namespace.isEmpty {
            errors.append(.forbidden("\(path).namespace", "not allowed on this type"))
        }
        if let generation = meta["generation"]?.int64, generation < 0 {
            errors.append(.invalid("\(path).generation", String(generation), "must be greater than or equal to 0"))
        }
        errors += commonMetadata(meta, path: path)
        errors += finalizers(meta.list("finalizers"), path: "\(path).finalizers")
        return errors
    }

    /// Labels, annotations and owner references: checked on create and update alike.
    private static func commonMetadata(_ meta: JSON, path: String) -> [FieldError] {
        labels(meta["labels"]?.object, path: "\(path).labels") + annotations(meta["annotations"]?.object, path: "\(path).annotations")
            + ownerReferences(meta.list("ownerReferences"), path: "\(path).ownerReferences")
    }

    /// ValidateLabels: qualified-name keys and label values.
    package static func labels(_ labels: JSONObject?, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        for (key, value) in labels ?? JSONObject() {
            errors += Rules.qualifiedName(key).map { .invalid(path, GoValue.quote(key), $0) }
            let text = value.string ?? ""
            errors += Rules.labelValue(text).map { .invalid(path, GoValue.quote(text), $0) }
        }
        return errors
    }

    /// ValidateAnnotations: keys (lower-cased) are qualified names; 256 KiB in total.
    private static func annotations(_ annotations: JSONObject?, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        var size = 0
        for (key, value) in annotations ?? JSONObject() {
            errors += Rules.qualifiedName(key.lowercased()).map { .invalid(path, GoValue.quote(key), $0) }
            size += key.utf8.count + (value.string ?? "").utf8.count
        }
        if size > totalAnnotationSizeLimit { errors.append(.tooLong(path, max: totalAnnotationSizeLimit)) }
        return errors
    }

    /// ValidateOwnerReferences: apiVersion with a version, kind, name and uid; at most one controller.
    private static func ownerReferences(_ refs: [JSON], path: String) -> [FieldError] {
        var errors: [FieldError] = []
        var firstController = ""
        for ref in refs {
            let apiVersion = ref.text("apiVersion")
            let version = apiVersion.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            if apiVersion.isEmpty || version.isEmpty || apiVersion.filter({ $0 == "/" }).count > 1 {
                errors.append(.invalid("\(path).apiVersion", GoValue.quote(apiVersion), "version must not be empty"))
            }
            for key in ["kind", "name", "uid"] where ref.text(key).isEmpty {
                errors.append(.invalid("\(path).\(key)", GoValue.quote(""), "\(key) must not be empty"))
            }
            if apiVersion == "v1", ref.text("kind") == "Event" {
                errors.append(.invalid(path, "<ownerReference>", "/v1, Kind=Event is disallowed from being an owner"))
            }
            if ref["controller"]?.bool == true {
                let current = ref.text("kind") + "/" + ref.text("name")
                if firstController.isEmpty {
                    firstController = current
                } else {
                    let detail =
                        "Only one reference can have Controller set to true. Found \"true\" in references for \(firstController) and \(current)"
                    errors.append(.invalid(path, "<ownerReferences>", detail))
                }
            }
        }
        return errors
    }

    /// ValidateFinalizers: qualified names; orphan and foregroundDeletion exclude each other.
    private static func finalizers(_ list: [JSON], path: String) -> [FieldError] {
        var errors: [FieldError] = []
        for item in list {
            let name = item.string ?? ""
            errors += Rules.qualifiedName(name).map { .invalid(path, GoValue.quote(name), $0) }
        }
        if list.contains("orphan"), list.contains("foregroundDeletion") {
            errors.append(.invalid(path, GoValue.stringSlice(list), "finalizer orphan and foregroundDeletion cannot be both set"))
        }
        return errors
    }

    /// ValidateObjectMetaAccessorUpdate: identity and timestamps are immutable; no new
    /// finalizers once deleting; generation never goes down.
    package static func metadataUpdate(_ new: JSON?, _ old: JSON?, path: String = "metadata") -> [FieldError] {
        let new = new ?? [:]
        let old = old ?? [:]
        var errors: [FieldError] = []
        if !old.isUnset("deletionTimestamp") {
            let before = Set(old.list("finalizers").compactMap(\.string))
            let extra = Set(new.list("finalizers").compactMap(\.string)).subtracting(before).sorted()
            if !extra.isEmpty {
                let listed = "[]string{" + extra.map(GoValue.quote).joined(separator: ", ") + "}"
                errors.append(
                    .forbidden(
                        "\(path).finalizers",
                        "no new finalizers can be added if the object is being deleted, found new finalizers \(listed)"))
            }
        }
        if let generation = new["generation"]?.int64, generation < (old["generation"]?.int64 ?? 0) {
            errors.append(.invalid("\(path).generation", String(generation), "must not be decremented"))
        }
        for key in ["name", "namespace", "uid"] where new.text(key) != old.text(key) {
            errors.append(.invalid("\(path).\(key)", GoValue.quote(new.text(key)), immutable))
        }
        if new["creationTimestamp"] ?? .null != old["creationTimestamp"] ?? .null {
            errors.append(.invalid("\(path).creationTimestamp", GoValue.time(new["creationTimestamp"]), immutable))
        }
        if new["deletionTimestamp"] ?? .null != old["deletionTimestamp"] ?? .null {
            let value = new.isUnset("deletionTimestamp") ? "null" : GoValue.time(new["deletionTimestamp"])
            errors.append(.invalid("\(path).deletionTimestamp", value, immutable))
        }
        if new["deletionGracePeriodSeconds"] ?? .null != old["deletionGracePeriodSeconds"] ?? .null {
            errors.append(.invalid("\(path).deletionGracePeriodSeconds", GoValue.scalar(new["deletionGracePeriodSeconds"]), immutable))
        }
        return errors + commonMetadata(new, path: path)
    }

    /// apimachinery's FieldImmutableErrorMsg.
    package static let immutable = "field is immutable"

    // MARK: - Label selectors

    /// ValidateLabelSelector: matchLabels as labels; each expression's operator, key and values.
    package static func labelSelector(_ selector: JSON?, path: String) -> [FieldError] {
        guard let selector, selector.object != nil else { return [] }
        var errors = labels(selector["matchLabels"]?.object, path: "\(path).matchLabels")
        for (i, e) in selector.list("matchExpressions").enumerated() {
            let p = "\(path).matchExpressions[\(i)]"
            let values = e.list("values")
            switch e.text("operator") {
            case "In", "NotIn":
                if values.isEmpty { errors.append(.required("\(p).values", "must be specified when `operator` is 'In' or 'NotIn'")) }
            case "Exists", "DoesNotExist":
                if !values.isEmpty {
                    errors.append(.forbidden("\(p).values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
                }
            default:
                errors.append(.invalid("\(p).operator", GoValue.quote(e.text("operator")), "not a valid selector operator"))
            }
            errors += Rules.qualifiedName(e.text("key")).map { .invalid("\(p).key", GoValue.quote(e.text("key")), $0) }
            for (j, v) in values.enumerated() {
                let text = v.string ?? ""
                errors += Rules.labelValue(text).map { .invalid("\(p).values[\(j)]", GoValue.quote(text), $0) }
            }
        }
        return errors
    }

    /// Whether a metav1.LabelSelector (JSON) selects `labels`; an empty selector selects everything.
    static func selector(_ selector: JSON, matches labels: JSONObject) -> Bool {
        for (key, value) in selector.members("matchLabels") where labels[key] != value { return false }
        for e in selector.list("matchExpressions") {
            let key = e.text("key")
            let values = e.list("values")
            switch e.text("operator") {
            case "In": if !(labels[key].map { values.contains($0) } ?? false) { return false }
            case "NotIn": if let v = labels[key], values.contains(v) { return false }
            case "Exists": if labels[key] == nil { return false }
            case "DoesNotExist": if labels[key] != nil { return false }
            default: return false
            }
        }
        return true
    }

    /// `must be greater than or equal to 0` for a negative integer member.
    static func nonNegative(_ owner: JSON, _ key: String, path: String) -> [FieldError] {
        guard let n = owner[key]?.int64, n < 0 else { return [] }
        return [.invalid("\(path).\(key)", String(n), "must be greater than or equal to 0")]
    }
}

extension FieldError {
    /// `Required value[: detail]`.
    package static func required(_ field: String, _ detail: String = "") -> FieldError {
        FieldError(.required, field: field, detail: detail)
    }

    /// `Invalid value: <value>: detail`; `value` already rendered as Go prints it.
    package static func invalid(_ field: String, _ value: String, _ detail: String) -> FieldError {
        FieldError(.invalid, field: field, value: value, detail: detail)
    }

    /// `Unsupported value: "x": supported values: "a", "b"` (values quoted, in the order given).
    package static func notSupported(_ field: String, _ value: String, _ supported: [String]) -> FieldError {
        let detail = supported.isEmpty ? "" : "supported values: " + supported.map(GoValue.quote).joined(separator: ", ")
        return FieldError(.notSupported, field: field, value: GoValue.quote(value), detail: detail)
    }

    package static func duplicate(_ field: String, _ value: String) -> FieldError { FieldError(.duplicate, field: field, value: value) }

    package static func forbidden(_ field: String, _ detail: String) -> FieldError { FieldError(.forbidden, field: field, detail: detail) }

    /// `Too long: may not be more than N bytes`.
    package static func tooLong(_ field: String, max: Int) -> FieldError {
        FieldError(.tooLong, field: field, value: "<value omitted>", detail: "may not be more than \(max) bytes")
    }

    /// `Too many: <actual>: must have at most N items`.
    package static func tooMany(_ field: String, actual: Int, max: Int) -> FieldError {
        FieldError(.tooMany, field: field, value: String(actual), detail: "must have at most \(max) items")
    }

    /// `Not found: <value>`.
    package static func notFound(_ field: String, _ value: String) -> FieldError { FieldError(.notFound, field: field, value: value) }
}
