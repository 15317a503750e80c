/// Everything a member must do after a batch of inputs, in one value. `takeReady()` hands it
/// out once; the application then carries out its fields in this order:
///
/// 1. Send `messages` at once. They do not depend on this batch being durable; a leader's
///    appends go to followers while its own write is still in progress.
/// 2. Write `snapshot`, `entries` and `hardState` durably, in that order (one write and one
///    fsync may cover all three; successive `Ready`s must become durable in order).
///    Once durable: store them in the `RaftLogStorage`, call `persisted(number)`, and only
///    then send `persistedMessages`.
/// 3. Apply `committedEntries` in order (they are already durable here), calling
///    `applyConfChange` for membership changes, then `applied(through:)`. A `snapshot`
///    must be installed in the state machine before any later entry is applied.
/// 4. Answer waiting reads with `readStates` once the applied index reaches each one's index.
public struct Ready: Sendable {
    /// Identifies the batch in `persisted(_:)`.
    public let number: UInt64
    /// Set when the leader or role changed.
    public var softState: SoftState?
    /// Set when it changed; must be durable before `persistedMessages` are sent.
    public var hardState: HardState?
    /// Entries to append to the durable log (replacing any held from the first one's index on).
    public var entries: [Entry]
    /// A snapshot from the leader to make durable and install.
    public var snapshot: Snapshot?
    /// Committed, locally durable entries to apply to the state machine.
    public var committedEntries: [Entry]
    /// Messages to send now, in parallel with writing this batch.
    public var messages: [Message]
    /// Messages to send only after this batch (and every one before it) is durable.
    public var persistedMessages: [Message]
    /// Confirmed ReadIndex read points.
    public var readStates: [ReadState]

    /// Whether the application must write anything before acknowledging with `persisted`.
    public var needsPersistence: Bool { hardState != nil || !entries.isEmpty || snapshot != nil }
}

extension RaftNode {
    var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    var softState: SoftState { SoftState(leader: leader, role: role) }

    /// Whether `takeReady()` would return a batch.
    public var hasReady: Bool {
        !outbox.isEmpty || !readStates.isEmpty || hardState != lastHardState || softState != lastSoftState
            || !log.unstable.entriesToWrite.isEmpty || log.unstable.snapshotToWrite != nil
            || log.hasEntriesToApply()
    }

    /// Hands out the next batch of work, or nil when there is none. What it contains is not
    /// handed out again: entries and snapshot are then "being written", committed entries
    /// "being applied".
    public mutating func takeReady() -> Ready? {
        guard hasReady else { return nil }
        readyNumber += 1
        let state = hardState
        let soft = softState
        let snapshot = log.unstable.snapshotToWrite
        let entries = Array(log.unstable.entriesToWrite)
        // Entries after an unapplied snapshot wait until the snapshot is installed.
        let committed = snapshot == nil ? log.entriesToApply(maxBytes: config.applyBytesMax) : []
        var immediate: [Message] = []
        var afterPersist: [Message] = []
        for message in outbox {
            let mustWait =
                message.kind.requiresPersistence
                && !(message.kind == .appendResponse && config.injectedBugs.contains(.ackAppendBeforePersist))
            if mustWait { afterPersist.append(message) } else { immediate.append(message) }
        }
        let ready = Ready(
            number: readyNumber,
            softState: soft != lastSoftState ? soft : nil,
            hardState: state != lastHardState ? state : nil,
            entries: entries,
            snapshot: snapshot,
            committedEntries: committed,
            messages: immediate,
            persistedMessages: afterPersist,
            readStates: readStates)
        outbox = []
        readStates = []
        lastHardState = state
        lastSoftState = soft
        log.unstable.acceptInProgress()
        if let last = committed.last {
            log.applying = last.index
            if role == .leader {
                uncommittedBytes = max(0, uncommittedBytes - committed.reduce(0) { $0 + $1.payloadBytes })
            }
        }
        if ready.needsPersistence {
            persistQueue.append(
                PendingPersist(
                    number: readyNumber, lastEntry: entries.last.map { ($0.index, $0.term) },
                    snapshotIndex: snapshot?.metadata.index))
        }
        return ready
    }

    /// Reports that every `Ready` up to `number` is durable and stored in the `RaftLogStorage`.
    public mutating func persisted(_ number: UInt64) {
        while let first = persistQueue.first, first.number <= number {
            persistQueue.removeFirst()
            if let index = first.snapshotIndex {
                log.unstable.stableSnapshotTo(index)
                // The application installs the snapshot before applying anything after it.
                log.applying = max(log.applying, index)
            }
            if let last = first.lastEntry { log.unstable.stableTo(last.index, last.term) }
        }
        if role == .leader, progress[id] != nil, let durable = log.durableLastIndex,
            progress[id]!.maybeUpdate(durable)
        {
            if maybeCommit() { broadcastAppend() }
        }
    }

    /// Reports that the state machine has applied everything up to `index` (including a
    /// snapshot installed at `index`).
    public mutating func applied(through index: LogIndex) {
        precondition(index <= log.committed, "applied \(index) past commit \(log.committed)")
        log.applied = max(log.applied, index)
        log.applying = max(log.applying, index)
    }
}

extension MemoryStorage {
    /// Stores a `Ready`'s durable part, as an application does once it is written: the
    /// snapshot, then the entries, then the hard state. Throws, storing nothing, when the
    /// snapshot is older than the one held.
    public func store(_ ready: Ready) throws(LogStorageError) {
        if let snapshot = ready.snapshot { try applySnapshot(snapshot) }
        append(ready.entries)
        if let hardState = ready.hardState { setHardState(hardState) }
    }
}
