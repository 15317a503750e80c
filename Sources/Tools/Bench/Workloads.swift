import Base
import EtcdProto
import Foundation

/// The flags every workload shares (etcd's benchmark tool's, with its defaults).
public struct BenchOptions: Sendable {
    public var endpoints: [String] = ["127.0.0.1:2379"]
    public var conns = 1
    public var clients = 1
    public var total = 10_000
    public var keySize = 8
    public var valSize = 8
    public var sequentialKeys = false
    public var keySpaceSize = 1
    public var linearizable = true
    /// Operations per second offered in all (0: as fast as the clients go).
    public var rate: Double = 0
    /// The server processes to measure (nil: those listening on the endpoints' ports).
    public var serverPIDs: [Int32]?
    /// A progress line on standard error, rewritten twice a second.
    public var progress = false

    public init() {}
}

/// Runs etcd-benchmark-style workloads against any etcd v3 endpoint.
public final class Bench: Sendable {
    public let options: BenchOptions
    let connections: Connections
    let servers: ServerProcesses

    public init(options: BenchOptions) throws {
        guard options.conns > 0, options.clients > 0, options.total > 0 else {
            throw BenchError.invalid("--conns, --clients and --total must be positive")
        }
        guard options.keySize > 0, options.valSize >= 0, options.keySpaceSize > 0, options.rate >= 0 else {
            throw BenchError.invalid("--key-size and --key-space-size must be positive, --val-size and --rate not negative")
        }
        self.options = options
        connections = try Connections(endpoints: options.endpoints, count: options.conns)
        let pids = options.serverPIDs ?? ServerProcesses.listening(on: connections.addresses.map(\.port))
        servers = ServerProcesses(pids: pids)
    }

    public func close() async { await connections.close() }

    // MARK: - Measuring

    /// Opens the connections every workload uses.
    public func connect() async throws {
        try await connections.connect()
    }

    /// Runs `body` and measures it: wall time, server and client CPU, server RSS at the end.
    func measure(
        _ workload: String, expected: Int, recorder: Recorder,
        body: @Sendable () async -> [(key: String, json: String)]
    ) async -> BenchReport {
        let before = servers.sample()
        let clientBefore = ServerProcesses.ownCPUSeconds()
        let start = monotonicNanos()
        let progress =
            options.progress ? Task { await Self.showProgress(workload, expected: expected, recorder: recorder, start: start) } : nil
        let extra = await body()
        let end = monotonicNanos()
        progress?.cancel()
        _ = await progress?.value
        let after = servers.sample()
        let found = !servers.pids.isEmpty
        return BenchReport(
            workload: workload, ops: recorder.ops, errors: recorder.errors, errorMessages: recorder.errorMessages,
            seconds: Double(end - start) / 1e9, histogram: recorder.histogram, serverPIDs: servers.pids,
            serverCPUSeconds: found ? after.cpuSeconds(since: before) : nil,
            serverRSSBytes: found ? after.rssBytes : nil,
            clientCPUSeconds: ServerProcesses.ownCPUSeconds() - clientBefore, extra: extra)
    }

