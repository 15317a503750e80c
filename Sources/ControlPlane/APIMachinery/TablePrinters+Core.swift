// The printers of core/v1 resources, as kube-apiserver 1.32's pkg/printers/internalversion
// prints them (always with wide columns: the server generates wide tables).

/// The printers kube-apiserver 1.32 has for the built-in resources, by group and kind.
enum BuiltinTables {
    /// The convertor with a printer for a group's kind, or nil for those that have none
    /// (roles, clusterroles, limitranges, customresourcedefinitions use the default one).
    static func convertor(group: String, kind: String) -> TableConvertor? {
        switch (group, kind) {
        case ("", "Pod"): pods
        case ("", "Node"): nodes
        case ("", "Service"): services
        case ("", "Endpoints"): endpoints
        case ("", "Event"): events
        case ("events.k8s.io", "Event"): eventsV1
        case ("", "Namespace"): namespaces
        case ("", "ConfigMap"): configMaps
        case ("", "Secret"): secrets
        case ("", "ServiceAccount"): serviceAccounts
        case ("", "ReplicationController"): replicationControllers
        case ("", "PodTemplate"): podTemplates
        case ("", "ResourceQuota"): resourceQuotas
        default: groupConvertor(group: group, kind: kind)
        }
    }

    // MARK: Column helpers

    static let nameColumn = TableColumn(name: "Name", type: "string", format: "name", description: TableDescriptions.name)
    static let ageColumn = TableColumn(name: "Age", type: "string", description: TableDescriptions.creationTimestamp)

    /// A column definition; `wide` ones have priority 1.
    static func column(_ name: String, _ description: String, type: String = "string", wide: Bool = false) -> TableColumn {
        TableColumn(name: name, type: type, description: description, priority: wide ? 1 : 0)
    }

    static func name(_ object: GoFields) -> JSON { .string(object.string("metadata", "name")) }

    static func age(_ object: GoFields, _ now: TableInstant) -> JSON {
        .string(TableTime.age(of: object.time("metadata", "creationTimestamp"), now: now))
    }

    static func int(_ value: Int64) -> JSON { .number(JSONNumber(value)) }

    /// Containers and Images cells of a pod template's containers.
    static func containerCells(_ containers: [GoFields]) -> [JSON] {
        let layout = TableFormat.containers(containers)
        return [.string(layout.names), .string(layout.images)]
    }

    // MARK: Pods

    static let pods = TableConvertor(
        columns: [
            nameColumn, column("Ready", "Containers ready out of all containers."),
            column("Status", "The pod's status, from its phase and its containers' states."),
            column("Restarts", "Container restarts, and how long ago the last one was."), ageColumn,
            column("IP", "The pod's IP address.", wide: true), column("Node", "The node the pod runs on.", wide: true),
            column("Nominated Node", "The node the scheduler nominated for the pod.", wide: true),
            column("Readiness Gates", "Readiness gates met out of all.", wide: true)
        ],
        row: PodStatusPrinter.row)

    // MARK: Nodes

    static let nodes = TableConvertor(
        columns: [
            nameColumn, column("Status", "Whether the node is ready, and whether it is cordoned."),
            column("Roles", "The node's roles, from its node-role labels."), ageColumn,
            column("Version", "The kubelet's version."), column("Internal-IP", "The node's first internal address.", wide: true),
            column("External-IP", "The node's first external address.", wide: true),
            column("OS-Image", "The node's operating system image.", wide: true),
            column("Kernel-Version", "The node's kernel version.", wide: true),
            column("Container-Runtime", "The node's container runtime and version.", wide: true)
        ],
        row: { node, now in
            let info = node.child("status", "nodeInfo")
            func known(_ text: String) -> JSON { .string(text.isEmpty ? "<unknown>" : text) }
            return TableRow(cells: [
                name(node), .string(nodeStatus(node)), .string(nodeRoles(node)), age(node, now), .string(info.string("kubeletVersion")),
                .string(nodeAddress(node, type: "InternalIP")), .string(nodeAddress(node, type: "ExternalIP")),
                known(info.string("osImage")), known(info.string("kernelVersion")), known(info.string("containerRuntimeVersion"))
            ])
        })

