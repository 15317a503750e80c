import Base
import Bench
import EtcdClient
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Bad input on the wire (issue 7): random and mutated protobuf messages to every RPC of etcd's
/// API, connections dropped part-way through the HTTP/2 preface, a frame or a message, and
/// thousands of idle connections held open. The member must answer every call with a gRPC
/// status within the call's time limit, stay up, still serve afterwards, and give back the
/// file descriptors of the connections once they are gone.
public struct FuzzConfig: Sendable {
    /// `host:port` of the member's client URL.
    public var endpoint: String
    /// The member's process, to watch its file descriptors and memory (nil: not watched).
    public var pid: Int32?
    public var calls = 2_000
    /// Concurrent callers.
    public var concurrency = 16
    public var seed: UInt64 = 1
    public var abruptDisconnects = 200
    public var idleConnections = 1_000
    /// A call without an answer in this time is a failure (nothing the fuzzer sends takes long).
    public var callTimeout: Duration = .seconds(5)
    /// Only these methods (names such as "Range" or "Watch"; empty: all).
    public var methods: [String] = []

    public init(endpoint: String) { self.endpoint = endpoint }
}

public struct FuzzReport: Sendable, Codable {
    public var calls = 0
    /// Answers by gRPC status code name, over all calls.
    public var statuses: [String: Int] = [:]
    /// Calls that got no status in time, or whose connection failed (method and input, in hex).
    public var unanswered: [String] = []
    public var abruptDisconnects = 0
    public var idleConnectionsHeld = 0
    /// Whether the member served a linearizable read and a Status after everything.
    public var servesAfterwards = false
    /// Why not, when it did not.
    public var notServing: [String] = []
    public var processAlive = true
    public var descriptorsBefore = 0, descriptorsWithIdle = 0, descriptorsAfter = 0
    public var rssBefore = 0, rssAfter = 0

    /// Everything answered, the member alive and serving, descriptors given back (within 16).
    public var passed: Bool {
        unanswered.isEmpty && servesAfterwards && processAlive && descriptorsAfter <= descriptorsBefore + 16
    }

    public var summary: String {
        let codes = statuses.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(calls) calls (\(codes)), \(unanswered.count) unanswered; \(abruptDisconnects) connections dropped part-way; "
            + "\(idleConnectionsHeld) idle connections held; file descriptors \(descriptorsBefore) → \(descriptorsWithIdle) with the idle ones → "
            + "\(descriptorsAfter) after; RSS \(rssBefore >> 20) → \(rssAfter >> 20) MiB; "
            + (processAlive
                ? (servesAfterwards ? "serves afterwards" : "DOES NOT SERVE (\(notServing.joined(separator: "; ")))") : "PROCESS DIED")
            + (passed ? ": ok" : ": FAILED")
    }
}

public enum WireFuzzer {
    /// etcd's RPCs: service, method, and whether the client streams (Watch, LeaseKeepAlive).
    static let methods: [(service: String, method: String, clientStreams: Bool)] = [
        ("etcdserverpb.KV", "Range", false), ("etcdserverpb.KV", "Put", false), ("etcdserverpb.KV", "DeleteRange", false),
        ("etcdserverpb.KV", "Txn", false), ("etcdserverpb.KV", "Compact", false),
        ("etcdserverpb.Watch", "Watch", true),
        ("etcdserverpb.Lease", "LeaseGrant", false), ("etcdserverpb.Lease", "LeaseRevoke", false),
        ("etcdserverpb.Lease", "LeaseKeepAlive", true), ("etcdserverpb.Lease", "LeaseTimeToLive", false),
        ("etcdserverpb.Lease", "LeaseLeases", false),
        ("etcdserverpb.Cluster", "MemberAdd", false), ("etcdserverpb.Cluster", "MemberRemove", false),
        ("etcdserverpb.Cluster", "MemberUpdate", false), ("etcdserverpb.Cluster", "MemberList", false),
        ("etcdserverpb.Cluster", "MemberPromote", false),
        ("etcdserverpb.Maintenance", "Alarm", false), ("etcdserverpb.Maintenance", "Status", false),
        ("etcdserverpb.Maintenance", "Defragment", false), ("etcdserverpb.Maintenance", "Hash", false),
        ("etcdserverpb.Maintenance", "HashKV", false), ("etcdserverpb.Maintenance", "Snapshot", false),
        ("etcdserverpb.Maintenance", "MoveLeader", false),
        ("etcdserverpb.Auth", "Authenticate", false), ("etcdserverpb.Auth", "UserAdd", false),
        ("etcdserverpb.Nonexistent", "Method", false)
    ]

