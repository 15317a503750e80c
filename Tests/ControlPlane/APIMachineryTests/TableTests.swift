import APIMachinery
import Testing

// Expected values come from Kubernetes 1.32's printers (pkg/printers/internalversion/printers.go
// and the cases of its printers_test.go), apimachinery's duration.HumanDuration, the default
// table convertor (k8s.io/apiserver pkg/registry/rest/table.go), kube-aggregator's APIService
// convertor and apiextensions-apiserver's custom resource table convertor.

/// A fixed "now" (2023-11-14T22:13:20Z) so that ages are deterministic.
private let now: Int64 = 1_700_000_000

/// The RFC 3339 timestamp `seconds` before `now`.
private func ago(_ seconds: Int64) -> JSON { .string(TableTime.format(TableInstant(seconds: now - seconds))) }

/// A built-in resource (all the tested ones are served at v1).
private func resource(_ group: String, _ name: String) -> ResourceInfo {
    guard let info = BuiltinResources.resource(group: group, version: "v1", name: name) else {
        preconditionFailure("no built-in resource \(group)/\(name)")
    }
    return info
}

private func cells(_ group: String, _ name: String, _ object: JSON) -> [JSON] {
    TablePrinter.cells(for: resource(group, name), object: object, now: now)
}

/// Column definitions as `Name:type[:format][:wide]`, compact enough to compare whole lists.
private func columnSummary(_ group: String, _ name: String) -> [String] {
    TablePrinter.columns(for: resource(group, name)).map { column in
        [column.name, column.type] + (column.format.isEmpty ? [] : [column.format]) + (column.priority == 1 ? ["wide"] : [])
    }.map { $0.joined(separator: ":") }
}

@Suite struct TableTimeTests {
    @Test func parsesRFC3339WithFractionsAndOffsets() throws {
        #expect(TableTime.parse("2024-01-02T03:04:05Z") == TableInstant(seconds: 1_704_164_645))
        #expect(TableTime.parse("2024-01-02T03:04:05.5Z") == TableInstant(seconds: 1_704_164_645, nanoseconds: 500_000_000))
        #expect(TableTime.parse("2024-01-02T03:04:05.123456789123Z") == TableInstant(seconds: 1_704_164_645, nanoseconds: 123_456_789))
        #expect(TableTime.parse("2024-01-02T04:04:05+01:00") == TableInstant(seconds: 1_704_164_645))
        #expect(TableTime.parse("2024-01-01T22:34:05-04:30") == TableInstant(seconds: 1_704_164_645))
        #expect(TableTime.parse("2024-02-29T00:00:00Z") != nil)
        #expect(TableTime.parse("1970-01-01T00:00:00Z") == TableInstant(seconds: 0))
        #expect(TableTime.parse("0001-01-01T00:00:00Z") == .zero)
    }

    @Test func rejectsWhatGoRejects() {
        for text in [
            "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-02T24:00:00Z", "2024-01-02T03:60:00Z", "2024-01-02T03:04:60Z",
            "2024-01-02t03:04:05Z", "2024-01-02T03:04:05", "2024-01-02T03:04:05z", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+0100", "", "yesterday"
        ] {
            #expect(TableTime.parse(text) == nil, "\(text)")
        }
    }

    @Test func formatsAsMetav1TimeWrites() {
        #expect(TableTime.format(TableInstant(seconds: 1_704_164_645, nanoseconds: 999)) == "2024-01-02T03:04:05Z")
        #expect(TableTime.format(TableInstant(seconds: 0)) == "1970-01-01T00:00:00Z")
        #expect(TableTime.format(TableInstant(seconds: -1)) == "1969-12-31T23:59:59Z")
        #expect(TableTime.format(.zero) == "0001-01-01T00:00:00Z")
        #expect(TableTime.format(TableInstant(seconds: 951_782_400)) == "2000-02-29T00:00:00Z")
    }

