// Validation of Kubernetes 1.32's workload controllers (pkg/apis/apps/validation and the
// ReplicationController part of pkg/apis/core/validation).

/// Checks of Deployments, ReplicaSets, StatefulSets, DaemonSets and ReplicationControllers.
enum WorkloadValidation {
    static func deployment(_ d: JSON, old: JSON?) -> [FieldError] {
        let spec = d["spec"] ?? [:]
        var errors = Validation.nonNegative(spec, "replicas", path: "spec")
        errors += selectorAndTemplate(spec, path: "spec", kind: "deployment")
        errors += deploymentStrategy(spec["strategy"] ?? [:], path: "spec.strategy")
        errors += Validation.nonNegative(spec, "minReadySeconds", path: "spec")
        errors += Validation.nonNegative(spec, "revisionHistoryLimit", path: "spec")
        if let deadline = spec["progressDeadlineSeconds"]?.int64 {
            if deadline <= 0 {
                errors.append(.invalid("spec.progressDeadlineSeconds", String(deadline), "must be greater than 0"))
            } else if deadline <= spec["minReadySeconds"]?.int64 ?? 0 {
                errors.append(.invalid("spec.progressDeadlineSeconds", String(deadline), "must be greater than minReadySeconds"))
            }
        }
        return errors + selectorImmutable(d, old: old)
    }

    static func replicaSet(_ rs: JSON, old: JSON?) -> [FieldError] {
        let spec = rs["spec"] ?? [:]
        var errors = Validation.nonNegative(spec, "replicas", path: "spec")
        errors += Validation.nonNegative(spec, "minReadySeconds", path: "spec")
        // ValidateReplicaSetSpec says "deployment" in its empty-selector message.
        errors += selectorAndTemplate(spec, path: "spec", kind: "deployment")
        return errors + selectorImmutable(rs, old: old)
    }

    static func daemonSet(_ ds: JSON, old: JSON?) -> [FieldError] {
        let spec = ds["spec"] ?? [:]
        var errors = selectorAndTemplate(spec, path: "spec", kind: "daemonset")
        errors += Validation.nonNegative(spec, "minReadySeconds", path: "spec")
        errors += Validation.nonNegative(spec, "revisionHistoryLimit", path: "spec")
        let strategy = spec["updateStrategy"] ?? [:]
        errors += PodValidation.policy(strategy, "type", ["OnDelete", "RollingUpdate"], path: "spec.updateStrategy")
        return errors + selectorImmutable(ds, old: old)
    }

    /// The StatefulSet spec fields an update may change, as the Forbidden message names them.
    static let statefulSetUpdateMessage =
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        + "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

    static func statefulSet(_ s: JSON, old: JSON?) -> [FieldError] {
        let spec = s["spec"] ?? [:]
        var errors = PodValidation.policy(spec, "podManagementPolicy", ["OrderedReady", "Parallel"], path: "spec")
        let strategy = spec["updateStrategy"] ?? [:]
        errors += PodValidation.policy(strategy, "type", ["RollingUpdate", "OnDelete"], path: "spec.updateStrategy")
        errors += Validation.nonNegative(spec, "replicas", path: "spec")
        errors += Validation.nonNegative(spec, "minReadySeconds", path: "spec")
        errors += selectorAndTemplate(spec, path: "spec", kind: "statefulset")
        if let old {
            var new = spec
            var before = old["spec"] ?? [:]
            for key in ["replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"] {
                new[key] = nil
                before[key] = nil
            }
            if new != before { errors.append(.forbidden("spec", statefulSetUpdateMessage)) }
        }
        return errors
    }

    /// ValidateReplicationControllerSpec: a non-empty selector map matching the template labels.
    static func replicationController(_ rc: JSON, old: JSON?) -> [FieldError] {
        let spec = rc["spec"] ?? [:]
        var errors: [FieldError] = []
        let selector = spec.members("selector")
        if selector.isEmpty { errors.append(.required("spec.selector")) }
        errors += Validation.labels(selector, path: "spec.selector")
        errors += Validation.nonNegative(spec, "replicas", path: "spec")
        errors += Validation.nonNegative(spec, "minReadySeconds", path: "spec")
        guard let template = spec["template"], template.object != nil else { return errors + [.required("spec.template")] }
        let labels = template["metadata"]?["labels"]?.object ?? JSONObject()
        if !selector.isEmpty, !Validation.selector(["matchLabels": .object(selector)], matches: labels) {
            errors.append(
                .invalid("spec.template.metadata.labels", GoValue.stringMap(template["metadata"]?["labels"]?.object), selectorMismatch))
        }
        errors += PodValidation.template(template, path: "spec.template")
        return errors + alwaysRestart(template, path: "spec.template")
    }

