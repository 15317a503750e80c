// Validation of Kubernetes 1.32's ConfigMaps, Secrets, Namespaces, Leases, PriorityClasses and
// PodDisruptionBudgets (pkg/apis/{core,coordination,scheduling,policy}/validation).

/// Checks of the data-carrying and cluster-level kinds.
enum DataValidation {
    /// ValidateConfigMap: config keys, no key in both data and binaryData, 1 MiB in total.
    static func configMap(_ cm: JSON, old: JSON?) -> [FieldError] {
        var errors: [FieldError] = []
        var size = 0
        let data = cm.members("data")
        for (key, value) in data {
            size += (value.string ?? "").utf8.count
            errors += Rules.configMapKey(key).map { .invalid("data[\(key)]", GoValue.quote(key), $0) }
        }
        for (key, value) in cm.members("binaryData") {
            size += Base64.decodedLength(value.string ?? "")
            errors += Rules.configMapKey(key).map { .invalid("binaryData[\(key)]", GoValue.quote(key), $0) }
            if data[key] != nil { errors.append(.invalid("data[\(key)]", GoValue.quote(key), "duplicate of key present in data")) }
        }
        if size > Validation.maxDataSize { errors.append(.tooLong("", max: Validation.maxDataSize)) }
        return errors + immutableData(cm, old: old, keys: ["data", "binaryData"])
    }

    /// An object marked `immutable: true` keeps its data and the mark.
    private static func immutableData(_ new: JSON, old: JSON?, keys: [String]) -> [FieldError] {
        guard let old, old["immutable"]?.bool == true else { return [] }
        var errors: [FieldError] = []
        let message = "field is immutable when `immutable` is set"
        if new["immutable"]?.bool != true { errors.append(.forbidden("immutable", message)) }
        for key in keys where (new[key] ?? .null) != (old[key] ?? .null) { errors.append(.forbidden(key, message)) }
        return errors
    }

    /// ValidateSecret: keys, 1 MiB of decoded data, and the keys each type requires.
    static func secret(_ secret: JSON, old: JSON?) -> [FieldError] {
        var errors: [FieldError] = []
        var data = secret.members("data")
        for (key, value) in secret.members("stringData") {
            data[key] = .string(Base64.encodedLength(value.string ?? ""))
        }
        var size = 0
        for (key, value) in data {
            errors += Rules.configMapKey(key).map { .invalid("data[\(key)]", GoValue.quote(key), $0) }
            size += Base64.decodedLength(value.string ?? "")
        }
        if size > Validation.maxDataSize { errors.append(.tooLong("data", max: Validation.maxDataSize)) }
        errors += requiredKeys(secret, data: data)
        if let old {
            if secret.text("type") != old.text("type") {
                errors.append(.invalid("type", GoValue.quote(secret.text("type")), Validation.immutable))
            }
            errors += immutableData(secret, old: old, keys: ["data"])
        }
        return errors
    }

    private static func requiredKeys(_ secret: JSON, data: JSONObject) -> [FieldError] {
        func missing(_ keys: [String]) -> [FieldError] { keys.filter { data[$0] == nil }.map { .required("data[\($0)]") } }
        switch secret.text("type") {
        case "kubernetes.io/service-account-token":
            let name = secret["metadata"]?["annotations"]?["kubernetes.io/service-account.name"]?.string ?? ""
            return name.isEmpty ? [.required("metadata.annotations[kubernetes.io/service-account.name]")] : []
        case "kubernetes.io/dockercfg": return missing([".dockercfg"])
        case "kubernetes.io/dockerconfigjson": return missing([".dockerconfigjson"])
        case "kubernetes.io/basic-auth":
            return data["username"] == nil && data["password"] == nil ? missing(["username", "password"]) : []
        case "kubernetes.io/ssh-auth":
            return Base64.decodedLength(data["ssh-privatekey"]?.string ?? "") == 0 ? [.required("data[ssh-privatekey]")] : []
        case "kubernetes.io/tls": return missing(["tls.crt", "tls.key"])
        default: return []
        }
    }

