import Base
import Checker
import EtcdClient
import EtcdProto
import Foundation
import GRPCCore

/// Tells the traffic tasks to stop.
final class StopFlag: Sendable {
    private let value = Locked(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Everything the clients and watchers saw, shared between their tasks.
final class Recorder: Sendable {
    private struct State {
        var history: [Robustness.KVOperation] = []
        var writes: [WatchChecker.Write] = []
        var watchers: [Int: WatchChecker.Watcher] = [:]
        var acknowledgedRevision: Int64 = 0
        /// The Kubernetes traffic's operations (checked by their revisions), and when each
        /// write among them that took effect began.
        var revisionOps: [RevisionChecker.Operation] = []
        var revisionWriteCalls: [UInt64] = []
        /// Kubernetes writes sent whose outcome is unknown.
        var unknownRevisionWrites = 0
        /// The highest compaction acknowledged, and how many were.
        var compacted: Int64 = 0
        var compactions = 0
        /// Leases granted to expire (etcd's mix).
        var expiring: [RevisionChecker.ExpiringLease] = []
    }
    private let state = Locked(State())

    func record(_ op: Robustness.KVOperation, writes: [WatchChecker.Write]) {
        state.withLock { s in
            s.history.append(op)
            s.writes += writes
            for w in writes { s.acknowledgedRevision = max(s.acknowledgedRevision, w.revision) }
        }
    }

    /// An operation checked by its revision, with the writes it made (all at its revision).
    func record(_ op: RevisionChecker.Operation, writes: [WatchChecker.Write]) {
        state.withLock { s in
            s.revisionOps.append(op)
            guard !writes.isEmpty else { return }
            s.writes += writes
            s.revisionWriteCalls.append(op.call)
            s.acknowledgedRevision = max(s.acknowledgedRevision, op.revision)
        }
    }

    /// What records client `client`'s operation that began at `call`, once it has its answer:
    /// the response's revision, what it was, and the writes it made.
    func recorder(client: Int, call: UInt64, start: ContinuousClock.Instant)
        -> (Int64, RevisionChecker.Kind, [WatchChecker.Write]) -> Void
    {
        { revision, kind, writes in
            self.record(
                RevisionChecker.Operation(
                    client: client, call: call, ret: Robustness.nanoseconds(since: start),
                    revision: revision, kind: kind), writes: writes)
        }
    }

    var revisionOperations: [RevisionChecker.Operation] { state.withLock { $0.revisionOps } }

    var unknownRevisionWrites: Int { state.withLock { $0.unknownRevisionWrites } }
    var compacted: Int64 { state.withLock { $0.compacted } }
    var compactions: Int { state.withLock { $0.compactions } }
    func compactedThrough(_ revision: Int64) {
        state.withLock { s in
            s.compacted = max(s.compacted, revision)
            s.compactions += 1
        }
    }
    func expiring(_ lease: RevisionChecker.ExpiringLease) { state.withLock { $0.expiring.append(lease) } }
    var expiringLeases: [RevisionChecker.ExpiringLease] { state.withLock { $0.expiring } }
    func unknownRevisionWrite() { state.withLock { $0.unknownRevisionWrites += 1 } }

    func watcher(_ w: WatchChecker.Watcher) { state.withLock { $0.watchers[w.id] = w } }

    func received(_ response: WatchChecker.Response, watcher: Int) {
        state.withLock { $0.watchers[watcher]?.responses.append(response) }
    }

    var acknowledgedRevision: Int64 { state.withLock { $0.acknowledgedRevision } }

    func acknowledgedWrites(startedAfter t: UInt64) -> Int {
        state.withLock { s in
            s.history.count { $0.ret != .max && $0.input.isWrite && $0.call >= t } + s.revisionWriteCalls.count { $0 >= t }
        }
    }

    /// The highest revision each watcher has reached (events or progress).
    func watcherRevisions(_ count: Int) -> [Int64] {
        state.withLock { s in
            (0..<count).map { i in
                s.watchers[i]?.reachedRevision ?? 0
            }
        }
    }

    /// How many watchers are recording.
    var watcherCount: Int { state.withLock { $0.watchers.count } }

    func snapshot() -> ([Robustness.KVOperation], [WatchChecker.Write], [WatchChecker.Watcher]) {
        state.withLock { s in (s.history, s.writes, s.watchers.values.sorted { $0.id < $1.id }) }
    }
}

extension Robustness {
    /// Client `client`'s connection. Each client starts at a different member. Even clients
    /// fail over to the others (as EtcdClient does); odd ones and readers stay with their member
    /// (etcdctl given one endpoint), so a member that is cut off or lagging keeps serving someone.
    static func client(_ client: Int, readOnly: Bool, cluster: StoreCluster) throws -> EtcdClient {
        let order = (0..<cluster.size).map { cluster.endpoints[($0 + client) % cluster.size] }
        return try EtcdClient(endpoints: client % 2 == 0 && !readOnly ? order : [order[0]])
    }

    /// One KV client, every write a unique value, until `stop`, on `config.keys` groups of two
    /// keys (k0/a, k0/b, k1/a, …): gets, puts, deletes, compare-and-sets, txns over the two keys of
    /// a group (compare the first's value, then put both — or put one and delete the other —,
    /// else get both), ranges over a group, and leases (grants with IDs of its own, each used for
    /// one group's keys, puts attached to them, revokes). A group shares no key or lease with
    /// another, so the linearizability check takes one group at a time. A write that fails after
    /// it was sent is recorded with an unknown outcome; a read that fails, or a write never
    /// sent, is left out (it changed nothing). With `readOnly`, only gets and ranges, from one
    /// member (a reader pinned to each member).
    static func kvClient(
        _ client: Int, readOnly: Bool = false, config: RobustnessConfig, cluster: StoreCluster,
        start: ContinuousClock.Instant, recorder: Recorder, stop: StopFlag
    ) async throws {
        let etcd = try Self.client(client, readOnly: readOnly, cluster: cluster)
        defer { etcd.close() }
        var lastSeen: [String: String?] = [:]
        var leases: [[Int64]] = Array(repeating: [], count: config.keys)
        var n = 0
        while !stop.isSet && !Task.isCancelled {
            n += 1
            let group = Int.random(in: 0..<config.keys)
            let groupKeys = ["k\(group)/a", "k\(group)/b"]
            let (key, other) = Bool.random() ? (groupKeys[0], groupKeys[1]) : (groupKeys[1], groupKeys[0])
            let value = "c\(client)-\(n)"
            let roll = readOnly ? (Int.random(in: 0..<5) == 0 ? 16 : 0) : Int.random(in: 0..<20)
            let input: KVModel.Input
            switch roll {
            case 0..<6: input = .get(key: key)
            case 6..<9: input = .put(key: key, value: value)
            case 9 where !leases[group].isEmpty: input = .put(key: key, value: value, lease: leases[group].randomElement()!)
            case 10: input = .delete(key: key)
            case 11..<14: input = .cas(key: key, expected: lastSeen[key] ?? nil, new: value)
            case 14, 15:
                input = .txn(
                    compares: [.valueIs(key, lastSeen[key] ?? nil)],
                    success: [
                        .put(key: key, value: value + "-0"),
                        roll == 14 ? .put(key: other, value: value + "-1") : .delete(key: other)
                    ],
                    failure: [.get(key: key), .get(key: other)])
            case 16: input = .range(keys: groupKeys)
            case 17: input = .leaseGrant(id: Int64(client + 1) * 1_000_000 + Int64(n))
            case 18 where !leases[group].isEmpty: input = .leaseRevoke(id: leases[group].removeFirst())
            default: input = .get(key: key)
            }
            let call = nanoseconds(since: start)
            do {
                let (output, writes) = try await Self.perform(input, etcd: etcd)
                for (k, v) in Self.seen(input, output) { lastSeen[k] = .some(v) }
                if case .leaseGrant(let id) = input { leases[group].append(id) }
                recorder.record(
                    .init(client: client, input: input, call: call, output: output, ret: nanoseconds(since: start)), writes: writes)
            } catch {
                // A failed read changed nothing, nor did a write that was never sent; any other
                // failed write may or may not have happened (a grant too: its lease may be used).
                if !input.isWrite || EtcdClient.failedWithoutEffect(error) { continue }
                if case .leaseGrant(let id) = input { leases[group].append(id) }
                for k in input.keys { lastSeen[k] = nil }
                recorder.record(.init(client: client, input: input, call: call, output: .unknown, ret: .max), writes: [])
            }
        }
    }

    /// Sends one KV-model operation; its output, and the writes it made (at its revision).
    static func perform(_ input: KVModel.Input, etcd: EtcdClient) async throws -> (KVModel.Output, [WatchChecker.Write]) {
        do {
            switch input {
            case .get(let key):
                return (.value(try await etcd.get(key).map { String(decoding: $0, as: UTF8.self) }), [])
            case .range(let keys):
                // From the first key asked to just past the last.
                var r = Etcdserverpb_RangeRequest()
                r.key = Data(keys.min()!.utf8)
                r.rangeEnd = Data((keys.max()! + "\u{0}").utf8)
                var found: [String: String] = [:]
                for kv in try await etcd.range(r).kvs {
                    found[String(decoding: kv.key, as: UTF8.self)] = String(decoding: kv.value, as: UTF8.self)
                }
                return (.values(keys.map { found[$0] }), [])
            case .put(let key, let value, let lease):
                let revision = try await etcd.put(key, value, lease: lease)
                return (.ok, [.init(revision: revision, key: key, value: value)])
            case .delete(let key):
                var r = Etcdserverpb_DeleteRangeRequest()
                r.key = Data(key.utf8)
                let answer = try await etcd.delete(r)
                return (
                    .deleted(Int(answer.deleted)), answer.deleted > 0 ? [.init(revision: answer.header.revision, key: key, value: nil)] : []
                )
            case .cas(let key, let expected, let new):
                let answer = try await etcd.txn(Self.txnRequest([.valueIs(key, expected)], [.put(key: key, value: new)], []))
                return (.cas(answer.succeeded), answer.succeeded ? [.init(revision: answer.header.revision, key: key, value: new)] : [])
            case .txn(let compares, let success, let failure):
                let answer = try await etcd.txn(Self.txnRequest(compares, success, failure))
                var results: [KVModel.Output] = []
                var writes: [WatchChecker.Write] = []
                for (op, response) in zip(answer.succeeded ? success : failure, answer.responses) {
                    switch op {
                    case .get:
                        results.append(.value(response.responseRange.kvs.first.map { String(decoding: $0.value, as: UTF8.self) }))
                    case .put(let key, let value, _):
                        results.append(.ok)
                        writes.append(.init(revision: answer.header.revision, key: key, value: value))
                    case .delete(let key):
                        let deleted = Int(response.responseDeleteRange.deleted)
                        results.append(.deleted(deleted))
                        if deleted > 0 { writes.append(.init(revision: answer.header.revision, key: key, value: nil)) }
                    default:
                        preconditionFailure("a txn's branch holds gets, puts and deletes only (requestOp refused it before it was sent)")
                    }
                }
                return (.txn(succeeded: answer.succeeded, results: results), writes)
            case .leaseGrant(let id):
                _ = try await etcd.grantLease(ttl: 600, id: id)
                return (.ok, [])
            case .leaseRevoke(let id):
                try await etcd.revokeLease(id)
                return (.ok, [])
            }
        } catch let e where isLeaseNotFound(e) {
            return (.leaseNotFound, [])
        } catch let e as RPCError where e.message.hasSuffix("lease already exists") {
            return (.leaseExists, [])
        }
    }

    /// etcd's "requested lease not found": an answer (nothing was written), not a failure.
    static func isLeaseNotFound(_ error: any Error) -> Bool {
        (error as? RPCError)?.message.hasSuffix("requested lease not found") == true
    }

    /// What an answer told the client of the keys' values (for its next compare-and-set).
    static func seen(_ input: KVModel.Input, _ output: KVModel.Output) -> [(String, String?)] {
        switch (input, output) {
        case (.get(let key), .value(let v)): return [(key, v)]
        case (.range(let keys), .values(let vs)): return Array(zip(keys, vs))
        case (.put(let key, let value, _), .ok): return [(key, value)]
        case (.delete(let key), .deleted): return [(key, nil)]
        case (.cas(let key, _, let new), .cas(true)): return [(key, new)]
        case (.txn(_, let success, let failure), .txn(let succeeded, let results)):
            return zip(succeeded ? success : failure, results).flatMap { seen($0, $1) }
        default: return []
        }
    }

    /// The etcd request op for a KV-model get, put or delete (in a txn's branch).
    static func requestOp(_ input: KVModel.Input) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        switch input {
        case .get(let key):
            var r = Etcdserverpb_RangeRequest()
            r.key = Data(key.utf8)
            op.requestRange = r
        case .put(let key, let value, let lease):
            var p = Etcdserverpb_PutRequest()
            p.key = Data(key.utf8)
            p.value = Data(value.utf8)
            p.lease = lease
            op.requestPut = p
        case .delete(let key):
            var d = Etcdserverpb_DeleteRangeRequest()
            d.key = Data(key.utf8)
            op.requestDeleteRange = d
        default: preconditionFailure("a txn's branch holds gets, puts and deletes only")
        }
        return op
    }

    /// The etcd txn for a KV-model txn (compares on values and existence; gets, puts, deletes).
    static func txnRequest(_ compares: [KVModel.Compare], _ success: [KVModel.Input], _ failure: [KVModel.Input]) -> Etcdserverpb_TxnRequest
    {
        var t = Etcdserverpb_TxnRequest()
        t.compare = compares.map { c in
            var cmp = Etcdserverpb_Compare()
            cmp.key = Data(c.key.utf8)
            switch c {
            case .value(_, let value, let equal):
                cmp.target = .value
                cmp.result = equal ? .equal : .notEqual
                cmp.value = Data(value.utf8)
            case .exists(_, let exists):
                cmp.target = .version
                cmp.result = exists ? .greater : .equal
                cmp.version = 0
            }
            return cmp
        }
        t.success = success.map(requestOp)
        t.failure = failure.map(requestOp)
        return t
    }

    /// One client of the Kubernetes mix on `config.keys * 3` objects under /registry/pods/: lists
    /// (linearizable; one in four serializable), creates (a txn on mod_revision 0), updates and
    /// deletes (a txn on the mod revision it last saw, with a get on failure), every put a unique
    /// value. With `readOnly`, only linearizable lists. A write that fails after it was sent is
    /// left out of the checked operations (its outcome is unknown; the watchers still see it if
    /// it happened), as are failed reads.
    static func kubernetesClient(
        _ client: Int, readOnly: Bool = false, config: RobustnessConfig, cluster: StoreCluster,
        start: ContinuousClock.Instant, recorder: Recorder, stop: StopFlag
    ) async throws {
        let etcd = try Self.client(client, readOnly: readOnly, cluster: cluster)
        defer { etcd.close() }
        let prefix = kubernetesPrefix
        var seen: [String: Int64] = [:]
        var n = 0
        while !stop.isSet && !Task.isCancelled {
            n += 1
            let key = prefix + "p\(Int.random(in: 0..<(config.keys * 3)))"
            let value = "c\(client)-\(n)"
            let roll = readOnly ? 0 : Int.random(in: 0..<20)
            let call = nanoseconds(since: start)
            let done = recorder.recorder(client: client, call: call, start: start)
            do {
                if roll < 8 {
                    var r = Etcdserverpb_RangeRequest()
                    r.key = Data(prefix.utf8)
                    r.rangeEnd = Data(EtcdClient.prefixEnd(Array(prefix.utf8)))
                    r.serializable = !readOnly && roll < 2
                    let answer = try await etcd.range(r)
                    let kvs = answer.kvs.map(Self.kv)
                    if !r.serializable { for kv in kvs { seen[kv.key] = kv.modRevision } }
                    done(answer.header.revision, .list(prefix: prefix, serializable: r.serializable, kvs: kvs), [])
                    continue
                }
                // Create when it believes the key absent, else update (or now and then delete).
                let expected = seen[key] ?? 0
                let put: String? = expected != 0 && roll == 19 ? nil : value
                let answer = try await etcd.txn(Self.conditional(key, expected: expected, put: put))
                var current: RevisionChecker.KV?
                if answer.succeeded {
                    seen[key] = put == nil ? 0 : answer.header.revision
                } else if let kv = answer.responses.first?.responseRange.kvs.first {
                    current = Self.kv(kv)
                    seen[key] = kv.modRevision
                } else {
                    seen[key] = 0
                }
                done(
                    answer.header.revision,
                    .conditional(key: key, expected: expected, put: put, succeeded: answer.succeeded, current: current),
                    answer.succeeded ? [.init(revision: answer.header.revision, key: key, value: put)] : [])
            } catch {
                // Its outcome is unknown (or it never left): the watchers' log decides.
                seen[key] = nil
                if roll >= 8 && !EtcdClient.failedWithoutEffect(error) { recorder.unknownRevisionWrite() }
            }
        }
    }

    static func kv(_ kv: Mvccpb_KeyValue) -> RevisionChecker.KV {
        RevisionChecker.KV(
            key: String(decoding: kv.key, as: UTF8.self), value: String(decoding: kv.value, as: UTF8.self),
            modRevision: kv.modRevision, lease: kv.lease)
    }

    /// Where the Kubernetes traffic keeps its objects.
    static let kubernetesPrefix = "/registry/pods/"

    /// Kubernetes' write: if `key`'s mod revision is `expected` (0: absent), put `put` (nil:
    /// delete the key), else get it.
    static func conditional(_ key: String, expected: Int64, put: String?) -> Etcdserverpb_TxnRequest {
        var cmp = Etcdserverpb_Compare()
        cmp.key = Data(key.utf8)
        cmp.target = .mod
        cmp.result = .equal
        cmp.modRevision = expected
        var t = Etcdserverpb_TxnRequest()
        t.compare = [cmp]
        t.success = [requestOp(put.map { .put(key: key, value: $0) } ?? .delete(key: key))]
        t.failure = [requestOp(.get(key: key))]
        return t
    }

    /// The TTL of the etcd mix's leases left to expire, in seconds.
    static let expiringTTL: Int64 = 3

    /// One watcher of every key from revision 1 with prev_kv and progress notifications,
    /// recording every response; EtcdClient resumes it on another member when its stream breaks.
    static func watch(_ id: Int, cluster: StoreCluster, recorder: Recorder, stop: StopFlag) async throws {
        let etcd = try watcherClient(id, cluster: cluster)
        defer { etcd.close() }
        recorder.watcher(.init(id: id, prefix: "", startRevision: 1, prevKV: true))
        try await record(
            etcd.watch([0], rangeEnd: [0], startRevision: 1, prevKV: true, progressNotify: true), watcher: id, recorder: recorder,
            stop: stop)
    }

    /// Kubernetes' reflector: lists `prefix` (checked by the revisions), then watches it from
    /// the list's revision + 1 with progress notifications, recording every response (the watch
    /// checker then finds whether list and events together miss or repeat anything).
    static func reflect(
        _ id: Int, prefix: String, cluster: StoreCluster, start: ContinuousClock.Instant, recorder: Recorder, stop: StopFlag
    ) async throws {
        let etcd = try watcherClient(id, cluster: cluster)
        defer { etcd.close() }
        var r = Etcdserverpb_RangeRequest()
        r.key = Data(prefix.utf8)
        r.rangeEnd = Data(EtcdClient.prefixEnd(Array(prefix.utf8)))
        let call = nanoseconds(since: start)
        let list = try await etcd.range(r)
        recorder.recorder(client: id + 1000, call: call, start: start)(
            list.header.revision, .list(prefix: prefix, serializable: false, kvs: list.kvs.map(Self.kv)), [])
        recorder.watcher(.init(id: id, prefix: prefix, startRevision: list.header.revision + 1, prevKV: false))
        try await record(
            etcd.watch(
                Array(prefix.utf8), rangeEnd: EtcdClient.prefixEnd(Array(prefix.utf8)), startRevision: list.header.revision + 1,
                progressNotify: true),
            watcher: id, recorder: recorder, stop: stop)
    }

    /// Watcher `id`'s connection: starting one member past client `id`'s, failing over to the others.
    static func watcherClient(_ id: Int, cluster: StoreCluster) throws -> EtcdClient {
        try EtcdClient(endpoints: (0..<cluster.size).map { cluster.endpoints[($0 + id + 1) % cluster.size] })
    }

    /// Records every response of a watch stream until `stop`.
    static func record(_ stream: AsyncThrowingStream<EtcdClient.WatchBatch, any Error>, watcher id: Int, recorder: Recorder, stop: StopFlag)
        async throws
    {
        for try await batch in stream {
            let events = batch.events.map { e in
                WatchChecker.Event(
                    revision: e.kv.modRevision, key: String(decoding: e.kv.key, as: UTF8.self),
                    value: e.type == .delete ? nil : String(decoding: e.kv.value, as: UTF8.self),
                    prevValue: e.hasPrevKv ? String(decoding: e.prevKv.value, as: UTF8.self) : nil,
                    lease: e.type == .delete ? 0 : e.kv.lease)
            }
            recorder.received(.init(events: events, headerRevision: batch.revision), watcher: id)
            if stop.isSet { return }
        }
    }
}
