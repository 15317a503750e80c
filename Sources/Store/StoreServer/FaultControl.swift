import Base
import Foundation
public import Logging
public import Storage

/// The robustness harness's run-time faults for one member (`capstan store --fault-control
/// PATH`, hidden): the file is read every 50 ms, and its words say which faults are in force —
/// `isolate` (nothing sent to or delivered from the peers), `isolate-in` (nothing delivered from
/// them), `isolate-out` (nothing sent to them) and `slow-disk=MS` (every fsync waits MS first).
/// A missing or empty file: none. Each change is logged.
public final class FaultControl: Sendable {
    private let job: PeriodicTask

    public init(path: String, peers: PeerTransport, disk: SlowDiskFileSystem, logger: Logger) {
        let last = Locked("")
        job = PeriodicTask(interval: .milliseconds(50)) {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            guard
                last.withLock({ (value: inout String) in
                    defer { value = text }
                    return value
                }) != text
            else { return }
            let words = Set(text.split(whereSeparator: \.isWhitespace).map(String.init))
            peers.setIsolated(
                inbound: words.contains("isolate") || words.contains("isolate-in"),
                outbound: words.contains("isolate") || words.contains("isolate-out"))
            let slow = words.compactMap { w -> Int? in w.hasPrefix("slow-disk=") ? Int(w.dropFirst("slow-disk=".count)) : nil }.first ?? 0
            disk.syncDelay = .milliseconds(slow)
            logger.info("faults in force: \(words.isEmpty ? "none" : words.sorted().joined(separator: " "))")
        }
    }

    public func stop() { job.stop() }
}