    /// ValidateNamespace: spec finalizers are qualified names, standard or domain-prefixed.
    static func namespace(_ ns: JSON) -> [FieldError] {
        var errors: [FieldError] = []
        for (i, item) in (ns["spec"]?.list("finalizers") ?? []).enumerated() {
            let name = item.string ?? ""
            let path = "spec.finalizers[\(i)]"
            errors += Rules.qualifiedName(name).map { .invalid(path, GoValue.quote(name), $0) }
            if !name.contains("/"), name != "kubernetes" {
                errors.append(.invalid(path, GoValue.quote(name), "name is neither a standard finalizer name nor is it fully qualified"))
            }
        }
        return errors
    }

    /// ValidateLeaseSpec: a positive duration, non-negative transitions.
    static func lease(_ lease: JSON) -> [FieldError] {
        let spec = lease["spec"] ?? [:]
        var errors: [FieldError] = []
        if let duration = spec["leaseDurationSeconds"]?.int64, duration <= 0 {
            errors.append(.invalid("spec.leaseDurationSeconds", String(duration), "must be greater than 0"))
        }
        if let transitions = spec["leaseTransitions"]?.int64, transitions < 0 {
            errors.append(.invalid("spec.leaseTransitions", String(transitions), "must be greater than or equal to 0"))
        }
        return errors
    }

    /// ValidatePriorityClass (and its update): reserved `system-` names, the user maximum, the
    /// preemption policy, and an immutable value.
    static func priorityClass(_ pc: JSON, old: JSON?) -> [FieldError] {
        var errors: [FieldError] = []
        let name = pc["metadata"]?["name"]?.string ?? ""
        let value = pc["value"]?.int64 ?? 0
        if name.hasPrefix("system-") {
            let known = Admission.PriorityClassInfo.systemClasses.first { $0.name == name }
            if known == nil {
                errors.append(
                    .forbidden(
                        "metadata.name",
                        "priority class names with 'system-' prefix are reserved for system use only. error: \(name) is not a known system priority class"
                    ))
            }
        } else if value > Validation.highestUserDefinablePriority {
            errors.append(
                .forbidden("value", "maximum allowed value of a user defined priority is \(Validation.highestUserDefinablePriority)"))
        }
        if let policy = pc["preemptionPolicy"]?.string, !["PreemptLowerPriority", "Never"].contains(policy) {
            errors.append(.notSupported("preemptionPolicy", policy, ["PreemptLowerPriority", "Never"]))
        }
        if let old {
            if value != old["value"]?.int64 ?? 0 { errors.append(.forbidden("value", "may not be changed in an update.")) }
            if (pc["preemptionPolicy"] ?? .null) != (old["preemptionPolicy"] ?? .null) {
                errors.append(.invalid("preemptionPolicy", GoValue.scalar(pc["preemptionPolicy"]), Validation.immutable))
            }
        }
        return errors
    }

    /// ValidatePodDisruptionBudgetSpec: not both bounds; each an int or percent; the selector;
    /// the unhealthy pod eviction policy.
    static func podDisruptionBudget(_ pdb: JSON) -> [FieldError] {
        let spec = pdb["spec"] ?? [:]
        var errors: [FieldError] = []
        if !spec.isUnset("minAvailable"), !spec.isUnset("maxUnavailable") {
            errors.append(.invalid("spec", "<spec>", "minAvailable and maxUnavailable cannot be both set"))
        }
        for key in ["minAvailable", "maxUnavailable"] where !spec.isUnset(key) {
            errors += WorkloadValidation.intOrPercent(spec[key], path: "spec.\(key)", atMost100: true)
        }
        errors += Validation.labelSelector(spec["selector"], path: "spec.selector")
        if let policy = spec["unhealthyPodEvictionPolicy"]?.string, !["AlwaysAllow", "IfHealthyBudget"].contains(policy) {
            errors.append(.notSupported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]))
        }
        return errors
    }
}

/// Sizes of base64 (standard alphabet, padded) text, for data limits without decoding.
enum Base64 {
    static func decodedLength(_ text: String) -> Int {
        let count = text.utf8.count
        let padding = text.utf8.reversed().prefix(2).filter { $0 == 0x3D }.count
        return max(0, count / 4 * 3 - padding)
    }

    /// A placeholder of the encoded length of `plain` (stringData is counted by its decoded size).
    static func encodedLength(_ plain: String) -> String {
        let n = plain.utf8.count
        let groups = (n + 2) / 3
        let padding = groups * 3 - n
        return String(repeating: "A", count: groups * 4 - padding) + String(repeating: "=", count: padding)
    }
}
