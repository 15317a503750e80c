/// Entries and a snapshot not yet known to be durable.
///
/// Invariant: `entries[0].index == offset`; `offset <= offsetInProgress <= offset + entries.count`.
/// Entries before `offsetInProgress` were handed out in a `Ready` and are being written.
struct Unstable {
    var snapshot: Snapshot?
    var snapshotInProgress = false
    var entries: [Entry] = []
    var offset: LogIndex
    var offsetInProgress: LogIndex

    init(offset: LogIndex) {
        self.offset = offset
        self.offsetInProgress = offset
    }

    var maybeFirstIndex: LogIndex? { snapshot.map { $0.metadata.index + 1 } }

    var maybeLastIndex: LogIndex? {
        if !entries.isEmpty { return offset + UInt64(entries.count - 1) }
        return snapshot?.metadata.index
    }

    func maybeTerm(_ index: LogIndex) -> Term? {
        if index < offset {
            if let snapshot, snapshot.metadata.index == index { return snapshot.metadata.term }
            return nil
        }
        let position = offset.distance(to: index)
        return position < entries.count ? entries[position].term : nil
    }

    /// Entries not yet handed out for writing.
    var entriesToWrite: ArraySlice<Entry> { entries[offset.distance(to: offsetInProgress)...] }

    var snapshotToWrite: Snapshot? { snapshotInProgress ? nil : snapshot }

    /// Marks everything held as handed out for writing.
    mutating func acceptInProgress() {
        offsetInProgress = offset + UInt64(entries.count)
        if snapshot != nil { snapshotInProgress = true }
    }

    /// Entries up to `index` (of `term`) are durable: drop them. A term that no longer matches
    /// means the entry was overwritten after it was written; the newer one is still pending.
    mutating func stableTo(_ index: LogIndex, _ term: Term) {
        guard index >= offset, maybeTerm(index) == term else { return }
        let count = offset.distance(to: index) + 1
        entries.removeFirst(count)
        offset = index + 1
        offsetInProgress = max(offsetInProgress, offset)
    }

    mutating func stableSnapshotTo(_ index: LogIndex) {
        if snapshot?.metadata.index == index {
            snapshot = nil
            snapshotInProgress = false
        }
    }

    mutating func restore(_ snapshot: Snapshot) {
        offset = snapshot.metadata.index + 1
        offsetInProgress = offset
        entries = []
        self.snapshot = snapshot
        snapshotInProgress = false
    }

    /// Appends entries, first cutting off whatever they replace.
    mutating func truncateAndAppend(_ newEntries: ArraySlice<Entry>) {
        guard let from = newEntries.first?.index else { return }
        if from == offset + UInt64(entries.count) {
            entries.append(contentsOf: newEntries)
        } else if from <= offset {
            offset = from
            offsetInProgress = from
            entries = Array(newEntries)
        } else {
            entries.removeSubrange(offset.distance(to: from)...)
            entries.append(contentsOf: newEntries)
            offsetInProgress = min(offsetInProgress, from)
        }
    }
}

/// The member's view of the log: durable entries in `storage`, newer ones in `unstable`.
///
/// Invariants: `applied <= applying <= committed <= lastIndex`.
struct RaftLog {
    let storage: any RaftLogStorage
    var unstable: Unstable
    /// The highest index known to be on a quorum.
    var committed: LogIndex
    /// The highest index handed out for applying.
    var applying: LogIndex
    /// The highest index the application reported applied.
    var applied: LogIndex

    init(storage: any RaftLogStorage, applied: LogIndex) {
        self.storage = storage
        let first = storage.firstIndex()
        let last = storage.lastIndex()
        unstable = Unstable(offset: last + 1)
        committed = first - 1
        self.applied = max(applied, first - 1)
        applying = self.applied
    }

    func firstIndex() -> LogIndex { unstable.maybeFirstIndex ?? storage.firstIndex() }

    func lastIndex() -> LogIndex { unstable.maybeLastIndex ?? storage.lastIndex() }

    func lastTerm() -> Term { term(at: lastIndex()) ?? 0 }

