import Base
import Checker
import EtcdClient
import EtcdProto
import Foundation
import GRPCCore

/// The etcd mix: the robustness traffic that exercises every etcd call a client makes.
extension Robustness {
    /// One client of the etcd mix on `config.keys * 3` keys k0…: gets (one in seven
    /// serializable), puts (one in ten of 32 KiB), puts with a lease, deletes, txns putting up to
    /// four keys at once, compare-and-sets on the mod revision last seen, lease grants (every
    /// other one left to expire, with keys of its own) and revokes, gets of a past revision
    /// (some below the compaction), compactions (client 0, below what every watcher has seen),
    /// and ranges over every key; every put a unique value,
    /// each recorded with its response's revision for the revision checker. With `readOnly`,
    /// only linearizable gets.
    static func etcdMixClient(
        _ client: Int, readOnly: Bool = false, config: RobustnessConfig, cluster: StoreCluster,
        start: ContinuousClock.Instant, recorder: Recorder, stop: StopFlag
    ) async throws {
        let etcd = try Self.client(client, readOnly: readOnly, cluster: cluster)
        defer { etcd.close() }
        var mix = EtcdMix(client: client, etcd: etcd, recorder: recorder, keyCount: config.keys * 3)
        var n = 0
        while !stop.isSet && !Task.isCancelled {
            n += 1
            let key = "k\(Int.random(in: 0..<mix.keyCount))"
            let value = "c\(client)-\(n)"
            let roll = readOnly ? 0 : Int.random(in: 0..<20)
            let call = nanoseconds(since: start)
            let done = recorder.recorder(client: client, call: call, start: start)
            do {
                switch roll {
                case 0...6: try await mix.get(key, serializable: roll == 6, done)
                case 7...10: try await mix.put(key, value, done)
                case 11: try await mix.putWithLease(key, value, n: n, done)
                case 12: try await mix.delete(key, done)
                case 14: try await mix.compareAndSet(key, value, done)
                case 13: try await mix.multiPut(value, done)
                case 15: try await mix.grantLease(call: call)
                case 16: try await mix.revokeLease(done)
                case 17: await mix.getPast(key, done)
                case 18 where client == 0: try await mix.compact(watchers: config.watchers)
                default: try await mix.listAll(done)
                }
            } catch {
                // Rolls 7–16, and 18 for client 0, write (puts, deletes, txns, leases, compaction);
                // a lease not found (expired, or revoked) is an answer: nothing was written.
                let wrote = (7...16).contains(roll) || (roll == 18 && client == 0)
                let noLease = isLeaseNotFound(error)
                if noLease && roll == 11 {
                    let lastLease = mix.lastLease
                    mix.expiring.removeAll { $0 == lastLease }
                }
                if wrote && !noLease && !EtcdClient.failedWithoutEffect(error) { recorder.unknownRevisionWrite() }
            }
        }
    }

