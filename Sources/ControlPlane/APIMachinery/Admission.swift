// What kube-apiserver 1.32 fills in on create besides SetDefaults_*: its default mutating
// admission plugins (ServiceAccount, DefaultTolerationSeconds, Priority, TaintNodesByCondition)
// and the registry strategies' PrepareForCreate (pod status and QoS class, namespace finalizer,
// job selector, generation, service IP families). Both run after Defaults.apply, as in kube.

/// The default-enabled mutating admission plugins that change built-in objects on create.
package enum Admission {
    /// The name ServiceAccount admission gives a pod that names no service account.
    package static let defaultServiceAccountName = "default"
    /// Where the ServiceAccount plugin mounts the token volume in every container.
    package static let tokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
    /// The token lifetime the plugin asks for (an hour plus seven seconds, so kubelet refreshes it).
    package static let tokenExpirationSeconds: Int64 = 3607
    /// DefaultTolerationSeconds: how long pods stay on a not-ready or unreachable node.
    package static let defaultTolerationSeconds: Int64 = 300
    /// Priority admission's value when no PriorityClass is the global default.
    package static let defaultPriority: Int64 = 0

    /// A PriorityClass as the Priority plugin needs it.
    package struct PriorityClassInfo: Sendable, Equatable {
        package var name: String
        package var value: Int64
        package var globalDefault: Bool
        package var preemptionPolicy: String

        package init(name: String, value: Int64, globalDefault: Bool = false, preemptionPolicy: String = "PreemptLowerPriority") {
            self.name = name
            self.value = value
            self.globalDefault = globalDefault
            self.preemptionPolicy = preemptionPolicy
        }

        /// The two classes kube-apiserver creates at startup.
        package static let systemClasses = [
            PriorityClassInfo(name: "system-node-critical", value: 2_000_001_000),
            PriorityClassInfo(name: "system-cluster-critical", value: 2_000_000_000)
        ]
    }

    /// Runs the mutating plugins on a created `object` of `resource`'s kind. `priorityClasses`
    /// are the stored classes (the system ones are added); `random` picks the token volume's
    /// name suffix. Throws the Forbidden status kube returns for an unknown priority class.
    package static func apply(
        to object: inout JSON, resource: ResourceInfo, priorityClasses: [PriorityClassInfo] = [],
        random: () -> Int = { Int.random(in: 0..<Int.max) }
    ) throws(APIStatus) {
        switch (resource.group, resource.kind) {
        case ("", "Pod"):
            serviceAccount(&object, random: random)
            defaultTolerations(&object)
            try priority(&object, classes: priorityClasses + PriorityClassInfo.systemClasses)
        case ("", "Node"):
            taintNotReady(&object)
        default: break
        }
    }

    /// ServiceAccount plugin: `serviceAccountName: default` when unset (with the deprecated
    /// `serviceAccount` mirroring it, as v1 conversion writes it), and unless the pod opts out,
    /// the projected `kube-api-access-xxxxx` volume mounted read-only in every container.
    private static func serviceAccount(_ pod: inout JSON, random: () -> Int) {
        pod.editStruct("spec") { spec in
            spec.setIfZero("serviceAccountName", .string(defaultServiceAccountName))
            spec["serviceAccount"] = spec["serviceAccountName"]
            guard spec["automountServiceAccountToken"]?.bool != false else { return }
            let alreadyMounted = spec.list("volumes").contains { $0.text("name").hasPrefix("kube-api-access-") }
            guard !alreadyMounted else { return }
            let volumeName = Names.generate(from: "kube-api-access-", using: random)
            spec["volumes"] = .array(spec.list("volumes") + [tokenVolume(named: volumeName)])
            for key in ["initContainers", "containers"] {
                spec.editEach(key) { container in
                    let mounts = container.list("volumeMounts")
                    guard !mounts.contains(where: { $0.text("mountPath") == tokenMountPath }) else { return }
                    let mount: JSON = ["name": .string(volumeName), "readOnly": true, "mountPath": .string(tokenMountPath)]
                    container["volumeMounts"] = .array(mounts + [mount])
                }
            }
        }
    }

    /// The projected volume holding the token, the cluster CA and the namespace.
    private static func tokenVolume(named name: String) -> JSON {
        let token: JSON = ["serviceAccountToken": ["expirationSeconds": .number(JSONNumber(tokenExpirationSeconds)), "path": "token"]]
        let ca: JSON = ["configMap": ["name": "kube-root-ca.crt", "items": [["key": "ca.crt", "path": "ca.crt"]]]]
        let fieldRef: JSON = ["apiVersion": "v1", "fieldPath": "metadata.namespace"]
        let namespace: JSON = ["downwardAPI": ["items": [["path": "namespace", "fieldRef": fieldRef]]]]
        return ["name": .string(name), "projected": ["sources": [token, ca, namespace], "defaultMode": 420]]
    }

    /// DefaultTolerationSeconds: NoExecute tolerations of 300 s for the not-ready and unreachable
    /// taints, unless the pod already tolerates them.
    private static func defaultTolerations(_ pod: inout JSON) {
        pod.editStruct("spec") { spec in
            var tolerations = spec.list("tolerations")
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
            where !tolerations.contains(where: { tolerates($0, key: key) }) {
                tolerations.append([
                    "key": .string(key), "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": .number(JSONNumber(defaultTolerationSeconds))
                ])
            }
            spec["tolerations"] = .array(tolerations)
        }
    }

    /// Whether a toleration covers a NoExecute taint with `key` and no value.
    private static func tolerates(_ toleration: JSON, key: String) -> Bool {
        let effect = toleration.text("effect")
        guard effect.isEmpty || effect == "NoExecute" else { return false }
        let op = toleration.text("operator")
        if toleration.text("key").isEmpty { return op == "Exists" }
        return toleration.text("key") == key && (op == "Exists" || toleration.text("value").isEmpty)
    }

    /// Priority plugin: the priority (and preemption policy) of the named class, or of the
    /// global default class, or 0 with PreemptLowerPriority when there is none.
    private static func priority(_ pod: inout JSON, classes: [PriorityClassInfo]) throws(APIStatus) {
        let name = pod["spec"]?["priorityClassName"]?.string ?? ""
        let chosen: PriorityClassInfo
        if name.isEmpty {
            chosen = classes.filter(\.globalDefault).min { $0.value < $1.value } ?? PriorityClassInfo(name: "", value: defaultPriority)
        } else if let found = classes.first(where: { $0.name == name }) {
            chosen = found
        } else {
            let pod = pod["metadata"]?["name"]?.string ?? ""
            throw APIStatus(
                code: 403, reason: .forbidden, message: "pods \"\(pod)\" is forbidden: no PriorityClass with name \(name) was found")
        }
        pod.editStruct("spec") { spec in
            if !chosen.name.isEmpty { spec["priorityClassName"] = .string(chosen.name) }
            spec["priority"] = .number(JSONNumber(chosen.value))
            spec["preemptionPolicy"] = .string(chosen.preemptionPolicy)
        }
    }

    /// TaintNodesByCondition: a new node is tainted not-ready (NoSchedule) until kubelet says otherwise.
    private static func taintNotReady(_ node: inout JSON) {
        node.editStruct("spec") { spec in
            let key = "node.kubernetes.io/not-ready"
            let taints = spec.list("taints")
            guard !taints.contains(where: { $0.text("key") == key && $0.text("effect") == "NoSchedule" }) else { return }
            spec["taints"] = .array(taints + [["key": .string(key), "effect": "NoSchedule"]])
        }
    }
}
