import Foundation

/// What one workload run measured, printed as text (etcd benchmark's summary, roughly) and as
/// one JSON object (`--json`: the last line of the output).
public struct BenchReport: Sendable {
    public var workload: String
    /// Completed operations (for the watch workloads: events delivered).
    public var ops: Int
    public var errors: Int
    public var errorMessages: [String: Int]
    public var seconds: Double
    /// Latency of each operation in µs (for the watch workloads: put→event lag).
    public var histogram: LatencyHistogram
    public var serverPIDs: [Int32]
    public var serverCPUSeconds: Double?
    public var serverRSSBytes: Int64?
    public var clientCPUSeconds: Double
    /// Workload-specific figures, in print order (numbers or strings already in JSON form).
    public var extra: [(key: String, json: String)] = []

    public init(
        workload: String, ops: Int, errors: Int, errorMessages: [String: Int], seconds: Double,
        histogram: LatencyHistogram, serverPIDs: [Int32], serverCPUSeconds: Double?, serverRSSBytes: Int64?,
        clientCPUSeconds: Double, extra: [(key: String, json: String)] = []
    ) {
        self.workload = workload
        self.ops = ops
        self.errors = errors
        self.errorMessages = errorMessages
        self.seconds = seconds
        self.histogram = histogram
        self.serverPIDs = serverPIDs
        self.serverCPUSeconds = serverCPUSeconds
        self.serverRSSBytes = serverRSSBytes
        self.clientCPUSeconds = clientCPUSeconds
        self.extra = extra
    }

    public var throughput: Double { seconds > 0 ? Double(ops) / seconds : 0 }

    func ms(_ percentile: Double) -> Double {
        histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    var maxMs: Double { histogram.totalCount == 0 ? 0 : Double(histogram.max) / 1000 }

    /// Server CPU µs per operation (per event for the watch workloads).
    public var serverCPUMicrosPerOp: Double? {
        guard let cpu = serverCPUSeconds, ops > 0 else { return nil }
        return cpu * 1e6 / Double(ops)
    }

    public var text: String {
        var out =
            "\(workload): \(ops) \(ops == 1 ? "operation" : "operations") in \(f(seconds, 2)) s, \(f(throughput, 1))/s, \(errors) errors\n"
        out +=
            "  latency ms: p50 \(f(ms(50), 3))  p90 \(f(ms(90), 3))  p99 \(f(ms(99), 3))  p99.9 \(f(ms(99.9), 3))  max \(f(maxMs, 3))  mean \(f(histogram.totalCount == 0 ? 0 : histogram.mean / 1000, 3))\n"
        if let cpu = serverCPUSeconds, let rss = serverRSSBytes {
            out += "  servers (pids \(serverPIDs.map(String.init).joined(separator: ","))): CPU \(f(cpu, 2)) s"
            if let per = serverCPUMicrosPerOp { out += ", \(f(per, 1)) CPU-µs per operation" }
            out += ", RSS \(f(Double(rss) / 1_048_576, 1)) MiB\n"
        } else {
            out += "  servers: not on this machine (or not found): no CPU or RSS figures\n"
        }
        out += "  client: CPU \(f(clientCPUSeconds, 2)) s (\(f(seconds > 0 ? clientCPUSeconds / seconds * 100 : 0, 0)) % of one core)\n"
        for (k, v) in extra { out += "  \(k): \(v)\n" }
        for (message, count) in errorMessages.sorted(by: { $0.value > $1.value }) {
            out += "  error ×\(count): \(message)\n"
        }
        return out
    }

    public var json: String {
        var fields: [(String, String)] = [
            ("workload", quote(workload)),
            ("ops", String(ops)),
            ("errors", String(errors)),
            ("seconds", f(seconds, 3)),
            ("throughput", f(throughput, 1)),
            (
                "latency_ms",
                "{\"p50\":\(f(ms(50), 3)),\"p90\":\(f(ms(90), 3)),\"p99\":\(f(ms(99), 3)),\"p999\":\(f(ms(99.9), 3)),\"max\":\(f(maxMs, 3))}"
            ),
            ("server_cpu_seconds", serverCPUSeconds.map { f($0, 3) } ?? "null"),
            ("server_rss_bytes", serverRSSBytes.map(String.init) ?? "null"),
            ("server_cpu_us_per_op", serverCPUMicrosPerOp.map { f($0, 2) } ?? "null"),
            ("server_pids", "[" + serverPIDs.map(String.init).joined(separator: ",") + "]"),
            ("client_cpu_seconds", f(clientCPUSeconds, 3))
        ]
        fields += extra.map { ($0.key, $0.json) }
        if let first = errorMessages.max(by: { $0.value < $1.value }) { fields.append(("first_error", quote(first.key))) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

func f(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "0" }
    return String(format: "%.\(digits)f", x)
}

func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
