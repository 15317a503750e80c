import Base
public import Raft

/// Why a member's stored state cannot be used.
public enum DiskStorageError: Error, Sendable, CustomStringConvertible {
    case wal(WALError)
    case snapshot(SnapshotError)
    /// The WAL and the snapshot files do not fit together.
    case inconsistent(String)

    public var description: String {
        switch self {
        case .wal(let error): return error.description
        case .snapshot(let error): return error.description
        case .inconsistent(let reason):
            return "stored state is inconsistent: \(reason). The member refuses to start; restore it from a healthy "
                + "replica or a snapshot."
        }
    }
}

/// The Raft log on disk: the WAL for entries and hard state, snapshot files for compacted state.
/// The terms and disk positions of all entries are kept in memory; the entries themselves only
/// for the newest `cachedEntriesMax` (up to an eighth more between trims), older ones are read
/// back from the WAL on demand.
public final class DiskLogStorage: RaftLogStorage, Sendable {
    public let wal: WAL
    public let snapshots: SnapshotStore
    let cachedEntriesMax: Int

    struct State {
        var hardState: HardState
        var snapshotMetadata: SnapshotMetadata
        /// Terms and positions of entries `snapshotMetadata.index + 1 ...`.
        var terms: [Term] = []
        var positions: [RecordPosition] = []
        /// The newest entries, oldest first; the last one is the last entry of the log.
        var cache: [Entry] = []
    }

    private let state: Locked<State>

    /// Entries kept in memory by default.
    public static let cachedEntriesDefault = 8192
    /// Entries read from disk in one go when older entries are asked for.
    static let diskReadChunk = 64

    /// Opens a member's storage under `directory` (`wal/` and `snap/`), verifying both. Returns
    /// the storage and the snapshot to restore the state machine from, if any. `writesOnCaller`:
    /// `save` writes and syncs on its caller's thread and completes before it returns (see `WAL`).
    public static func open(
        directory: String, fs: any FileSystem = PosixFileSystem(),
        segmentBytes: Int = StorageLimits.walSegmentBytesDefault,
        cachedEntriesMax: Int = cachedEntriesDefault, writesOnCaller: Bool = false
    ) throws(DiskStorageError)
        -> (DiskLogStorage, Snapshot?)
    {
        precondition(cachedEntriesMax > 0, "cache at least one entry")
        do {
            if !fs.exists(directory) { try fs.createDirectory(directory) }
        } catch {
            throw .wal(.io(error))
        }
        let store: SnapshotStore
        let loaded: (snapshot: Snapshot?, damaged: [SnapshotError])
        do {
            store = try SnapshotStore(directory: directory + "/snap", fs: fs)
            loaded = try store.loadNewest()
        } catch {
            throw .snapshot(error)
        }
        let (wal, contents): (WAL, WALContents)
        do {
            (wal, contents) = try WAL.open(
                directory: directory + "/wal", fs: fs, segmentBytes: segmentBytes, writesOnCaller: writesOnCaller)
        } catch {
            throw .wal(error)
        }
        let snapshot = loaded.snapshot
        let snapshotIndex = snapshot?.metadata.index ?? 0
        if let marker = contents.snapshot, marker.index > snapshotIndex {
            wal.close()
            let damage = loaded.damaged.map(\.description).joined(separator: "; ")
            throw .inconsistent(
                "the WAL records a snapshot at index \(marker.index) but the newest valid snapshot file "
                    + "is at \(snapshotIndex)" + (damage.isEmpty ? "" : " (\(damage))"))
        }
        var entries = contents.entries[...]
        var positions = contents.positions[...]
        while let first = entries.first, first.index <= snapshotIndex {
            entries = entries.dropFirst()
            positions = positions.dropFirst()
        }
        if let first = entries.first, first.index != snapshotIndex + 1 {
            wal.close()
            throw .inconsistent("the log starts at \(first.index) but the snapshot ends at \(snapshotIndex)")
        }
        var initial = State(hardState: contents.hardState, snapshotMetadata: snapshot?.metadata ?? SnapshotMetadata())
        initial.terms = entries.map(\.term)
        initial.positions = Array(positions)
        initial.cache = Array(entries.suffix(cachedEntriesMax))
        let storage = DiskLogStorage(wal: wal, snapshots: store, cachedEntriesMax: cachedEntriesMax, state: initial)
        return (storage, snapshot)
    }