    /// duration.HumanDuration's steps (apimachinery's duration_test.go covers the same boundaries).
    @Test func humanDurationSteps() {
        let cases: [(Int64, String)] = [
            (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (200, "3m20s"), (599, "9m59s"), (600, "10m"), (179 * 60, "179m"),
            (3 * 3600, "3h"), (5 * 3600 + 600, "5h10m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
            (53 * 3600, "2d5h"), (191 * 3600, "7d23h"), (8 * 86_400, "8d"), (729 * 86_400, "729d"), (730 * 86_400, "2y"),
            (3 * 365 * 86_400 + 20 * 86_400, "3y20d"), (8 * 365 * 86_400, "8y"), (-1, "0s"), (-2, "<invalid>")
        ]
        for (seconds, text) in cases {
            #expect(TableTime.humanDuration(nanoseconds: seconds * 1_000_000_000) == text, "\(seconds)s")
        }
        // A second and a half in the future truncates to -1s: still "0s".
        #expect(TableTime.humanDuration(nanoseconds: -1_500_000_000) == "0s")
    }

    @Test func agesOfTimestamps() {
        let instant = TableInstant(seconds: now)
        #expect(TableTime.age(of: ago(300).string, now: instant) == "5m")
        #expect(TableTime.age(of: ago(3 * 3600).string, now: instant) == "3h")
        #expect(TableTime.age(of: ago(53 * 3600).string, now: instant) == "2d5h")
        #expect(TableTime.age(of: nil, now: instant) == "<unknown>")
        #expect(TableTime.age(of: "garbage", now: instant) == "<unknown>")
        #expect(TableTime.age(of: ago(-3600).string, now: instant) == "<invalid>")
        #expect(TableTime.age(of: ago(300).string, now: TableInstant(unixSeconds: Double(now) + 0.75)) == "5m")
    }
}

@Suite struct TablePodTests {
    private func pod(_ status: JSON, spec: JSON = ["containers": [["name": "a"], ["name": "b"]]], metadata: JSON = ["name": "test1"])
        -> JSON
    {
        ["metadata": metadata, "spec": spec, "status": status]
    }

    private func statusCells(_ pod: JSON) -> [JSON] { Array(cells("", "pods", pod).prefix(5)) }

    @Test func columnsAreKubernetesPodColumns() {
        #expect(
            columnSummary("", "pods") == [
                "Name:string:name", "Ready:string", "Status:string", "Restarts:string", "Age:string", "IP:string:wide",
                "Node:string:wide", "Nominated Node:string:wide", "Readiness Gates:string:wide"
            ])
    }

    @Test func phaseReadyAndRestarts() {
        let status: JSON = [
            "phase": "podPhase",
            "containerStatuses": [["ready": true, "restartCount": 3, "state": ["running": [:]]], ["restartCount": 3]]
        ]
        #expect(statusCells(pod(status)) == ["test1", "1/2", "podPhase", "6", "<unknown>"])
    }

    @Test func containerWaitingAndTerminatedReasons() {
        let waiting: JSON = [
            "phase": "podPhase",
            "containerStatuses": [
                ["state": ["waiting": ["reason": "ContainerWaitingReason"]], "restartCount": 3],
                ["state": ["terminated": ["reason": "ContainerTerminatedReason"]], "restartCount": 3]
            ]
        ]
        // Statuses are read from the last to the first: the first container's reason wins.
        #expect(statusCells(pod(waiting))[2] == "ContainerWaitingReason")
        let signal: JSON = ["phase": "Running", "containerStatuses": [["state": ["terminated": ["signal": 9, "exitCode": 137]]]]]
        #expect(statusCells(pod(signal))[2] == "Signal:9")
        let exit: JSON = ["phase": "Running", "containerStatuses": [["state": ["terminated": ["exitCode": 1]]]]]
        #expect(statusCells(pod(exit))[2] == "ExitCode:1")
    }

    @Test func completedContainerBesideARunningOneIsRunningOrNotReady() {
        var status: JSON = [
            "phase": "Running",
            "containerStatuses": [
                ["ready": true, "restartCount": 3, "state": ["running": [:]]],
                ["ready": true, "restartCount": 3, "state": ["terminated": ["reason": "Completed", "exitCode": 0]]]
            ],
            "conditions": [["type": "Ready", "status": "True"]]
        ]
        #expect(statusCells(pod(status)) == ["test1", "1/2", "Running", "6", "<unknown>"])
        status["conditions"] = []
        #expect(statusCells(pod(status))[2] == "NotReady")
    }

    @Test func initContainerReasons() {
        let spec: JSON = ["initContainers": [["name": "init"]], "containers": [["name": "app"]]]
        func initStatus(_ state: JSON) -> JSON {
            ["phase": "Pending", "initContainerStatuses": [["name": "init", "state": state, "restartCount": 2]]]
        }
        #expect(statusCells(pod(initStatus(["running": [:]]), spec: spec)) == ["test1", "0/1", "Init:0/1", "2", "<unknown>"])
        #expect(statusCells(pod(initStatus(["waiting": ["reason": "ImagePullBackOff"]]), spec: spec))[2] == "Init:ImagePullBackOff")
        #expect(statusCells(pod(initStatus(["waiting": ["reason": "PodInitializing"]]), spec: spec))[2] == "Init:0/1")
        #expect(statusCells(pod(initStatus(["terminated": ["exitCode": 1]]), spec: spec))[2] == "Init:ExitCode:1")
        #expect(statusCells(pod(initStatus(["terminated": ["exitCode": 1, "signal": 9]]), spec: spec))[2] == "Init:Signal:9")
        #expect(statusCells(pod(initStatus(["terminated": ["exitCode": 1, "reason": "Error"]]), spec: spec))[2] == "Init:Error")
        // A completed init container lets the app containers' state show.
        var done = initStatus(["terminated": ["exitCode": 0, "reason": "Completed"]])
        done["phase"] = "Running"
        done["containerStatuses"] = [["name": "app", "ready": true, "restartCount": 1, "state": ["running": [:]]]]
        #expect(statusCells(pod(done, spec: spec)) == ["test1", "1/1", "Running", "1", "<unknown>"])
    }

    @Test func sidecarContainersCountAsContainersAndRestarts() {
        let spec: JSON = [
            "initContainers": [["name": "sidecar", "restartPolicy": "Always"]], "containers": [["name": "app"]]
        ]
        let status: JSON = [
            "phase": "Running",
            "conditions": [["type": "Initialized", "status": "True"], ["type": "Ready", "status": "True"]],
            "initContainerStatuses": [
                [
                    "name": "sidecar", "started": true, "ready": true, "restartCount": 2, "state": ["running": [:]],
                    "lastState": ["terminated": ["exitCode": 1, "finishedAt": ago(300)]]
                ]
            ],
            "containerStatuses": [
                [
                    "name": "app", "ready": true, "restartCount": 1, "state": ["running": [:]],
                    "lastState": ["terminated": ["exitCode": 1, "finishedAt": ago(3600)]]
                ]
            ]
        ]
        #expect(statusCells(pod(status, spec: spec)) == ["test1", "2/2", "Running", "3 (5m ago)", "<unknown>"])
    }

    @Test func restartsShowHowLongAgoTheLastWas() {
        let status: JSON = [
            "phase": "Running",
            "containerStatuses": [
                [
                    "ready": true, "restartCount": 5, "state": ["running": [:]],
                    "lastState": ["terminated": ["exitCode": 2, "finishedAt": ago(3 * 3600)]]
                ]
            ]
        ]
        let spec: JSON = ["containers": [["name": "a"]]]
        #expect(
            statusCells(pod(status, spec: spec, metadata: ["name": "p", "creationTimestamp": ago(53 * 3600)])) == [
                "p", "1/1", "Running", "5 (3h ago)", "2d5h"
            ])
    }

    @Test func deletionShowsTerminatingOrUnknownForLostNodes() {
        let deleting: JSON = ["name": "test1", "deletionTimestamp": ago(10)]
        #expect(statusCells(pod(["phase": "Running"], metadata: deleting))[2] == "Terminating")
        #expect(statusCells(pod(["phase": "Running", "reason": "NodeLost"], metadata: deleting))[2] == "Unknown")
        // A pod that already finished keeps its phase while it is deleted.
        #expect(statusCells(pod(["phase": "Succeeded"], metadata: deleting))[2] == "Succeeded")
        #expect(statusCells(pod(["phase": "Running", "reason": "NodeLost"]))[2] == "NodeLost")
    }

    @Test func schedulingGatedPendingPod() {
        let status: JSON = [
            "phase": "Pending", "conditions": [["type": "PodScheduled", "status": "False", "reason": "SchedulingGated"]]
        ]
        #expect(statusCells(pod(status)) == ["test1", "0/2", "SchedulingGated", "0", "<unknown>"])
    }

