import EtcdProto
import Foundation
import GRPCCore

// The calls an object store makes (the shape of kube-apiserver's traffic: prefix ranges with a
// limit and a revision, writes conditioned on a key's mod revision in a Txn, prefix watches with
// the previous value), with plain Swift values so callers need neither etcd's messages nor gRPC.

/// One key as a range or a watch gives it.
public struct StoredValue: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    /// The revision that created the key (its current incarnation).
    public var createRevision: Int64
    /// The revision of its last change: Kubernetes' resourceVersion.
    public var modRevision: Int64
    public var version: Int64
    public var lease: Int64

    public init(key: [UInt8], value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64 = 1, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    init(_ kv: Mvccpb_KeyValue) {
        self.init(
            key: [UInt8](kv.key), value: [UInt8](kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision,
            version: kv.version, lease: kv.lease)
    }
}

/// A range's answer: the keys, whether more follow the limit, how many the range holds in all,
/// and the store's revision the answer was read at.
public struct RangeAnswer: Sendable {
    public var values: [StoredValue]
    public var more: Bool
    public var count: Int64
    public var revision: Int64
}

/// What a conditional write did: wrote at `revision`, or did not because the condition failed,
/// with the key's current value (nil when it does not exist) read in the same transaction.
public enum ConditionalOutcome: Sendable, Equatable {
    case written(revision: Int64)
    case failed(current: StoredValue?, revision: Int64)
}

/// A watch event without etcd's messages.
public struct StoredEvent: Sendable {
    public enum Kind: Sendable { case put, delete }
    public var kind: Kind
    /// For a put the new value; for a delete the key with the deletion's revision as `modRevision`.
    public var value: StoredValue
    /// The value before the event, when the watch asked for it and the store still had it.
    public var previous: StoredValue?
}

/// Errors of the object-store calls, without gRPC: the revision asked for was compacted, or the
/// store failed otherwise (its gRPC status name and message, e.g. `unavailable` "etcdserver: no leader").
public enum StoreCallError: Error, Equatable, Sendable, CustomStringConvertible {
    case compacted
    case futureRevision
    case failed(code: String, message: String)

    public var description: String {
        switch self {
        case .compacted: "etcdserver: mvcc: required revision has been compacted"
        case .futureRevision: "etcdserver: mvcc: required revision is a future revision"
        case .failed(let code, let message): "\(code): \(message)"
        }
    }

    static func from(_ error: any Error) -> any Error {
        guard let e = error as? RPCError else { return error }
        if e.message.hasSuffix("required revision has been compacted") { return StoreCallError.compacted }
        if e.message.hasSuffix("required revision is a future revision") { return StoreCallError.futureRevision }
        return StoreCallError.failed(code: "\(e.code)", message: e.message)
    }
}

extension EtcdClient {
    /// Keys in `[key, end)` (just `key` when `end` is empty), in key order, at most `limit` (0: all),
    /// at `revision` (0: the newest). `serializable` reads the member's own copy without a quorum.
    public func range(
        from key: [UInt8], to end: [UInt8] = [], limit: Int64 = 0, revision: Int64 = 0, serializable: Bool = false,
        countOnly: Bool = false
    ) async throws -> RangeAnswer {
        var r = Etcdserverpb_RangeRequest()
        r.key = Data(key)
        r.rangeEnd = Data(end)
        r.limit = limit
        r.revision = revision
        r.serializable = serializable
        r.countOnly = countOnly
        do {
            let answer = try await range(r)
            return RangeAnswer(
                values: answer.kvs.map(StoredValue.init), more: answer.more, count: answer.count, revision: answer.header.revision)
        } catch {
            throw StoreCallError.from(error)
        }
    }

    /// Puts `value` at `key` only if the key does not exist.
    public func create(_ key: [UInt8], value: [UInt8], lease: Int64 = 0) async throws -> ConditionalOutcome {
        try await conditional(key, compare: .create, revision: 0, then: put(key, value, lease))
    }

    /// Puts `value` at `key` only if the key's mod revision is `modRevision`.
    public func update(_ key: [UInt8], value: [UInt8], ifModRevision modRevision: Int64, lease: Int64 = 0) async throws
        -> ConditionalOutcome
    {
        try await conditional(key, compare: .mod, revision: modRevision, then: put(key, value, lease))
    }

    /// Deletes `key` only if its mod revision is `modRevision`.
    public func delete(_ key: [UInt8], ifModRevision modRevision: Int64) async throws -> ConditionalOutcome {
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = Data(key)
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange = delete
        return try await conditional(key, compare: .mod, revision: modRevision, then: op)
    }

    private func put(_ key: [UInt8], _ value: [UInt8], _ lease: Int64) -> Etcdserverpb_RequestOp {
        var put = Etcdserverpb_PutRequest()
        put.key = Data(key)
        put.value = Data(value)
        put.lease = lease
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        return op
    }

    /// A Txn: if the key's create or mod revision equals `revision`, `op`; else read the key.
    private func conditional(
        _ key: [UInt8], compare target: Etcdserverpb_Compare.CompareTarget, revision: Int64, then op: Etcdserverpb_RequestOp
    )
        async throws -> ConditionalOutcome
    {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key)
        compare.target = target
        compare.result = .equal
        if target == .create { compare.createRevision = revision } else { compare.modRevision = revision }
        var get = Etcdserverpb_RangeRequest()
        get.key = Data(key)
        var otherwise = Etcdserverpb_RequestOp()
        otherwise.requestRange = get
        var t = Etcdserverpb_TxnRequest()
        t.compare = [compare]
        t.success = [op]
        t.failure = [otherwise]
        let answer: Etcdserverpb_TxnResponse
        do {
            answer = try await txn(t)
        } catch {
            throw StoreCallError.from(error)
        }
        if answer.succeeded { return .written(revision: answer.header.revision) }
        let current = answer.responses.first?.responseRange.kvs.first.map(StoredValue.init)
        return .failed(current: current, revision: answer.header.revision)
    }

    /// Watches `[key, end)` from `startRevision` with previous values and progress notifications:
    /// batches of events (empty for a progress notification) with the response's revision. Ends
    /// with `StoreCallError.compacted` when the start revision was compacted away.
    public func watchEvents(from key: [UInt8], to end: [UInt8], startRevision: Int64, buffer: Int = 10_000)
        -> AsyncThrowingStream<(revision: Int64, events: [StoredEvent]), any Error>
    {
        let source = watch(key, rangeEnd: end, startRevision: startRevision, prevKV: true, progressNotify: true, buffer: buffer)
        let (stream, continuation) = AsyncThrowingStream<(revision: Int64, events: [StoredEvent]), any Error>.makeStream(
            bufferingPolicy: .bufferingNewest(buffer))
        let task = Task {
            do {
                for try await batch in source {
                    let events = batch.events.map { e in
                        StoredEvent(
                            kind: e.type == .delete ? .delete : .put, value: StoredValue(e.kv),
                            previous: e.hasPrevKv ? StoredValue(e.prevKv) : nil)
                    }
                    if case .dropped = continuation.yield((batch.revision, events)) { throw EtcdClientError.slowConsumer }
                }
                continuation.finish()
            } catch EtcdClientError.compacted {
                continuation.finish(throwing: StoreCallError.compacted)
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
