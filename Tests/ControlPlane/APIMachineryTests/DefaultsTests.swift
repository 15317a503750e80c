import APIMachinery
import Testing

/// Defaulting of kubectl-style objects, compared with what a 1.32 kube-apiserver returns for
/// `kubectl create` of the same object (expected values from pkg/apis/*/v1/defaults.go and
/// defaults_test.go, the registry strategies and the default admission plugins; JSON member
/// order is not compared, as kube's follows Go struct order).
@Suite struct DefaultsTests {
    private func resource(_ group: String, _ name: String) throws -> ResourceInfo {
        try #require(BuiltinResources.resource(group: group, version: group.isEmpty ? "v1" : "v1", name: name))
    }

    private func defaulted(_ object: JSON, _ group: String, _ name: String) throws -> JSON {
        var object = object
        Defaults.apply(to: &object, resource: try resource(group, name))
        return object
    }

    /// The fields SetDefaults_Container and the serializer give a bare container.
    private func container(_ name: String, _ image: String, pull: String) -> JSON {
        [
            "name": .string(name), "image": .string(image), "imagePullPolicy": .string(pull), "resources": [:],
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
        ]
    }

    /// SetDefaults_PodSpec on a template's spec (no enableServiceLinks: that is SetDefaults_Pod's).
    private func templateSpec(_ containers: [JSON]) -> JSON {
        [
            "containers": .array(containers), "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "securityContext": [:], "schedulerName": "default-scheduler"
        ]
    }