    @Test func wideColumns() {
        let spec: JSON = [
            "containers": [["name": "a"]], "nodeName": "test1",
            "readinessGates": [["conditionType": "condition1"], ["conditionType": "condition2"]]
        ]
        let status: JSON = [
            "podIPs": [["ip": "1.1.1.1"], ["ip": "fd00::1"]], "nominatedNodeName": "node1",
            "conditions": [["type": "condition1", "status": "True"], ["type": "condition2", "status": "False"]]
        ]
        #expect(Array(cells("", "pods", pod(status, spec: spec)).suffix(4)) == ["1.1.1.1", "test1", "node1", "1/2"])
        #expect(Array(cells("", "pods", pod([:])).suffix(4)) == ["<none>", "<none>", "<none>", "<none>"])
        #expect(Array(cells("", "pods", pod(["podIP": "2.2.2.2"])).suffix(4)).first == "2.2.2.2")
    }
}

@Suite struct TableCoreTests {
    @Test func services() {
        #expect(
            columnSummary("", "services") == [
                "Name:string:name", "Type:string", "Cluster-IP:string", "External-IP:string", "Port(s):string", "Age:string",
                "Selector:string:wide"
            ])
        let clusterIP: JSON = [
            "metadata": ["name": "test1", "creationTimestamp": ago(300)],
            "spec": ["type": "ClusterIP", "ports": [["protocol": "TCP", "port": 2233]], "clusterIP": "10.9.8.7", "selector": ["foo": "bar"]]
        ]
        #expect(cells("", "services", clusterIP) == ["test1", "ClusterIP", "10.9.8.7", "<none>", "2233/TCP", "5m", "foo=bar"])
        let nodePort: JSON = [
            "metadata": ["name": "test1"],
            "spec": [
                "type": "NodePort", "ports": [["protocol": "TCP", "port": 8888, "nodePort": 9999], ["protocol": "UDP", "port": 53]],
                "clusterIPs": ["10.9.8.7", "fd00::7"]
            ]
        ]
        #expect(
            cells("", "services", nodePort) == ["test1", "NodePort", "10.9.8.7", "<none>", "8888:9999/TCP,53/UDP", "<unknown>", "<none>"])
    }

    @Test func serviceExternalIPs() {
        func external(_ spec: JSON, _ status: JSON = [:]) -> JSON {
            cells("", "services", ["metadata": ["name": "s"], "spec": spec, "status": status])[3]
        }
        #expect(external(["type": "ClusterIP", "externalIPs": ["1.2.3.4", "5.6.7.8"]]) == "1.2.3.4,5.6.7.8")
        #expect(external(["type": "LoadBalancer"]) == "<pending>")
        let ingress: JSON = ["loadBalancer": ["ingress": [["ip": "3.4.5.6"], ["ip": "2.3.4.5"], ["hostname": "lb.example.com"]]]]
        #expect(external(["type": "LoadBalancer"], ingress) == "2.3.4.5,3.4.5.6,lb.example.com")
        #expect(external(["type": "LoadBalancer", "externalIPs": ["80.11.12.10"]], ingress) == "2.3.4.5,3.4.5.6,lb.example.com,80.11.12.10")
        #expect(external(["type": "ExternalName", "externalName": "my.database.example.com"]) == "my.database.example.com")
        #expect(external([:]) == "<unknown>")
        let headless = cells("", "services", ["metadata": ["name": "h"], "spec": ["type": "ClusterIP", "clusterIP": "None"]])
        #expect(headless[2] == "None" && headless[4] == "<none>")
    }

    @Test func nodes() {
        #expect(
            columnSummary("", "nodes") == [
                "Name:string:name", "Status:string", "Roles:string", "Age:string", "Version:string", "Internal-IP:string:wide",
                "External-IP:string:wide", "OS-Image:string:wide", "Kernel-Version:string:wide", "Container-Runtime:string:wide"
            ])
        let node: JSON = [
            "metadata": [
                "name": "node1", "creationTimestamp": ago(3 * 86_400),
                "labels": ["node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "node-role.kubernetes.io/": "x"]
            ],
            "spec": ["unschedulable": true],
            "status": [
                "conditions": [["type": "MemoryPressure", "status": "False"], ["type": "Ready", "status": "True"]],
                "nodeInfo": [
                    "kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "containerRuntimeVersion": "containerd://1.7.24"
                ],
                "addresses": [["type": "Hostname", "address": "node1"], ["type": "InternalIP", "address": "10.0.0.5"]]
            ]
        ]
        #expect(
            cells("", "nodes", node) == [
                "node1", "Ready,SchedulingDisabled", "control-plane,worker", "3d", "v1.32.0", "10.0.0.5", "<none>",
                "Debian GNU/Linux 12 (bookworm)", "<unknown>", "containerd://1.7.24"
            ])
        let notReady: JSON = ["metadata": ["name": "n"], "status": ["conditions": [["type": "Ready", "status": "Unknown"]]]]
        #expect(cells("", "nodes", notReady)[1] == "NotReady" && cells("", "nodes", notReady)[2] == "<none>")
        #expect(cells("", "nodes", ["metadata": ["name": "n"]])[1] == "Unknown")
    }

    @Test func endpoints() {
        func text(_ subsets: JSON) -> JSON { cells("", "endpoints", ["metadata": ["name": "e"], "subsets": subsets])[1] }
        #expect(text([]) == "<none>")
        #expect(text([["addresses": [["ip": "127.0.0.1"]], "ports": [["port": 8080]]]]) == "127.0.0.1:8080")
        #expect(text([["addresses": [["ip": "fd00::1"]], "ports": [["port": 80]]]]) == "[fd00::1]:80")
        #expect(text([["addresses": [["ip": "10.0.0.1"], ["ip": "10.0.0.2"]]]]) == "10.0.0.1,10.0.0.2")
        let many: JSON = [
            ["addresses": [["ip": "1.1.1.1"], ["ip": "2.2.2.2"]], "ports": [["port": 80], ["port": 443]]]
        ]
        #expect(text(many) == "1.1.1.1:80,2.2.2.2:80,1.1.1.1:443 + 1 more...")
        #expect(text([["notReadyAddresses": [["ip": "1.1.1.1"]], "ports": [["port": 80]]]]) == "")
        #expect(columnSummary("", "endpoints") == ["Name:string:name", "Endpoints:string", "Age:string"])
    }

    /// printers_test.go's TestPrintEvent cases, with this test's clock.
    @Test func coreEvents() {
        #expect(
            columnSummary("", "events") == [
                "Last Seen:string", "Type:string", "Reason:string", "Object:string", "Subobject:string:wide", "Source:string:wide",
                "Message:string", "First Seen:string:wide", "Count:string:wide", "Name:string:name:wide"
            ])
        let event: JSON = [
            "metadata": ["name": "event1"], "source": ["component": "kubelet", "host": "Node1"],
            "involvedObject": ["kind": "Deployment", "name": "Deployment Name", "fieldPath": "spec.containers{foo}"],
            "reason": "Event Reason", "message": "Message Data\n", "firstTimestamp": ago(3 * 86_400), "lastTimestamp": ago(2 * 86_400),
            "count": 6, "type": "Normal"
        ]
        #expect(
            cells("", "events", event) == [
                "2d", "Normal", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data",
                "3d", 6, "event1"
            ])
        let series: JSON = [
            "metadata": ["name": "event2"], "eventTime": ago(3 * 86_400), "series": ["count": 2, "lastObservedTime": ago(2 * 86_400)],
            "reportingController": "kubelet", "reportingInstance": "Node1", "involvedObject": ["kind": "Pod"], "type": "Warning",
            "reason": "BackOff", "message": "  back-off  "
        ]
        #expect(
            cells("", "events", series) == ["2d", "Warning", "BackOff", "pod", "", "kubelet, Node1", "back-off", "3d", 2, "event2"])
        let bare: JSON = ["metadata": ["name": "e3"], "source": ["component": "scheduler"]]
        #expect(cells("", "events", bare) == ["<unknown>", "", "", "", "", "scheduler", "", "<unknown>", 1, "e3"])
    }

    @Test func eventsV1MapTheirRenamedFields() {
        let event: JSON = [
            "metadata": ["name": "event1"], "regarding": ["kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"],
            "note": "Pulled image", "type": "Normal", "reason": "Pulled", "deprecatedSource": ["component": "kubelet"],
            "reportingInstance": "node-a", "deprecatedFirstTimestamp": ago(600), "deprecatedLastTimestamp": ago(120),
            "deprecatedCount": 4
        ]
        #expect(
            cells("events.k8s.io", "events", event) == [
                "2m", "Normal", "Pulled", "pod/web-0", "spec.containers{app}", "kubelet, node-a", "Pulled image", "10m", 4, "event1"
            ])
        #expect(columnSummary("events.k8s.io", "events") == columnSummary("", "events"))
    }

    @Test func smallCoreResources() {
        let meta: JSON = ["name": "x", "creationTimestamp": ago(45)]
        #expect(cells("", "namespaces", ["metadata": meta, "status": ["phase": "Active"]]) == ["x", "Active", "45s"])
        #expect(cells("", "configmaps", ["metadata": meta, "data": ["a": "1", "b": "2"], "binaryData": ["c": "AA=="]]) == ["x", 3, "45s"])
        #expect(cells("", "configmaps", ["metadata": meta]) == ["x", 0, "45s"])
        #expect(cells("", "secrets", ["metadata": meta, "type": "Opaque", "data": ["u": "dQ==", "p": "cA=="]]) == ["x", "Opaque", 2, "45s"])
        #expect(cells("", "serviceaccounts", ["metadata": meta, "secrets": [["name": "t"]]]) == ["x", 1, "45s"])
        #expect(columnSummary("", "secrets") == ["Name:string:name", "Type:string", "Data:string", "Age:string"])
        #expect(columnSummary("", "configmaps") == ["Name:string:name", "Data:string", "Age:string"])
        #expect(columnSummary("", "serviceaccounts") == ["Name:string:name", "Secrets:string", "Age:string"])
        #expect(columnSummary("", "namespaces") == ["Name:string:name", "Status:string", "Age:string"])
    }

    @Test func replicationControllersAndPodTemplates() {
        let template: JSON = [
            "metadata": ["labels": ["tier": "frontend", "app": "web"]],
            "spec": [
                "containers": [["name": "fake-container1", "image": "fake-image1"], ["name": "fake-container2", "image": "fake-image2"]]
            ]
        ]
        let rc: JSON = [
            "metadata": ["name": "rc1", "creationTimestamp": ago(600)],
            "spec": ["replicas": 5, "selector": ["foo": "bar"], "template": template],
            "status": ["replicas": 5, "readyReplicas": 2]
        ]
        #expect(
            cells("", "replicationcontrollers", rc) == [
                "rc1", 5, 5, 2, "10m", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"
            ])
        #expect(cells("", "replicationcontrollers", ["metadata": ["name": "rc2"]]) == ["rc2", 0, 0, 0, "<unknown>", "", "", "<none>"])
        #expect(
            columnSummary("", "replicationcontrollers") == [
                "Name:string:name", "Desired:integer", "Current:integer", "Ready:integer", "Age:string", "Containers:string:wide",
                "Images:string:wide", "Selector:string:wide"
            ])
        let podTemplate: JSON = ["metadata": ["name": "pt"], "template": template]
        #expect(
            cells("", "podtemplates", podTemplate) == [
                "pt", "fake-container1,fake-container2", "fake-image1,fake-image2", "app=web,tier=frontend"
            ])
        #expect(columnSummary("", "podtemplates") == ["Name:string:name", "Containers:string", "Images:string", "Pod Labels:string"])
    }

    @Test func resourceQuotasSplitRequestsAndLimits() {
        let quota: JSON = [
            "metadata": ["name": "q", "creationTimestamp": ago(7200)],
            "status": [
                "hard": ["pods": "10", "limits.memory": "2Gi", "cpu": "1", "requests.memory": "1Gi"], "used": ["cpu": "500m", "pods": "3"]
            ]
        ]
        #expect(
            cells("", "resourcequotas", quota) == [
                "q", "cpu: 500m/1, pods: 3/10, requests.memory: 0/1Gi", "limits.memory: 0/2Gi", "120m"
            ])
        #expect(columnSummary("", "resourcequotas") == ["Name:string:name", "Request:string", "Limit:string", "Age:string"])
    }

    /// Resources without a printer get the default convertor: Name and Created At (RFC 3339).
    @Test func defaultConvertorForLimitRangesRolesAndCRDs() {
        for (group, name) in [
            ("", "limitranges"), ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles"),
            ("apiextensions.k8s.io", "customresourcedefinitions")
        ] {
            #expect(columnSummary(group, name) == ["Name:string:name", "Created At:date"])
            let object: JSON = ["metadata": ["name": "o", "creationTimestamp": "2024-01-02T04:04:05.25+01:00"]]
            #expect(cells(group, name, object) == ["o", "2024-01-02T03:04:05Z"])
            #expect(cells(group, name, ["metadata": ["name": "p"]]) == ["p", "0001-01-01T00:00:00Z"])
        }
    }
}