    /// Inputs every run sends first, each once: requests that broke a server before.
    static let regressions: [(service: String, method: String, message: [UInt8], why: String)] = [
        // AlarmRequest{action: ACTIVATE, alarm: NONE} plus an unknown fixed64 field: etcd 3.4.23
        // dies on it (a nil AlarmResponse marshalled: SIGSEGV), found by this fuzzer (seed 1).
        (
            "etcdserverpb.Maintenance", "Alarm", [0x08, 0x01, 0x91, 0x01, 0x69, 0x80, 0x97, 0x68, 0xE4, 0xE7, 0xE9, 0xC3],
            "kills etcd 3.4.23"
        ),
        ("etcdserverpb.Maintenance", "Alarm", [0x08, 0x01], "ACTIVATE of alarm NONE"),
        // An empty Watch request: a stream left open with nothing to answer (etcd's too).
        ("etcdserverpb.Watch", "Watch", [], "an empty watch request")
    ]

    public static func run(_ config: FuzzConfig, log: @escaping @Sendable (String) -> Void = { _ in }) async throws -> FuzzReport {
        var report = FuzzReport()
        let (host, port) = try EtcdClient.parse(config.endpoint)
        report.descriptorsBefore = config.pid.map(descriptors) ?? 0
        report.rssBefore = config.pid.map(rss) ?? 0

        // 1. Calls with random and mutated messages, from `concurrency` callers.
        let results = try await fuzzCalls(config, host: host, port: port, log: log)
        (report.statuses, report.unanswered) = results.state.withLock { ($0.statuses, $0.unanswered) }
        report.calls = config.calls + regressions.count
        log("calls done: \(report.statuses)")

        // 2. Connections dropped part-way.
        report.abruptDisconnects = dropConnections(config, host: host, port: port)

        // 3. Idle connections: the preface and SETTINGS, then nothing, all held at once.
        let during = try await holdIdleConnections(config, host: host, port: port, report: &report)

        // 4. Still alive, still serving, descriptors given back.
        try await checkAfterwards(config, during: during, report: &report)
        return report
    }