    /// One etcd-mix client: its connection, and what it remembers between operations (the leases
    /// it holds, those left to expire, the last lease it put with, the mod revision last seen of
    /// each key). Each operation records itself with `done`.
    fileprivate struct EtcdMix {
        typealias Done = (Int64, RevisionChecker.Kind, [WatchChecker.Write]) -> Void

        let client: Int
        let etcd: EtcdClient
        let recorder: Recorder
        let keyCount: Int
        var leases: [Int64] = []
        var expiring: [Int64] = []
        var lastLease: Int64 = 0
        var modSeen: [String: Int64] = [:]

        init(client: Int, etcd: EtcdClient, recorder: Recorder, keyCount: Int) {
            self.client = client
            self.etcd = etcd
            self.recorder = recorder
            self.keyCount = keyCount
        }

        /// A get of `key` (linearizable or serializable), remembering its mod revision.
        mutating func get(_ key: String, serializable: Bool, _ done: Done) async throws {
            var r = Etcdserverpb_RangeRequest()
            r.key = Data(key.utf8)
            r.serializable = serializable
            let answer = try await etcd.range(r)
            modSeen[key] = answer.kvs.first?.modRevision ?? 0
            done(answer.header.revision, .get(key: key, serializable: r.serializable, kv: answer.kvs.first.map(Robustness.kv)), [])
        }

        /// A put of `value` (one in ten of 32 KiB more).
        func put(_ key: String, _ value: String, _ done: Done) async throws {
            let big = Int.random(in: 0..<10) == 0 ? value + String(repeating: "x", count: 32 << 10) : value
            let revision = try await etcd.put(key, big)
            done(revision, .put(key: key, value: big, lease: 0), [.init(revision: revision, key: key, value: big)])
        }

        /// A put attached to a lease held or left to expire (granting one first if none is held).
        mutating func putWithLease(_ key: String, _ value: String, n: Int, _ done: Done) async throws {
            if leases.isEmpty { leases.append(try await etcd.grantLease(ttl: 600).id) }
            let lease = (leases + expiring).randomElement()!
            lastLease = lease
            // A lease left to expire gets a key of its own (under k, so lists show it
            // until it goes), which nobody overwrites before it expires.
            let target = expiring.contains(lease) ? "kx\(client)-\(n)" : key
            let revision = try await etcd.put(target, value, lease: lease)
            done(revision, .put(key: target, value: value, lease: lease), [.init(revision: revision, key: target, value: value)])
        }

        /// A delete of `key`.
        func delete(_ key: String, _ done: Done) async throws {
            var d = Etcdserverpb_DeleteRangeRequest()
            d.key = Data(key.utf8)
            let answer = try await etcd.delete(d)
            done(
                answer.header.revision, .delete(key: key, deleted: answer.deleted),
                answer.deleted > 0 ? [.init(revision: answer.header.revision, key: key, value: nil)] : [])
        }

        /// Compare-and-set on the mod revision last seen (0: absent), else get.
        mutating func compareAndSet(_ key: String, _ value: String, _ done: Done) async throws {
            let expected = modSeen[key] ?? 0
            let answer = try await etcd.txn(Robustness.conditional(key, expected: expected, put: value))
            let current = answer.succeeded ? nil : answer.responses.first?.responseRange.kvs.first.map(Robustness.kv)
            modSeen[key] = answer.succeeded ? answer.header.revision : current?.modRevision ?? 0
            done(
                answer.header.revision,
                .conditional(key: key, expected: expected, put: value, succeeded: answer.succeeded, current: current),
                answer.succeeded ? [.init(revision: answer.header.revision, key: key, value: value)] : [])
        }

        /// A txn putting up to four keys at once.
        func multiPut(_ value: String, _ done: Done) async throws {
            let keys = Array(Set((0..<4).map { _ in "k\(Int.random(in: 0..<keyCount))" })).sorted()
            let values = keys.indices.map { "\(value)-\($0)" }
            let answer = try await etcd.txn(Robustness.txnRequest([], zip(keys, values).map { .put(key: $0, value: $1) }, []))
            done(
                answer.header.revision, .multiPut(keys: keys, values: values),
                zip(keys, values).map { .init(revision: answer.header.revision, key: $0, value: $1) })
        }

        /// A lease grant: every other lease lives 3 s and is left to expire (its keys go then,
        /// under faults too); the others are revoked.
        mutating func grantLease(call: UInt64) async throws {
            if Bool.random() {
                let id = try await etcd.grantLease(ttl: Robustness.expiringTTL).id
                expiring.append(id)
                recorder.expiring(.init(id: id, ttl: UInt64(Robustness.expiringTTL) * 1_000_000_000, grantCall: call))
            } else {
                leases.append(try await etcd.grantLease(ttl: 600).id)
            }
        }

        /// A revoke of the lease granted last among those held (none held: nothing).
        mutating func revokeLease(_ done: Done) async throws {
            guard let lease = leases.popLast() else { return }
            var r = Etcdserverpb_LeaseRevokeRequest()
            r.id = lease
            let answer = try await etcd.revokeLease(r)
            done(answer.header.revision, .leaseRevoke(lease: lease), [])
        }

        /// A get of the past, mostly between the compaction and now, one in five below the
        /// compaction (which must be refused); a get that fails is not recorded.
        func getPast(_ key: String, _ done: Done) async {
            let compacted = recorder.compacted
            let now = recorder.acknowledgedRevision
            guard now > compacted + 1 else { return }
            let at =
                compacted > 1 && Int.random(in: 0..<5) == 0
                ? Int64.random(in: 1...(compacted - 1)) : Int64.random(in: (compacted + 1)...now)
            var r = Etcdserverpb_RangeRequest()
            r.key = Data(key.utf8)
            r.revision = at
            guard let answer = try? await etcd.range(r) else { return }
            done(answer.header.revision, .getAt(key: key, at: at, kv: answer.kvs.first.map(Robustness.kv), compactedBefore: compacted), [])
        }

        /// Compaction, below what every watcher has already seen (so that none of them, resuming
        /// after its last event, asks for a compacted revision).
        func compact(watchers: Int) async throws {
            let seen = recorder.watcherRevisions(watchers).min() ?? 0
            let target = seen - 10
            guard target > recorder.compacted + 50 else { return }
            try await etcd.compact(target)
            recorder.compactedThrough(target)
        }

        /// A range over every key.
        func listAll(_ done: Done) async throws {
            var r = Etcdserverpb_RangeRequest()
            r.key = Data("k".utf8)
            r.rangeEnd = Data(EtcdClient.prefixEnd(Array("k".utf8)))
            let answer = try await etcd.range(r)
            done(answer.header.revision, .list(prefix: "k", serializable: false, kvs: answer.kvs.map(Robustness.kv)), [])
        }
    }
}