    /// The term at `index`, or nil when it is compacted or past the end.
    func term(at index: LogIndex) -> Term? {
        let dummy = firstIndex() - 1
        if index < dummy || index > lastIndex() { return nil }
        if let term = unstable.maybeTerm(index) { return term }
        return try? storage.term(at: index)
    }

    func matchTerm(_ index: LogIndex, _ term: Term) -> Bool { self.term(at: index) == term }

    /// Whether a candidate whose log ends at (`index`, `term`) is at least as up to date as ours.
    func isUpToDate(index: LogIndex, term: Term) -> Bool {
        let ourTerm = lastTerm()
        return term > ourTerm || (term == ourTerm && index >= lastIndex())
    }

    /// The highest index whose entries are durable here, or nil while a snapshot is pending.
    var durableLastIndex: LogIndex? {
        unstable.snapshot == nil ? unstable.offset - 1 : nil
    }

    /// Entries in `[low, high)`, cut after `maxBytes` (at least one). Throws when compacted.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(LogStorageError) -> [Entry] {
        if low >= high { return [] }
        if low < firstIndex() { throw .compacted }
        precondition(high <= lastIndex() + 1, "entries [\(low), \(high)) past the last index \(lastIndex())")
        var result: [Entry] = []
        if low < unstable.offset {
            let storedHigh = min(high, unstable.offset)
            result = try storage.entries(from: low, to: storedHigh, maxBytes: maxBytes)
            // Fewer than asked for: the byte limit was reached inside storage.
            if result.count < low.distance(to: storedHigh) { return result }
        }
        if high > unstable.offset {
            let from = max(low, unstable.offset)
            result.append(
                contentsOf: unstable.entries[unstable.offset.distance(to: from)..<unstable.offset.distance(to: high)])
            result = limitBytes(result[...], maxBytes: maxBytes)
        }
        return result
    }

    /// Searches down from `index` for the last index whose term is at most `term`: the leader's
    /// guess of where a rejecting follower's log can match (fast backtracking).
    func findConflictByTerm(index: LogIndex, term: Term) -> (index: LogIndex, term: Term?) {
        var i = index
        while true {
            guard let t = self.term(at: i) else { return (i, nil) }
            if t <= term || i == 0 { return (i, t) }
            i = i - 1
        }
    }

    /// The index of the first entry that is new or conflicts with ours; nil when all match.
    func findConflict(_ entries: [Entry]) -> LogIndex? {
        for entry in entries where !matchTerm(entry.index, entry.term) { return entry.index }
        return nil
    }

    /// Appends the leader's entries after (`index`, `logTerm`) if our log matches there.
    /// Returns the last index now known to match the leader, or nil on a mismatch.
    mutating func maybeAppend(index: LogIndex, logTerm: Term, commit: LogIndex, entries: [Entry]) -> LogIndex? {
        guard matchTerm(index, logTerm) else { return nil }
        let lastNew = index + UInt64(entries.count)
        if let conflict = findConflict(entries) {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed entry \(committed)")
            let start = index.distance(to: conflict) - 1
            append(entries[start...])
        }
        commitTo(min(commit, lastNew))
        return lastNew
    }

    mutating func append(_ entries: ArraySlice<Entry>) {
        guard let first = entries.first else { return }
        precondition(first.index > committed, "appending at \(first.index) below commit \(committed)")
        unstable.truncateAndAppend(entries)
    }

    mutating func commitTo(_ index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex(), "commit \(index) is past the last index \(lastIndex())")
        committed = index
    }

    /// The highest index that may be handed out for applying: committed and durable here.
    var maxApplicableIndex: LogIndex {
        guard let durable = durableLastIndex else { return applying }
        return min(committed, durable)
    }

    func hasEntriesToApply() -> Bool { maxApplicableIndex > applying }

    func entriesToApply(maxBytes: Int) -> [Entry] {
        let high = maxApplicableIndex
        guard high > applying else { return [] }
        do {
            return try entries(from: applying + 1, to: high + 1, maxBytes: maxBytes)
        } catch {
            preconditionFailure("committed entries \(applying + 1)...\(high) unavailable: \(error)")
        }
    }

    mutating func restore(_ snapshot: Snapshot) {
        committed = snapshot.metadata.index
        unstable.restore(snapshot)
    }
}