    /// `Ready` / `NotReady` from the (last) Ready condition, `Unknown` without one, then
    /// `SchedulingDisabled` for a cordoned node, joined by `,`.
    private static func nodeStatus(_ node: GoFields) -> String {
        var status: [String] = []
        if let ready = node.items("status", "conditions").last(where: { $0.string("type") == "Ready" }) {
            status.append(ready.string("status") == "True" ? "Ready" : "NotReady")
        } else {
            status.append("Unknown")
        }
        if node.bool("spec", "unschedulable") { status.append("SchedulingDisabled") }
        return status.joined(separator: ",")
    }

    /// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` label's
    /// value, sorted and deduplicated; `<none>` without any.
    private static func nodeRoles(_ node: GoFields) -> String {
        let prefix = "node-role.kubernetes.io/"
        var roles = Set<String>()
        for (key, value) in node.stringMap("metadata", "labels") {
            if key.hasPrefix(prefix) {
                let role = String(key.dropFirst(prefix.count))
                if !role.isEmpty { roles.insert(role) }
            } else if key == "kubernetes.io/role", !value.isEmpty {
                roles.insert(value)
            }
        }
        return roles.isEmpty ? "<none>" : roles.sorted(by: TableFormat.goLess).joined(separator: ",")
    }

    private static func nodeAddress(_ node: GoFields, type: String) -> String {
        node.items("status", "addresses").first { $0.string("type") == type }?.string("address") ?? "<none>"
    }

    // MARK: Services

    static let services = TableConvertor(
        columns: [
            nameColumn, column("Type", "The service's type."), column("Cluster-IP", "The service's cluster IP."),
            column("External-IP", "External addresses: load balancer ingress and externalIPs."),
            column("Port(s)", "Ports as port[:nodePort]/protocol."), ageColumn,
            column("Selector", "Labels of the pods the service routes to.", wide: true)
        ],
        row: { service, now in
            let spec = service.child("spec")
            // core/v1 conversion: a set clusterIP wins over clusterIPs.
            let clusterIP = spec.string("clusterIP").isEmpty ? spec.items("clusterIPs").first?.json.string ?? "" : spec.string("clusterIP")
            let ports = servicePorts(spec.items("ports"))
            return TableRow(cells: [
                name(service), .string(spec.string("type")), .string(clusterIP.isEmpty ? "<none>" : clusterIP),
                .string(externalIP(service)), .string(ports.isEmpty ? "<none>" : ports), age(service, now),
                .string(TableFormat.labels(spec.stringMap("selector")))
            ])
        })

    /// The External-IP cell by service type (printers' getServiceExternalIP, wide: never clipped).
    private static func externalIP(_ service: GoFields) -> String {
        let externalIPs = service.items("spec", "externalIPs").map { $0.json.string ?? "" }
        switch service.string("spec", "type") {
        case "ClusterIP", "NodePort":
            return externalIPs.isEmpty ? "<none>" : externalIPs.joined(separator: ",")
        case "LoadBalancer":
            var ingress = Set<String>()
            for entry in service.items("status", "loadBalancer", "ingress") {
                let address = entry.string("ip").isEmpty ? entry.string("hostname") : entry.string("ip")
                if !address.isEmpty { ingress.insert(address) }
            }
            let balancers = ingress.sorted(by: TableFormat.goLess)
            if !externalIPs.isEmpty { return (balancers + externalIPs).joined(separator: ",") }
            return balancers.isEmpty ? "<pending>" : balancers.joined(separator: ",")
        case "ExternalName":
            return service.string("spec", "externalName")
        default:
            return "<unknown>"
        }
    }

    /// `80/TCP`, `80:30080/TCP` (with a node port), joined by `,`.
    private static func servicePorts(_ ports: [GoFields]) -> String {
        ports.map { port in
            let nodePort = port.int("nodePort")
            let prefix = nodePort > 0 ? "\(port.int("port")):\(nodePort)" : "\(port.int("port"))"
            return prefix + "/" + port.string("protocol")
        }.joined(separator: ",")
    }

