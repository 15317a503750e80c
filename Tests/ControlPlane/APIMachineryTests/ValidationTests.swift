import APIMachinery
import Testing

/// Validation error strings, compared with Kubernetes 1.32's (messages from apimachinery's
/// pkg/util/validation and pkg/api/validation, and pkg/apis/*/validation; the field error form
/// from pkg/util/validation/field/errors.go).
@Suite struct ValidationTests {
    private func resource(_ group: String, _ name: String) throws -> ResourceInfo {
        try #require(BuiltinResources.resource(group: group, version: "v1", name: name))
    }

    /// Defaults then validates (as the create path does) and prints each error.
    private func errors(_ object: JSON, _ group: String, _ name: String, old: JSON? = nil) throws -> [String] {
        let info = try resource(group, name)
        var object = object
        Defaults.apply(to: &object, resource: info)
        var previous = old
        if previous != nil { Defaults.apply(to: &previous!, resource: info) }
        return Validation.validate(object, resource: info, old: previous).map(\.description)
    }

    private func pod(_ spec: JSON, name: String = "web") -> JSON {
        ["metadata": ["name": .string(name), "namespace": "default"], "spec": spec]
    }

    private let labelValueMessage =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        + "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        + "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

    @Test func objectMetaNamesAndLabels() throws {
        #expect(
            try errors(["metadata": ["namespace": "default"], "spec": ["containers": [["name": "a", "image": "a"]]]], "", "pods")
                == ["metadata.name: Required value: name or generateName is required"])
        let bad = try errors(pod(["containers": [["name": "a", "image": "a"]]], name: "Web_1"), "", "pods")
        #expect(
            bad == [
                #"metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#
            ])
        var labelled = pod(["containers": [["name": "a", "image": "a"]]])
        labelled["metadata"]?["labels"] = ["app": "-bad"]
        #expect(try errors(labelled, "", "pods") == [#"metadata.labels: Invalid value: "-bad": "# + labelValueMessage])
        let ns = try errors(["metadata": ["name": "a.b"]], "", "namespaces")
        #expect(ns == [#"metadata.name: Invalid value: "a.b": must not contain dots"#])
    }

    @Test func regexExamplesAreJoinedAsKubeDoes() {
        // RegexError joins examples with "or " after "', " (the double space is Kubernetes').
        #expect(Rules.labelValue("-x") == [labelValueMessage])
        #expect(
            Rules.configMapKey("a b") == [
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ])
        #expect(Rules.qualifiedName("a/b/c").count == 1)
        #expect(Rules.qualifiedName("example.com/") == ["name part must be non-empty", Rules.qualifiedName("").last!])
    }

    @Test func ownerReferencesFinalizersAndAnnotations() throws {
        var p = pod(["containers": [["name": "a", "image": "a"]]])
        p["metadata"]?["ownerReferences"] = [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"]]
        p["metadata"]?["finalizers"] = ["orphan", "foregroundDeletion"]
        p["metadata"]?["annotations"] = ["big": .string(String(repeating: "x", count: 256 * 1024))]
        #expect(
            try errors(p, "", "pods") == [
                #"metadata.annotations: Too long: may not be more than 262144 bytes"#,
                #"metadata.ownerReferences.uid: Invalid value: "": uid must not be empty"#,
                #"metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set"#
            ])
    }

    @Test func metadataUpdateKeepsIdentity() throws {
        let old: JSON = ["metadata": ["name": "web", "namespace": "default", "uid": "1", "creationTimestamp": "2024-05-01T10:00:00Z"]]
        let new: JSON = ["metadata": ["name": "web", "namespace": "default", "uid": "2", "creationTimestamp": "2024-05-02T10:00:00Z"]]
        #expect(
            Validation.metadataUpdate(new["metadata"], old["metadata"]).map(\.description) == [
                #"metadata.uid: Invalid value: "2": field is immutable"#,
                "metadata.creationTimestamp: Invalid value: 2024-05-02 10:00:00 +0000 UTC: field is immutable"
            ])
    }

    @Test func podContainers() throws {
        #expect(try errors(pod(["containers": []]), "", "pods") == ["spec.containers: Required value"])
        let spec: JSON = [
            "containers": [
                ["name": "a", "image": "nginx", "ports": [["containerPort": 70000, "protocol": "HTTP"]]], ["name": "a"]
            ],
            "restartPolicy": "Sometimes"
        ]
        #expect(
            try errors(pod(spec), "", "pods") == [
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                #"spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP""#,
                "spec.containers[1].image: Required value",
                #"spec.containers[1].name: Duplicate value: "a""#,
                #"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#
            ])
    }

    @Test func podResourcesEnvAndMounts() throws {
        let spec: JSON = [
            "containers": [
                [
                    "name": "a", "image": "a", "env": [["name": "1X"]], "volumeMounts": [["name": "data", "mountPath": "/d"]],
                    "resources": ["limits": ["cpu": "500m"], "requests": ["cpu": "1"]]
                ]
            ],
            "volumes": [["name": "cfg", "configMap": ["name": "c"], "secret": ["secretName": "s"]]]
        ]
        #expect(
            try errors(pod(spec), "", "pods") == [
                "spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
                #"spec.containers[0].env[0].name: Invalid value: "1X": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"#,
                #"spec.containers[0].volumeMounts[0].name: Not found: "data""#,
                #"spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m"#
            ])
    }

    @Test func podUpdateMayOnlyChangeImagesAndAFewFields() throws {
        let old = pod(["containers": [["name": "a", "image": "a:1"]]])
        var new = old
        new["spec"]?["containers"] = [["name": "a", "image": "a:2"]]
        #expect(try errors(new, "", "pods", old: old).isEmpty)
        new["spec"]?["restartPolicy"] = "Never"
        let message = try errors(new, "", "pods", old: old)
        #expect(
            message == [
                "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
            ])
    }

    private func deployment(selector: JSON, labels: JSON, replicas: JSON = 1) -> JSON {
        [
            "metadata": ["name": "web", "namespace": "default"],
            "spec": [
                "replicas": replicas, "selector": selector,
                "template": ["metadata": ["labels": labels], "spec": ["containers": [["name": "a", "image": "a"]]]]
            ]
        ]
    }

    @Test func deploymentSelectorAndReplicas() throws {
        let d = deployment(selector: ["matchLabels": ["app": "web"]], labels: ["app": "other"], replicas: -1)
        #expect(
            try errors(d, "apps", "deployments") == [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                #"spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`"#
            ])
        #expect(
            try errors(deployment(selector: [:], labels: ["app": "web"]), "apps", "deployments") == [
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ])
        var never = deployment(selector: ["matchLabels": ["app": "web"]], labels: ["app": "web"])
        never["spec"]?["template"]?["spec"]?["restartPolicy"] = "Never"
        #expect(
            try errors(never, "apps", "deployments") == [
                #"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#
            ])
        let old = deployment(selector: ["matchLabels": ["app": "web"]], labels: ["app": "web", "v": "2"])
        let changed = deployment(selector: ["matchLabels": ["v": "2"]], labels: ["app": "web", "v": "2"])
        #expect(
            try errors(changed, "apps", "deployments", old: old) == [
                #"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
            ])
    }

    @Test func deploymentStrategy() throws {
        var d = deployment(selector: ["matchLabels": ["app": "web"]], labels: ["app": "web"])
        d["spec"]?["strategy"] = ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 0, "maxSurge": "0%"]]
        #expect(
            try errors(d, "apps", "deployments") == [
                #"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0"#
            ])
    }

    @Test func services() throws {
        let meta: JSON = ["name": "web", "namespace": "default"]
        #expect(try errors(["metadata": meta, "spec": [:]], "", "services") == ["spec.ports: Required value"])
        let spec: JSON = ["type": "Cluster", "ports": [["port": 80], ["name": "b", "port": 0, "protocol": "ICMP"]]]
        #expect(
            try errors(["metadata": meta, "spec": spec], "", "services") == [
                "spec.ports[0].name: Required value",
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                #"spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
                // targetPort was defaulted from the invalid port, so it fails too.
                "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                #"spec.type: Unsupported value: "Cluster": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#
            ])
        let nodePort: JSON = ["ports": [["port": 80, "nodePort": 30080]]]
        #expect(
            try errors(["metadata": meta, "spec": nodePort], "", "services") == [
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
            ])
        #expect(
            try errors(["metadata": ["name": "Web", "namespace": "default"], "spec": ["ports": [["port": 80]]]], "", "services").count == 1)
    }

    @Test func configMapsAndSecrets() throws {
        let meta: JSON = ["name": "c", "namespace": "default"]
        #expect(
            try errors(["metadata": meta, "data": ["bad key": "v"]], "", "configmaps") == [
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ])
        #expect(
            try errors(["metadata": meta, "data": ["big": .string(String(repeating: "x", count: 1024 * 1024 + 1))]], "", "configmaps") == [
                ": Too long: may not be more than 1048576 bytes"
            ])
        #expect(
            try errors(["metadata": meta, "type": "kubernetes.io/tls", "data": ["tls.crt": "YQ=="]], "", "secrets") == [
                "data[tls.key]: Required value"
            ])
        #expect(
            try errors(["metadata": meta, "type": "kubernetes.io/dockerconfigjson"], "", "secrets") == [
                "data[.dockerconfigjson]: Required value"
            ])
        let old: JSON = ["metadata": meta, "immutable": true, "data": ["a": "YQ=="]]
        #expect(
            try errors(["metadata": meta, "immutable": true, "data": ["a": "Yg=="]], "", "secrets", old: old) == [
                "data: Forbidden: field is immutable when `immutable` is set"
            ])
    }

    @Test func jobsAndCronJobs() throws {
        var job: JSON = [
            "metadata": ["name": "pi", "namespace": "default"],
            "spec": [
                "parallelism": -1, "selector": ["matchLabels": ["job": "pi"]],
                "template": ["metadata": ["labels": ["job": "pi"]], "spec": ["containers": [["name": "pi", "image": "perl"]]]]
            ]
        ]
        #expect(
            try errors(job, "batch", "jobs") == [
                "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
                #"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
            ])
        job["spec"]?["parallelism"] = 1
        job["spec"]?["template"]?["spec"]?["restartPolicy"] = "Never"
        #expect(try errors(job, "batch", "jobs").isEmpty)
        let cron: JSON = [
            "metadata": ["name": "hello", "namespace": "default"],
            "spec": [
                "schedule": "61 * * * *",
                "jobTemplate": [
                    "spec": ["template": ["spec": ["containers": [["name": "h", "image": "busybox"]], "restartPolicy": "OnFailure"]]]
                ]
            ]
        ]
        #expect(
            try errors(cron, "batch", "cronjobs") == [
                #"spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61"#
            ])
    }

    @Test func cronParserMessages() {
        // robfig/cron v3 ParseStandard errors, as kube puts them in spec.schedule.
        #expect(Cron.problem(in: "*/5 * * * *") == nil)
        #expect(Cron.problem(in: "0 9 * * mon-fri") == nil)
        #expect(Cron.problem(in: "@hourly") == nil)
        #expect(Cron.problem(in: "foo") == "expected exactly 5 fields, found 1: [foo]")
        #expect(Cron.problem(in: "5-3 * * * *") == "beginning of range (5) beyond end of range (3): 5-3")
        #expect(Cron.problem(in: "x * * * *") == #"failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax"#)
        #expect(Cron.problem(in: "* * 0 * *") == "beginning of range (0) below minimum (1): 0")
        #expect(Cron.problem(in: "@often") == "unrecognized descriptor: @often")
    }

    @Test func priorityClassesLeasesAndRBAC() throws {
        #expect(
            try errors(["metadata": ["name": "huge"], "value": 2_000_000_000], "scheduling.k8s.io", "priorityclasses") == [
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
            ])
        #expect(
            try errors(
                ["metadata": ["name": "p"], "value": 2], "scheduling.k8s.io", "priorityclasses",
                old: ["metadata": ["name": "p"], "value": 1]) == [
                    "value: Forbidden: may not be changed in an update."
                ])
        #expect(
            try errors(
                ["metadata": ["name": "l", "namespace": "default"], "spec": ["leaseDurationSeconds": 0]], "coordination.k8s.io", "leases")
                == [
                    "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
                ])
        #expect(
            try errors(
                ["metadata": ["name": "r", "namespace": "default"], "rules": [["apiGroups": [""], "resources": ["pods"]]]],
                "rbac.authorization.k8s.io", "roles") == [
                    "rules[0].verbs: Required value: verbs must contain at least one value"
                ])
        #expect(
            try errors(
                ["metadata": ["name": "b"], "roleRef": ["kind": "Role", "name": "r"], "subjects": [["kind": "Robot", "name": "x"]]],
                "rbac.authorization.k8s.io", "clusterrolebindings") == [
                    #"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#,
                    #"subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group""#
                ])
    }

    @Test func invalidStatusListsDistinctMessages() {
        let one = FieldError.invalid("spec.replicas", "-1", "must be greater than or equal to 0")
        let status = APIStatus.invalid(kind: "Deployment", group: "apps", name: "web", errors: [one, one])
        // errors.NewInvalid: the aggregate drops the repeated message; both are causes.
        #expect(
            status.message == #"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#)
        #expect(status.details?.causes.count == 2)
        #expect(APIStatus.invalid(kind: "Pod", group: "", name: "p", errors: []).message == #"Pod "p" is invalid"#)
        #expect(FieldError.tooMany("spec.x", actual: 5, max: 3).description == "spec.x: Too many: 5: must have at most 3 items")
    }
}
