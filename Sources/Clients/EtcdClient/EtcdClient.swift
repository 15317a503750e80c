import Base
public import EtcdProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// A client for etcd's v3 API (Capstan's and etcd's alike): several endpoints with fail-over,
/// KV and Txn, watch streams that resume from the next revision after a lost connection, and
/// lease keep-alive. Messages are etcd's own (the generated `Etcdserverpb_*` types); the
/// convenience methods cover the common calls.
///
/// Fail-over: a call that fails before it reached a member (no connection) or that a member
/// refused without acting on it ("no leader", "server stopped") is tried on the next endpoint,
/// up to `retries` times in all; other errors (a timed-out write may still be applied) go to
/// the caller as etcd's `RPCError` (code and message).
public final class EtcdClient: Sendable {
    typealias Transport = HTTP2ClientTransport.Posix

    public let endpoints: [String]
    public let retries: Int
    private let clients: [GRPCClient<Transport>]
    private let runners: [Task<Void, Never>]
    private let current = Locked(0)

    /// TLS to the store, as etcdctl's `--cacert --cert --key` (and kube-apiserver's
    /// `--etcd-cafile --etcd-certfile --etcd-keyfile`): PEM files; without a CA the system's roots.
    public struct TLSFiles: Sendable, Equatable {
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// `endpoints`: `host:port`, `http://host:port` or `https://host:port`, as etcdctl takes them.
    /// An https endpoint, or any endpoint when `tls` is given, is reached over TLS.
    public init(endpoints: [String], retries: Int = 6, tls: TLSFiles? = nil) throws {
        precondition(!endpoints.isEmpty, "at least one endpoint")
        self.endpoints = endpoints
        self.retries = max(retries, 1)
        var clients: [GRPCClient<Transport>] = []
        for e in endpoints {
            let (host, port) = try Self.parse(e)
            let security: HTTP2ClientTransport.Posix.TransportSecurity
            let secure = tls != nil || e.hasPrefix("https://")
            if secure {
                let files = tls ?? TLSFiles()
                security = .tls { c in
                    if let ca = files.caFile { c.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                    if let cert = files.certFile, let key = files.keyFile {
                        c.certificateChain = [.file(path: cert, format: .pem)]
                        c.privateKey = .file(path: key, format: .pem)
                    }
                    c.serverCertificateVerification = .fullVerification  // the chain, and the endpoint's address in it
                }
            } else {
                security = .plaintext
            }
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: host, port: port), transportSecurity: security,
                config: .defaults { c in
                    c.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5), allowWithoutCalls: true)
                    // Plaintext only: on TLS the handler would sit before the decryption (not yet placed after it).
                    if !secure { c.channelDebuggingCallbacks.onCreateTCPConnection = ServerPingAnswerer.install }
                    c.backoff = .init(initial: .milliseconds(50), max: .seconds(2), multiplier: 2, jitter: 0.2)
                })
            clients.append(GRPCClient(transport: transport))
        }
        self.clients = clients
        runners = clients.map { c in Task { try? await c.runConnections() } }
    }

    /// The endpoint calls go to now (it moves on fail-over).
    public var currentEndpoint: String { endpoints[current.withLock { $0 }] }

    /// Closes every connection once the calls in flight finish.
    public func close() {
        for c in clients { c.beginGracefulShutdown() }
    }

    /// `host:port`, `http://host:port` or `https://host:port` as the IPv4 address (localhost:
    /// 127.0.0.1) and port.
    public static func parse(_ endpoint: String) throws -> (String, Int) {
        var s = Substring(endpoint)
        if s.hasPrefix("http://") { s = s.dropFirst(7) } else if s.hasPrefix("https://") { s = s.dropFirst(8) }
        if s.hasSuffix("/") { s = s.dropLast() }
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]) else {
            throw RPCError(code: .invalidArgument, message: "endpoint '\(endpoint)' is not host:port")
        }
        let host = String(s[..<colon])
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }

    /// Whether a call that failed with `error` surely had no effect: it never reached a member,
    /// the channel having no connection to send it on (grpc-swift's words for those cases). A
    /// stream that broke after the request went out may have been applied.
    public static func failedWithoutEffect(_ error: any Error) -> Bool {
        guard let e = error as? RPCError, e.code == .unavailable else { return false }
        return [
            "Channel is in a transient failure state", "Channel is shutting down", "Channel isn't ready",
            "Could not establish a connection", "The server accepted the TCP connection but closed",
            "subchannel isn't ready", "subchannel is unavailable"
        ].contains { e.message.hasPrefix($0) }
    }

    /// Whether a failed read may be asked again elsewhere: any unavailability (a transport
    /// failure, or a member without a leader, stopping, or after a leader change).
    static func readMayRetry(_ error: any Error) -> Bool {
        guard let e = error as? RPCError, e.code == .unavailable else { return false }
        return !e.message.hasPrefix("etcdserver:") || e.message == "etcdserver: no leader"
            || e.message == "etcdserver: server stopped" || e.message == "etcdserver: leader changed"
    }

    /// Runs `body` on the current endpoint, moving to the next one on a failure that allows it:
    /// for a read (`idempotent`), any unavailability; for a write, only a failure to send it at
    /// all (a write that may have been applied is never sent twice: a compare-and-set retried
    /// after it took effect would answer "failed").
    func call<R: Sendable>(idempotent: Bool = false, _ body: (GRPCClient<Transport>) async throws -> R) async throws -> R {
        var lastError: (any Error)?
        for attempt in 0..<retries {
            let index = current.withLock { $0 }
            do {
                return try await body(clients[index])
            } catch {
                guard idempotent ? Self.readMayRetry(error) : Self.failedWithoutEffect(error) else { throw error }
                lastError = error
                current.withLock { $0 = (index + 1) % clients.count }
                if attempt >= clients.count - 1 { try await Task.sleep(for: .milliseconds(100 * (attempt + 1))) }
            }
        }
        throw lastError ?? RPCError(code: .unavailable, message: "no endpoint answered")
    }

    // MARK: - KV

    public func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await call(idempotent: true) { try await Etcdserverpb_KV.Client(wrapping: $0).range(request) }
    }

    /// The value of `key`, or nil.
    public func get(_ key: String, serializable: Bool = false) async throws -> [UInt8]? {
        var r = Etcdserverpb_RangeRequest()
        r.key = Data(key.utf8)
        r.serializable = serializable
        return try await range(r).kvs.first.map { [UInt8]($0.value) }
    }

    /// Every key with `prefix`, in key order (keys and values as bytes).
    public func get(prefix: String) async throws -> [(key: [UInt8], value: [UInt8])] {
        var r = Etcdserverpb_RangeRequest()
        r.key = Data(prefix.utf8)
        r.rangeEnd = Data(Self.prefixEnd(Array(prefix.utf8)))
        return try await range(r).kvs.map { ([UInt8]($0.key), [UInt8]($0.value)) }
    }

    /// The range end that makes a range a prefix (etcd's rule; `[0]` for the empty prefix: all keys).
    public static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }

    public func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try await call { try await Etcdserverpb_KV.Client(wrapping: $0).put(request) }
    }

    /// Puts `value` at `key` (attached to `lease` unless 0); returns the new revision.
    @discardableResult
    public func put(_ key: String, _ value: String, lease: Int64 = 0) async throws -> Int64 {
        var r = Etcdserverpb_PutRequest()
        r.key = Data(key.utf8)
        r.value = Data(value.utf8)
        r.lease = lease
        return try await put(r).header.revision
    }

    public func delete(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await call { try await Etcdserverpb_KV.Client(wrapping: $0).deleteRange(request) }
    }

    /// Deletes `key` (or `[key, rangeEnd)`); returns how many keys went.
    @discardableResult
    public func delete(_ key: String, rangeEnd: String? = nil) async throws -> Int64 {
        var r = Etcdserverpb_DeleteRangeRequest()
        r.key = Data(key.utf8)
        if let rangeEnd { r.rangeEnd = Data(rangeEnd.utf8) }
        return try await delete(r).deleted
    }

    public func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try await call { try await Etcdserverpb_KV.Client(wrapping: $0).txn(request) }
    }

    public func compact(_ revision: Int64) async throws {
        var r = Etcdserverpb_CompactionRequest()
        r.revision = revision
        _ = try await call { try await Etcdserverpb_KV.Client(wrapping: $0).compact(r) }
    }

    // MARK: - Leases

    /// Grants a lease of `ttl` seconds; returns its ID and granted TTL.
    public func grantLease(ttl: Int64, id: Int64 = 0) async throws -> (id: Int64, ttl: Int64) {
        var r = Etcdserverpb_LeaseGrantRequest()
        r.ttl = ttl
        r.id = id
        let answer = try await call { try await Etcdserverpb_Lease.Client(wrapping: $0).leaseGrant(r) }
        return (answer.id, answer.ttl)
    }

    public func revokeLease(_ id: Int64) async throws {
        var r = Etcdserverpb_LeaseRevokeRequest()
        r.id = id
        _ = try await revokeLease(r)
    }

    public func revokeLease(_ request: Etcdserverpb_LeaseRevokeRequest) async throws -> Etcdserverpb_LeaseRevokeResponse {
        try await call { try await Etcdserverpb_Lease.Client(wrapping: $0).leaseRevoke(request) }
    }

    /// Seconds left on a lease (-1 when it does not exist), its granted TTL, and its keys.
    public func timeToLive(_ id: Int64, keys: Bool = false) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        var r = Etcdserverpb_LeaseTimeToLiveRequest()
        r.id = id
        r.keys = keys
        return try await call(idempotent: true) { try await Etcdserverpb_Lease.Client(wrapping: $0).leaseTimeToLive(r) }
    }

    /// Keeps lease `id` alive until the returned task is cancelled: a keep-alive stream that sends
    /// a renewal every third of the TTL, reopened on the next endpoint when it breaks. The task
    /// ends (with `EtcdClientError.leaseExpired`) when the lease is gone.
    public func keepAlive(_ id: Int64, ttl: Int64) -> Task<Void, any Error> {
        Task {
            let every = Duration.milliseconds(max(ttl * 1000 / 3, 100))
            while true {
                try Task.checkCancellation()
                let index = current.withLock { $0 }
                do {
                    try await Etcdserverpb_Lease.Client(wrapping: clients[index]).leaseKeepAlive(
                        requestProducer: { writer in
                            var r = Etcdserverpb_LeaseKeepAliveRequest()
                            r.id = id
                            while true {
                                try await writer.write(r)
                                try await Task.sleep(for: every)
                            }
                        },
                        onResponse: { response in
                            for try await answer in response.messages where answer.ttl <= 0 {
                                throw EtcdClientError.leaseExpired(id)
                            }
                        })
                } catch let e as EtcdClientError {
                    throw e
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    current.withLock { $0 = (index + 1) % clients.count }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    // MARK: - Watch

    /// A batch of events from a watch, with the revision of the response that carried it.
    public struct WatchBatch: Sendable {
        public var revision: Int64
        public var events: [Mvccpb_Event]
    }

    /// Watches `[key, rangeEnd)` (just `key` when `rangeEnd` is nil) from `startRevision` (0: from
    /// now). When the stream breaks, it is reopened on the next endpoint from the revision after
    /// the last event delivered, so no event is lost or repeated. Ends with
    /// `EtcdClientError.compacted` when the next revision was compacted away, and with
    /// `EtcdClientError.slowConsumer` when `buffer` batches wait unread (rather than lose any).
    /// With `progressNotify`, the server's progress notifications come as batches without events.
    public func watch(
        _ key: [UInt8], rangeEnd: [UInt8] = [], startRevision: Int64 = 0, prevKV: Bool = false,
        progressNotify: Bool = false, buffer: Int = 10_000
    )
        -> AsyncThrowingStream<WatchBatch, any Error>
    {
        let (stream, continuation) = AsyncThrowingStream<WatchBatch, any Error>.makeStream(bufferingPolicy: .bufferingNewest(buffer))
        let task = Task {
            var next = startRevision
            while !Task.isCancelled {
                let index = current.withLock { $0 }
                var create = Etcdserverpb_WatchCreateRequest()
                create.key = Data(key)
                create.rangeEnd = Data(rangeEnd)
                create.prevKv = prevKV
                create.progressNotify = progressNotify
                create.startRevision = next
                var createRequest = Etcdserverpb_WatchRequest()
                createRequest.createRequest = create
                let request = createRequest
                let resumeFrom = Locked(next)
                do {
                    try await Etcdserverpb_Watch.Client(wrapping: clients[index]).watch(
                        requestProducer: { writer in
                            try await writer.write(request)
                            // Keep the request side open for the life of the watch.
                            while true { try await Task.sleep(for: .seconds(3600)) }
                        },
                        onResponse: { response in
                            for try await answer in response.messages {
                                if answer.compactRevision > 0 && answer.canceled {
                                    throw EtcdClientError.compacted(answer.compactRevision)
                                }
                                if answer.canceled { throw EtcdClientError.watchCanceled(answer.cancelReason) }
                                if answer.created && resumeFrom.withLock({ $0 }) == 0 {
                                    // A watch "from now": what comes after the creation revision.
                                    resumeFrom.withLock { $0 = answer.header.revision + 1 }
                                }
                                if let last = answer.events.last {
                                    resumeFrom.withLock { $0 = last.kv.modRevision + 1 }
                                } else if !progressNotify || answer.created {
                                    continue
                                }
                                // A batch of events, or a progress notification (no events).
                                if case .dropped = continuation.yield(WatchBatch(revision: answer.header.revision, events: answer.events)) {
                                    throw EtcdClientError.slowConsumer
                                }
                            }
                        })
                } catch let e as EtcdClientError {
                    continuation.finish(throwing: e)
                    return
                } catch {
                    if Task.isCancelled { break }
                    next = resumeFrom.withLock { $0 }
                    current.withLock { $0 = (index + 1) % clients.count }
                    try? await Task.sleep(for: .milliseconds(200))
                    continue
                }
                next = resumeFrom.withLock { $0 }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: - Maintenance

    public func status(endpoint index: Int) async throws -> Etcdserverpb_StatusResponse {
        try await Etcdserverpb_Maintenance.Client(wrapping: clients[index]).status(Etcdserverpb_StatusRequest())
    }

    // MARK: - Cluster

    /// Adds a member with these peer URLs; returns its ID and the membership after the change.
    public func memberAdd(peerURLs: [String], learner: Bool = false) async throws -> (id: UInt64, members: [Etcdserverpb_Member]) {
        var r = Etcdserverpb_MemberAddRequest()
        r.peerUrls = peerURLs
        r.isLearner = learner
        let answer = try await call { try await Etcdserverpb_Cluster.Client(wrapping: $0).memberAdd(r) }
        return (answer.member.id, answer.members)
    }

    public func memberRemove(_ id: UInt64) async throws {
        var r = Etcdserverpb_MemberRemoveRequest()
        r.id = id
        _ = try await call { try await Etcdserverpb_Cluster.Client(wrapping: $0).memberRemove(r) }
    }

    public func memberList() async throws -> [Etcdserverpb_Member] {
        try await call(idempotent: true) {
            try await Etcdserverpb_Cluster.Client(wrapping: $0).memberList(Etcdserverpb_MemberListRequest())
        }.members
    }

    /// The member at endpoint `index`'s hash of the key space up to `revision` (0: its newest),
    /// with the revision it hashed through.
    public func hashKV(endpoint index: Int, revision: Int64 = 0) async throws -> (hash: UInt32, revision: Int64) {
        var r = Etcdserverpb_HashKVRequest()
        r.revision = revision
        let answer = try await Etcdserverpb_Maintenance.Client(wrapping: clients[index]).hashKV(r)
        return (answer.hash, answer.header.revision)
    }

    /// Asks the leader at endpoint `index` to hand leadership to member `target`.
    public func moveLeader(endpoint index: Int, to target: UInt64) async throws {
        var r = Etcdserverpb_MoveLeaderRequest()
        r.targetID = target
        _ = try await Etcdserverpb_Maintenance.Client(wrapping: clients[index]).moveLeader(r)
    }
}

public enum EtcdClientError: Error, Equatable, Sendable {
    /// The watch's next revision was compacted; start again from at least this revision.
    case compacted(Int64)
    case watchCanceled(String)
    /// A watch's reader fell `buffer` batches behind; the watch ended rather than drop events.
    case slowConsumer
    /// The lease a keep-alive renews is gone (expired or revoked).
    case leaseExpired(Int64)
}