    // MARK: Endpoints

    static let endpoints = TableConvertor(
        columns: [nameColumn, column("Endpoints", "Up to three addresses as ip:port."), ageColumn],
        row: { object, now in TableRow(cells: [name(object), .string(endpointsText(object.items("subsets"))), age(object, now)]) })

    /// printers' formatEndpoints: the first three `ip:port` (or bare IPs for subsets without
    /// ports), `+ N more...` past three, `<none>` without subsets.
    private static func endpointsText(_ subsets: [GoFields]) -> String {
        if subsets.isEmpty { return "<none>" }
        let limit = 3
        var list: [String] = []
        var more = false
        var count = 0
        for subset in subsets {
            let addresses = subset.items("addresses").map { $0.string("ip") }
            let ports = subset.items("ports")
            let groups: [(String) -> String] =
                ports.isEmpty ? [{ $0 }] : ports.map { port in { TableFormat.joinHostPort($0, port.int("port")) } }
            for render in groups {
                count += addresses.count
                for address in addresses {
                    if list.count == limit {
                        more = true
                        break
                    }
                    list.append(render(address))
                }
            }
        }
        let text = list.joined(separator: ",")
        return more ? text + " + \(count - limit) more..." : text
    }

    // MARK: Events

    static let eventColumns = [
        column("Last Seen", "How long ago the event last occurred."), column("Type", "Normal or Warning."),
        column("Reason", "Why the event happened, in CamelCase."), column("Object", "The object the event is about, kind/name."),
        column("Subobject", "The field of the object the event is about.", wide: true),
        column("Source", "The component (and host) that reported the event.", wide: true),
        column("Message", "What happened."), column("First Seen", "How long ago the event first occurred.", wide: true),
        column("Count", "How many times the event occurred.", wide: true),
        TableColumn(name: "Name", type: "string", format: "name", description: TableDescriptions.name, priority: 1)
    ]

    static let events = TableConvertor(columns: eventColumns, row: eventRow)

    /// events.k8s.io/v1 Events are core Events in storage: the same printer, after mapping the
    /// renamed fields back (regarding, note, deprecatedSource, deprecated timestamps and count).
    static let eventsV1 = TableConvertor(
        columns: eventColumns,
        row: { event, now in
            var core = JSONObject()
            let renames = [
                ("metadata", "metadata"), ("involvedObject", "regarding"), ("message", "note"), ("type", "type"), ("reason", "reason"),
                ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
                ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"), ("eventTime", "eventTime"),
                ("series", "series"), ("reportingController", "reportingController"), ("reportingInstance", "reportingInstance")
            ]
            for (coreName, name) in renames { core[coreName] = event.value([name]) }
            return eventRow(GoFields(.object(core)), now)
        })

    private static func eventRow(_ event: GoFields, _ now: TableInstant) -> TableRow {
        var firstSeen = TableTime.age(of: event.time("firstTimestamp"), now: now)
        if event.time("firstTimestamp").isZero { firstSeen = TableTime.age(of: event.time("eventTime"), now: now) }
        var lastSeen = event.time("lastTimestamp").isZero ? firstSeen : TableTime.age(of: event.time("lastTimestamp"), now: now)
        var count = event.int("count")
        if event.exists("series") {
            lastSeen = TableTime.age(of: event.time("series", "lastObservedTime"), now: now)
            count = event.int("series", "count")
        } else if count == 0 {
            count = 1
        }
        let involved = event.child("involvedObject")
        let kind = involved.string("kind").lowercased()
        let target = involved.string("name").isEmpty ? kind : kind + "/" + involved.string("name")
        let component = firstNonEmpty(event.string("source", "component"), event.string("reportingController"))
        let instance = firstNonEmpty(event.string("source", "host"), event.string("reportingInstance"))
        return TableRow(cells: [
            .string(lastSeen), .string(event.string("type")), .string(event.string("reason")), .string(target),
            .string(involved.string("fieldPath")), .string(instance.isEmpty ? component : component + ", " + instance),
            .string(TableFormat.trimSpace(event.string("message"))), .string(firstSeen), int(count), name(event)
        ])
    }