@Suite struct TableGroupTests {
    private let template: JSON = [
        "spec": ["containers": [["name": "fake-container1", "image": "fake-image1"], ["name": "fake-container2", "image": "fake-image2"]]]
    ]

    @Test func deployments() {
        #expect(
            columnSummary("apps", "deployments") == [
                "Name:string:name", "Ready:string", "Up-to-date:string", "Available:string", "Age:string", "Containers:string:wide",
                "Images:string:wide", "Selector:string:wide"
            ])
        let deployment: JSON = [
            "metadata": ["name": "test1", "creationTimestamp": ago(10)],
            "spec": ["replicas": 5, "template": template, "selector": ["matchLabels": ["foo": "bar"]]],
            "status": ["replicas": 10, "updatedReplicas": 2, "availableReplicas": 1, "unavailableReplicas": 4, "readyReplicas": 1]
        ]
        #expect(
            cells("apps", "deployments", deployment) == [
                "test1", "1/5", 2, 1, "10s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"
            ])
        // A missing selector prints as nothing; an unparsable one as <invalid>.
        #expect(cells("apps", "deployments", ["metadata": ["name": "d"]]).last == "")
        let invalid: JSON = ["metadata": ["name": "d"], "spec": ["selector": ["matchExpressions": [["key": "a", "operator": "Near"]]]]]
        #expect(cells("apps", "deployments", invalid).last == "<invalid>")
    }

    @Test func labelSelectorsAsKubernetesWritesThem() {
        func selector(_ value: JSON) -> JSON {
            cells("apps", "replicasets", ["metadata": ["name": "r"], "spec": ["selector": value]]).last ?? .null
        }
        let expressions: JSON = [
            "matchLabels": ["tier": "web", "app": "shop"],
            "matchExpressions": [
                ["key": "env", "operator": "In", "values": ["prod", "dev"]], ["key": "zone", "operator": "NotIn", "values": ["b"]],
                ["key": "canary", "operator": "Exists"], ["key": "beta", "operator": "DoesNotExist"]
            ]
        ]
        #expect(selector(expressions) == "app=shop,!beta,canary,env in (dev,prod),tier=web,zone notin (b)")
        #expect(selector([:]) == "<none>")
        #expect(selector(["matchExpressions": [["key": "env", "operator": "In", "values": []]]]) == "<error>")
        #expect(selector(["matchExpressions": [["key": "env", "operator": "Exists", "values": ["x"]]]]) == "<error>")
        #expect(selector(["matchLabels": ["bad key!": "x"]]) == "<error>")
        #expect(cells("apps", "replicasets", ["metadata": ["name": "r"]]).last == "<none>")
    }

    @Test func replicaSetsStatefulSetsDaemonSets() {
        let replicaSet: JSON = [
            "metadata": ["name": "rs"], "spec": ["replicas": 3, "template": template, "selector": ["matchLabels": ["a": "b"]]],
            "status": ["replicas": 3, "readyReplicas": 1]
        ]
        #expect(
            cells("apps", "replicasets", replicaSet) == [
                "rs", 3, 3, 1, "<unknown>", "fake-container1,fake-container2", "fake-image1,fake-image2", "a=b"
            ])
        #expect(
            columnSummary("apps", "replicasets") == [
                "Name:string:name", "Desired:integer", "Current:integer", "Ready:integer", "Age:string", "Containers:string:wide",
                "Images:string:wide", "Selector:string:wide"
            ])
        let statefulSet: JSON = ["metadata": ["name": "web"], "spec": ["replicas": 5, "template": template], "status": ["readyReplicas": 2]]
        #expect(
            cells("apps", "statefulsets", statefulSet) == [
                "web", "2/5", "<unknown>", "fake-container1,fake-container2", "fake-image1,fake-image2"
            ])
        #expect(
            columnSummary("apps", "statefulsets") == [
                "Name:string:name", "Ready:string", "Age:string", "Containers:string:wide", "Images:string:wide"
            ])
        let daemonSet: JSON = [
            "metadata": ["name": "ds", "creationTimestamp": ago(86_400 + 3600)],
            "spec": [
                "template": ["spec": ["nodeSelector": ["disk": "ssd"], "containers": [["name": "c", "image": "i"]]]],
                "selector": ["matchLabels": ["app": "ds"]]
            ],
            "status": [
                "desiredNumberScheduled": 3, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2,
                "numberAvailable": 1
            ]
        ]
        #expect(cells("apps", "daemonsets", daemonSet) == ["ds", 3, 2, 1, 2, 1, "disk=ssd", "25h", "c", "i", "app=ds"])
        #expect(
            columnSummary("apps", "daemonsets") == [
                "Name:string:name", "Desired:integer", "Current:integer", "Ready:integer", "Up-to-date:integer", "Available:integer",
                "Node Selector:string", "Age:string", "Containers:string:wide", "Images:string:wide", "Selector:string:wide"
            ])
    }

    @Test func controllerRevisions() {
        func revision(_ owners: JSON) -> JSON { ["metadata": ["name": "rev", "ownerReferences": owners], "revision": 3] }
        let owner: JSON = [["apiVersion": "apps/v1", "kind": "DaemonSet", "name": "foo", "controller": true]]
        #expect(cells("apps", "controllerrevisions", revision(owner)) == ["rev", "daemonset.apps/foo", 3, "<unknown>"])
        let notController: JSON = [["apiVersion": "apps/v1", "kind": "DaemonSet", "name": "foo"]]
        #expect(cells("apps", "controllerrevisions", revision(notController))[1] == "<none>")
        let core: JSON = [["apiVersion": "v1", "kind": "Pod", "name": "p", "controller": true]]
        #expect(cells("apps", "controllerrevisions", revision(core))[1] == "pod/p")
        #expect(columnSummary("apps", "controllerrevisions") == ["Name:string:name", "Controller:string", "Revision:string", "Age:string"])
    }

    @Test func jobs() {
        #expect(
            columnSummary("batch", "jobs") == [
                "Name:string:name", "Status:string", "Completions:string", "Duration:string", "Age:string", "Containers:string:wide",
                "Images:string:wide", "Selector:string:wide"
            ])
        let complete: JSON = [
            "metadata": ["name": "job1", "creationTimestamp": ago(3 * 3600)],
            "spec": ["completions": 6, "template": template, "selector": ["matchLabels": ["job": "1"]]],
            "status": [
                "succeeded": 6, "startTime": ago(3 * 3600), "completionTime": ago(3 * 3600 - 190),
                "conditions": [["type": "Complete", "status": "True"]]
            ]
        ]
        #expect(
            cells("batch", "jobs", complete) == [
                "job1", "Complete", "6/6", "3m10s", "3h", "fake-container1,fake-container2", "fake-image1,fake-image2", "job=1"
            ])
        let running: JSON = ["metadata": ["name": "job2"], "spec": ["parallelism": 2], "status": ["startTime": ago(300), "succeeded": 1]]
        #expect(Array(cells("batch", "jobs", running).prefix(4)) == ["job2", "Running", "1/1 of 2", "5m"])
        #expect(Array(cells("batch", "jobs", ["metadata": ["name": "job3"]]).prefix(4)) == ["job3", "Running", "0/1", ""])
    }

    @Test func jobStatusOrder() {
        func status(_ conditions: JSON, deleting: Bool = false) -> JSON {
            let metadata: JSON = deleting ? ["name": "j", "deletionTimestamp": ago(1)] : ["name": "j"]
            return cells("batch", "jobs", ["metadata": metadata, "status": ["conditions": conditions]])[1]
        }
        #expect(status([["type": "Failed", "status": "True"]]) == "Failed")
        #expect(status([["type": "Complete", "status": "False"], ["type": "Failed", "status": "True"]]) == "Failed")
        #expect(status([["type": "Suspended", "status": "True"]], deleting: true) == "Terminating")
        #expect(status([["type": "Suspended", "status": "True"]]) == "Suspended")
        #expect(status([["type": "FailureTarget", "status": "True"]]) == "FailureTarget")
        #expect(status([["type": "Suspended", "status": "False"]]) == "Running")
    }

    @Test func cronJobs() {
        #expect(
            columnSummary("batch", "cronjobs") == [
                "Name:string:name", "Schedule:string", "Timezone:string", "Suspend:boolean", "Active:integer", "Last Schedule:string",
                "Age:string", "Containers:string:wide", "Images:string:wide", "Selector:string:wide"
            ])
        let cronJob: JSON = [
            "metadata": ["name": "cronjob1", "creationTimestamp": ago(86_400 * 2)],
            "spec": [
                "schedule": "0/5 * * * ?", "suspend": false,
                "jobTemplate": ["spec": ["template": template, "selector": ["matchLabels": ["a": "b"]]]]
            ],
            "status": ["lastScheduleTime": ago(30), "active": [["name": "j1"]]]
        ]
        #expect(
            cells("batch", "cronjobs", cronJob) == [
                "cronjob1", "0/5 * * * ?", "<none>", "False", 1, "30s", "2d", "fake-container1,fake-container2",
                "fake-image1,fake-image2", "a=b"
            ])
        let unset: JSON = ["metadata": ["name": "c"], "spec": ["schedule": "@daily", "timeZone": "Europe/Paris"]]
        #expect(Array(cells("batch", "cronjobs", unset).prefix(6)) == ["c", "@daily", "Europe/Paris", "<unset>", 0, "<none>"])
    }

    @Test func leasesSlicesBudgetsPriorityClasses() {
        #expect(
            cells("coordination.k8s.io", "leases", ["metadata": ["name": "l"], "spec": ["holderIdentity": "node-a"]]) == [
                "l", "node-a", "<unknown>"
            ])
        #expect(cells("coordination.k8s.io", "leases", ["metadata": ["name": "l"]]) == ["l", "", "<unknown>"])
        let slice: JSON = [
            "metadata": ["name": "s"], "addressType": "IPv4", "ports": [["port": 80], ["name": "https"], [:], ["port": 8080]],
            "endpoints": [["addresses": ["10.1.2.3"]], ["addresses": ["10.1.2.4", "10.1.2.5", "10.1.2.6"]]]
        ]
        #expect(
            cells("discovery.k8s.io", "endpointslices", slice) == [
                "s", "IPv4", "80,https,* + 1 more...", "10.1.2.3,10.1.2.4,10.1.2.5 + 1 more...", "<unknown>"
            ])
        #expect(cells("discovery.k8s.io", "endpointslices", ["metadata": ["name": "e"]]) == ["e", "", "<unset>", "<unset>", "<unknown>"])
        let budget: JSON = ["metadata": ["name": "pdb"], "spec": ["minAvailable": 2], "status": ["disruptionsAllowed": 1]]
        #expect(cells("policy", "poddisruptionbudgets", budget) == ["pdb", "2", "N/A", 1, "<unknown>"])
        #expect(
            cells("policy", "poddisruptionbudgets", ["metadata": ["name": "p"], "spec": ["maxUnavailable": "25%"]])[1...2] == ["N/A", "25%"]
        )
        #expect(
            columnSummary("policy", "poddisruptionbudgets") == [
                "Name:string:name", "Min Available:string", "Max Unavailable:string", "Allowed Disruptions:integer", "Age:string"
            ])
        let priority: JSON = [
            "metadata": ["name": "high"], "value": 1_000_000_000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"
        ]
        #expect(
            cells("scheduling.k8s.io", "priorityclasses", priority) == ["high", 1_000_000_000, false, "<unknown>", "PreemptLowerPriority"])
        #expect(
            columnSummary("scheduling.k8s.io", "priorityclasses") == [
                "Name:string:name", "Value:integer", "Global-Default:boolean", "Age:string", "PreemptionPolicy:string"
            ])
        #expect(columnSummary("coordination.k8s.io", "leases") == ["Name:string:name", "Holder:string", "Age:string"])
        #expect(
            columnSummary("discovery.k8s.io", "endpointslices") == [
                "Name:string:name", "AddressType:string", "Ports:string", "Endpoints:string", "Age:string"
            ])
    }

    @Test func roleBindingsAndAPIServices() {
        let binding: JSON = [
            "metadata": ["name": "b"], "roleRef": ["kind": "ClusterRole", "name": "admin"],
            "subjects": [
                ["kind": "User", "name": "alice"], ["kind": "Group", "name": "devs"], ["kind": "User", "name": "bob"],
                ["kind": "ServiceAccount", "namespace": "kube-system", "name": "default"]
            ]
        ]
        for name in ["rolebindings", "clusterrolebindings"] {
            #expect(
                cells("rbac.authorization.k8s.io", name, binding) == [
                    "b", "ClusterRole/admin", "<unknown>", "alice, bob", "devs", "kube-system/default"
                ])
            #expect(
                columnSummary("rbac.authorization.k8s.io", name) == [
                    "Name:string:name", "Role:string", "Age:string", "Users:string:wide", "Groups:string:wide",
                    "ServiceAccounts:string:wide"
                ])
        }
        let local: JSON = [
            "metadata": ["name": "v1.apps"], "status": ["conditions": [["type": "Available", "status": "True", "reason": "Local"]]]
        ]
        #expect(cells("apiregistration.k8s.io", "apiservices", local) == ["v1.apps", "Local", "True", "<unknown>"])
        let remote: JSON = [
            "metadata": ["name": "v1beta1.metrics.k8s.io"], "spec": ["service": ["namespace": "kube-system", "name": "metrics-server"]],
            "status": ["conditions": [["type": "Available", "status": "False", "reason": "FailedDiscoveryCheck"]]]
        ]
        #expect(
            cells("apiregistration.k8s.io", "apiservices", remote)[1...2] == ["kube-system/metrics-server", "False (FailedDiscoveryCheck)"])
        #expect(cells("apiregistration.k8s.io", "apiservices", ["metadata": ["name": "x"]])[2] == "Unknown")
        #expect(
            columnSummary("apiregistration.k8s.io", "apiservices") == [
                "Name:string:name", "Service:string", "Available:string", "Age:string"
            ])
    }

    /// Every built-in resource has columns, and its rows have one cell per column.
    @Test func everyResourceHasOneCellPerColumn() {
        for info in BuiltinResources.all {
            let count = TablePrinter.columns(for: info).count
            #expect(count >= 2, "\(info.name)")
            #expect(
                TablePrinter.cells(for: info, object: ["metadata": ["name": "x"]], now: now).count == count, "\(info.group)/\(info.name)")
        }
    }
}

