// The printers of the built-in API groups' resources (apps, batch, coordination, discovery,
// policy, scheduling, rbac, apiregistration), as kube-apiserver 1.32 prints them.

extension BuiltinTables {
    /// The convertor with a printer for a kind outside the core group, or nil.
    static func groupConvertor(group: String, kind: String) -> TableConvertor? {
        switch (group, kind) {
        case ("apps", "Deployment"): deployments
        case ("apps", "ReplicaSet"): replicaSets
        case ("apps", "StatefulSet"): statefulSets
        case ("apps", "DaemonSet"): daemonSets
        case ("apps", "ControllerRevision"): controllerRevisions
        case ("batch", "Job"): jobs
        case ("batch", "CronJob"): cronJobs
        case ("coordination.k8s.io", "Lease"): leases
        case ("discovery.k8s.io", "EndpointSlice"): endpointSlices
        case ("policy", "PodDisruptionBudget"): podDisruptionBudgets
        case ("scheduling.k8s.io", "PriorityClass"): priorityClasses
        case ("rbac.authorization.k8s.io", "RoleBinding"): roleBindings
        case ("rbac.authorization.k8s.io", "ClusterRoleBinding"): roleBindings
        case ("apiregistration.k8s.io", "APIService"): apiServices
        default: nil
        }
    }

    static let templateColumns = [
        column("Containers", TableDescriptions.containers, wide: true), column("Images", TableDescriptions.images, wide: true),
        column("Selector", TableDescriptions.selector, wide: true)
    ]

    /// The wide Containers, Images and Selector cells of a workload with a pod template.
    private static func templateCells(_ object: GoFields, containers: [GoFields]) -> [JSON] {
        containerCells(containers) + [.string(TableFormat.labelSelector(object.child("spec", "selector")))]
    }

    // MARK: apps

    static let deployments = TableConvertor(
        columns: [
            nameColumn, column("Ready", "Ready replicas out of desired."), column("Up-to-date", "Replicas with the latest template."),
            column("Available", "Replicas available to serve."), ageColumn
        ] + templateColumns,
        row: { deployment, now in
            // printDeployment shows the selector's text, "<invalid>" when it cannot be parsed.
            let selector = TableFormat.selector(deployment.child("spec", "selector")) ?? "<invalid>"
            let cells: [JSON] = [
                name(deployment), .string("\(deployment.int("status", "readyReplicas"))/\(deployment.int("spec", "replicas"))"),
                int(deployment.int("status", "updatedReplicas")), int(deployment.int("status", "availableReplicas")), age(deployment, now)
            ]
            return TableRow(cells: cells + containerCells(deployment.items("spec", "template", "spec", "containers")) + [.string(selector)])
        })

    static let replicaSets = TableConvertor(
        columns: [
            nameColumn, column("Desired", "Desired replicas.", type: "integer"), column("Current", "Current replicas.", type: "integer"),
            column("Ready", "Ready replicas.", type: "integer"), ageColumn
        ] + templateColumns,
        row: { set, now in
            let cells: [JSON] = [
                name(set), int(set.int("spec", "replicas")), int(set.int("status", "replicas")), int(set.int("status", "readyReplicas")),
                age(set, now)
            ]
            return TableRow(cells: cells + templateCells(set, containers: set.items("spec", "template", "spec", "containers")))
        })

    static let statefulSets = TableConvertor(
        columns: [
            nameColumn, column("Ready", "Ready replicas out of desired."), ageColumn,
            column("Containers", TableDescriptions.containers, wide: true), column("Images", TableDescriptions.images, wide: true)
        ],
        row: { set, now in
            let cells: [JSON] = [name(set), .string("\(set.int("status", "readyReplicas"))/\(set.int("spec", "replicas"))"), age(set, now)]
            return TableRow(cells: cells + containerCells(set.items("spec", "template", "spec", "containers")))
        })

    static let daemonSets = TableConvertor(
        columns: [
            nameColumn, column("Desired", "Nodes that should run the daemon pod.", type: "integer"),
            column("Current", "Nodes running the daemon pod.", type: "integer"),
            column("Ready", "Nodes with a ready daemon pod.", type: "integer"),
            column("Up-to-date", "Nodes running the latest template.", type: "integer"),
            column("Available", "Nodes with an available daemon pod.", type: "integer"),
            column("Node Selector", "The pod template's node selector."), ageColumn
        ] + templateColumns,
        row: { set, now in
            let status = set.child("status")
            let cells: [JSON] = [
                name(set), int(status.int("desiredNumberScheduled")), int(status.int("currentNumberScheduled")),
                int(status.int("numberReady")), int(status.int("updatedNumberScheduled")), int(status.int("numberAvailable")),
                .string(TableFormat.labels(set.stringMap("spec", "template", "spec", "nodeSelector"))), age(set, now)
            ]
            return TableRow(cells: cells + templateCells(set, containers: set.items("spec", "template", "spec", "containers")))
        })