    private static func firstNonEmpty(_ a: String, _ b: String) -> String { a.isEmpty ? b : a }

    // MARK: Small core resources

    static let namespaces = TableConvertor(
        columns: [nameColumn, column("Status", "The namespace's phase."), ageColumn],
        row: { object, now in TableRow(cells: [name(object), .string(object.string("status", "phase")), age(object, now)]) })

    static let configMaps = TableConvertor(
        columns: [nameColumn, column("Data", "Number of data and binaryData keys."), ageColumn],
        row: { object, now in
            TableRow(cells: [name(object), int(object.count("data") + object.count("binaryData")), age(object, now)])
        })

    static let secrets = TableConvertor(
        columns: [nameColumn, column("Type", "The secret's type."), column("Data", "Number of data keys."), ageColumn],
        row: { object, now in TableRow(cells: [name(object), .string(object.string("type")), int(object.count("data")), age(object, now)]) }
    )

    static let serviceAccounts = TableConvertor(
        columns: [nameColumn, column("Secrets", "Number of secrets listed."), ageColumn],
        row: { object, now in TableRow(cells: [name(object), int(object.count("secrets")), age(object, now)]) })

    static let replicationControllers = TableConvertor(
        columns: [
            nameColumn, column("Desired", "Desired replicas.", type: "integer"), column("Current", "Current replicas.", type: "integer"),
            column("Ready", "Ready replicas.", type: "integer"), ageColumn, column("Containers", TableDescriptions.containers, wide: true),
            column("Images", TableDescriptions.images, wide: true), column("Selector", TableDescriptions.selector, wide: true)
        ],
        row: { rc, now in
            let cells: [JSON] = [
                name(rc), int(rc.int("spec", "replicas")), int(rc.int("status", "replicas")), int(rc.int("status", "readyReplicas")),
                age(rc, now)
            ]
            return TableRow(
                cells: cells + containerCells(rc.items("spec", "template", "spec", "containers"))
                    + [.string(TableFormat.labels(rc.stringMap("spec", "selector")))])
        })

    static let podTemplates = TableConvertor(
        columns: [
            nameColumn, column("Containers", TableDescriptions.containers), column("Images", TableDescriptions.images),
            column("Pod Labels", "Labels of the pod template.")
        ],
        row: { template, _ in
            TableRow(
                cells: [name(template)] + containerCells(template.items("template", "spec", "containers"))
                    + [.string(TableFormat.labels(template.stringMap("template", "metadata", "labels")))])
        })

    static let resourceQuotas = TableConvertor(
        columns: [
            nameColumn, column("Request", "Used and hard amounts of request quotas."),
            column("Limit", "Used and hard amounts of limits.* quotas."), ageColumn
        ],
        row: { quota, now in
            var requests: [String] = []
            var limits: [String] = []
            let used = quota.child("status", "used")
            let hard = quota.child("status", "hard")
            for resource in (hard.json.object?.keys ?? []).sorted(by: TableFormat.goLess) {
                let text = "\(resource): \(quantity(used.value([resource])))/\(quantity(hard.value([resource])))"
                let pieces = resource.split(separator: ".", omittingEmptySubsequences: false)
                if pieces.count > 1, pieces[0] == "limits" { limits.append(text) } else { requests.append(text) }
            }
            return TableRow(cells: [
                name(quota), .string(requests.joined(separator: ", ")), .string(limits.joined(separator: ", ")), age(quota, now)
            ])
        })

    /// A resource quantity as written (`0` when absent); Kubernetes writes the canonical form,
    /// which stored objects written by Kubernetes clients already have.
    private static func quantity(_ value: JSON?) -> String {
        switch value {
        case .string(let text): text
        case .number(let number): number.text
        default: "0"
        }
    }
}
