import Base
import Foundation

/// `capstan store` processes on loopback, started with etcd's member flags on free ports, each
/// logging to `<directory>/mN.log`; members can be killed, paused and restarted one by one.
/// `shutdown` stops every process it started.
public final class StoreCluster: Sendable {
    public let binary: String
    public let directory: String
    public let arguments: [String]
    private let processes: Locked<[Process?]>
    /// Each member's name and ports (a replaced member's slot gets a new name and new ports).
    private let slots: Locked<[Slot]>

    struct Slot {
        var name: String
        var clientPort: Int
        var peerPort: Int
        /// A member added to the running cluster (it joins with no data).
        var joins = false
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    /// Starts `size` members of a new cluster and returns once each serves clients.
    public init(binary: String, directory: String, size: Int = 3, arguments: [String] = []) throws {
        self.binary = binary
        self.directory = directory
        self.arguments = arguments
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ports = Self.freePorts(2 * size)
        slots = Locked((0..<size).map { Slot(name: "m\($0 + 1)", clientPort: ports[$0], peerPort: ports[size + $0]) })
        processes = Locked(Array(repeating: nil, count: size))
        do {
            for i in 0..<size { try start(i) }
        } catch {
            shutdown()
            throw error
        }
    }

    public var size: Int { slots.withLock { $0.count } }
    public var clientPorts: [Int] { slots.withLock { $0.map(\.clientPort) } }
    public var endpoints: [String] { clientPorts.map { "127.0.0.1:\($0)" } }
    public func name(_ i: Int) -> String { slots.withLock { $0[i].name } }
    public func logPath(_ i: Int) -> String { "\(directory)/\(name(i)).log" }

    /// Starts member `i` (again, with its data, after a kill) and waits until it serves clients.
    public func start(_ i: Int) throws {
        let (all, me) = slots.withLock { ($0, $0[i]) }
        let cluster = all.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let dataDir = "\(directory)/\(me.name).etcd"
        let state = me.joins || FileManager.default.fileExists(atPath: dataDir + "/member") ? "existing" : "new"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments =
            [
                "store", "--name", me.name, "--data-dir", dataDir,
                "--listen-client-urls", "http://127.0.0.1:\(me.clientPort)", "--advertise-client-urls", "http://127.0.0.1:\(me.clientPort)",
                "--listen-peer-urls", me.peerURL, "--initial-advertise-peer-urls", me.peerURL,
                "--initial-cluster", cluster, "--initial-cluster-token", "robustness", "--initial-cluster-state", state,
                "--fault-control", faultPath(i)
            ] + arguments
        let path = logPath(i)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let offset = try log.seekToEnd()
        p.standardError = log
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        processes.withLock { $0[i] = p }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && p.isRunning {
            let text = (try? Data(contentsOf: URL(fileURLWithPath: path)))?.dropFirst(Int(offset)) ?? Data()
            if String(decoding: text, as: UTF8.self).contains("serving clients on") { return }
            usleep(20_000)
        }
        let text = (try? Data(contentsOf: URL(fileURLWithPath: path)))?.dropFirst(Int(offset)) ?? Data()
        throw HarnessError.memberDidNotStart(i, String(decoding: text, as: UTF8.self))
    }

    /// SIGKILL to member `i`; returns once it is gone (its data stays).
    public func kill(_ i: Int) {
        guard let p = processes.withLock({ $0[i] }) else { return }
        if p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        processes.withLock { $0[i] = nil }
    }

    /// SIGSTOP (`paused`) or SIGCONT to member `i`: a process that stops answering without
    /// losing anything, as a long pause or a partition in both directions looks to its peers.
    public func pause(_ i: Int, _ paused: Bool) {
        guard let p = processes.withLock({ $0[i] }), p.isRunning else { return }
        Foundation.kill(p.processIdentifier, paused ? SIGSTOP : SIGCONT)
    }

    /// The file member `i` reads its run-time faults from (`capstan store --fault-control`).
    public func faultPath(_ i: Int) -> String { "\(directory)/\(name(i)).faults" }

    /// Gives slot `i` (its member killed and removed from the cluster) to a new member with a new
    /// name and new ports, to be added (`memberAdd` with the returned peer URL) and then started
    /// (`start`: it joins with no data). Returns the new member's peer URL.
    public func prepareReplacement(_ i: Int) -> String {
        let ports = Self.freePorts(2)
        return slots.withLock { s in
            s[i] = Slot(
                name: s[i].name.split(separator: "-").first.map { "\($0)-r\(ports[1])" } ?? "r", clientPort: ports[0],
                peerPort: ports[1], joins: true)
            return s[i].peerURL
        }
    }

    /// Puts these faults in force on member `i` (none: `[]`): `isolate` cuts it off from its
    /// peers while clients still reach it; `slow-disk=MS` makes each of its fsyncs wait MS.
    /// The member applies them within 50 ms.
    public func setFaults(_ i: Int, _ faults: [String]) throws {
        let path = faultPath(i)
        try Data(faults.joined(separator: " ").utf8).write(to: URL(fileURLWithPath: path + ".new"))
        _ = rename(path + ".new", path)
    }

    /// Member `i`'s process ID, while it runs.
    public func pid(_ i: Int) -> Int32? { processes.withLock { $0[i] }.map(\.processIdentifier) }

    public func isRunning(_ i: Int) -> Bool { processes.withLock { $0[i] }?.isRunning ?? false }

    /// Stops every member (SIGTERM, SIGKILL after 10 s). The data stays in `directory`.
    public func shutdown() {
        let all = processes.withLock { ps in
            defer { ps = ps.map { _ in nil } }
            return ps.compactMap { $0 }
        }
        for p in all where p.isRunning {
            Foundation.kill(p.processIdentifier, SIGCONT)
            p.terminate()
        }
        for p in all {
            let deadline = Date().addingTimeInterval(10)
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }

    /// Ports for new members: see `TestPorts` (below the ephemeral range, recorded in a ledger
    /// shared by every test process).
    public static func freePorts(_ n: Int) -> [Int] { TestPorts.reserve(n) }
}

public enum HarnessError: Error, CustomStringConvertible {
    case memberDidNotStart(Int, String)
    case noLeader
    case tooFewWrites(phase: String, acknowledged: Int, wanted: Int)
    case noSuchMethods([String])

    public var description: String {
        switch self {
        case .memberDidNotStart(let i, let log): "member m\(i + 1) did not start: \(log)"
        case .noLeader: "the cluster has no leader"
        case .tooFewWrites(let phase, let n, let wanted): "\(phase): only \(n) of \(wanted) writes acknowledged in time"
        case .noSuchMethods(let names): "no RPC is named \(names.joined(separator: " or ")) (names such as Range, Put, Watch, LeaseGrant)"
        }
    }
}
