import Foundation

/// CPU seconds and resident memory of the server processes, read from /proc: to report CPU per
/// operation next to throughput (on two shared cores the fairest efficiency figure).
public struct ServerProcesses: Sendable {
    public let pids: [Int32]

    public init(pids: [Int32]) { self.pids = pids }

    public struct Sample: Sendable {
        /// From /proc/PID/stat: whole clock ticks (10 ms), every thread that ever ran included.
        public var cpuSeconds: Double
        public var rssBytes: Int64
        /// From /proc/PID/task/*/schedstat: nanoseconds, the threads alive now only.
        public var threadCPUSeconds: Double = 0

        /// CPU seconds used between `earlier` and this sample: the nanosecond figure, unless
        /// threads that ran in between have exited (it then falls short of the tick figure by
        /// more than the ticks' rounding, and the tick figure is used). A short burst — the watch
        /// row's 100 puts — uses only a few ticks, so the nanosecond figure is what makes its CPU
        /// per event meaningful.
        public func cpuSeconds(since earlier: Sample) -> Double {
            let ticks = cpuSeconds - earlier.cpuSeconds
            let precise = threadCPUSeconds - earlier.threadCPUSeconds
            return precise >= ticks - 0.03 * Double(processes) ? precise : ticks
        }
        /// How many processes were summed (each rounds its ticks on its own).
        var processes = 1
    }

    /// User plus system CPU seconds of all the processes, and the sum of their RSS.
    public func sample() -> Sample {
        var s = Sample(cpuSeconds: 0, rssBytes: 0)
        for pid in pids {
            s.cpuSeconds += Self.cpuSeconds(pid) ?? 0
            s.rssBytes += Self.rssBytes(pid) ?? 0
            s.threadCPUSeconds += Self.threadCPUSeconds(pid) ?? 0
        }
        s.processes = pids.count
        return s
    }

    /// The run time of the process's live threads, from /proc/PID/task/*/schedstat (first field, ns).
    public static func threadCPUSeconds(_ pid: Int32) -> Double? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
        var nanoseconds: UInt64 = 0
        for t in tasks {
            guard let text = Self.readProc("/proc/\(pid)/task/\(t)/schedstat"),
                let first = text.split(separator: " ").first, let ns = UInt64(first)
            else { continue }
            nanoseconds += ns
        }
        return Double(nanoseconds) / 1e9
    }

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime from /proc/PID/stat (fields 14 and 15, after the parenthesised name).
    public static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = Self.readProc("/proc/\(pid)/stat"),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3): utime is field 14, stime field 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }

    /// VmRSS from /proc/PID/status.
    public static func rssBytes(_ pid: Int32) -> Int64? {
        guard let status = Self.readProc("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int64(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// The processes listening on these TCP ports on this machine (from /proc/net/tcp{,6} and
    /// the socket links in /proc/PID/fd), in port order; ports nobody here listens on are skipped.
    public static func listening(on ports: [Int]) -> [Int32] {
        var inodes: [String: Int] = [:]  // socket inode → port
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = Self.readProc(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 9, f[3] == "0A", let colon = f[1].lastIndex(of: ":"),
                    let port = Int(f[1][f[1].index(after: colon)...], radix: 16), ports.contains(port)
                else { continue }
                inodes["socket:[\(f[9])]"] = port
            }
        }
        guard !inodes.isEmpty, let procs = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [Int32: Int] = [:]
        for p in procs {
            guard let pid = Int32(p) else { continue }
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p)/fd") else { continue }
            for fd in fds {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p)/fd/\(fd)"),
                    let port = inodes[target]
                {
                    found[pid] = port
                    break
                }
            }
        }
        return found.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
    }

    /// A /proc file, whole. (`String(contentsOfFile:)` returns only the first page of a procfs
    /// file: /proc/net/tcp with a few hundred sockets was cut at 4,050 of 259,200 bytes, and
    /// listeners past the first page went unseen.)
    static func readProc(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// CPU seconds this process (the benchmark client) has used.
    public static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }
}
