// A pod's row as kube-apiserver 1.32's printPod computes it: READY, the STATUS reason (phase,
// scheduling gates, init containers, container states, deletion), RESTARTS with the age of the
// last restart, and the wide columns.

/// printPod's reading of a pod's status into row cells.
enum PodStatusPrinter {
    /// The row of one pod; a pod that succeeded or failed also gets a `Completed` row condition.
    static func row(_ pod: GoFields, _ now: TableInstant) -> TableRow {
        let spec = pod.child("spec")
        let status = pod.child("status")
        var state = State(phase: status.string("phase"), reason: status.string("reason"))
        for condition in status.items("conditions")
        where condition.string("type") == "PodScheduled" && condition.string("reason") == "SchedulingGated" {
            state.reason = "SchedulingGated"
        }
        var restartable: [String: Bool] = [:]
        state.total = Int64(spec.items("containers").count)
        for container in spec.items("initContainers") {
            let always = container.string("restartPolicy") == "Always"
            restartable[container.string("name")] = always
            if always { state.total += 1 }
        }
        let initializing = state.readInitContainers(status.items("initContainerStatuses"), restartable, spec.items("initContainers").count)
        if !initializing || isInitialized(status) { state.readContainers(status.items("containerStatuses"), podReady: isReady(status)) }
        if pod.exists("metadata", "deletionTimestamp") {
            if status.string("reason") == "NodeLost" {
                state.reason = "Unknown"
            } else if state.phase != "Failed" && state.phase != "Succeeded" {
                state.reason = "Terminating"
            }
        }
        var restarts = String(state.restarts)
        if state.restarts != 0 && !state.lastRestart.isZero {
            restarts += " (\(TableTime.age(of: state.lastRestart, now: now)) ago)"
        }
        let cells: [JSON] = [
            BuiltinTables.name(pod), .string("\(state.ready)/\(state.total)"), .string(state.reason), .string(restarts),
            BuiltinTables.age(pod, now)
        ]
        return TableRow(cells: cells + wideCells(pod), conditions: rowConditions(phase: state.phase))
    }

    /// IP (podIP, else the first of podIPs, as core/v1 conversion does), node, nominated node
    /// and readiness gates met, `<none>` for what is missing.
    private static func wideCells(_ pod: GoFields) -> [JSON] {
        let status = pod.child("status")
        var ip = status.string("podIP")
        if ip.isEmpty { ip = status.items("podIPs").first?.string("ip") ?? "" }
        func orNone(_ text: String) -> JSON { .string(text.isEmpty ? "<none>" : text) }
        var gates = "<none>"
        let gateTypes = pod.items("spec", "readinessGates").map { $0.string("conditionType") }
        if !gateTypes.isEmpty {
            let conditions = status.items("conditions")
            let met = gateTypes.filter { type in conditions.first { $0.string("type") == type }?.string("status") == "True" }
            gates = "\(met.count)/\(gateTypes.count)"
        }
        return [orNone(ip), orNone(pod.string("spec", "nodeName")), orNone(status.string("nominatedNodeName")), .string(gates)]
    }

    private static func rowConditions(phase: String) -> [JSON] {
        switch phase {
        case "Succeeded":
            [["type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."]]
        case "Failed": [["type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."]]
        default: []
        }
    }

    /// Whether the first Initialized condition is True.
    private static func isInitialized(_ status: GoFields) -> Bool {
        status.items("conditions").first { $0.string("type") == "Initialized" }?.string("status") == "True"
    }

    /// Whether some Ready condition is True.
    private static func isReady(_ status: GoFields) -> Bool {
        status.items("conditions").contains { $0.string("type") == "Ready" && $0.string("status") == "True" }
    }

    /// The counters printPod keeps while it reads container statuses.
    private struct State {
        var phase: String
        var reason: String
        var total: Int64 = 0
        var ready: Int64 = 0
        var restarts: Int64 = 0
        var lastRestart = TableInstant.zero
        var sidecarRestarts: Int64 = 0
        var lastSidecarRestart = TableInstant.zero

        init(phase: String, reason: String) {
            self.phase = phase
            self.reason = reason.isEmpty ? phase : reason
        }

        /// When a container last terminated before its current run, if it did.
        private static func lastTermination(_ container: GoFields) -> TableInstant? {
            container.exists("lastState", "terminated") ? container.time("lastState", "terminated", "finishedAt") : nil
        }

        /// Reads init container statuses up to the first that has not completed, setting the
        /// `Init:` reason it shows; returns whether the pod is still initializing.
        mutating func readInitContainers(_ statuses: [GoFields], _ restartable: [String: Bool], _ declared: Int) -> Bool {
            for (index, container) in statuses.enumerated() {
                restarts += container.int("restartCount")
                let finished = Self.lastTermination(container)
                if let finished, lastRestart < finished { lastRestart = finished }
                let sidecar = restartable[container.string("name")] ?? false
                if sidecar {
                    sidecarRestarts += container.int("restartCount")
                    if let finished, lastSidecarRestart < finished { lastSidecarRestart = finished }
                }
                let terminated = container.child("state", "terminated")
                let waitingReason = container.string("state", "waiting", "reason")
                if container.exists("state", "terminated") && terminated.int("exitCode") == 0 { continue }
                if sidecar && container.optionalBool("started") == true {
                    if container.bool("ready") { ready += 1 }
                    continue
                }
                if container.exists("state", "terminated") {
                    reason = "Init:" + Self.terminationReason(terminated)
                } else if !waitingReason.isEmpty && waitingReason != "PodInitializing" {
                    reason = "Init:" + waitingReason
                } else {
                    reason = "Init:\(index)/\(declared)"
                }
                return true
            }
            return false
        }

        /// Reads the app containers' statuses from the last to the first, so the first
        /// container's waiting or terminated reason is the one shown.
        mutating func readContainers(_ statuses: [GoFields], podReady: Bool) {
            restarts = sidecarRestarts
            lastRestart = lastSidecarRestart
            var hasRunning = false
            for container in statuses.reversed() {
                restarts += container.int("restartCount")
                if let finished = Self.lastTermination(container), lastRestart < finished { lastRestart = finished }
                let waitingReason = container.string("state", "waiting", "reason")
                if !waitingReason.isEmpty {
                    reason = waitingReason
                } else if container.exists("state", "terminated") {
                    reason = Self.terminationReason(container.child("state", "terminated"))
                } else if container.bool("ready") && container.exists("state", "running") {
                    hasRunning = true
                    ready += 1
                }
            }
            if reason == "Completed" && hasRunning { reason = podReady ? "Running" : "NotReady" }
        }

        /// A terminated state's reason, else `Signal:N`, else `ExitCode:N`.
        private static func terminationReason(_ terminated: GoFields) -> String {
            let reason = terminated.string("reason")
            if !reason.isEmpty { return reason }
            let signal = terminated.int("signal")
            return signal != 0 ? "Signal:\(signal)" : "ExitCode:\(terminated.int("exitCode"))"
        }
    }
}
