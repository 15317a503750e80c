import Checker
import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// Tells the traffic tasks to stop.
final class StopFlag: Sendable {
    private let value = Mutex(false)
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
    }
    private let state = Mutex(State())

    func record(_ op: Robustness.KVOperation, write: WatchChecker.Write? = nil) {
        state.withLock { s in
            s.history.append(op)
            if let write {
                s.writes.append(write)
                s.acknowledgedRevision = max(s.acknowledgedRevision, write.revision)
            }
        }
    }

    func watcher(_ w: WatchChecker.Watcher) { state.withLock { $0.watchers[w.id] = w } }

    func received(_ response: WatchChecker.Response, watcher: Int) {
        state.withLock { $0.watchers[watcher]?.responses.append(response) }
    }

    var acknowledgedRevision: Int64 { state.withLock { $0.acknowledgedRevision } }

    func acknowledgedWrites(startedAfter t: UInt64) -> Int {
        state.withLock { s in s.history.count { $0.ret != .max && $0.input.isWrite && $0.call >= t } }
    }

    /// The highest revision each watcher has reached (events or progress).
    func watcherRevisions(_ count: Int) -> [Int64] {
        state.withLock { s in
            (0..<count).map { i in
                s.watchers[i]?.responses.map { $0.isProgress ? $0.headerRevision : $0.events.last?.revision ?? 0 }.max() ?? 0
            }
        }
    }

    func snapshot() -> ([Robustness.KVOperation], [WatchChecker.Write], [WatchChecker.Watcher]) {
        state.withLock { s in (s.history, s.writes, s.watchers.values.sorted { $0.id < $1.id }) }
    }
}

extension Robustness {
    /// One KV client: gets, puts, deletes and compare-and-sets on the shared keys, every write a
    /// unique value, until `stop`. A write that fails after it was sent is recorded with an
    /// unknown outcome; a read that fails, or a write never sent, is left out (it changed nothing).
    /// With `readOnly`, only gets, from one member (a reader pinned to each member).
    static func kvClient(_ client: Int, readOnly: Bool = false, config: RobustnessConfig, cluster: StoreCluster,
                         start: ContinuousClock.Instant, recorder: Recorder, stop: StopFlag) async throws {
        // Each client starts at a different member. Even clients fail over to the others (as
        // EtcdClient does); odd ones and readers stay with their member (etcdctl given one
        // endpoint), so a member that is cut off or lagging keeps serving someone.
        let order = (0..<cluster.size).map { cluster.endpoints[($0 + client) % cluster.size] }
        let etcd = try EtcdClient(endpoints: client % 2 == 0 && !readOnly ? order : [order[0]])
        defer { etcd.close() }
        var lastSeen: [String: String?] = [:]
        var n = 0
        while !stop.isSet && !Task.isCancelled {
            n += 1
            let key = "k\(Int.random(in: 0..<config.keys))"
            let value = "c\(client)-\(n)"
            let roll = readOnly ? 0 : Int.random(in: 0..<20)
            let input: KVModel.Input = roll < 8 ? .get(key: key)
                : roll < 13 ? .put(key: key, value: value)
                : roll < 14 ? .delete(key: key)
                : .cas(key: key, expected: lastSeen[key] ?? nil, new: value)
            let call = nanoseconds(since: start)
            do {
                let output: KVModel.Output
                var write: WatchChecker.Write?
                switch input {
                case .get:
                    let v = try await etcd.get(key).map { String(decoding: $0, as: UTF8.self) }
                    lastSeen[key] = .some(v)
                    output = .value(v)
                case .put:
                    let revision = try await etcd.put(key, value)
                    lastSeen[key] = .some(value)
                    output = .ok
                    write = .init(revision: revision, key: key, value: value)
                case .delete:
                    var r = Etcdserverpb_DeleteRangeRequest()
                    r.key = Data(key.utf8)
                    let answer = try await etcd.delete(r)
                    lastSeen[key] = .some(nil)
                    output = .ok
                    if answer.deleted > 0 { write = .init(revision: answer.header.revision, key: key, value: nil) }
                case .cas(_, let expected, let new):
                    let answer = try await etcd.txn(Self.compareAndSet(key, expected: expected, new: new))
                    if answer.succeeded {
                        lastSeen[key] = .some(new)
                        write = .init(revision: answer.header.revision, key: key, value: new)
                    }
                    output = .cas(answer.succeeded)
                }
                recorder.record(.init(client: client, input: input, call: call, output: output, ret: nanoseconds(since: start)), write: write)
            } catch {
                // A failed read changed nothing, nor did a write that was never sent; any other
                // failed write may or may not have happened.
                if case .get = input { continue }
                if EtcdClient.failedWithoutEffect(error) { continue }
                recorder.record(.init(client: client, input: input, call: call, output: .unknown, ret: .max))
            }
        }
    }

    /// A txn that puts `new` at `key` if its value is `expected` (nil: the key is absent).
    static func compareAndSet(_ key: String, expected: String?, new: String) -> Etcdserverpb_TxnRequest {
        var cmp = Etcdserverpb_Compare()
        cmp.key = Data(key.utf8)
        if let expected {
            cmp.target = .value
            cmp.result = .equal
            cmp.value = Data(expected.utf8)
        } else {
            cmp.target = .version
            cmp.result = .equal
            cmp.version = 0
        }
        var put = Etcdserverpb_PutRequest()
        put.key = Data(key.utf8)
        put.value = Data(new.utf8)
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        var t = Etcdserverpb_TxnRequest()
        t.compare = [cmp]
        t.success = [op]
        return t
    }

    /// One watcher of every key from revision 1 with prev_kv and progress notifications,
    /// recording every response; EtcdClient resumes it on another member when its stream breaks.
    static func watch(_ id: Int, cluster: StoreCluster, recorder: Recorder, stop: StopFlag) async throws {
        let order = (0..<cluster.size).map { cluster.endpoints[($0 + id + 1) % cluster.size] }
        let etcd = try EtcdClient(endpoints: order)
        defer { etcd.close() }
        recorder.watcher(.init(id: id, prefix: "", startRevision: 1, prevKV: true))
        for try await batch in etcd.watch([0], rangeEnd: [0], startRevision: 1, prevKV: true, progressNotify: true) {
            let events = batch.events.map { e in
                WatchChecker.Event(revision: e.kv.modRevision, key: String(decoding: e.kv.key, as: UTF8.self),
                                   value: e.type == .delete ? nil : String(decoding: e.kv.value, as: UTF8.self),
                                   prevValue: e.hasPrevKv ? String(decoding: e.prevKv.value, as: UTF8.self) : nil)
            }
            recorder.received(.init(events: events, headerRevision: batch.revision), watcher: id)
            if stop.isSet { return }
        }
    }
}