    @Test func podGetsPodSpecAndContainerDefaults() throws {
        let pod: JSON = [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "web", "namespace": "default"],
            "spec": [
                "containers": [
                    ["name": "web", "image": "nginx"], ["name": "side", "image": "busybox:1.36", "ports": [["containerPort": 80]]]
                ]
            ]
        ]
        var side = container("side", "busybox:1.36", pull: "IfNotPresent")
        side["ports"] = [["containerPort": 80, "protocol": "TCP"]]
        var spec = templateSpec([container("web", "nginx", pull: "Always"), side])
        spec["enableServiceLinks"] = true
        let expected: JSON = [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "web", "namespace": "default"], "spec": spec, "status": [:]
        ]
        #expect(try defaulted(pod, "", "pods") == expected)
    }

    @Test func explicitZeroOnAPointerIsKept() throws {
        let pod: JSON = ["spec": ["terminationGracePeriodSeconds": 0, "enableServiceLinks": false, "containers": []]]
        let out = try defaulted(pod, "", "pods")
        #expect(out["spec"]?["terminationGracePeriodSeconds"] == 0)
        #expect(out["spec"]?["enableServiceLinks"] == false)
    }

    @Test func imagePullPolicyFollowsTheTag() {
        // parsers.ParseImageName: no tag means latest; a digest alone is no tag.
        #expect(ImageReference.pullPolicy(for: "nginx") == "Always")
        #expect(ImageReference.pullPolicy(for: "nginx:latest") == "Always")
        #expect(ImageReference.pullPolicy(for: "nginx:1.25") == "IfNotPresent")
        #expect(ImageReference.pullPolicy(for: "localhost:5000/app") == "Always")
        #expect(ImageReference.pullPolicy(for: "localhost:5000/app:v2") == "IfNotPresent")
        #expect(
            ImageReference.pullPolicy(for: "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
                == "IfNotPresent")
        #expect(ImageReference.pullPolicy(for: "") == "IfNotPresent")
    }

    @Test func podRequestsDefaultToLimitsAndQuantitiesAreCanonical() throws {
        let pod: JSON = [
            "spec": [
                "containers": [
                    ["name": "a", "image": "a:1", "resources": ["limits": ["cpu": "0.5", "memory": "1024Mi"], "requests": ["cpu": "100m"]]]
                ]
            ]
        ]
        let out = try defaulted(pod, "", "pods")
        let resources = out["spec"]?["containers"]?[0]?["resources"]
        #expect(resources == ["limits": ["cpu": "500m", "memory": "1Gi"], "requests": ["cpu": "100m", "memory": "1Gi"]])
    }

    @Test func quantitiesPrintAsKubeDoes() throws {
        // apimachinery quantity_test.go canonical forms.
        let cases: [(String, String)] = [
            ("0.5", "500m"), ("1000m", "1"), ("1.5Gi", "1536Mi"), ("1024", "1024"), ("2048Ki", "2Mi"), ("1e3", "1e3"),
            ("1.5e3", "1500"), ("100M", "100M"), ("0.1m", "1m"), ("0", "0"), ("512Mi", "512Mi"), ("500Mi", "500Mi"), ("0.5Gi", "512Mi")
        ]
        for (text, canonical) in cases {
            var q = try Quantity(parsing: text)
            q.round(toScale: Quantity.milliScale)
            #expect(q.description == canonical, "\(text)")
        }
        #expect(throws: Quantity.ParseError.formatWrong) { try Quantity(parsing: "1x") }
        #expect(throws: Quantity.ParseError.suffix) { try Quantity(parsing: "1e") }
    }

    @Test func deploymentGetsAppsDefaultsAndTemplateDefaults() throws {
        let deployment: JSON = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "labels": ["app": "web"]],
            "spec": [
                "selector": ["matchLabels": ["app": "web"]],
                "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "nginx", "image": "nginx:1.25"]]]]
            ]
        ]
        let expected: JSON = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "labels": ["app": "web"]],
            "spec": [
                "replicas": 1, "selector": ["matchLabels": ["app": "web"]],
                "template": [
                    "metadata": ["creationTimestamp": nil, "labels": ["app": "web"]],
                    "spec": templateSpec([container("nginx", "nginx:1.25", pull: "IfNotPresent")])
                ],
                "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "25%", "maxSurge": "25%"]],
                "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
            ],
            "status": [:]
        ]
        #expect(try defaulted(deployment, "apps", "deployments") == expected)
    }

    @Test func recreateStrategyGetsNoRollingUpdate() throws {
        let deployment: JSON = ["spec": ["strategy": ["type": "Recreate"], "replicas": 0]]
        let out = try defaulted(deployment, "apps", "deployments")
        #expect(out["spec"]?["strategy"] == ["type": "Recreate"])
        #expect(out["spec"]?["replicas"] == 0)
    }

    @Test func statefulSetAndDaemonSetDefaults() throws {
        let sts = try defaulted(["spec": ["template": ["spec": ["containers": []]]]], "apps", "statefulsets")
        #expect(sts["spec"]?["podManagementPolicy"] == "OrderedReady")
        #expect(sts["spec"]?["updateStrategy"] == ["type": "RollingUpdate", "rollingUpdate": ["partition": 0]])
        #expect(sts["spec"]?["persistentVolumeClaimRetentionPolicy"] == ["whenDeleted": "Retain", "whenScaled": "Retain"])
        #expect(sts["spec"]?["replicas"] == 1)
        #expect(sts["spec"]?["revisionHistoryLimit"] == 10)
        #expect(sts["status"] == ["replicas": 0, "availableReplicas": 0])
        let ds = try defaulted(["spec": [:]], "apps", "daemonsets")
        #expect(ds["spec"]?["updateStrategy"] == ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 1, "maxSurge": 0]])
        #expect(ds["spec"]?["revisionHistoryLimit"] == 10)
    }

    @Test func serviceGetsTargetPortFromPortAfterProtocol() throws {
        let service: JSON = [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "web"],
            "spec": [
                "selector": ["app": "web"], "ports": [["port": 80], ["name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"]]
            ]
        ]
        let expected: JSON = [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "web"],
            "spec": [
                "selector": ["app": "web"],
                "ports": [
                    ["port": 80, "protocol": "TCP", "targetPort": 80], ["name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"]
                ],
                "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"
            ],
            "status": ["loadBalancer": [:]]
        ]
        #expect(try defaulted(service, "", "services") == expected)
    }

    @Test func loadBalancerServiceDefaults() throws {
        let out = try defaulted(["spec": ["type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [["port": 443]]]], "", "services")
        #expect(out["spec"]?["externalTrafficPolicy"] == "Cluster")
        #expect(out["spec"]?["allocateLoadBalancerNodePorts"] == true)
        #expect(out["spec"]?["sessionAffinityConfig"] == ["clientIP": ["timeoutSeconds": 10800]])
        let external = try defaulted(["spec": ["type": "ExternalName", "externalName": "example.com"]], "", "services")
        #expect(external["spec"]?["internalTrafficPolicy"] == nil)
    }

    @Test func jobDefaultsAndSelector() throws {
        var job: JSON = [
            "apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": "pi", "namespace": "default", "uid": "u-1"],
            "spec": ["template": ["spec": ["containers": [["name": "pi", "image": "perl:5.34"]], "restartPolicy": "Never"]]]
        ]
        Defaults.apply(to: &job, resource: try resource("batch", "jobs"))
        CreateStrategy.prepare(&job, resource: try resource("batch", "jobs"))
        var spec = templateSpec([container("pi", "perl:5.34", pull: "IfNotPresent")])
        spec["restartPolicy"] = "Never"
        let labels: JSON = [
            "batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi", "controller-uid": "u-1", "job-name": "pi"
        ]
        let expected: JSON = [
            "apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": "pi", "namespace": "default", "uid": "u-1", "generation": 1],
            "spec": [
                "parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": false,
                "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false,
                "selector": ["matchLabels": ["batch.kubernetes.io/controller-uid": "u-1"]],
                "template": ["metadata": ["creationTimestamp": nil, "labels": labels], "spec": spec]
            ],
            "status": [:]
        ]
        #expect(job == expected)
    }

    @Test func jobWithParallelismOnlyKeepsCompletionsUnset() throws {
        let out = try defaulted(["spec": ["parallelism": 3, "backoffLimitPerIndex": 1, "template": [:]]], "batch", "jobs")
        #expect(out["spec"]?["completions"] == nil)
        #expect(out["spec"]?["backoffLimit"] == 2_147_483_647)
    }

    @Test func cronJobDefaultsLeaveTheJobTemplateToPodSpecDefaults() throws {
        let cronJob: JSON = [
            "spec": [
                "schedule": "*/1 * * * *",
                "jobTemplate": [
                    "metadata": ["name": "hello"],
                    "spec": ["template": ["spec": ["containers": [["name": "hello", "image": "busybox"]], "restartPolicy": "OnFailure"]]]
                ]
            ]
        ]
        var spec = templateSpec([container("hello", "busybox", pull: "Always")])
        spec["restartPolicy"] = "OnFailure"
        let expected: JSON = [
            "spec": [
                "schedule": "*/1 * * * *", "concurrencyPolicy": "Allow", "suspend": false, "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": [
                    "metadata": ["name": "hello", "creationTimestamp": nil],
                    "spec": ["template": ["metadata": ["creationTimestamp": nil], "spec": spec]]
                ]
            ],
            "status": [:]
        ]
        #expect(try defaulted(cronJob, "batch", "cronjobs") == expected)
    }

    @Test func namespaceGetsNameLabelPhaseAndFinalizer() throws {
        var ns: JSON = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team-a"]]
        let info = try resource("", "namespaces")
        Defaults.apply(to: &ns, resource: info)
        CreateStrategy.prepare(&ns, resource: info)
        let expected: JSON = [
            "apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team-a", "labels": ["kubernetes.io/metadata.name": "team-a"]],
            "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"]
        ]
        #expect(ns == expected)
    }

    @Test func secretTypeDefaultsToOpaque() throws {
        let secret: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"], "data": ["k": "dg=="]]
        let expected: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"], "data": ["k": "dg=="], "type": "Opaque"]
        #expect(try defaulted(secret, "", "secrets") == expected)
        #expect(try defaulted(["type": "kubernetes.io/tls"], "", "secrets")["type"] == "kubernetes.io/tls")
    }

    @Test func volumeDefaults() throws {
        let pod: JSON = [
            "spec": [
                "containers": [],
                "volumes": [["name": "scratch"], ["name": "cfg", "configMap": ["name": "c"]], ["name": "host", "hostPath": ["path": "/x"]]]
            ]
        ]
        let volumes = try defaulted(pod, "", "pods")["spec"]?["volumes"]
        #expect(
            volumes == [
                ["name": "scratch", "emptyDir": [:]], ["name": "cfg", "configMap": ["name": "c", "defaultMode": 420]],
                ["name": "host", "hostPath": ["path": "/x", "type": ""]]
            ])
    }

    @Test func probeAndRbacAndPriorityClassDefaults() throws {
        let pod: JSON = ["spec": ["containers": [["name": "a", "image": "a:1", "livenessProbe": ["httpGet": ["port": 8080]]]]]]
        let probe = try defaulted(pod, "", "pods")["spec"]?["containers"]?[0]?["livenessProbe"]
        #expect(
            probe == [
                "httpGet": ["port": 8080, "path": "/", "scheme": "HTTP"], "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                "failureThreshold": 3
            ])
        let binding = try defaulted(
            [
                "roleRef": ["kind": "ClusterRole", "name": "view"],
                "subjects": [["kind": "User", "name": "jane"], ["kind": "ServiceAccount", "name": "sa"]]
            ],
            "rbac.authorization.k8s.io", "rolebindings")
        #expect(binding["roleRef"] == ["kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"])
        #expect(
            binding["subjects"] == [
                ["kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"],
                ["kind": "ServiceAccount", "name": "sa", "apiGroup": ""]
            ])
        let pc = try defaulted(["value": 1000], "scheduling.k8s.io", "priorityclasses")
        #expect(pc == ["value": 1000, "preemptionPolicy": "PreemptLowerPriority"])
    }

    @Test func admissionFillsServiceAccountTolerationsAndPriority() throws {
        var pod: JSON = ["metadata": ["name": "web"], "spec": ["containers": [["name": "web", "image": "nginx"]]]]
        let info = try resource("", "pods")
        Defaults.apply(to: &pod, resource: info)
        var counter = 0
        try Admission.apply(to: &pod, resource: info) {
            counter += 1
            return counter
        }
        CreateStrategy.prepare(&pod, resource: info)
        let spec = try #require(pod["spec"])
        #expect(spec["serviceAccountName"] == "default")
        #expect(spec["serviceAccount"] == "default")
        #expect(spec["priority"] == 0)
        #expect(spec["preemptionPolicy"] == "PreemptLowerPriority")
        #expect(
            spec["tolerations"] == [
                ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300],
                ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300]
            ])
        // Names.generate picks alphabet[random % 27]: 1...5 -> "cdfgh".
        #expect(spec["volumes"]?[0]?["name"] == "kube-api-access-cdfgh")
        #expect(
            spec["containers"]?[0]?["volumeMounts"] == [
                ["name": "kube-api-access-cdfgh", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"]
            ])
        #expect(pod["status"] == ["phase": "Pending", "qosClass": "BestEffort"])
        var unknown: JSON = ["metadata": ["name": "p"], "spec": ["priorityClassName": "gold"]]
        #expect(throws: APIStatus.self) { try Admission.apply(to: &unknown, resource: info) }
    }

    @Test func qosClasses() {
        let guaranteed: JSON = [
            "containers": [["resources": ["limits": ["cpu": "1", "memory": "1Gi"], "requests": ["cpu": "1000m", "memory": "1Gi"]]]]
        ]
        let burstable: JSON = ["containers": [["resources": ["requests": ["cpu": "100m"]]]]]
        #expect(CreateStrategy.qosClass(guaranteed) == "Guaranteed")
        #expect(CreateStrategy.qosClass(burstable) == "Burstable")
        #expect(CreateStrategy.qosClass(["containers": [[:]]]) == "BestEffort")
    }
}
