/// Why the log cannot give what was asked.
public enum LogStorageError: Error, Equatable, Sendable {
    /// The index is at or below the last snapshot: the entries were compacted away.
    case compacted
    /// The index is after the last entry.
    case unavailable
    /// No snapshot can be made right now; the leader will try again later.
    case snapshotTemporarilyUnavailable
}

/// The durable log the Raft core reads from. Writing is the application's job: after the
/// entries, hard state or snapshot of a `Ready` are durable, the application stores them here
/// and then calls `RaftNode.persisted(_:)`.
///
/// Invariant: the log holds the contiguous entries `firstIndex...lastIndex`; the entry before
/// `firstIndex` is covered by the snapshot, whose term `term(firstIndex - 1)` still answers.
public protocol RaftLogStorage: AnyObject {
    /// The hard state and membership the member restarts with.
    func initialState() -> (HardState, ConfState)
    /// Entries in `[low, high)`, at least one if any are in range, cut after `maxBytes`.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(LogStorageError) -> [Entry]
    /// The term of the entry at `index`; `index` may be `firstIndex - 1` (the snapshot's).
    func term(at index: LogIndex) throws(LogStorageError) -> Term
    /// The index of the first entry still held (the snapshot's index plus one).
    func firstIndex() -> LogIndex
    /// The index of the last entry held (the snapshot's index when the log is empty).
    func lastIndex() -> LogIndex
    /// The newest snapshot, for sending to a follower that needs compacted entries.
    func snapshot() throws(LogStorageError) -> Snapshot
}

/// A `RaftLogStorage` kept in memory: used by the simulator and tests, and by a member as the
/// cache of recent entries in front of its write-ahead log.
public final class MemoryStorage: RaftLogStorage {
    public private(set) var hardState = HardState()
    /// The newest snapshot (empty when none was taken).
    public private(set) var currentSnapshot = Snapshot()
    /// `entries[0]` is a placeholder at the snapshot's index and term; real entries follow.
    private var entries: [Entry]

    public init() {
        entries = [Entry(term: 0, index: 0)]
    }

    public func initialState() -> (HardState, ConfState) {
        (hardState, currentSnapshot.metadata.confState)
    }

    public func setHardState(_ state: HardState) {
        hardState = state
    }

    public func firstIndex() -> LogIndex { entries[0].index + 1 }

    public func lastIndex() -> LogIndex { entries[0].index + UInt64(entries.count - 1) }

    public func term(at index: LogIndex) throws(LogStorageError) -> Term {
        let offset = entries[0].index
        if index < offset { throw .compacted }
        let position = offset.distance(to: index)
        if position >= entries.count { throw .unavailable }
        return entries[position].term
    }

    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(LogStorageError)
        -> [Entry]
    {
        let offset = entries[0].index
        if low <= offset { throw .compacted }
        if high > lastIndex() + 1 { throw .unavailable }
        if low >= high { return [] }
        let start = offset.distance(to: low)
        let end = offset.distance(to: high)
        return limitBytes(entries[start..<end], maxBytes: maxBytes)
    }

    public func snapshot() throws(LogStorageError) -> Snapshot { currentSnapshot }

    /// Stores entries, replacing any held entries from the first new index on.
    public func append(_ newEntries: [Entry]) {
        guard let first = newEntries.first else { return }
        let offset = entries[0].index
        precondition(first.index <= lastIndex() + 1, "missing log entries before \(first.index)")
        // Entries at or below the snapshot are already covered by it.
        var incoming = newEntries[...]
        while let head = incoming.first, head.index <= offset { incoming = incoming.dropFirst() }
        guard let start = incoming.first?.index else { return }
        entries.removeSubrange(offset.distance(to: start)...)
        entries.append(contentsOf: incoming)
    }

    /// Replaces the whole log with a snapshot received from the leader.
    public func applySnapshot(_ snapshot: Snapshot) throws(LogStorageError) {
        guard snapshot.metadata.index > currentSnapshot.metadata.index else { throw .compacted }
        currentSnapshot = snapshot
        entries = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
    }

    /// Records a snapshot of the state machine taken at `index` (which must be in the log).
    public func createSnapshot(at index: LogIndex, confState: ConfState, data: [UInt8]) throws(LogStorageError)
        -> Snapshot
    {
        guard index > currentSnapshot.metadata.index else { throw .compacted }
        let term = try term(at: index)
        currentSnapshot = Snapshot(
            metadata: SnapshotMetadata(index: index, term: term, confState: confState), data: data)
        return currentSnapshot
    }

    /// Drops the entries up to and including `index` (which must not pass the snapshot).
    public func compact(through index: LogIndex) throws(LogStorageError) {
        let offset = entries[0].index
        guard index > offset else { throw .compacted }
        precondition(index <= lastIndex(), "compact beyond the last entry")
        precondition(index <= currentSnapshot.metadata.index, "compact beyond the snapshot")
        let position = offset.distance(to: index)
        let placeholder = Entry(term: entries[position].term, index: index)
        entries.removeSubrange(0...position)
        entries.insert(placeholder, at: 0)
    }
}

/// The longest prefix of `entries` within `maxBytes`, but always at least one entry.
func limitBytes(_ entries: ArraySlice<Entry>, maxBytes: Int) -> [Entry] {
    var total = 0
    var end = entries.startIndex
    while end < entries.endIndex {
        total += entries[end].batchBytes
        if total > maxBytes && end > entries.startIndex { break }
        end += 1
    }
    return Array(entries[entries.startIndex..<end])
}