    static let controllerRevisions = TableConvertor(
        columns: [
            nameColumn, column("Controller", "The object that owns the revision, kind.group/name."),
            column("Revision", "The revision number."), ageColumn
        ],
        row: { revision, now in
            TableRow(cells: [name(revision), .string(controllerName(revision)), int(revision.int("revision")), age(revision, now)])
        })

    /// The controlling owner reference as `kind.group/name` in lower case (`daemonset.apps/web`,
    /// `kind/name` in the core group), `<none>` without one.
    private static func controllerName(_ object: GoFields) -> String {
        guard let owner = object.items("metadata", "ownerReferences").first(where: { $0.optionalBool("controller") == true }) else {
            return "<none>"
        }
        let apiVersion = owner.string("apiVersion")
        let group = apiVersion.contains("/") ? String(apiVersion.prefix { $0 != "/" }) : ""
        let kind = owner.string("kind")
        if group.isEmpty && kind.isEmpty { return owner.string("name") }
        return (group.isEmpty ? kind : kind + "." + group).lowercased() + "/" + owner.string("name")
    }

    // MARK: batch

    static let jobs = TableConvertor(
        columns: [
            nameColumn, column("Status", "Complete, Failed, Terminating, Suspended, FailureTarget or Running."),
            column("Completions", "Succeeded pods out of the completions wanted."), column("Duration", "How long the job ran."),
            ageColumn
        ] + templateColumns,
        row: { job, now in
            let cells: [JSON] = [
                name(job), .string(jobStatus(job)), .string(jobCompletions(job)), .string(jobDuration(job, now)), age(job, now)
            ]
            return TableRow(cells: cells + templateCells(job, containers: job.items("spec", "template", "spec", "containers")))
        })

    private static func jobCompletions(_ job: GoFields) -> String {
        let succeeded = job.int("status", "succeeded")
        if let completions = job.optionalInt("spec", "completions") { return "\(succeeded)/\(completions)" }
        let parallelism = job.optionalInt("spec", "parallelism") ?? 0
        return parallelism > 1 ? "\(succeeded)/1 of \(parallelism)" : "\(succeeded)/1"
    }

    /// Start to completion, or start to now while running; empty before the job starts.
    private static func jobDuration(_ job: GoFields, _ now: TableInstant) -> String {
        guard job.exists("status", "startTime") else { return "" }
        let start = job.time("status", "startTime")
        let end = job.exists("status", "completionTime") ? job.time("status", "completionTime") : now
        return TableTime.humanDuration(nanoseconds: end.nanoseconds(since: start))
    }

    private static func jobStatus(_ job: GoFields) -> String {
        /// Whether the first condition of the type is True (printers' hasJobCondition).
        func has(_ type: String) -> Bool {
            job.items("status", "conditions").first { $0.string("type") == type }?.string("status") == "True"
        }
        if has("Complete") { return "Complete" }
        if has("Failed") { return "Failed" }
        if job.exists("metadata", "deletionTimestamp") { return "Terminating" }
        if has("Suspended") { return "Suspended" }
        if has("FailureTarget") { return "FailureTarget" }
        return "Running"
    }

    static let cronJobs = TableConvertor(
        columns: [
            nameColumn, column("Schedule", "The cron schedule."), column("Timezone", "The schedule's time zone."),
            column("Suspend", "Whether new runs are suspended.", type: "boolean"), column("Active", "Jobs running now.", type: "integer"),
            column("Last Schedule", "How long ago a job was last scheduled."), ageColumn
        ] + templateColumns,
        row: { cronJob, now in
            let spec = cronJob.child("spec")
            let suspend = spec.optionalBool("suspend").map { $0 ? "True" : "False" } ?? "<unset>"
            let lastSchedule =
                cronJob.exists("status", "lastScheduleTime")
                ? TableTime.age(of: cronJob.time("status", "lastScheduleTime"), now: now) : "<none>"
            let cells: [JSON] = [
                name(cronJob), .string(spec.string("schedule")), .string(spec.optionalString("timeZone") ?? "<none>"), .string(suspend),
                int(cronJob.count("status", "active")), .string(lastSchedule), age(cronJob, now)
            ]
            let jobSpec = spec.child("jobTemplate", "spec")
            return TableRow(
                cells: cells + containerCells(jobSpec.items("template", "spec", "containers"))
                    + [.string(TableFormat.labelSelector(jobSpec.child("selector")))])
        })

