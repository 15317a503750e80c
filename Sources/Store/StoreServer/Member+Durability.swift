import MVCC
import Raft
import Storage

/// The log on disk and the snapshots: each Ready is written (in the background, or on the loop
/// with `walWritesOnLoop`) and reported durable to the core in the order handed out; every
/// `snapshotCount` applied entries a snapshot compacts the log.
struct Durability {
    /// Readys in the order handed out, until each and every one before it is durable: only then
    /// may `persisted` be reported and the messages that wait for durability go out.
    var queue: [(number: UInt64, messages: [Message], durable: Bool, snapshot: Snapshot?)] = []
    /// The last HardState handed to storage (to tell a commit-only change).
    var lastSavedHardState: HardState?
    /// The index of the newest snapshot, and whether one is being written.
    var snapshotIndex: LogIndex = 0
    var snapshotting = false
    /// When this leader last sent each member a snapshot. The transport does not report
    /// delivery: a snapshot not acknowledged within a few election timeouts is reported lost,
    /// so the core sends another rather than waiting forever.
    var snapshotsSent: [NodeID: ContinuousClock.Instant] = [:]

    /// Whether the Ready needs no fsync: no entries, no snapshot, and a HardState whose term
    /// and vote are those last saved (only the commit index moved). Records its HardState.
    mutating func commitOnly(_ ready: Ready) -> Bool {
        let commitOnly =
            ready.entries.isEmpty && ready.snapshot == nil
            && ready.hardState.map { hs in lastSavedHardState.map { $0.term == hs.term && $0.vote == hs.vote } ?? false } ?? false
        if let hs = ready.hardState { lastSavedHardState = hs }
        return commitOnly
    }
}

extension Member {
    /// Writes what the Ready asks to the log (in the background; `.persisted` comes back when it
    /// is durable) and queues its messages that must wait for that.
    func persist(_ ready: Ready) {
        // A Ready with nothing to write is durable once every Ready before it is: it waits
        // in the queue behind writes still in flight (reporting it early would tell the core
        // that their entries are on disk).
        turns.durability.queue.append((ready.number, ready.persistedMessages, !ready.needsPersistence, ready.snapshot))
        if ready.needsPersistence {
            let number = ready.number
            // Only entries, a snapshot, or a new term or vote need an fsync (etcd's rule): a
            // HardState that only moves the commit index is written and made durable by the next
            // synced write. (It saved one fsync per write: a single member did two.)
            let commitOnly = turns.durability.commitOnly(ready)
            // Written on this loop: the followers get this Ready's entries before it blocks.
            if config.walWritesOnLoop && !commitOnly { transport.flushQueued() }
            storage.save(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot, sync: !commitOnly) { [self] result in
                switch result {
                case .success: post(.persisted(number))
                case .failure(let e): post(.storageFailed(e.description))
                }
            }
        }
        reportDurable()
    }

    /// The WAL's report that Ready `number` is durable.
    func persisted(_ number: UInt64) {
        if let i = turns.durability.queue.firstIndex(where: { $0.number == number }) { turns.durability.queue[i].durable = true }
        reportDurable()
    }

    /// Reports every Ready at the head of the queue that is durable, in order.
    func reportDurable() {
        while let first = turns.durability.queue.first, first.durable {
            turns.durability.queue.removeFirst()
            if let snapshot = first.snapshot {
                guard install(snapshot) else { return }
                turns.raft.persisted(first.number)
                turns.raft.applied(through: snapshot.metadata.index)
                publisher.publish(turns.store.view)
                hub.notify(turns.store.view)
            } else {
                turns.raft.persisted(first.number)
            }
            transport.send(first.messages)
        }
    }

    /// The leader's snapshot is durable: it replaces the state machine and the membership before
    /// any later entry is applied. A snapshot that cannot be decoded stops the member.
    private func install(_ snapshot: Snapshot) -> Bool {
        do {
            (turns.store, turns.cluster) = try MemberSnapshot.decode(snapshot.data, limits: config.limits)
        } catch {
            failEverything(.storage("cannot install the snapshot at index \(snapshot.metadata.index): \(error.description)"))
            lock.withLock { shared.stopping = true }
            return false
        }
        turns.durability.snapshotIndex = snapshot.metadata.index
        turns.leasesChanged = true
        membershipChanged()
        return true
    }

    /// Reports the snapshots sent and not acknowledged within `MemberLimits.snapshotAckElectionTimeouts`.
    func reportLostSnapshots(now: ContinuousClock.Instant) {
        let timeout = config.tick * (config.electionTicks * MemberLimits.snapshotAckElectionTimeouts)
        for (to, at) in turns.durability.snapshotsSent where now - at >= timeout {
            turns.durability.snapshotsSent[to] = nil
            turns.raft.reportSnapshot(to: to, failed: true)
        }
    }

    /// Takes a snapshot once `snapshotCount` entries were applied since the last one.
    func snapshotIfDue(applied index: LogIndex) {
        let d = turns.durability
        if !d.snapshotting && d.snapshotIndex.distance(to: index) >= config.snapshotCount { takeSnapshot(at: index) }
    }

    /// Saves a snapshot of the applied state at `index` and compacts the log through it (etcd's
    /// `--snapshot-count`). The image is taken here, on the loop thread, in O(1) (a
    /// copy-on-write view of the key space); encoding it and writing the file and the WAL
    /// marker happen on another thread, so applying goes on meanwhile (encoding 100,000 keys
    /// on this thread held every write for a good part of a second).
    private func takeSnapshot(at index: LogIndex) {
        turns.durability.snapshotting = true
        let image = turns.store.image
        let members = turns.cluster
        let confState = turns.raft.confState
        let storage = storage
        let started = ContinuousClock.now
        Task.detached { [self] in
            var failure: String?
            do {
                let data = MemberSnapshot.encode(image, members)
                _ = try await storage.createSnapshot(at: index, confState: confState, data: data)
            } catch {
                failure = "\(error)"
            }
            config.metrics.snapshotSave.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            post(.snapshotTaken(index, failure: failure))
            // The encoded image (the whole key space) is freed by now.
            MemoryTrimmer.shared.trimSoon()
        }
    }

    /// A snapshot written, or why it failed. On failure the log stays as it was (nothing is
    /// lost); the next attempt comes after another `snapshotCount` entries.
    func snapshotTaken(_ index: LogIndex, failure: String?) {
        turns.durability.snapshotting = false
        turns.durability.snapshotIndex = max(turns.durability.snapshotIndex, index)
        if let failure { config.logger.error("snapshot at index \(index) failed: \(failure)") }
    }

    /// Answers a snapshot file request: an O(1) image here, the encoding (seconds for a large
    /// store) elsewhere.
    func encodeSnapshotFile(for c: CheckedContinuation<[UInt8], any Error>) {
        let applied = turns.raft.appliedIndex
        let term = (try? storage.term(at: applied)) ?? turns.raft.term
        let image = turns.store.image
        let members = turns.cluster
        Task.detached {
            c.resume(returning: SnapshotFile.encode(index: applied, term: term, memberSnapshot: MemberSnapshot.encode(image, members)))
        }
    }
}
