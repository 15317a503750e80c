// Kubernetes 1.32's defaulting of built-in objects: the SetDefaults_* functions and `+default=`
// markers of pkg/apis/{core,apps,batch,discovery,policy,rbac,scheduling}/v1, applied wherever the
// defaulted type appears (a PodSpec in a Deployment's template, a Job's in a CronJob's...), and
// the members Go's JSON encoder always writes (structs, fields without omitempty) so that an
// object reads back as kube-apiserver returns it. Admission plugins and create strategies, which
// also fill fields, are in Admission.swift.

/// Decode-time defaulting, as kube-apiserver applies it to every object it reads from a request
/// (and from storage): absent fields get their default; for pointer fields an explicit value,
/// even 0 or false, is kept; for plain fields Go's zero value ("" or 0) counts as absent.
package enum Defaults {
    /// Defaults `object`, an object of `resource`'s kind, in place. Unknown kinds are left alone.
    package static func apply(to object: inout JSON, resource: ResourceInfo) {
        guard object.object != nil else { return }
        switch (resource.group, resource.kind) {
        case ("", "Pod"): pod(&object)
        case ("", "PodTemplate"): object.editStruct("template", podTemplate)
        case ("", "ReplicationController"): replicationController(&object)
        case ("", "Service"): service(&object)
        case ("", "Secret"): object.setIfZero("type", "Opaque")
        case ("", "Namespace"): namespace(&object)
        case ("", "Node"): node(&object)
        case ("", "Endpoints"): object.editEach("subsets") { $0.editEach("ports") { $0.setIfZero("protocol", "TCP") } }
        case ("", "Event"): coreEvent(&object)
        case ("", "LimitRange"): object.editStruct("spec") { $0.editEach("limits", limitRangeItem) }
        case ("", "ResourceQuota"): resourceQuota(&object)
        case ("apps", "Deployment"): deployment(&object)
        case ("apps", "ReplicaSet"): replicaSet(&object)
        case ("apps", "StatefulSet"): statefulSet(&object)
        case ("apps", "DaemonSet"): daemonSet(&object)
        case ("batch", "Job"): job(&object)
        case ("batch", "CronJob"): cronJob(&object)
        case ("discovery.k8s.io", "EndpointSlice"): endpointSlice(&object)
        case ("events.k8s.io", "Event"): eventsEvent(&object)
        case ("coordination.k8s.io", "Lease"): object.editStruct("spec")
        case ("policy", "PodDisruptionBudget"): podDisruptionBudget(&object)
        case ("scheduling.k8s.io", "PriorityClass"): priorityClass(&object)
        case ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "ClusterRole"): rbacRole(&object)
        case ("rbac.authorization.k8s.io", "RoleBinding"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"): rbacBinding(&object)
        default: break
        }
    }

    // MARK: - Pods

    /// SetDefaults_Pod (only for Pods, not templates: requests from limits, enableServiceLinks,
    /// host ports under hostNetwork), then everything a PodSpec gets; and Go's `status` struct.
    private static func pod(_ pod: inout JSON) {
        pod.editStruct("spec") { spec in
            for key in ["containers", "initContainers"] { spec.editEach(key) { copyLimitsToRequests(&$0) } }
            spec.setIfUnset("enableServiceLinks", true)
            if spec["hostNetwork"]?.bool == true {
                for key in ["containers", "initContainers"] {
                    spec.editEach(key) { c in
                        c.editEach("ports") { p in
                            if p.isZero("hostPort"), let port = p["containerPort"] { p["hostPort"] = port }
                        }
                    }
                }
            }
            podSpec(&spec)
        }
        pod.editStruct("status")
    }

    /// Requests default to limits for each resource with a limit but no request (SetDefaults_Pod).
    private static func copyLimitsToRequests(_ container: inout JSON) {
        guard let limits = container["resources"]?["limits"]?.object else { return }
        container.editStruct("resources") { resources in
            var requests = resources["requests"]?.object ?? JSONObject()
            for (name, value) in limits where requests[name] == nil { requests[name] = value }
            resources["requests"] = .object(requests)
        }
    }

    /// A PodTemplateSpec: Go writes its metadata (with `creationTimestamp: null`) and spec.
    private static func podTemplate(_ template: inout JSON) {
        nestedMetadata(&template)
        template.editStruct("spec", podSpec)
    }

    /// An ObjectMeta nested in another object: Go writes its zero creationTimestamp as null.
    private static func nestedMetadata(_ owner: inout JSON) {
        owner.editStruct("metadata") { $0.setIfUnset("creationTimestamp", .null) }
    }

    /// SetDefaults_PodSpec, then the defaults of the types it holds (volumes, containers).
    private static func podSpec(_ spec: inout JSON) {
        spec.setIfZero("dnsPolicy", "ClusterFirst")
        spec.setIfZero("restartPolicy", "Always")
        spec.setIfUnset("securityContext", .object(JSONObject()))
        spec.setIfUnset("terminationGracePeriodSeconds", 30)
        spec.setIfZero("schedulerName", "default-scheduler")
        if spec.isUnset("containers") { spec["containers"] = .null }
        spec.editEach("volumes", volume)
        for key in ["initContainers", "containers", "ephemeralContainers"] { spec.editEach(key, container) }
        spec.edit("overhead", resourceList)
    }

    /// SetDefaults_Container plus its members' defaults (ports, env, probes, lifecycle, resources).
    private static func container(_ c: inout JSON) {
        if c.isZero("imagePullPolicy") { c["imagePullPolicy"] = .string(ImageReference.pullPolicy(for: c.text("image"))) }
        c.setIfZero("terminationMessagePath", "/dev/termination-log")
        c.setIfZero("terminationMessagePolicy", "File")
        c.editEach("ports") { $0.setIfZero("protocol", "TCP") }
        c.editEach("env") { env in env.edit("valueFrom") { $0.edit("fieldRef", objectFieldSelector) } }
        c.editStruct("resources") { r in
            r.edit("limits", resourceList)
            r.edit("requests", resourceList)
        }
        for key in ["livenessProbe", "readinessProbe", "startupProbe"] { c.edit(key, probe) }
        c.edit("lifecycle") { lifecycle in
            for key in ["postStart", "preStop"] { lifecycle.edit(key) { $0.edit("httpGet", httpGet) } }
        }
    }

    /// SetDefaults_Probe (zero thresholds and periods are defaulted) and its handler's defaults.
    private static func probe(_ p: inout JSON) {
        p.setIfZero("timeoutSeconds", 1)
        p.setIfZero("periodSeconds", 10)
        p.setIfZero("successThreshold", 1)
        p.setIfZero("failureThreshold", 3)
        p.edit("httpGet", httpGet)
        p.edit("grpc") { $0.setIfUnset("service", "") }
    }

    private static func httpGet(_ h: inout JSON) {
        h.setIfZero("path", "/")
        h.setIfZero("scheme", "HTTP")
    }

    private static func objectFieldSelector(_ f: inout JSON) { f.setIfZero("apiVersion", "v1") }

    /// File mode 0644 for secret, configMap, downwardAPI and projected volumes.
    private static let defaultVolumeMode: JSON = 420
    /// A projected service account token lives one hour unless told otherwise.
    private static let defaultTokenExpirationSeconds: JSON = 3600

    /// The volume sources a Volume may have; with none, a volume is an emptyDir.
    static let volumeSources = [
        "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi", "glusterfs",
        "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap",
        "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi",
        "ephemeral", "image"
    ]

    /// SetDefaults_Volume and the defaults of each volume source.
    private static func volume(_ v: inout JSON) {
        if volumeSources.allSatisfy({ v.isUnset($0) }) { v["emptyDir"] = .object(JSONObject()) }
        v.edit("hostPath") { $0.setIfUnset("type", "") }
        for key in ["secret", "configMap"] { v.edit(key) { $0.setIfUnset("defaultMode", defaultVolumeMode) } }
        v.edit("downwardAPI") { d in
            d.setIfUnset("defaultMode", defaultVolumeMode)
            d.editEach("items") { $0.edit("fieldRef", objectFieldSelector) }
        }
        v.edit("projected") { p in
            p.setIfUnset("defaultMode", defaultVolumeMode)
            p.editEach("sources") { s in
                s.edit("downwardAPI") { $0.editEach("items") { $0.edit("fieldRef", objectFieldSelector) } }
                s.edit("serviceAccountToken") { $0.setIfUnset("expirationSeconds", defaultTokenExpirationSeconds) }
            }
        }
        v.edit("emptyDir") { e in
            if let limit = e["sizeLimit"], let q = try? Quantity(json: limit) { e["sizeLimit"] = .string(q.description) }
        }
        v.edit("iscsi") { $0.setIfZero("iscsiInterface", "default") }
        v.edit("rbd") { r in
            r.setIfZero("pool", "rbd")
            r.setIfZero("user", "admin")
            r.setIfZero("keyring", "/etc/ceph/keyring")
        }
        v.edit("azureDisk") { a in
            a.setIfUnset("cachingMode", "ReadWrite")
            a.setIfUnset("fsType", "ext4")
            a.setIfUnset("readOnly", false)
            a.setIfUnset("kind", "Shared")
        }
        v.edit("scaleIO") { s in
            s.setIfZero("storageMode", "ThinProvisioned")
            s.setIfZero("fsType", "xfs")
        }
        v.edit("ephemeral") { e in e.edit("volumeClaimTemplate") { $0.editStruct("spec", persistentVolumeClaimSpec) } }
    }

    /// SetDefaults_PersistentVolumeClaimSpec: filesystem volumes; resource lists canonical.
    private static func persistentVolumeClaimSpec(_ spec: inout JSON) {
        spec.setIfUnset("volumeMode", "Filesystem")
        spec.edit("resources") { r in
            r.edit("limits", resourceList)
            r.edit("requests", resourceList)
        }
    }

    /// SetDefaults_ResourceList: each quantity rounded up to a milliunit, written canonically.
    /// A value that does not parse is left as it is (decoding rejects it first in kube).
    private static func resourceList(_ list: inout JSON) {
        guard case .object(var map) = list else { return }
        for name in map.keys {
            guard var q = try? Quantity(json: map[name]!) else { continue }
            q.round(toScale: Quantity.milliScale)
            map[name] = .string(q.description)
        }
        list = .object(map)
    }

    // MARK: - Workloads

    private static func replicationController(_ rc: inout JSON) {
        let templateLabels = rc["spec"]?["template"]?["metadata"]?["labels"]
        rc.editStruct("spec") { spec in
            if let labels = templateLabels?.object {
                if spec.isZero("selector") { spec["selector"] = .object(labels) }
            }
            spec.setIfUnset("replicas", 1)
            spec.edit("template", podTemplate)
        }
        if let labels = templateLabels?.object {
            rc.editStruct("metadata") { $0.setIfZero("labels", .object(labels)) }
        }
        rc.editStruct("status") { $0.setIfUnset("replicas", 0) }
    }

    /// SetDefaults_Deployment: 1 replica, RollingUpdate 25%/25%, history 10, deadline 600 s.
    private static func deployment(_ d: inout JSON) {
        d.editStruct("spec") { spec in
            spec.setIfUnset("replicas", 1)
            spec.editStruct("strategy") { strategy in
                strategy.setIfZero("type", "RollingUpdate")
                if strategy.text("type") == "RollingUpdate" {
                    strategy.editStruct("rollingUpdate") { r in
                        r.setIfUnset("maxUnavailable", "25%")
                        r.setIfUnset("maxSurge", "25%")
                    }
                }
            }
            spec.setIfUnset("revisionHistoryLimit", 10)
            spec.setIfUnset("progressDeadlineSeconds", 600)
            workloadSelectorAndTemplate(&spec)
        }
        d.editStruct("status")
    }

    /// The selector (a pointer Go writes as null when absent) and the pod template of a workload.
    private static func workloadSelectorAndTemplate(_ spec: inout JSON) {
        if spec.isUnset("selector") { spec["selector"] = .null }
        spec.editStruct("template", podTemplate)
    }

    private static func replicaSet(_ rs: inout JSON) {
        rs.editStruct("spec") { spec in
            spec.setIfUnset("replicas", 1)
            if spec.isUnset("selector") { spec["selector"] = .null }
            spec.edit("template", podTemplate)
        }
        rs.editStruct("status") { $0.setIfUnset("replicas", 0) }
    }

    /// SetDefaults_StatefulSet (PVC retention policy is GA in 1.32, so always defaulted).
    private static func statefulSet(_ s: inout JSON) {
        s.editStruct("spec") { spec in
            spec.setIfZero("podManagementPolicy", "OrderedReady")
            spec.editStruct("updateStrategy") { u in
                if u.isZero("type") {
                    u["type"] = "RollingUpdate"
                    u.setIfUnset("rollingUpdate", .object(JSONObject()))
                }
                if u.text("type") == "RollingUpdate" { u.edit("rollingUpdate") { $0.setIfUnset("partition", 0) } }
            }
            spec.editStruct("persistentVolumeClaimRetentionPolicy") { p in
                p.setIfZero("whenDeleted", "Retain")
                p.setIfZero("whenScaled", "Retain")
            }
            spec.setIfUnset("replicas", 1)
            spec.setIfUnset("revisionHistoryLimit", 10)
            spec.setIfUnset("serviceName", "")
            spec.editEach("volumeClaimTemplates") { claim in
                nestedMetadata(&claim)
                claim.editStruct("spec", persistentVolumeClaimSpec)
                claim.editStruct("status") { $0.setIfZero("phase", "Pending") }
            }
            workloadSelectorAndTemplate(&spec)
        }
        s.editStruct("status") { status in
            status.setIfUnset("replicas", 0)
            status.setIfUnset("availableReplicas", 0)
        }
    }

    /// SetDefaults_DaemonSet: RollingUpdate with maxUnavailable 1 and maxSurge 0, history 10.
    private static func daemonSet(_ ds: inout JSON) {
        ds.editStruct("spec") { spec in
            spec.editStruct("updateStrategy") { u in
                u.setIfZero("type", "RollingUpdate")
                if u.text("type") == "RollingUpdate" {
                    u.editStruct("rollingUpdate") { r in
                        r.setIfUnset("maxUnavailable", 1)
                        r.setIfUnset("maxSurge", 0)
                    }
                }
            }
            spec.setIfUnset("revisionHistoryLimit", 10)
            workloadSelectorAndTemplate(&spec)
        }
        ds.editStruct("status") { status in
            for key in ["currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"] {
                status.setIfUnset(key, 0)
            }
        }
    }

    /// The backoff limit of a Job with a per-index limit: unlimited (math.MaxInt32).
    private static let unlimitedBackoff = JSON.number(JSONNumber(Int64(Int32.max)))

    /// SetDefaults_Job (JobPodReplacementPolicy is on by default in 1.32).
    private static func job(_ job: inout JSON) {
        let templateLabels = job["spec"]?["template"]?["metadata"]?["labels"]?.object
        job.editStruct("spec") { spec in
            if spec.isUnset("completions"), spec.isUnset("parallelism") {
                spec["completions"] = 1
                spec["parallelism"] = 1
            }
            spec.setIfUnset("parallelism", 1)
            spec.setIfUnset("backoffLimit", spec.isUnset("backoffLimitPerIndex") ? 6 : unlimitedBackoff)
            spec.setIfUnset("completionMode", "NonIndexed")
            spec.setIfUnset("suspend", false)
            spec.edit("podFailurePolicy") { policy in
                policy.editEach("rules") { $0.editEach("onPodConditions") { $0.setIfZero("status", "True") } }
            }
            spec.setIfUnset("podReplacementPolicy", spec.isUnset("podFailurePolicy") ? "TerminatingOrFailed" : "Failed")
            spec.setIfUnset("manualSelector", false)
            spec.editStruct("template", podTemplate)
        }
        if let labels = templateLabels {
            job.editStruct("metadata") { $0.setIfZero("labels", .object(labels)) }
        }
        job.editStruct("status")
    }

    /// SetDefaults_CronJob; the job template gets only PodSpec defaults (no SetDefaults_Job).
    private static func cronJob(_ cj: inout JSON) {
        cj.editStruct("spec") { spec in
            spec.setIfZero("concurrencyPolicy", "Allow")
            spec.setIfUnset("suspend", false)
            spec.setIfUnset("successfulJobsHistoryLimit", 3)
            spec.setIfUnset("failedJobsHistoryLimit", 1)
            spec.setIfUnset("schedule", "")
            spec.editStruct("jobTemplate") { jt in
                nestedMetadata(&jt)
                jt.editStruct("spec") { $0.editStruct("template", podTemplate) }
            }
        }
        cj.editStruct("status")
    }

    // MARK: - Services and networking

    /// The session affinity timeout kube gives ClientIP affinity (three hours).
    private static let defaultClientIPTimeoutSeconds: JSON = 10800

    /// SetDefaults_Service. Protocol is defaulted before targetPort (which copies `port`).
    private static func service(_ svc: inout JSON) {
        svc.editStruct("spec") { spec in
            spec.setIfZero("sessionAffinity", "None")
            if spec.text("sessionAffinity") == "None" { spec["sessionAffinityConfig"] = nil }
            if spec.text("sessionAffinity") == "ClientIP", spec["sessionAffinityConfig"]?["clientIP"]?["timeoutSeconds"]?.number == nil {
                spec["sessionAffinityConfig"] = ["clientIP": ["timeoutSeconds": defaultClientIPTimeoutSeconds]]
            }
            spec.setIfZero("type", "ClusterIP")
            spec.editEach("ports") { port in
                port.setIfZero("protocol", "TCP")
                if port.isZero("targetPort"), let number = port["port"] { port["targetPort"] = number }
            }
            let type = spec.text("type")
            let external = type == "LoadBalancer" || type == "NodePort" || (type == "ClusterIP" && !spec.isZero("externalIPs"))
            if external { spec.setIfZero("externalTrafficPolicy", "Cluster") }
            if ["NodePort", "LoadBalancer", "ClusterIP"].contains(type) { spec.setIfUnset("internalTrafficPolicy", "Cluster") }
            if type == "LoadBalancer" { spec.setIfUnset("allocateLoadBalancerNodePorts", true) }
        }
        let isLoadBalancer = svc["spec"]?["type"]?.string == "LoadBalancer"
        svc.editStruct("status") { status in
            status.editStruct("loadBalancer") { lb in
                guard isLoadBalancer else { return }
                lb.editEach("ingress") { ing in
                    if !ing.isZero("ip") { ing.setIfUnset("ipMode", "VIP") }
                }
            }
        }
    }

    /// SetDefaults_EndpointPort (discovery/v1): name "" and protocol TCP; Go writes the
    /// non-omitempty `endpoints` and `ports` lists as null when absent.
    private static func endpointSlice(_ slice: inout JSON) {
        if slice.isUnset("endpoints") { slice["endpoints"] = .null }
        if slice.isUnset("ports") { slice["ports"] = .null }
        slice.editEach("ports") { port in
            port.setIfUnset("name", "")
            port.setIfUnset("protocol", "TCP")
        }
        slice.editEach("endpoints") { endpoint in
            if endpoint.isUnset("addresses") { endpoint["addresses"] = .null }
            endpoint.editStruct("conditions")
        }
    }

    // MARK: - Cluster objects

    /// SetDefaults_Namespace (the `kubernetes.io/metadata.name` label, when named) and
    /// SetDefaults_NamespaceStatus (phase Active).
    private static func namespace(_ ns: inout JSON) {
        let name = ns["metadata"]?["name"]?.string ?? ""
        if !name.isEmpty {
            ns.editStruct("metadata") { meta in
                meta.editStruct("labels") { $0["kubernetes.io/metadata.name"] = .string(name) }
            }
        }
        ns.editStruct("spec")
        ns.editStruct("status") { $0.setIfZero("phase", "Active") }
    }

    /// SetDefaults_NodeStatus (allocatable from capacity) and the struct members Go writes.
    private static func node(_ node: inout JSON) {
        node.editStruct("spec")
        node.editStruct("status") { status in
            if status.isUnset("allocatable"), let capacity = status["capacity"], capacity.object != nil {
                status["allocatable"] = capacity
            }
            status.edit("capacity", resourceList)
            status.edit("allocatable", resourceList)
            status.editStruct("daemonEndpoints") { $0.editStruct("kubeletEndpoint") { $0.setIfUnset("Port", 0) } }
            status.editStruct("nodeInfo") { info in
                for key in nodeInfoKeys { info.setIfUnset(key, "") }
            }
        }
    }

    /// NodeSystemInfo's members, all written even when empty.
    private static let nodeInfoKeys = [
        "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion",
        "kubeProxyVersion", "operatingSystem", "architecture"
    ]

    /// SetDefaults_LimitRangeItem: for containers, default limits from max, default requests
    /// from the default limits, then from min.
    private static func limitRangeItem(_ item: inout JSON) {
        for key in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] { item.edit(key, resourceList) }
        guard item.text("type") == "Container" else { return }
        var defaults = item.members("default")
        var requests = item.members("defaultRequest")
        for (name, value) in item.members("max") where defaults[name] == nil { defaults[name] = value }
        for (name, value) in defaults where requests[name] == nil { requests[name] = value }
        for (name, value) in item.members("min") where requests[name] == nil { requests[name] = value }
        item["default"] = .object(defaults)
        item["defaultRequest"] = .object(requests)
    }

    private static func resourceQuota(_ quota: inout JSON) {
        quota.editStruct("spec") { $0.edit("hard", resourceList) }
        quota.editStruct("status") { status in
            status.edit("hard", resourceList)
            status.edit("used", resourceList)
        }
    }

    /// A core/v1 Event: the structs and non-omitempty members Go always writes.
    private static func coreEvent(_ event: inout JSON) {
        event.editStruct("involvedObject")
        event.editStruct("source")
        for key in ["firstTimestamp", "lastTimestamp", "eventTime"] where event.isUnset(key) { event[key] = .null }
        event.setIfUnset("reportingComponent", "")
        event.setIfUnset("reportingInstance", "")
    }

    /// An events.k8s.io/v1 Event: its eventTime and deprecated timestamps are written as null.
    private static func eventsEvent(_ event: inout JSON) {
        for key in ["eventTime", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"] where event.isUnset(key) {
            event[key] = .null
        }
        event.editStruct("regarding")
        event.editStruct("deprecatedSource")
    }

    private static func podDisruptionBudget(_ pdb: inout JSON) {
        pdb.editStruct("spec")
        pdb.editStruct("status") { status in
            for key in ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"] { status.setIfUnset(key, 0) }
        }
    }

    /// SetDefaults_PriorityClass: preemptionPolicy PreemptLowerPriority; `value` is always written.
    private static func priorityClass(_ pc: inout JSON) {
        pc.setIfUnset("value", 0)
        pc.setIfUnset("preemptionPolicy", "PreemptLowerPriority")
    }

    /// Roles write `rules` (null when absent); each rule writes `verbs`.
    private static func rbacRole(_ role: inout JSON) {
        if role.isUnset("rules") { role["rules"] = .null }
        role.editEach("rules") { rule in if rule.isUnset("verbs") { rule["verbs"] = .null } }
    }

    /// SetDefaults_RoleBinding / ClusterRoleBinding and SetDefaults_Subject: the rbac API group
    /// for the role and for User and Group subjects, "" for ServiceAccounts.
    private static func rbacBinding(_ binding: inout JSON) {
        binding.editStruct("roleRef") { ref in
            ref.setIfZero("apiGroup", "rbac.authorization.k8s.io")
            ref.setIfUnset("kind", "")
            ref.setIfUnset("name", "")
        }
        binding.editEach("subjects") { subject in
            if subject.isZero("apiGroup") {
                switch subject.text("kind") {
                case "ServiceAccount": subject.setIfUnset("apiGroup", "")
                case "User", "Group": subject["apiGroup"] = "rbac.authorization.k8s.io"
                default: break
                }
            }
        }
    }
}