    static let selectorMismatch = "`selector` does not match template `labels`"

    /// The selector (required, valid, not empty, matching the template labels) and the
    /// template (a pod template that restarts Always, without activeDeadlineSeconds).
    private static func selectorAndTemplate(_ spec: JSON, path: String, kind: String) -> [FieldError] {
        var errors: [FieldError] = []
        let selector = spec["selector"]
        let template = spec["template"] ?? [:]
        if selector == nil || selector?.isNull == true {
            errors.append(.required("\(path).selector"))
        } else {
            errors += Validation.labelSelector(selector, path: "\(path).selector")
            if selector!.members("matchLabels").isEmpty, selector!.list("matchExpressions").isEmpty {
                errors.append(.invalid("\(path).selector", GoValue.labelSelector(selector), "empty selector is invalid for \(kind)"))
            }
        }
        if let selector, !selector.isNull, !selector.members("matchLabels").isEmpty || !selector.list("matchExpressions").isEmpty {
            let labels = template["metadata"]?["labels"]?.object ?? JSONObject()
            if !Validation.selector(selector, matches: labels) {
                errors.append(
                    .invalid(
                        "\(path).template.metadata.labels", GoValue.stringMap(template["metadata"]?["labels"]?.object), selectorMismatch))
            }
        }
        errors += PodValidation.template(template, path: "\(path).template")
        return errors + alwaysRestart(template, path: "\(path).template")
    }

    private static func alwaysRestart(_ template: JSON, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        let policy = template["spec"]?["restartPolicy"]?.string ?? ""
        if policy != "Always" { errors.append(.notSupported("\(path).spec.restartPolicy", policy, ["Always"])) }
        if let deadline = template["spec"]?["activeDeadlineSeconds"]?.int64 {
            errors.append(
                .invalid("\(path).spec.activeDeadlineSeconds", String(deadline), "activeDeadlineSeconds in ReplicaSet is not Supported"))
        }
        return errors
    }

    /// apps/v1 selectors are immutable.
    private static func selectorImmutable(_ new: JSON, old: JSON?) -> [FieldError] {
        guard let old else { return [] }
        let selector = new["spec"]?["selector"] ?? .null
        guard selector != old["spec"]?["selector"] ?? .null else { return [] }
        return [.invalid("spec.selector", GoValue.labelSelector(selector), Validation.immutable)]
    }

    /// ValidateDeploymentStrategy and ValidateRollingUpdateDeployment.
    private static func deploymentStrategy(_ strategy: JSON, path: String) -> [FieldError] {
        switch strategy.text("type") {
        case "Recreate":
            return strategy.isUnset("rollingUpdate")
                ? [] : [.forbidden("\(path).rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        case "RollingUpdate":
            guard let rolling = strategy["rollingUpdate"], rolling.object != nil else {
                return [.required("\(path).rollingUpdate", "this should be defaulted and never be nil")]
            }
            return rollingUpdate(rolling, path: "\(path).rollingUpdate")
        default:
            return [.notSupported("\(path).type", strategy.text("type"), ["Recreate", "RollingUpdate"])]
        }
    }

    private static func rollingUpdate(_ r: JSON, path: String) -> [FieldError] {
        var errors = intOrPercent(r["maxUnavailable"], path: "\(path).maxUnavailable", atMost100: true)
        errors += intOrPercent(r["maxSurge"], path: "\(path).maxSurge", atMost100: false)
        if isZero(r["maxUnavailable"]), isZero(r["maxSurge"]) {
            errors.append(.invalid("\(path).maxUnavailable", GoValue.intOrString(r["maxUnavailable"]), "may not be 0 when `maxSurge` is 0"))
        }
        return errors
    }

    private static func isZero(_ v: JSON?) -> Bool {
        switch v {
        case .number(let n)?: return n.int64 == 0
        case .string(let s)?: return s == "0%" || s == "0"
        default: return true
        }
    }

    /// ValidatePositiveIntOrPercent (and IsNotMoreThan100Percent).
    static func intOrPercent(_ v: JSON?, path: String, atMost100: Bool) -> [FieldError] {
        switch v {
        case .number(let n)?:
            if let i = n.int64, i < 0 { return [.invalid(path, String(i), "must be greater than or equal to 0")] }
        case .string(let s)?:
            let problems = Rules.percent(s)
            if !problems.isEmpty { return problems.map { .invalid(path, GoValue.intOrString(v), $0) } }
            if atMost100, let value = Int(s.dropLast()), value > 100 {
                return [.invalid(path, GoValue.intOrString(v), "must not be greater than 100%")]
            }
        default: break
        }
        return []
    }
}