    // MARK: Other groups

    static let leases = TableConvertor(
        columns: [nameColumn, column("Holder", "Who holds the lease."), ageColumn],
        row: { lease, now in TableRow(cells: [name(lease), .string(lease.string("spec", "holderIdentity")), age(lease, now)]) })

    static let endpointSlices = TableConvertor(
        columns: [
            nameColumn, column("AddressType", "IPv4, IPv6 or FQDN."), column("Ports", "Up to three port numbers (or names)."),
            column("Endpoints", "Up to three endpoint addresses."), ageColumn
        ],
        row: { slice, now in
            let ports = slice.items("ports").map { port in port.optionalInt("port").map { String($0) } ?? port.optionalString("name") ?? "*"
            }
            let addresses = slice.items("endpoints").flatMap { $0.items("addresses").map { $0.json.string ?? "" } }
            return TableRow(cells: [
                name(slice), .string(slice.string("addressType")), .string(TableFormat.listWithMore(ports)),
                .string(TableFormat.listWithMore(addresses)), age(slice, now)
            ])
        })

    static let podDisruptionBudgets = TableConvertor(
        columns: [
            nameColumn, column("Min Available", "Pods that must stay available."),
            column("Max Unavailable", "Pods that may be unavailable."),
            column("Allowed Disruptions", "Pods that may be disrupted now.", type: "integer"), ageColumn
        ],
        row: { budget, now in
            let spec = budget.child("spec")
            func bound(_ key: String) -> JSON { .string(spec.value([key]).map(TableFormat.intOrString) ?? "N/A") }
            return TableRow(cells: [
                name(budget), bound("minAvailable"), bound("maxUnavailable"), int(budget.int("status", "disruptionsAllowed")),
                age(budget, now)
            ])
        })

    static let priorityClasses = TableConvertor(
        columns: [
            nameColumn, column("Value", "The priority value.", type: "integer"),
            column("Global-Default", "Whether pods without a class get this one.", type: "boolean"), ageColumn,
            column("PreemptionPolicy", "Whether pods of this class preempt others.")
        ],
        row: { priorityClass, now in
            TableRow(cells: [
                name(priorityClass), int(priorityClass.int("value")), .bool(priorityClass.bool("globalDefault")), age(priorityClass, now),
                .string(priorityClass.string("preemptionPolicy"))
            ])
        })

    /// RoleBindings and ClusterRoleBindings: the role as `Kind/name`; wide, the subjects by kind.
    static let roleBindings = TableConvertor(
        columns: [
            nameColumn, column("Role", "The role bound, Kind/name."), ageColumn, column("Users", "Users bound.", wide: true),
            column("Groups", "Groups bound.", wide: true), column("ServiceAccounts", "Service accounts bound, namespace/name.", wide: true)
        ],
        row: { binding, now in
            var users: [String] = []
            var groups: [String] = []
            var serviceAccounts: [String] = []
            for subject in binding.items("subjects") {
                switch subject.string("kind") {
                case "ServiceAccount": serviceAccounts.append(subject.string("namespace") + "/" + subject.string("name"))
                case "User": users.append(subject.string("name"))
                case "Group": groups.append(subject.string("name"))
                default: break
                }
            }
            let role = binding.string("roleRef", "kind") + "/" + binding.string("roleRef", "name")
            return TableRow(cells: [
                name(binding), .string(role), age(binding, now), .string(users.joined(separator: ", ")),
                .string(groups.joined(separator: ", ")), .string(serviceAccounts.joined(separator: ", "))
            ])
        })

    /// The aggregator's APIService convertor: the backing service (`Local` without one) and the
    /// Available condition (`True`, `False (Reason)`, `Unknown` without the condition).
    static let apiServices = TableConvertor(
        columns: [
            nameColumn, column("Service", "The service that serves the API, namespace/name, or Local."),
            column("Available", "Whether the API is available."), ageColumn
        ],
        row: { apiService, now in
            let service =
                apiService.exists("spec", "service")
                ? apiService.string("spec", "service", "namespace") + "/" + apiService.string("spec", "service", "name") : "Local"
            var available = "Unknown"
            if let condition = apiService.items("status", "conditions").first(where: { $0.string("type") == "Available" }) {
                let status = condition.string("status")
                let reason = condition.string("reason")
                available = status == "True" || reason.isEmpty ? status : "\(status) (\(reason))"
            }
            return TableRow(cells: [name(apiService), .string(service), .string(available), age(apiService, now)])
        })
}
