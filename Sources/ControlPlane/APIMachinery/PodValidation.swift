// Pod and pod template validation of Kubernetes 1.32 (pkg/apis/core/validation: ValidatePodSpec,
// validateContainers, ValidateVolumes, ValidateVolumeMounts, resource requirements, pod update).

/// Checks of pods, pod templates and pod specs.
enum PodValidation {
    static let restartPolicies = ["Always", "OnFailure", "Never"]
    static let dnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    static let pullPolicies = ["Always", "IfNotPresent", "Never"]
    static let protocols = ["SCTP", "TCP", "UDP"]
    static let terminationMessagePolicies = ["File", "FallbackToLogsOnError"]
    /// Resource names a container may ask for without a domain prefix.
    static let standardContainerResources: Set<String> = ["cpu", "memory", "ephemeral-storage"]
    /// The most an activeDeadlineSeconds may be (math.MaxInt32).
    static let maxActiveDeadlineSeconds = Int64(Int32.max)
    /// The fields a pod update may change, as the Forbidden message lists them.
    static let updatableFields = [
        "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
    ]

    /// ValidatePodCreate / ValidatePodUpdate (the spec part; metadata is checked by the caller).
    static func pod(_ pod: JSON, old: JSON?) -> [FieldError] {
        let spec = pod["spec"] ?? [:]
        guard let old else { return podSpec(spec, path: "spec") }
        var errors: [FieldError] = []
        var mutable = spec
        var before = old["spec"] ?? [:]
        for key in ["containers", "initContainers"] {
            let images = before.list(key)
            if case .array(var items)? = mutable[key] {
                for i in items.indices where i < images.count { items[i]["image"] = images[i]["image"] }
                mutable[key] = .array(items)
            }
        }
        for key in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"] {
            mutable[key] = nil
            before[key] = nil
        }
        if let deadline = spec["activeDeadlineSeconds"]?.int64, let previous = old["spec"]?["activeDeadlineSeconds"]?.int64,
            deadline > previous
        {
            errors.append(.invalid("spec.activeDeadlineSeconds", String(deadline), "must be less than or equal to previous value"))
        }
        if mutable != before {
            let message = "pod updates may not change fields other than " + updatableFields.joined(separator: ",")
            errors.append(.forbidden("spec", message))
        }
        return errors + podSpec(spec, path: "spec")
    }

    /// ValidatePodTemplateSpec: labels and annotations of the template's metadata, then its spec.
    static func template(_ template: JSON?, path: String) -> [FieldError] {
        guard let template, template.object != nil else { return [.required(path)] }
        let meta = template["metadata"] ?? [:]
        return Validation.labels(meta["labels"]?.object, path: "\(path).metadata.labels")
            + podSpec(template["spec"] ?? [:], path: "\(path).spec")
    }

    /// ValidatePodSpec, in its order: volumes, containers, init containers, restart and DNS
    /// policies, node selector, service account, active deadline, hostname, priority class.
    static func podSpec(_ spec: JSON, path: String) -> [FieldError] {
        let (volumeNames, volumeErrors) = volumes(spec.list("volumes"), path: "\(path).volumes")
        var errors = volumeErrors
        let containers = spec.list("containers")
        let initContainers = spec.list("initContainers")
        if containers.isEmpty {
            errors.append(.required("\(path).containers"))
        } else {
            errors += containerList(containers, path: "\(path).containers", volumes: volumeNames, taken: [])
        }
        let taken = Set(containers.map { $0.text("name") })
        errors += containerList(initContainers, path: "\(path).initContainers", volumes: volumeNames, taken: taken)
        errors += policy(spec, "restartPolicy", restartPolicies, path: path)
        errors += policy(spec, "dnsPolicy", dnsPolicies, path: path)
        errors += Validation.labels(spec["nodeSelector"]?.object, path: "\(path).nodeSelector")
        let account = spec.text("serviceAccountName")
        if !account.isEmpty {
            errors += Rules.dns1123Subdomain(account).map { .invalid("\(path).serviceAccountName", GoValue.quote(account), $0) }
        }
        if let deadline = spec["activeDeadlineSeconds"]?.int64, deadline < 1 || deadline > maxActiveDeadlineSeconds {
            errors.append(.invalid("\(path).activeDeadlineSeconds", String(deadline), "must be between 1 and 2147483647, inclusive"))
        }
        for key in ["hostname", "subdomain"] {
            let value = spec.text(key)
            if !value.isEmpty { errors += Rules.dns1123Label(value).map { .invalid("\(path).\(key)", GoValue.quote(value), $0) } }
        }
        let priorityClass = spec.text("priorityClassName")
        if !priorityClass.isEmpty {
            errors += Rules.dns1123Subdomain(priorityClass).map { .invalid("\(path).priorityClassName", GoValue.quote(priorityClass), $0) }
        }
        return errors
    }

    /// An enumerated string: Required when empty, else NotSupported unless one of `allowed`.
    static func policy(_ owner: JSON, _ key: String, _ allowed: [String], path: String) -> [FieldError] {
        let value = owner.text(key)
        if value.isEmpty { return [.required("\(path).\(key)")] }
        return allowed.contains(value) ? [] : [.notSupported("\(path).\(key)", value, allowed)]
    }

    /// ValidateVolumes: names (DNS labels, unique) and exactly one source; returns the names of
    /// the volumes without errors, which mounts may refer to.
    static func volumes(_ list: [JSON], path: String) -> (Set<String>, [FieldError]) {
        var names: Set<String> = []
        var errors: [FieldError] = []
        for (i, v) in list.enumerated() {
            let p = "\(path)[\(i)]"
            var own = volumeSource(v, path: p)
            let name = v.text("name")
            if name.isEmpty {
                own.append(.required("\(p).name"))
            } else {
                own += Rules.dns1123Label(name).map { .invalid("\(p).name", GoValue.quote(name), $0) }
            }
            if names.contains(name) { own.append(.duplicate("\(p).name", GoValue.quote(name))) }
            if own.isEmpty { names.insert(name) } else { errors += own }
        }
        return (names, errors)
    }

    /// The sources in the order validateVolumeSource looks at them: the first counts, later ones are Forbidden.
    private static let sourceOrder = [
        "hostPath", "emptyDir", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi", "glusterfs", "flocker",
        "persistentVolumeClaim", "rbd", "quobyte", "cinder", "cephfs", "downwardAPI", "fc", "flexVolume", "configMap", "azureFile",
        "vsphereVolume", "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral",
        "image"
    ]

    private static func volumeSource(_ v: JSON, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        var count = 0
        for source in sourceOrder where !v.isUnset(source) {
            count += 1
            if count > 1 {
                errors.append(.forbidden("\(path).\(source)", "may not specify more than 1 volume type"))
                continue
            }
            let s = v[source] ?? [:]
            switch source {
            case "hostPath" where s.text("path").isEmpty: errors.append(.required("\(path).hostPath.path"))
            case "configMap" where s.text("name").isEmpty: errors.append(.required("\(path).configMap.name"))
            case "persistentVolumeClaim" where s.text("claimName").isEmpty:
                errors.append(.required("\(path).persistentVolumeClaim.claimName"))
            default: break
            }
        }
        if count == 0 { errors.append(.required(path, "must specify a volume type")) }
        return errors
    }

    /// validateContainers / validateInitContainers: each container, then names unique across
    /// the list and the names already `taken` (regular containers, for init containers).
    private static func containerList(_ list: [JSON], path: String, volumes: Set<String>, taken: Set<String>) -> [FieldError] {
        var errors: [FieldError] = []
        var names = taken
        for (i, c) in list.enumerated() {
            let p = "\(path)[\(i)]"
            errors += container(c, path: p, volumes: volumes)
            let name = c.text("name")
            if names.contains(name) { errors.append(.duplicate("\(p).name", GoValue.quote(name))) } else { names.insert(name) }
        }
        return errors
    }

    /// validateContainerCommon: name, image, termination message policy, ports, env, mounts,
    /// pull policy, resources.
    private static func container(_ c: JSON, path: String, volumes: Set<String>) -> [FieldError] {
        var errors: [FieldError] = []
        let name = c.text("name")
        if name.isEmpty {
            errors.append(.required("\(path).name"))
        } else {
            errors += Rules.dns1123Label(name).map { .invalid("\(path).name", GoValue.quote(name), $0) }
        }
        if c.text("image").isEmpty { errors.append(.required("\(path).image")) }
        errors += policy(c, "terminationMessagePolicy", terminationMessagePolicies, path: path)
        errors += ports(c.list("ports"), path: "\(path).ports")
        errors += env(c.list("env"), path: "\(path).env")
        errors += volumeMounts(c.list("volumeMounts"), volumes: volumes, path: "\(path).volumeMounts")
        errors += policy(c, "imagePullPolicy", pullPolicies, path: path)
        errors += resources(c["resources"] ?? [:], path: "\(path).resources")
        return errors
    }

    /// validateContainerPorts: names (IANA, unique), container port required and in range,
    /// host port in range, protocol.
    private static func ports(_ list: [JSON], path: String) -> [FieldError] {
        var errors: [FieldError] = []
        var names: Set<String> = []
        for (i, port) in list.enumerated() {
            let p = "\(path)[\(i)]"
            let name = port.text("name")
            if !name.isEmpty {
                let problems = Rules.portName(name)
                errors += problems.map { .invalid("\(p).name", GoValue.quote(name), $0) }
                if problems.isEmpty, names.contains(name) { errors.append(.duplicate("\(p).name", GoValue.quote(name))) }
                names.insert(name)
            }
            let number = port["containerPort"]?.int64 ?? 0
            if number == 0 {
                errors.append(.required("\(p).containerPort"))
            } else {
                errors += Rules.portNumber(number).map { .invalid("\(p).containerPort", String(number), $0) }
            }
            if let host = port["hostPort"]?.int64, host != 0 {
                errors += Rules.portNumber(host).map { .invalid("\(p).hostPort", String(host), $0) }
            }
            errors += policy(port, "protocol", protocols, path: p)
        }
        return errors
    }

    /// ValidateEnv: names required and valid (the strict rule; RelaxedEnvironmentVariableValidation is off in 1.32).
    private static func env(_ list: [JSON], path: String) -> [FieldError] {
        var errors: [FieldError] = []
        for (i, e) in list.enumerated() {
            let name = e.text("name")
            if name.isEmpty {
                errors.append(.required("\(path)[\(i)].name"))
            } else {
                errors += Rules.envVarName(name).map { .invalid("\(path)[\(i)].name", GoValue.quote(name), $0) }
            }
        }
        return errors
    }

    /// ValidateVolumeMounts: name required and naming a volume; mount path required and unique.
    private static func volumeMounts(_ list: [JSON], volumes: Set<String>, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        var paths: Set<String> = []
        for (i, m) in list.enumerated() {
            let p = "\(path)[\(i)]"
            let name = m.text("name")
            if name.isEmpty { errors.append(.required("\(p).name")) }
            if !volumes.contains(name) { errors.append(.notFound("\(p).name", GoValue.quote(name))) }
            let mountPath = m.text("mountPath")
            if mountPath.isEmpty { errors.append(.required("\(p).mountPath")) }
            if paths.contains(mountPath) { errors.append(.invalid("\(p).mountPath", GoValue.quote(mountPath), "must be unique")) }
            paths.insert(mountPath)
        }
        return errors
    }

    /// validateResourceRequirements for containers: standard resource names, non-negative
    /// quantities, and requests no more than limits.
    static func resources(_ r: JSON, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        let limits = r.members("limits")
        let requests = r.members("requests")
        var limitValues: [String: Quantity] = [:]
        for (name, value) in limits {
            let (q, own) = resourceEntry(name, value, path: "\(path).limits[\(name)]")
            errors += own
            limitValues[name] = q
        }
        for (name, value) in requests {
            let (q, own) = resourceEntry(name, value, path: "\(path).requests[\(name)]")
            errors += own
            if let q, let limit = limitValues[name], q.compare(limit) > 0 {
                errors.append(
                    .invalid("\(path).requests", GoValue.quote(q.description), "must be less than or equal to \(name) limit of \(limit)"))
            }
        }
        return errors
    }

    private static func resourceEntry(_ name: String, _ value: JSON, path: String) -> (Quantity?, [FieldError]) {
        var errors = Rules.qualifiedName(name).map { FieldError.invalid(path, GoValue.quote(name), $0) }
        if !name.contains("/"), !standardContainerResources.contains(name), !name.hasPrefix("hugepages-") {
            errors.append(.invalid(path, GoValue.quote(name), "must be a standard resource for containers"))
        }
        guard let q = try? Quantity(json: value) else {
            return (nil, errors + [.invalid(path, GoValue.scalar(value), Quantity.ParseError.formatWrong.message)])
        }
        if q.negative, !q.isZero { errors.append(.invalid(path, GoValue.quote(q.description), "must be greater than or equal to 0")) }
        return (q, errors)
    }
}