@Suite struct TableCustomResourceTests {
    private let object: JSON = [
        "metadata": ["name": "cr1", "creationTimestamp": ago(300), "labels": ["app": "web", "app.kubernetes.io/name": "shop"]],
        "spec": [
            "replicas": 3, "ratio": 2.7, "enabled": true, "selector": ["b": 2, "a": "<1>"], "big": .number(JSONNumber(text: "1e6")!),
            "count": 5
        ],
        "status": [
            "startTime": ago(7200), "badTime": "yesterday",
            "conditions": [["type": "Progressing", "status": "False"], ["type": "Ready", "status": "True"]]
        ]
    ]

    private func column(_ name: String, _ type: String, _ path: String) -> JSON {
        ["name": .string(name), "type": .string(type), "jsonPath": .string(path)]
    }

    @Test func defaultAgeColumnWhenThereAreNone() {
        let columns = TablePrinter.columns(printerColumns: .null)
        #expect(columns.map(\.name) == ["Name", "Age"] && columns.map(\.type) == ["string", "date"])
        #expect(TablePrinter.cells(printerColumns: .null, object: object, now: now) == ["cr1", "5m"])
        #expect(TablePrinter.cells(printerColumns: [], object: object, now: now) == ["cr1", "5m"])
    }

    @Test func columnsKeepTheirDefinitions() {
        let definitions: JSON = [
            [
                "name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "format": "int32", "priority": 1,
                "description": "How many"
            ],
            column("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")
        ]
        let columns = TablePrinter.columns(printerColumns: definitions)
        #expect(columns.count == 3)
        #expect(columns[1] == TableColumn(name: "Replicas", type: "integer", format: "int32", description: "How many", priority: 1))
        #expect(
            columns[2].description
                == "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status")
    }

    @Test func cellsByTypeAndPath() {
        let definitions: JSON = [
            column("Replicas", "integer", ".spec.replicas"), column("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status"),
            column("First", "string", ".status.conditions[0].type"), column("Last", "string", ".status.conditions[-1].type"),
            column("App", "string", ".metadata.labels.app"), column("Name", "string", ".metadata.labels.app\\.kubernetes\\.io/name"),
            column("Ratio", "number", ".spec.ratio"), column("Whole", "integer", ".spec.ratio"), column("Count", "number", ".spec.count"),
            column("Enabled", "boolean", ".spec.enabled"), column("Started", "date", ".status.startTime"),
            column("Bad", "date", ".status.badTime"), column("Missing", "string", ".spec.nothing"),
            column("Selector", "string", ".spec.selector"), column("Big", "string", ".spec.big"),
            column("Ratio text", "string", ".spec.ratio"),
            column("Mismatch", "boolean", ".spec.replicas"), column("Out of range", "string", ".status.conditions[5].type"),
            column("Types", "string", ".status.conditions[*].type"), column("Bracket", "integer", "['spec']['replicas']")
        ]
        let expected: [JSON] = [
            "cr1", 3, "True", "Progressing", "Ready", "web", "shop", 2.7, 2, 5, true, "120m", "<invalid>", nil,
            #"{"a":"\u003c1\u003e","b":2}"#,
            "1e+06", "2.7", nil, nil, "Progressing", 3
        ]
        #expect(TablePrinter.cells(printerColumns: definitions, object: object, now: now) == expected)
    }

    @Test func filtersAndRecursiveDescent() {
        let definitions: JSON = [
            column("Not ready", "string", ".status.conditions[?(@.status!=\"True\")].type"),
            column("Has status", "string", ".status.conditions[?(@.status)].type"), column("Any type", "string", "..type"),
            column("Slice", "string", ".status.conditions[1:2].type"), column("Compare", "string", ".status.conditions[?(@.type==1)].type")
        ]
        #expect(
            TablePrinter.cells(printerColumns: definitions, object: object, now: now) == [
                "cr1", "Progressing", "Progressing", "Progressing", "Ready", nil
            ])
    }

    @Test func nullValuesPrintAsGoDoes() {
        let object: JSON = ["metadata": ["name": "n"], "spec": ["value": nil]]
        let definitions: JSON = [column("S", "string", ".spec.value"), column("I", "integer", ".spec.value")]
        #expect(TablePrinter.cells(printerColumns: definitions, object: object, now: now) == ["n", "<no value>", nil])
    }

    @Test func customResourceTableDocument() {
        let table = TablePrinter.table(
            printerColumns: [column("Replicas", "integer", ".spec.replicas")], objects: [], resourceVersion: "7", continueToken: nil,
            remainingItemCount: nil, now: now)
        #expect(table["rows"] == [])
        #expect(table["columnDefinitions"]?.array?.count == 2)
    }
}