/// The tag of a container image reference, as kubelet's parsers.ParseImageName finds it, and the
/// pull policy kube defaults from it.
package enum ImageReference {
    /// `Always` when the tag is `latest` (or there is neither tag nor digest, which means
    /// latest), else `IfNotPresent` (also for references that do not parse).
    package static func pullPolicy(for image: String) -> String {
        tag(of: image) == "latest" ? "Always" : "IfNotPresent"
    }

    /// The tag: what follows the last `:` after the last `/` (before any `@digest`); `latest`
    /// when there is no tag and no digest; "" when there is only a digest or the reference is
    /// not valid (empty, or upper case in the repository path).
    package static func tag(of image: String) -> String {
        guard !image.isEmpty else { return "" }
        var name = Substring(image)
        var hasDigest = false
        if let at = name.firstIndex(of: "@") {
            hasDigest = true
            name = name[..<at]
        }
        let lastSlash = name.lastIndex(of: "/")
        var tag: Substring = ""
        var repository = name
        if let colon = name.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            tag = name[name.index(after: colon)...]
            repository = name[..<colon]
        }
        let path = lastSlash.map { repository[repository.index(after: $0)...] } ?? repository
        guard !repository.isEmpty, !path.contains(where: { $0.isUppercase }) else { return "" }
        if tag.isEmpty { return hasDigest ? "" : "latest" }
        return String(tag)
    }
}
