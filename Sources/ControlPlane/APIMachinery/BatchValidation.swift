// Job and CronJob validation of Kubernetes 1.32 (pkg/apis/batch/validation), with the cron
// schedule parser kube uses (robfig/cron v3's ParseStandard) and its error messages.

/// Checks of Jobs and CronJobs.
enum BatchValidation {
    static let jobRestartPolicies = ["OnFailure", "Never"]
    static let completionModes = ["NonIndexed", "Indexed"]
    static let concurrencyPolicies = ["Allow", "Forbid", "Replace"]

    static func job(_ job: JSON, old: JSON?) -> [FieldError] {
        let spec = job["spec"] ?? [:]
        var errors: [FieldError] = []
        if spec.isUnset("selector") {
            errors.append(.required("spec.selector"))
        } else {
            errors += Validation.labelSelector(spec["selector"], path: "spec.selector")
            let labels = spec["template"]?["metadata"]?["labels"]?.object ?? JSONObject()
            if !Validation.selector(spec["selector"]!, matches: labels) {
                errors.append(
                    .invalid(
                        "spec.template.metadata.labels", GoValue.stringMap(spec["template"]?["metadata"]?["labels"]?.object),
                        WorkloadValidation.selectorMismatch))
            }
        }
        errors += jobSpec(spec, path: "spec")
        if let old {
            let before = old["spec"] ?? [:]
            if (spec["selector"] ?? .null) != (before["selector"] ?? .null) {
                errors.append(.invalid("spec.selector", GoValue.labelSelector(spec["selector"]), Validation.immutable))
            }
            if (spec["completionMode"] ?? .null) != (before["completionMode"] ?? .null) {
                errors.append(.invalid("spec.completionMode", GoValue.scalar(spec["completionMode"]), Validation.immutable))
            }
            if before["suspend"]?.bool != true, (spec["template"] ?? .null) != (before["template"] ?? .null) {
                errors.append(.invalid("spec.template", "<template>", Validation.immutable))
            }
        }
        return errors
    }

    /// validateJobSpec: non-negative counts and durations, the completion mode, the pod
    /// template with OnFailure or Never.
    private static func jobSpec(_ spec: JSON, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        for key in ["parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"] {
            errors += Validation.nonNegative(spec, key, path: path)
        }
        if let mode = spec["completionMode"]?.string, !completionModes.contains(mode) {
            errors.append(.notSupported("\(path).completionMode", mode, completionModes))
        }
        if spec["completionMode"]?.string == "Indexed", spec.isUnset("completions") {
            errors.append(.required("\(path).completions", "when completion mode is Indexed"))
        }
        let template = spec["template"] ?? [:]
        errors += PodValidation.template(template, path: "\(path).template")
        let policy = template["spec"]?["restartPolicy"]?.string ?? ""
        if !jobRestartPolicies.contains(policy) {
            errors.append(.notSupported("\(path).template.spec.restartPolicy", policy, jobRestartPolicies))
        }
        return errors
    }