    static func showProgress(_ workload: String, expected: Int, recorder: Recorder, start: UInt64) async {
        var shown = false
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            let done = recorder.ops + recorder.errors
            let seconds = Double(monotonicNanos() - start) / 1e9
            let line =
                "\r\(workload): \(done)/\(expected) (\(f(Double(done) / Double(max(expected, 1)) * 100, 0)) %), \(f(Double(done) / max(seconds, 0.001), 0))/s, \(recorder.errors) errors, \(f(seconds, 0)) s   "
            FileHandle.standardError.write(Data(line.utf8))
            shown = true
        }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// Starts `options.clients` clients, each looping on `op` for the numbers the pacer hands out.
    func runClients(
        _ pacer: Pacer, recorder: Recorder,
        _ makeClient: @escaping @Sendable (Int) -> (@Sendable (Int) async throws -> Void)
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<options.clients {
                group.addTask {
                    let op = makeClient(c)
                    while let n = await pacer.take() {
                        let t0 = monotonicNanos()
                        do {
                            try await op(n)
                            recorder.record(nanos: monotonicNanos() - t0)
                        } catch {
                            recorder.fail(error)
                        }
                    }
                }
            }
        }
    }

    var value: Data { Data(repeating: UInt8(ascii: "v"), count: options.valSize) }

    var keys: KeyMaker { KeyMaker(size: options.keySize, space: options.keySpaceSize, sequential: options.sequentialKeys) }

    // MARK: - put, range, txn-put, lease-keepalive

    /// Puts of `--val-size` bytes to keys from the key space.
    public func put() async -> BenchReport {
        let recorder = Recorder()
        let pacer = Pacer(total: options.total, rate: options.rate)
        let keys = keys
        let value = value
        let connections = connections
        return await measure("put", expected: options.total, recorder: recorder) {
            await self.runClients(pacer, recorder: recorder) { c in
                let kv = connections.connection(c)
                let put = kv.headers(path: "/etcdserverpb.KV/Put")
                return { n in
                    var r = Etcdserverpb_PutRequest()
                    r.key = Data(keys.key(n))
                    r.value = value
                    _ = try await kv.call(put, try r.serializedBytes())
                }
            }
            return []
        }
    }

    /// Ranges over `[key, end)` (just `key` when `end` is empty), linearizable or serializable.
    public func range(key: String, end: String) async -> BenchReport {
        let recorder = Recorder()
        let pacer = Pacer(total: options.total, rate: options.rate)
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key.utf8)
        request.rangeEnd = Data(end.utf8)
        request.serializable = !options.linearizable
        let r = request
        let connections = connections
        return await measure("range", expected: options.total, recorder: recorder) {
            await self.runClients(pacer, recorder: recorder) { c in
                let kv = connections.connection(c)
                let range = kv.headers(path: "/etcdserverpb.KV/Range")
                let bytes: [UInt8] = (try? r.serializedBytes()) ?? []
                return { _ in _ = try await kv.call(range, bytes) }
            }
            return [("consistency", quote(self.options.linearizable ? "l" : "s"))]
        }
    }

    /// Kubernetes' update shape: a txn that puts the key if its mod_revision is still the one
    /// this client last saw (0: create), and otherwise reads it (the failure branch), which
    /// counts as a conflict. Each client works on its own share of the key space, so conflicts
    /// come only from a key space smaller than the number of clients.
    public func txnPut() async -> BenchReport {
        let recorder = Recorder()
        let pacer = Pacer(total: options.total, rate: options.rate)
        let keys = keys
        let value = value
        let connections = connections
        let clients = options.clients
        let conflicts = Counter()
        return await measure("txn-put", expected: options.total, recorder: recorder) {
            await self.runClients(pacer, recorder: recorder) { c in
                let kv = connections.connection(c)
                let txnPath = kv.headers(path: "/etcdserverpb.KV/Txn")
                let share = max(keys.space / clients, 1)
                let first = keys.space >= clients ? c * share : c % keys.space
                let revisions = Locked<[Int: Int64]>([:])
                return { n in
                    let number = first + (keys.sequential ? (n / clients) % share : Int.random(in: 0..<share))
                    let key = Data(keys.key(number: number))
                    let seen = revisions.withLock { $0[number] ?? 0 }
                    var compare = Etcdserverpb_Compare()
                    compare.key = key
                    compare.target = .mod
                    compare.result = .equal
                    compare.modRevision = seen
                    var put = Etcdserverpb_PutRequest()
                    put.key = key
                    put.value = value
                    var get = Etcdserverpb_RangeRequest()
                    get.key = key
                    var txn = Etcdserverpb_TxnRequest()
                    txn.compare = [compare]
                    txn.success = [Etcdserverpb_RequestOp.with { $0.requestPut = put }]
                    txn.failure = [Etcdserverpb_RequestOp.with { $0.requestRange = get }]
                    let answer = try Etcdserverpb_TxnResponse(serializedBytes: try await kv.call(txnPath, try txn.serializedBytes()))
                    if answer.succeeded {
                        revisions.withLock { $0[number] = answer.header.revision }
                    } else {
                        conflicts.add()
                        let current = answer.responses.first?.responseRange.kvs.first?.modRevision ?? 0
                        revisions.withLock { $0[number] = current }
                    }
                }
            }
            return [("conflicts", String(conflicts.count))]
        }
    }

    /// Lease keep-alives: each client grants a lease (60 s), then renews it on one keep-alive
    /// stream (on its lean connection), one request at a time; the latency is a request's round
    /// trip on the stream.
    public func leaseKeepAlive() async -> BenchReport {
        let recorder = Recorder()
        let pacer = Pacer(total: options.total, rate: options.rate)
        let connections = connections
        return await measure("lease-keepalive", expected: options.total, recorder: recorder) {
            await withTaskGroup(of: Void.self) { group in
                for c in 0..<self.options.clients {
                    group.addTask {
                        let connection = connections.connection(c)
                        do {
                            var grant = Etcdserverpb_LeaseGrantRequest()
                            grant.ttl = 60
                            let granted = try Etcdserverpb_LeaseGrantResponse(
                                serializedBytes: try await connection.call(
                                    connection.headers(path: "/etcdserverpb.Lease/LeaseGrant"), try grant.serializedBytes()))
                            let id = granted.id
                            // Each answer (its TTL, or an end) goes to the loop below, one at a time.
                            let (answers, answered) = AsyncStream<Int64?>.makeStream()
                            let stream = try await connection.openStream(
                                connection.headers(path: "/etcdserverpb.Lease/LeaseKeepAlive"), messages: [],
                                onMessage: { bytes in
                                    let ttl = (try? Etcdserverpb_LeaseKeepAliveResponse(serializedBytes: Array(bytes)))?.ttl ?? 0
                                    answered.yield(ttl)
                                },
                                onEnd: { error in
                                    if let error { recorder.fail(error) }
                                    answered.yield(nil)
                                    answered.finish()
                                })
                            let request: [UInt8] = try Etcdserverpb_LeaseKeepAliveRequest.with { $0.id = id }.serializedBytes()
                            var next = answers.makeAsyncIterator()
                            while await pacer.take() != nil {
                                let sent = monotonicNanos()
                                connection.send(stream: stream, request)
                                guard let answer = await next.next(), let ttl = answer else { break }
                                if ttl > 0 {
                                    recorder.record(nanos: monotonicNanos() - sent)
                                } else {
                                    recorder.fail(BenchError.invalid("lease \(id) expired"))
                                }
                            }
                            await connection.cancel(stream: stream)
                            _ = try? await connection.call(
                                connection.headers(path: "/etcdserverpb.Lease/LeaseRevoke"),
                                try Etcdserverpb_LeaseRevokeRequest.with { $0.id = id }.serializedBytes())
                        } catch {
                            recorder.fail(error)
                        }
                    }
                }
            }
            return []
        }
    }
}