@Suite struct TableDocumentTests {
    private let namespace: JSON = [
        "kind": "Namespace", "apiVersion": "v1",
        "metadata": [
            "name": "default", "uid": "u1", "resourceVersion": "5", "creationTimestamp": ago(300),
            "labels": ["kubernetes.io/metadata.name": "default", "a": "b"], "generation": 0
        ],
        "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"]
    ]

    @Test func columnDefinitionJSON() {
        let column = TableColumn(name: "Restarts", type: "string", description: "d")
        #expect(column.json.text == #"{"name":"Restarts","type":"string","format":"","description":"d","priority":0}"#)
    }

    @Test func listWithPartialObjectMetadata() {
        let table = TablePrinter.table(
            for: resource("", "namespaces"), objects: [namespace], resourceVersion: "10", continueToken: "abc", remainingItemCount: 3,
            now: now)
        let columns = TablePrinter.columns(for: resource("", "namespaces")).map(\.json.text).joined(separator: ",")
        let expected =
            #"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"10","continue":"abc","remainingItemCount":3},"#
            + #""columnDefinitions":["# + columns
            + #"],"rows":[{"cells":["default","Active","5m"],"object":{"kind":"PartialObjectMetadata","#
            + #""apiVersion":"meta.k8s.io/v1","metadata":{"name":"default","uid":"u1","resourceVersion":"5","creationTimestamp":"2023-11-14T22:08:20Z","#
            + #""labels":{"a":"b","kubernetes.io/metadata.name":"default"}}}}]}"#
        #expect(table.text == expected)
    }

    @Test func singleObjectAndIncludeObjectChoices() {
        let info = resource("", "namespaces")
        let none = TablePrinter.table(
            for: info, objects: [namespace], resourceVersion: "5", continueToken: nil, remainingItemCount: nil, include: .none, now: now)
        #expect(none["metadata"]?.text == #"{"resourceVersion":"5"}"#)
        #expect(none["rows"]?.text == #"[{"cells":["default","Active","5m"],"object":null}]"#)
        let whole = TablePrinter.table(
            for: info, objects: [namespace], resourceVersion: "", continueToken: "", remainingItemCount: nil, include: .object, now: now)
        #expect(whole["metadata"]?.text == "{}")
        #expect(whole["rows"]?[0]?["object"] == namespace)
        #expect(
            TableInclude(parameter: "Object") == .object && TableInclude(parameter: "") == .metadata
                && TableInclude(parameter: "all") == nil)
    }

    /// Watch events after the first carry no column definitions (the watch encoder's noHeaders).
    @Test func watchEventsAfterTheFirstHaveNoHeaders() {
        let table = TablePrinter.table(
            for: resource("", "namespaces"), objects: [namespace], resourceVersion: "5", continueToken: nil, remainingItemCount: nil,
            include: .none, headers: false, now: now)
        #expect(table["columnDefinitions"] == .null)
        #expect(table["rows"]?[0]?["cells"] == ["default", "Active", "5m"])
    }

    @Test func partialMetadataNormalizesTimestamps() {
        let object: JSON = [
            "metadata": [
                "name": "p", "namespace": "ns", "creationTimestamp": "2024-01-02T04:04:05.5+01:00",
                "deletionTimestamp": "2024-01-02T03:05:00Z",
                "deletionGracePeriodSeconds": 30, "finalizers": ["f"], "annotations": [:], "generation": 2
            ]
        ]
        let table = TablePrinter.table(
            for: resource("", "configmaps"), objects: [object], resourceVersion: "1", continueToken: nil, remainingItemCount: nil, now: now)
        #expect(
            table["rows"]?[0]?["object"]?["metadata"]?.text
                == #"{"name":"p","namespace":"ns","generation":2,"creationTimestamp":"2024-01-02T03:04:05Z","deletionTimestamp":"2024-01-02T03:05:00Z","deletionGracePeriodSeconds":30,"finalizers":["f"]}"#
        )
        let bare = TablePrinter.table(
            for: resource("", "configmaps"), objects: [["metadata": ["name": "q"]]], resourceVersion: "1", continueToken: nil,
            remainingItemCount: nil, now: now)
        #expect(bare["rows"]?[0]?["object"]?["metadata"]?.text == #"{"name":"q","creationTimestamp":null}"#)
    }

    @Test func emptyListsAndPodConditions() {
        let pods = TablePrinter.table(
            for: resource("", "pods"), objects: [], resourceVersion: "3", continueToken: nil, remainingItemCount: nil, now: now)
        #expect(pods["rows"] == [])
        let roles = TablePrinter.table(
            for: resource("rbac.authorization.k8s.io", "roles"), objects: [], resourceVersion: "3", continueToken: nil,
            remainingItemCount: nil, now: now)
        #expect(roles["rows"] == .null)
        let done: JSON = ["metadata": ["name": "p"], "status": ["phase": "Succeeded"]]
        let table = TablePrinter.table(
            for: resource("", "pods"), objects: [done], resourceVersion: "3", continueToken: nil, remainingItemCount: nil, include: .none,
            now: now)
        #expect(
            table["rows"]?[0]?.text
                == #"{"cells":["p","0/0","Succeeded","0","\u003cunknown\u003e","\u003cnone\u003e","\u003cnone\u003e","\u003cnone\u003e","\u003cnone\u003e"],"#
                + #""conditions":[{"type":"Completed","status":"True","reason":"Succeeded","message":"The pod has completed successfully."}],"object":null}"#
        )
    }
}