    /// Sends the regressions, then `config.calls` random and mutated calls from `concurrency`
    /// callers, on one client; returns their outcomes.
    private static func fuzzCalls(
        _ config: FuzzConfig, host: String, port: Int, log: @escaping @Sendable (String) -> Void
    ) async throws -> Tally {
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: host, port: port), transportSecurity: .plaintext)
        let client = GRPCClient(transport: transport)
        let results = Tally()
        let chosen = methods.filter { config.methods.isEmpty || config.methods.contains($0.method) }
        guard !chosen.isEmpty else { throw HarnessError.noSuchMethods(config.methods) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.runConnections() }
            for r in regressions {
                let streams = methods.contains { $0.method == r.method && $0.clientStreams }
                let outcome = await call(client, r.service, r.method, [r.message], streaming: streams, timeout: config.callTimeout)
                let what = "\(r.service)/\(r.method) \(hex(r.message)) (\(r.why))"
                log("regression \(what) -> \(outcome)")
                results.add(outcome, what)
            }
            try await withThrowingTaskGroup(of: Void.self) { callers in
                for c in 0..<config.concurrency {
                    callers.addTask {
                        await randomCalls(caller: c, client, methods: chosen, config: config, results: results, log: log)
                    }
                }
                try await callers.waitForAll()
            }
            client.beginGracefulShutdown()
            try await group.waitForAll()
        }
        return results
    }

    /// Caller `c`'s share of the random calls (calls c, c + concurrency, …), from its own seed.
    private static func randomCalls(
        caller c: Int, _ client: GRPCClient<HTTP2ClientTransport.Posix>,
        methods chosen: [(service: String, method: String, clientStreams: Bool)], config: FuzzConfig, results: Tally,
        log: @Sendable (String) -> Void
    ) async {
        var rng = SeededRandom(seed: config.seed &+ UInt64(c) &* 0x9E37_79B9)
        var i = c
        while i < config.calls {
            let m = chosen[Int(rng.next() % UInt64(chosen.count))]
            let messages = (0..<(m.clientStreams ? 1 + Int(rng.next() % 4) : 1)).map { _ in message(&rng) }
            let outcome = await call(
                client, m.service, m.method, messages, streaming: m.clientStreams,
                timeout: config.callTimeout)
            let what = "\(m.service)/\(m.method) \(messages.map(hex).joined(separator: " | "))"
            log("\(what) -> \(outcome)")
            results.add(outcome, what)
            i += config.concurrency
        }
    }

    /// Opens `abruptDisconnects` connections and drops each part-way through a conversation
    /// (closed or reset); returns how many were opened.
    private static func dropConnections(_ config: FuzzConfig, host: String, port: Int) -> Int {
        var dropped = 0
        var rng = SeededRandom(seed: config.seed ^ 0xD15C)
        for _ in 0..<config.abruptDisconnects {
            let fd = connectSocket(host, port)
            guard fd >= 0 else { continue }
            let bytes = partialConversation(&rng)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if rng.next() % 2 == 0 {
                // A reset rather than a close (SO_LINGER 0).
                var l = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            }
            close(fd)
            dropped += 1
        }
        return dropped
    }

    /// Holds `idleConnections` idle connections at once, counts the descriptors the member then
    /// holds, and checks that it still serves; returns why it did not (nil: it did).
    private static func holdIdleConnections(
        _ config: FuzzConfig, host: String, port: Int, report: inout FuzzReport
    ) async throws -> String? {
        var idle: [Int32] = []
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
        for _ in 0..<config.idleConnections {
            let fd = connectSocket(host, port)
            guard fd >= 0 else { break }
            _ = preface.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            idle.append(fd)
        }
        report.idleConnectionsHeld = idle.count
        // The kernel completes a connection before the server accepts it: wait (up to 10 s) until
        // the server holds them all.
        let accepted = ContinuousClock.now + .seconds(10)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            report.descriptorsWithIdle = config.pid.map(descriptors) ?? 0
        } while config.pid != nil && report.descriptorsWithIdle < report.descriptorsBefore + idle.count && ContinuousClock.now < accepted
        // The member still serves while they are held.
        let during = await serves(config.endpoint)
        for fd in idle { close(fd) }
        return during
    }

    /// Records whether the member is still alive and serving, and waits (up to 10 s) for it to
    /// give back the descriptors.
    private static func checkAfterwards(_ config: FuzzConfig, during: String?, report: inout FuzzReport) async throws {
        report.processAlive = config.pid.map { kill($0, 0) == 0 } ?? true
        let after = await serves(config.endpoint)
        report.servesAfterwards = during == nil && after == nil
        report.notServing = [during.map { "with the idle connections held: \($0)" }, after.map { "afterwards: \($0)" }].compactMap { $0 }
        let deadline = ContinuousClock.now + .seconds(10)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            report.descriptorsAfter = config.pid.map(descriptors) ?? 0
        } while report.descriptorsAfter > report.descriptorsBefore + 16 && ContinuousClock.now < deadline
        report.rssAfter = config.pid.map(rss) ?? 0
    }

    enum Outcome {
        case status(String)
        case none(String)
    }

    /// One call with raw request bytes; any gRPC status the server sent counts as an answer. A
    /// client-streaming call (Watch, LeaseKeepAlive) may rightly stay open with nothing to say
    /// (etcd leaves a watch stream without a create request silent too): after 500 ms the
    /// fuzzer cancels it, and a stream the server then lets go counts as answered.
    static func call(
        _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ service: String, _ method: String, _ messages: [[UInt8]],
        streaming: Bool, timeout: Duration
    ) async -> Outcome {
        var options = CallOptions.defaults
        options.timeout = timeout
        let descriptor = MethodDescriptor(fullyQualifiedService: service, method: method)
        let request = StreamingClientRequest<[UInt8]>(of: [UInt8].self) { writer in
            for m in messages { try await writer.write(m) }
        }
        let rpc = Task { () throws -> Outcome in
            try await client.bidirectionalStreaming(
                request: request, descriptor: descriptor, serializer: RawBytes(),
                deserializer: RawBytes(), options: options
            ) { response in
                for try await _ in response.messages {}
                return Outcome.status("ok")
            }
        }
        let stopper =
            streaming
            ? Task { () -> Bool in
                try? await Task.sleep(for: .milliseconds(500))
                if Task.isCancelled { return false }
                rpc.cancel()
                return true
            } : nil
        let result = await rpc.result
        stopper?.cancel()
        // However grpc-swift words the end of a call the fuzzer cancelled, it is that.
        if await stopper?.value == true, case .failure = result { return .status("stream left open") }
        switch result {
        case .success(let outcome): return outcome
        case .failure(let e as RPCError):
            if e.code == .deadlineExceeded { return .none("no answer within \(timeout)") }
            if e.code == .unavailable && !e.message.hasPrefix("etcdserver:") { return .none("\(e.code): \(e.message)") }
            return .status("\(e.code)")
        case .failure(let e):
            return .none("\(e)")
        }
    }

    /// A request message: valid protobuf with random fields (numbers 1–20, every wire type,
    /// nested messages, extreme varints), random bytes, or a mutation of the former.
    static func message(_ rng: inout SeededRandom) -> [UInt8] {
        switch rng.next() % 10 {
        case 0: return (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 1, 2:
            var m = fields(&rng, depth: 0)
            guard !m.isEmpty else { return m }
            switch rng.next() % 4 {
            case 0: m.removeLast(Int(rng.next() % UInt64(m.count)))
            case 1: m[Int(rng.next() % UInt64(m.count))] ^= UInt8(1 << (rng.next() % 8))
            case 2: m.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(m.count)))
            default: m += [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]  // a length far past the end
            }
            return m
        default: return fields(&rng, depth: 0)
        }
    }

    static func fields(_ rng: inout SeededRandom, depth: Int) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int(rng.next() % 6) {
            let field = 1 + rng.next() % 20
            switch rng.next() % 5 {
            case 0:
                varint(field << 3, &out)
                let interesting: [UInt64] = [0, 1, 2, 3, 127, 128, UInt64(Int64.max), UInt64.max, UInt64(bitPattern: -1), 1 << 32, 1 << 62]
                varint(rng.next() % 2 == 0 ? interesting[Int(rng.next() % UInt64(interesting.count))] : rng.next() % 100_000, &out)
            case 1:
                varint(field << 3 | 2, &out)
                let body: [UInt8] =
                    depth < 3 && rng.next() % 3 == 0
                    ? fields(&rng, depth: depth + 1)
                    : (0..<Int(rng.next() % 32)).map { _ in rng.next() % 4 == 0 ? 0 : UInt8(truncatingIfNeeded: rng.next()) }
                varint(UInt64(body.count), &out)
                out += body
            case 2:
                varint(field << 3 | 1, &out)
                for _ in 0..<8 { out.append(UInt8(truncatingIfNeeded: rng.next())) }
            case 3:
                varint(field << 3 | 5, &out)
                for _ in 0..<4 { out.append(UInt8(truncatingIfNeeded: rng.next())) }
            default:
                varint(field << 3 | (rng.next() % 2 == 0 ? 3 : 7), &out)  // groups and an invalid wire type
            }
        }
        return out
    }

    static func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Bytes of an HTTP/2 conversation cut short: part of the preface, a frame header without its
    /// payload, or a call's HEADERS with a DATA frame that promises more than it carries.
    static func partialConversation(_ rng: inout SeededRandom) -> [UInt8] {
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
        switch rng.next() % 5 {
        case 0: return []
        case 1: return Array(preface.prefix(Int(rng.next() % UInt64(preface.count))))
        case 2: return preface + settings + [0, 0, 100, 1, 4, 0, 0, 0, 1]  // HEADERS header, no block
        case 3:
            // HEADERS (a literal :path only: the server must cope with the rest missing), then DATA
            // whose gRPC prefix says 1000 bytes and carries 10.
            let path = Array("/etcdserverpb.KV/Put".utf8)
            let block: [UInt8] = [0x04, UInt8(path.count)] + path
            let headers: [UInt8] = [0, 0, UInt8(block.count), 1, 4, 0, 0, 0, 1] + block
            let data: [UInt8] = [0, 0, 15, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x03, 0xE8] + [UInt8](repeating: 7, count: 10)
            return preface + settings + headers + data
        default:
            return preface + settings + (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
    }

    /// nil if a linearizable range and a Status both succeed through a fresh client, else why not.
    static func serves(_ endpoint: String) async -> String? {
        do {
            let etcd = try EtcdClient(endpoints: [endpoint])
            defer { etcd.close() }
            _ = try await etcd.get("fuzz-health-check")
            _ = try await etcd.status(endpoint: 0)
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func connectSocket(_ host: String, _ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr(host)
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if ok != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    static func rss(_ pid: Int32) -> Int { Int(ServerProcesses.rssBytes(pid) ?? 0) }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.prefix(48).map { String(format: "%02x", $0) }.joined() + (bytes.count > 48 ? "…" : "")
    }
}

/// The calls' answers, shared by the callers.
final class Tally: Sendable {
    let state = Locked<(statuses: [String: Int], unanswered: [String])>(([:], []))

    /// One call's outcome: its status counted, or `what` (the method and request) listed unanswered.
    func add(_ outcome: WireFuzzer.Outcome, _ what: String) {
        state.withLock { t in
            switch outcome {
            case .status(let code): t.statuses[code, default: 0] += 1
            case .none(let why): t.unanswered.append("\(what): \(why)")
            }
        }
    }
}

/// Request and response bytes as they are: the fuzzer sends what it makes and reads nothing.
struct RawBytes: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