    /// ValidateCronJobCreate/Update: the name fits 52 characters, the schedule parses, the time
    /// zone, the policy, non-negative limits, and the job template.
    static func cronJob(_ cj: JSON, old: JSON?) -> [FieldError] {
        var errors: [FieldError] = []
        let name = cj["metadata"]?["name"]?.string ?? ""
        if old == nil, name.utf8.count > Validation.maxCronJobNameLength {
            errors.append(.invalid("metadata.name", GoValue.quote(name), "must be no more than 52 characters"))
        }
        let spec = cj["spec"] ?? [:]
        let schedule = spec.text("schedule")
        if schedule.isEmpty {
            errors.append(.required("spec.schedule"))
        } else {
            if let problem = Cron.problem(in: schedule) { errors.append(.invalid("spec.schedule", GoValue.quote(schedule), problem)) }
            if schedule.contains("TZ") {
                errors.append(
                    .invalid("spec.schedule", GoValue.quote(schedule), "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
            }
        }
        if let zone = spec["timeZone"]?.string { errors += timeZone(zone) }
        errors += PodValidation.policy(spec, "concurrencyPolicy", concurrencyPolicies, path: "spec")
        for key in ["startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
            errors += Validation.nonNegative(spec, key, path: "spec")
        }
        let jobTemplate = spec["jobTemplate"] ?? [:]
        errors += jobSpec(jobTemplate["spec"] ?? [:], path: "spec.jobTemplate.spec")
        return errors
    }

    /// validateTimeZone, with an IANA-shaped name standing in for time.LoadLocation.
    private static func timeZone(_ zone: String) -> [FieldError] {
        let path = "spec.timeZone"
        if zone.isEmpty { return [.invalid(path, GoValue.quote(zone), "timeZone must be nil or non-empty string")] }
        if zone.lowercased() == "local" {
            return [
                .invalid(path, GoValue.quote(zone), "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")
            ]
        }
        let parts = zone.split(separator: "/", omittingEmptySubsequences: false)
        let valid = parts.allSatisfy { part in
            !part.isEmpty && part.count <= 14 && part.allSatisfy { $0.isLetter || $0.isNumber || "._-+".contains($0) }
        }
        return valid ? [] : [.invalid(path, GoValue.quote(zone), "unknown time zone \(zone)")]
    }
}

/// robfig/cron v3's standard parser (minute hour day-of-month month day-of-week, names for
/// months and weekdays, `*`, ranges, steps, lists, `@` descriptors), reduced to its errors.
package enum Cron {
    private struct Bounds {
        var min: Int
        var max: Int
        var names: [String: Int] = [:]
    }

    private static let months = Bounds(
        min: 1, max: 12,
        names: ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12])
    private static let weekdays = Bounds(min: 0, max: 6, names: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6])
    private static let fields = [Bounds(min: 0, max: 59), Bounds(min: 0, max: 23), Bounds(min: 1, max: 31), months, weekdays]
    private static let descriptors: Set<String> = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]

    /// The parser's error for `spec`, or nil when it parses.
    package static func problem(in spec: String) -> String? {
        var spec = Substring(spec)
        if spec.hasPrefix("TZ=") || spec.hasPrefix("CRON_TZ=") {
            guard let space = spec.firstIndex(of: " ") else { return nil }
            spec = spec[space...].drop { $0 == " " }
        }
        if spec.hasPrefix("@") {
            if descriptors.contains(String(spec)) { return nil }
            if spec.hasPrefix("@every ") { return nil }
            return "unrecognized descriptor: \(spec)"
        }
        let parts = spec.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard parts.count == fields.count else {
            return "expected exactly 5 fields, found \(parts.count): [" + parts.joined(separator: " ") + "]"
        }
        for (part, bounds) in zip(parts, fields) {
            for expr in part.split(separator: ",") {
                if let problem = rangeProblem(String(expr), bounds) { return problem }
            }
        }
        return nil
    }

    private static func rangeProblem(_ expr: String, _ r: Bounds) -> String? {
        let rangeAndStep = expr.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let lowAndHigh = rangeAndStep[0].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        var start: Int
        var end: Int
        if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
            (start, end) = (r.min, r.max)
        } else {
            switch parse(lowAndHigh[0], r) {
            case .failure(let message): return message
            case .success(let n): start = n
            }
            switch lowAndHigh.count {
            case 1: end = start
            case 2:
                switch parse(lowAndHigh[1], r) {
                case .failure(let message): return message
                case .success(let n): end = n
                }
            default: return "too many hyphens: \(expr)"
            }
        }
        var step = 1
        switch rangeAndStep.count {
        case 1: break
        case 2:
            switch number(rangeAndStep[1]) {
            case .failure(let message): return message
            case .success(let n): step = n
            }
            if lowAndHigh.count == 1 { end = r.max }
        default: return "too many slashes: \(expr)"
        }
        if start < r.min { return "beginning of range (\(start)) below minimum (\(r.min)): \(expr)" }
        if end > r.max { return "end of range (\(end)) above maximum (\(r.max)): \(expr)" }
        if start > end { return "beginning of range (\(start)) beyond end of range (\(end)): \(expr)" }
        if step == 0 { return "step of range should be a positive number: \(expr)" }
        return nil
    }

    private enum Parsed {
        case success(Int)
        case failure(String)
    }

    private static func parse(_ text: String, _ r: Bounds) -> Parsed {
        if let named = r.names[text.lowercased()] { return .success(named) }
        return number(text)
    }

    /// mustParseInt: strconv.Atoi's errors, then negative numbers refused.
    private static func number(_ text: String) -> Parsed {
        guard let n = Int(text) else {
            let digits = text.first == "+" || text.first == "-" ? text.dropFirst() : Substring(text)
            let reason =
                !digits.isEmpty && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber) ? "value out of range" : "invalid syntax"
            return .failure("failed to parse int from \(text): strconv.Atoi: parsing \(GoValue.quote(text)): \(reason)")
        }
        if n < 0 { return .failure("negative number (\(n)) not allowed: \(text)") }
        return .success(n)
    }
}