    private init(wal: WAL, snapshots: SnapshotStore, cachedEntriesMax: Int, state: State) {
        self.wal = wal
        self.snapshots = snapshots
        self.cachedEntriesMax = cachedEntriesMax
        self.state = Locked(state)
    }

    public func close() { wal.close() }

    // MARK: - Saving a Ready

    /// Makes a `Ready`'s durable part durable: the snapshot file first (synchronously), then one
    /// WAL append of the snapshot marker, the entries and the hard state. `completion` runs once
    /// they are durable and visible through this storage, so it may call `RaftNode.persisted`.
    /// `sync: false` is for a HardState whose only change is the commit index (and nothing
    /// else): written to the WAL at once, made durable by the next synced write. etcd's rule
    /// (raft's `MustSync`): only entries, a snapshot, or a new term or vote need an fsync.
    public func save(
        entries: [Entry], hardState: HardState?, snapshot: Snapshot?, sync: Bool = true,
        completion: @escaping @Sendable (Result<Void, DiskStorageError>) -> Void
    ) {
        precondition(sync || (entries.isEmpty && snapshot == nil), "entries and snapshots are always synced")
        var records: [WALRecord] = []
        if let snapshot {
            do { try snapshots.save(snapshot) } catch {
                completion(.failure(.snapshot(error)))
                return
            }
            records.append(.snapshotMarker(index: snapshot.metadata.index, term: snapshot.metadata.term))
        }
        records += entries.map { .entry($0) }
        if let hardState { records.append(.hardState(hardState)) }
        guard !records.isEmpty else {
            completion(.success(()))
            return
        }
        wal.append(records, sync: sync) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(.wal(error)))
            case .success(let positions):
                state.withLock { state in
                    if let snapshot { restore(&state, snapshot.metadata) }
                    append(&state, entries, Array(positions))
                    if let hardState { state.hardState = hardState }
                }
                completion(.success(()))
            }
        }
    }

    /// `save` for callers that can wait.
    public func save(entries: [Entry], hardState: HardState?, snapshot: Snapshot?) async throws(DiskStorageError) {
        let result: Result<Void, DiskStorageError> = await withCheckedContinuation { continuation in
            save(entries: entries, hardState: hardState, snapshot: snapshot) { continuation.resume(returning: $0) }
        }
        try result.get()
    }

    private func restore(_ state: inout State, _ metadata: SnapshotMetadata) {
        let keep =
            metadata.index > state.snapshotMetadata.index
            && term(in: state, at: metadata.index) == metadata.term
        if keep {
            let drop = state.snapshotMetadata.index.distance(to: metadata.index)
            state.terms.removeFirst(drop)
            state.positions.removeFirst(drop)
            state.cache.removeAll { $0.index <= metadata.index }
        } else {
            state.terms = []
            state.positions = []
            state.cache = []
        }
        state.snapshotMetadata = metadata
    }

    private func append(_ state: inout State, _ entries: [Entry], _ positions: [RecordPosition]) {
        guard let first = entries.first else { return }
        let offset = state.snapshotMetadata.index
        precondition(
            first.index > offset && first.index <= offset + UInt64(state.terms.count) + 1,
            "entry \(first.index) does not follow the log ending at \(offset + UInt64(state.terms.count))")
        let keep = offset.distance(to: first.index) - 1
        state.terms.removeSubrange(keep...)
        state.positions.removeSubrange(keep...)
        // The cache is contiguous up to the log's end: only a conflict (entries from `first` on
        // replaced) cuts it, at a position it computes.
        if let cacheFirst = state.cache.first?.index, let cacheLast = state.cache.last?.index, first.index <= cacheLast {
            state.cache.removeSubrange(cacheFirst.distance(to: first.index)...)
        }
        state.terms += entries.map(\.term)
        state.positions += positions
        state.cache += entries
        // Trimmed back to `cachedEntriesMax` once an eighth more has gathered: trimming at every
        // append shifted the whole array each time (thousands of entries for a few new ones).
        if state.cache.count > cachedEntriesMax + max(cachedEntriesMax / 8, 1) {
            state.cache.removeFirst(state.cache.count - cachedEntriesMax)
        }
    }

    // MARK: - Snapshots and compaction

    /// Takes a snapshot of the state machine at `index` (applied, in the log): saves the file,
    /// records the marker in the WAL, drops the log through `index`, and purges WAL segments
    /// the snapshot covers.
    public func createSnapshot(at index: LogIndex, confState: ConfState, data: [UInt8]) async throws(DiskStorageError)
        -> Snapshot
    {
        let metadata: SnapshotMetadata = try state.withLock { (state) throws(DiskStorageError) -> SnapshotMetadata in
            guard index > state.snapshotMetadata.index, let term = term(in: state, at: index) else {
                throw .inconsistent(
                    "cannot snapshot at \(index): the log holds \(state.snapshotMetadata.index + 1) "
                        + "to \(state.snapshotMetadata.index + UInt64(state.terms.count))")
            }
            return SnapshotMetadata(index: index, term: term, confState: confState)
        }
        let snapshot = Snapshot(metadata: metadata, data: data)
        do { try snapshots.save(snapshot) } catch { throw .snapshot(error) }
        do { try await wal.append([.snapshotMarker(index: metadata.index, term: metadata.term)]) } catch {
            throw .wal(error)
        }
        state.withLock { restore(&$0, metadata) }
        do { try wal.purgeSegments(coveredThrough: index) } catch { throw .wal(error) }
        return snapshot
    }

    // MARK: - RaftLogStorage

    private func term(in state: State, at index: LogIndex) -> Term? {
        if index == state.snapshotMetadata.index { return state.snapshotMetadata.term }
        guard index > state.snapshotMetadata.index else { return nil }
        let position = state.snapshotMetadata.index.distance(to: index) - 1
        return position < state.terms.count ? state.terms[position] : nil
    }

    public func initialState() -> (HardState, ConfState) {
        state.withLock { ($0.hardState, $0.snapshotMetadata.confState) }
    }

    public func firstIndex() -> LogIndex { state.withLock { $0.snapshotMetadata.index + 1 } }

    public func lastIndex() -> LogIndex {
        state.withLock { $0.snapshotMetadata.index + UInt64($0.terms.count) }
    }

    public func term(at index: LogIndex) throws(LogStorageError) -> Term {
        try state.withLock { (state) throws(LogStorageError) -> Term in
            if index < state.snapshotMetadata.index { throw .compacted }
            guard let term = term(in: state, at: index) else { throw .unavailable }
            return term
        }
    }

    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(LogStorageError) -> [Entry] {
        // Decide under the lock what comes from memory and where the rest is on disk.
        let (cached, onDisk) = try state.withLock { (state) throws(LogStorageError) -> ([Entry], [RecordPosition]) in
            let offset = state.snapshotMetadata.index
            if low <= offset { throw .compacted }
            if high > offset + UInt64(state.terms.count) + 1 { throw .unavailable }
            if low >= high { return ([], []) }
            // The cache holds the newest entries, contiguous up to the last one.
            let cacheStart = state.cache.first?.index ?? high
            let diskEnd = min(high, cacheStart)
            let positions =
                low < diskEnd
                ? Array(state.positions[(offset.distance(to: low) - 1)..<(offset.distance(to: diskEnd) - 1)]) : []
            let cacheLow = max(low, cacheStart)
            let fromCache =
                cacheLow < high
                ? Array(state.cache[cacheStart.distance(to: cacheLow)..<cacheStart.distance(to: high)]) : []
            return (fromCache, positions)
        }
        var result: [Entry] = []
        var bytes = 0
        // Older entries come from disk a chunk at a time, so reading stops near `maxBytes`.
        var next = 0
        while next < onDisk.count {
            let chunk = onDisk[next..<min(next + DiskLogStorage.diskReadChunk, onDisk.count)]
            guard let read = try? wal.readEntries(at: Array(chunk)) else { throw .unavailable }
            for entry in read {
                bytes += entry.batchBytes
                if bytes > maxBytes && !result.isEmpty { return result }
                result.append(entry)
            }
            next += chunk.count
        }
        for entry in cached {
            bytes += entry.batchBytes
            if bytes > maxBytes && !result.isEmpty { return result }
            result.append(entry)
        }
        return result
    }

    public func snapshot() throws(LogStorageError) -> Snapshot {
        let index = state.withLock { $0.snapshotMetadata.index }
        guard index > 0 else { return Snapshot() }
        guard let loaded = try? snapshots.loadNewest().snapshot, loaded.metadata.index >= index else {
            throw .snapshotTemporarilyUnavailable
        }
        return loaded
    }
}
