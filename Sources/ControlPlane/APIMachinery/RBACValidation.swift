// RBAC validation of Kubernetes 1.32 (pkg/apis/rbac/validation).

/// Checks of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings.
enum RBACValidation {
    static let group = "rbac.authorization.k8s.io"

    /// ValidatePolicyRule for each rule: verbs; non-resource URLs only in cluster rules and not
    /// with resources; otherwise api groups and resources.
    static func rules(_ role: JSON, namespaced: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        for (i, rule) in role.list("rules").enumerated() {
            let path = "rules[\(i)]"
            if rule.list("verbs").isEmpty { errors.append(.required("\(path).verbs", "verbs must contain at least one value")) }
            let urls = rule.list("nonResourceURLs")
            if !urls.isEmpty {
                let value = GoValue.stringSlice(urls)
                if namespaced {
                    errors.append(.invalid("\(path).nonResourceURLs", value, "namespaced rules cannot apply to non-resource URLs"))
                }
                if !rule.list("apiGroups").isEmpty || !rule.list("resources").isEmpty || !rule.list("resourceNames").isEmpty {
                    errors.append(
                        .invalid("\(path).nonResourceURLs", value, "rules cannot apply to both regular resources and non-resource URLs"))
                }
                continue
            }
            if rule.list("apiGroups").isEmpty {
                errors.append(.required("\(path).apiGroups", "resource rules must supply at least one api group"))
            }
            if rule.list("resources").isEmpty {
                errors.append(.required("\(path).resources", "resource rules must supply at least one resource"))
            }
        }
        return errors
    }

    /// ValidateRoleBinding / ClusterRoleBinding: the role reference (immutable on update) and subjects.
    static func binding(_ binding: JSON, old: JSON?, namespaced: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        let ref = binding["roleRef"] ?? [:]
        if ref.text("apiGroup") != group { errors.append(.notSupported("roleRef.apiGroup", ref.text("apiGroup"), [group])) }
        let kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"]
        if !kinds.contains(ref.text("kind")) { errors.append(.notSupported("roleRef.kind", ref.text("kind"), kinds)) }
        let name = ref.text("name")
        if name.isEmpty {
            errors.append(.required("roleRef.name"))
        } else {
            errors += Names.pathSegmentProblems(name).map { .invalid("roleRef.name", GoValue.quote(name), $0) }
        }
        for (i, subject) in binding.list("subjects").enumerated() {
            errors += self.subject(subject, namespaced: namespaced, path: "subjects[\(i)]")
        }
        if let old, (old["roleRef"] ?? .null) != ref {
            let rendered =
                "rbac.RoleRef{APIGroup:\(GoValue.quote(ref.text("apiGroup"))), Kind:\(GoValue.quote(ref.text("kind"))), "
                + "Name:\(GoValue.quote(name))}"
            errors.append(.invalid("roleRef", rendered, "cannot change roleRef"))
        }
        return errors
    }

    private static func subject(_ s: JSON, namespaced: Bool, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        let name = s.text("name")
        if name.isEmpty { errors.append(.required("\(path).name")) }
        switch s.text("kind") {
        case "ServiceAccount":
            if !name.isEmpty { errors += Rules.dns1123Subdomain(name).map { .invalid("\(path).name", GoValue.quote(name), $0) } }
            if !s.text("apiGroup").isEmpty { errors.append(.notSupported("\(path).apiGroup", s.text("apiGroup"), [""])) }
            if !namespaced, s.text("namespace").isEmpty { errors.append(.required("\(path).namespace")) }
        case "User", "Group":
            if s.text("apiGroup") != group { errors.append(.notSupported("\(path).apiGroup", s.text("apiGroup"), [group])) }
        default:
            errors.append(.notSupported("\(path).kind", s.text("kind"), ["ServiceAccount", "User", "Group"]))
        }
        return errors
    }
}
