import Base
import Foundation
public import Raft

#if canImport(Glibc)
import Glibc
#endif

/// The write-ahead log: segment files of CRC-framed records, appended by one writer thread
/// with group commit.
///
/// Every `append` waiting when the writer starts a round goes into one write and one
/// `fdatasync`; each caller is answered only once its records are durable. While a round
/// syncs, new appends gather for the next; the writer answers a round's callers itself before
/// it starts the next (a completer thread of its own cost a wake-up and a context switch per
/// round, more than the few microseconds of answering). After a failed write or sync the WAL
/// acknowledges nothing more: every waiting and later append fails.
///
/// Opened with `writesOnCaller`, there is no writer thread: each `append` is written and synced
/// on the thread that calls it, which the completion is called on before `append` returns (for
/// a caller that batches by itself and would otherwise pay two thread wake-ups per round: a
/// member's event loop).
public final class WAL: @unchecked Sendable {
    /// Answers an append: the positions of its entry records, in order, or why it failed.
    public typealias Completion = @Sendable (Result<ArraySlice<RecordPosition>, WALError>) -> Void

    /// The entry positions of a written batch: one array, and where each append's part ends.
    struct BatchPositions {
        var positions: [RecordPosition] = []
        var ends: [Int] = []

        func slice(_ append: Int) -> ArraySlice<RecordPosition> {
            positions[(append == 0 ? 0 : ends[append - 1])..<ends[append]]
        }
    }

    struct PendingAppend {
        var records: [WALRecord]
        var bytes: Int
        /// false: written without waiting for an fsync (see `append(_:sync:completion:)`).
        var sync = true
        var completion: Completion
    }

    let fs: any FileSystem
    let directory: String
    let segmentBytes: Int

    // Guarded by `lock`.
    private let lock = Lock()
    private var pending: [PendingAppend] = []
    private var failure: WALError?
    private var closing = false
    private var writerDone = false
    private var writerWaiting = false
    /// An unsynced append is being written by its caller (the writer was idle): the writer
    /// waits for it before it writes again.
    private var callerWriting = false
    /// Appends in the last round: under heavy load, the next round waits a little for about
    /// half as many to gather (fewer, larger rounds; each round costs a write and a sync).
    private var lastRoundAppends = 0
    /// Told how long each fsync of the log took (a member's metrics); set once, before use.
    private let syncObserver = Locked<(@Sendable (Duration) -> Void)?>(nil)
    private var segments: [SegmentFile] = []
    /// The next segment's file, zero-filled and synced ahead of the roll that needs it by a
    /// background queue, so that a roll does not stall the writer while 64 MiB are written.
    private let spare = SpareSegment()

    /// No writer thread: appends are written by their callers, one at a time under `callerLock`.
    private let writesOnCaller: Bool
    private let callerLock = Lock()

    // Owned by the writer thread after `open` returns (by the holder of `callerLock` with `writesOnCaller`).
    private var file: any StorageFile
    private var segmentNumber: UInt64
    private var writeOffset: Int
    private var nextSequence: UInt64
    private var lastEntryIndex: LogIndex
    private var lastHardState: HardState
    private var lastSnapshot: (index: LogIndex, term: Term)?

    private init(
        fs: any FileSystem, directory: String, segmentBytes: Int, file: any StorageFile, segments: [SegmentFile],
        writeOffset: Int, nextSequence: UInt64, contents: WALContents, writesOnCaller: Bool
    ) {
        self.writesOnCaller = writesOnCaller
        self.fs = fs
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.file = file
        self.segments = segments
        self.segmentNumber = segments.last!.number
        self.writeOffset = writeOffset
        self.nextSequence = nextSequence
        lastEntryIndex = contents.entries.last?.index ?? contents.snapshot?.index ?? 0
        lastHardState = contents.hardState
        lastSnapshot = contents.snapshot
    }

    /// Opens the WAL in `directory` (creating it when empty), verifies every record, cuts off a
    /// torn tail, and returns what it holds. Throws `.corrupt` with the file and offset when
    /// anything else is damaged.
    public static func open(
        directory: String, fs: any FileSystem = PosixFileSystem(),
        segmentBytes: Int = StorageLimits.walSegmentBytesDefault,
        writesOnCaller: Bool = false
    ) throws(WALError) -> (WAL, WALContents) {
        precondition(segmentBytes >= 4096, "segments must hold at least 4 KiB")
        do {
            if !fs.exists(directory) { try fs.createDirectory(directory) }
            for name in try fs.listDirectory(directory) where name.hasSuffix(".tmp") {
                try fs.remove(directory + "/" + name)  // A segment whose creation a crash interrupted.
            }
        } catch {
            throw .io(error)
        }
        let reader = WALReader(fs: fs, directory: directory)
        var segments = try reader.segments()
        if segments.isEmpty {
            let first: (file: any StorageFile, segment: SegmentFile, end: Int, nextSequence: UInt64)
            do {
                first = try createSegment(
                    fs: fs, directory: directory, number: 0, firstIndex: 1,
                    segmentBytes: segmentBytes, sequence: 1, carry: [])
            } catch {
                throw .io(error)
            }
            segments = [first.segment]
            let wal = WAL(
                fs: fs, directory: directory, segmentBytes: segmentBytes, file: first.file, segments: segments,
                writeOffset: first.end, nextSequence: first.nextSequence, contents: WALContents(),
                writesOnCaller: writesOnCaller)
            wal.start()
            return (wal, WALContents())
        }
        let scan = try reader.scan(segments)
        let file: any StorageFile
        do { file = try fs.open(segments.last!.path, create: false) } catch { throw .io(error) }
        let wal = WAL(
            fs: fs, directory: directory, segmentBytes: segmentBytes, file: file, segments: segments,
            writeOffset: scan.lastSegmentEnd, nextSequence: scan.nextSequence, contents: scan.contents,
            writesOnCaller: writesOnCaller)
        wal.start()
        return (wal, scan.contents)
    }

    private func start() {
        if writesOnCaller { return }
        let writer = Thread { [self] in writerLoop() }
        writer.name = "capstan-wal-writer"
        writer.start()
    }

    // MARK: - Appending

    /// Appends records; `completion` runs on the writer thread once they are durable (with
    /// the position of each entry record, in order) or failed. It must not call `close()`.
    /// `sync: false` answers once the records are written, without an fsync of their own: they
    /// become durable with the next synced round (or the next segment roll). For what may be
    /// lost in a crash without harm — a Raft HardState whose only change is the commit index,
    /// which etcd's WAL does not sync either. A round with at least one synced append is synced.
    /// An unsynced append that finds the writer idle and nothing queued is written on the
    /// calling thread instead, and `completion` runs there before `append` returns.
    public func append(_ records: [WALRecord], sync: Bool = true, completion: @escaping Completion) {
        var bytes = 0
        for record in records {
            let payload = WALFormat.payloadBytes(of: record)
            if payload > StorageLimits.walRecordPayloadBytesMax {
                completion(.failure(.recordTooLarge(bytes: payload)))
                return
            }
            bytes += WALFormat.paddedSize(payload: payload)
        }
        if writesOnCaller { return appendOnCaller(PendingAppend(records: records, bytes: bytes, sync: sync, completion: completion)) }
        enum Next {
            case refused(WALError)
            case queued, writeHere
        }
        let next: Next = lock.withLock {
            if let failure { return .refused(.failed(failure.description)) }
            if closing { return .refused(.closed) }
            // Unsynced, with nothing queued and the writer idle: written here, without the two
            // thread hand-offs of a round (after every earlier append: all are written). Not when
            // it would roll the segment (a sync and a new file: the writer's work). The writer,
            // parked, does not touch `writeOffset` meanwhile.
            if !sync && pending.isEmpty && writerWaiting && !callerWriting && writeOffset + bytes <= segmentBytes {
                callerWriting = true
                return .writeHere
            }
            if pending.count >= StorageLimits.walPendingAppendsMax { return .refused(.queueFull) }
            pending.append(PendingAppend(records: records, bytes: bytes, sync: sync, completion: completion))
            if writerWaiting { lock.broadcast() }
            return .queued
        }
        switch next {
        case .queued: break
        case .refused(let refusal): completion(.failure(refusal))
        case .writeHere:
            let append = PendingAppend(records: records, bytes: bytes, sync: false, completion: completion)
            // On failure `failure` is set: later appends are refused, and those queued meanwhile fail here.
            let result = writeOnCaller(append)
            let failed: [PendingAppend] = lock.withLock {
                callerWriting = false
                // Only appends queued meanwhile (or a close) need the writer: waking it for
                // nothing would cost the hand-off this saves.
                if writerWaiting && (!pending.isEmpty || closing) { lock.broadcast() }
                guard case .failure = result else { return [] }
                defer { pending = [] }
                return pending
            }
            answer([append] + failed, result)
        }
    }

    /// Appends records and returns once they are durable.
    @discardableResult
    public func append(_ records: [WALRecord]) async throws(WALError) -> [RecordPosition] {
        let result: Result<ArraySlice<RecordPosition>, WALError> = await withCheckedContinuation { continuation in
            append(records) { continuation.resume(returning: $0) }
        }
        return Array(try result.get())
    }

    /// Writes (and syncs, unless `sync` is false) one append on this thread, then answers it.
    private func appendOnCaller(_ append: PendingAppend) {
        let result: Result<BatchPositions, WALError> = callerLock.withLock {
            let refusal: WALError? = lock.withLock { failure.map { .failed($0.description) } ?? (closing ? .closed : nil) }
            if let refusal { return .failure(refusal) }
            return writeOnCaller(append)
        }
        answer([append], result)
    }

    private func writeOnCaller(_ append: PendingAppend) -> Result<BatchPositions, WALError> {
        do { return .success(try write([append])) } catch {
            let reason = WALError.io(error)
            lock.withLock { failure = reason }
            return .failure(reason)
        }
    }

    /// Stops the writer after the appends already queued; later appends fail with `.closed`.
    public func close() {
        if writesOnCaller {
            // After the append being written, if any.
            return callerLock.withLock { lock.withLock { closing = true } }
        }
        lock.withLock {
            closing = true
            lock.broadcast()
            while !writerDone { lock.wait() }
        }
    }

    // MARK: - The writer thread

    private func writerLoop() {
        while let batch = nextBatch() {
            do {
                let positions = try write(batch)
                answer(batch, .success(positions))
            } catch {
                let reason = WALError.io(error)
                let failed: [PendingAppend] = lock.withLock {
                    failure = reason
                    defer { pending = [] }
                    return pending
                }
                answer(batch + failed, .failure(reason))
            }
        }
        lock.withLock {
            writerDone = true
            lock.broadcast()
        }
    }

    /// Answers a round's callers, in the order their appends were written.
    private func answer(_ batch: [PendingAppend], _ result: Result<BatchPositions, WALError>) {
        switch result {
        case .success(let positions):
            for (i, append) in batch.enumerated() { append.completion(.success(positions.slice(i))) }
        case .failure(let error):
            for append in batch { append.completion(.failure(error)) }
        }
    }

    /// Takes every append waiting now, up to the batch byte limit; nil when closing and idle.
    private func nextBatch() -> [PendingAppend]? {
        lock.withLock {
            while (pending.isEmpty && !closing) || callerWriting {
                writerWaiting = true
                lock.wait()
                writerWaiting = false
            }
            if lastRoundAppends >= StorageLimits.walGatherRoundAppendsMin && !closing {
                let want = lastRoundAppends / 2
                var waited = 0
                while pending.count < want && waited < StorageLimits.walGatherWaitMicros && !closing {
                    writerWaiting = true
                    lock.wait(microseconds: 10)
                    writerWaiting = false
                    waited += 10
                }
            }
            if pending.isEmpty { return nil }
            var bytes = 0
            var count = 0
            while count < pending.count && (count == 0 || bytes + pending[count].bytes <= StorageLimits.walBatchBytesMax) {
                bytes += pending[count].bytes
                count += 1
            }
            lastRoundAppends = count
            if count == pending.count {
                var batch: [PendingAppend] = []
                swap(&batch, &pending)
                return batch
            }
            defer { pending.removeFirst(count) }
            return Array(pending.prefix(count))
        }
    }

    /// Encodes, writes and syncs a batch; returns each append's entry positions.
    private func write(_ batch: [PendingAppend]) throws(StorageIOError) -> BatchPositions {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(batch.reduce(0) { $0 + $1.bytes })
        var bufferStart = writeOffset
        var result = BatchPositions()
        result.ends.reserveCapacity(batch.count)
        for append in batch {
            for record in append.records {
                let size = WALFormat.paddedSize(payload: WALFormat.payloadBytes(of: record))
                if bufferStart + buffer.count + size > segmentBytes {
                    try flush(&buffer, at: bufferStart)
                    try file.sync()
                    try rollSegment()
                    bufferStart = writeOffset
                }
                let offset = bufferStart + buffer.count
                WALFormat.frame(record, sequence: nextSequence, into: &buffer)
                nextSequence += 1
                note(record)
                if case .entry = record {
                    result.positions.append(RecordPosition(segment: segmentNumber, offset: offset, paddedLength: size))
                }
            }
            result.ends.append(result.positions.count)
        }
        try flush(&buffer, at: bufferStart)
        // A quarter into a segment, the next one starts being made ready (a log that never
        // gets that far — most tests' — never pays for writing one).
        if writeOffset > segmentBytes / 4 { spare.prepare(fs: fs, directory: directory, segmentBytes: segmentBytes) }
        if batch.contains(where: \.sync) {
            let started = ContinuousClock.now
            try file.sync()
            let observer = syncObserver.current
            observer?(ContinuousClock.now - started)
        }
        return result
    }

    /// Calls `observer` with the duration of every fsync that ends a write round.
    public func observeSyncs(_ observer: @escaping @Sendable (Duration) -> Void) { syncObserver.withLock { $0 = observer } }

    private func flush(_ buffer: inout [UInt8], at offset: Int) throws(StorageIOError) {
        guard !buffer.isEmpty else { return }
        try file.write(buffer, at: offset)
        writeOffset = offset + buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    private func note(_ record: WALRecord) {
        switch record {
        case .entry(let entry): lastEntryIndex = entry.index
        case .hardState(let state): lastHardState = state
        case .snapshotMarker(let index, let term): lastSnapshot = (index, term)
        }
    }

    /// Starts the next segment. It opens with the hard state and snapshot marker so far, so
    /// older segments are needed only for their entries.
    private func rollSegment() throws(StorageIOError) {
        var carry: [WALRecord] = [.hardState(lastHardState)]
        if let lastSnapshot { carry.append(.snapshotMarker(index: lastSnapshot.index, term: lastSnapshot.term)) }
        let next = try WAL.createSegment(
            fs: fs, directory: directory, number: segmentNumber + 1,
            firstIndex: lastEntryIndex + 1, segmentBytes: segmentBytes,
            sequence: nextSequence, carry: carry, prepared: spare.take())
        file = next.file
        segmentNumber = next.segment.number
        writeOffset = next.end
        nextSequence = next.nextSequence
        lock.withLock { segments.append(next.segment) }
    }

    /// Creates a segment as a temporary file (preallocated, header and carried records written
    /// and synced), renames it into place, and syncs the directory.
    /// `prepared`: a temporary file already preallocated to `segmentBytes` and synced, used
    /// instead of preallocating one now.
    static func createSegment(
        fs: any FileSystem, directory: String, number: UInt64, firstIndex: LogIndex,
        segmentBytes: Int, sequence: UInt64, carry: [WALRecord],
        prepared: (any StorageFile)? = nil
    ) throws(StorageIOError)
        -> (file: any StorageFile, segment: SegmentFile, end: Int, nextSequence: UInt64)
    {
        let name = WALFormat.segmentName(number: number, firstIndex: firstIndex)
        let path = directory + "/" + name
        var bytes: [UInt8] = []
        var sequence = sequence
        WALFormat.frame(
            type: .segmentHeader, sequence: sequence,
            payload: WALFormat.segmentHeaderPayload(segment: number, firstIndex: firstIndex), into: &bytes)
        sequence += 1
        for record in carry {
            WALFormat.frame(record, sequence: sequence, into: &bytes)
            sequence += 1
        }
        let temporary: any StorageFile
        if let prepared {
            temporary = prepared
        } else {
            temporary = try fs.open(path + ".tmp", create: true)
            try temporary.preallocate(size: segmentBytes)
        }
        try temporary.write(bytes, at: 0)
        try temporary.sync()
        try fs.rename(temporary.path, to: path)
        try fs.syncDirectory(directory)
        let file = try fs.open(path, create: false)
        return (file, SegmentFile(number: number, firstIndex: firstIndex, path: path), bytes.count, sequence)
    }

    // MARK: - Reading back and purging

    /// Reads the entry record at `position` back from disk, verifying its checksum.
    public func readEntry(at position: RecordPosition) throws(WALError) -> Entry {
        try readEntries(at: [position])[0]
    }

    /// Reads entry records back from disk, verifying each checksum; each segment is opened once.
    public func readEntries(at positions: [RecordPosition]) throws(WALError) -> [Entry] {
        let paths: [UInt64: String] = lock.withLock {
            Dictionary(uniqueKeysWithValues: segments.map { ($0.number, $0.path) })
        }
        let reader = WALReader(fs: fs, directory: directory)
        var open: (segment: UInt64, file: any StorageFile)?
        var entries: [Entry] = []
        entries.reserveCapacity(positions.count)
        for position in positions {
            guard let path = paths[position.segment] else {
                throw .corrupt(file: directory, offset: position.offset, reason: "segment \(position.segment) is gone")
            }
            let bytes: [UInt8]
            do {
                if open?.segment != position.segment { open = (position.segment, try fs.open(path, create: false)) }
                bytes = try open!.file.read(count: position.paddedLength, at: position.offset)
            } catch {
                throw .io(error)
            }
            let sequence = bytes.count >= WALFormat.headerBytes ? WALFormat.sequence(in: bytes, at: 0) : 0
            guard case .record(let type, let payload, _) = reader.inspect(bytes, at: 0, expectedSequence: sequence),
                let record = WALFormat.decode(type: type, payload: payload), case .entry(let entry) = record
            else {
                throw .corrupt(file: path, offset: position.offset, reason: "the entry record does not verify")
            }
            entries.append(entry)
        }
        return entries
    }

    /// Removes every segment but the newest whose entries are all at or below `index` (covered
    /// by a durable snapshot whose marker is already in the WAL). Returns the removed paths.
    @discardableResult
    public func purgeSegments(coveredThrough index: LogIndex) throws(WALError) -> [String] {
        let doomed: [SegmentFile] = lock.withLock {
            // Only a run of the oldest segments goes; the first one still needed stops it.
            var doomed: [SegmentFile] = []
            while segments.count > 1 && segments[1].firstIndex - 1 <= index {
                doomed.append(segments.removeFirst())
            }
            return doomed
        }
        do {
            for segment in doomed { try fs.remove(segment.path) }
            if !doomed.isEmpty { try fs.syncDirectory(directory) }
        } catch {
            throw .io(error)
        }
        return doomed.map(\.path)
    }

    /// The segment files, oldest first.
    public var segmentPaths: [String] { lock.withLock { segments.map(\.path) } }
}

/// A segment file made ready ahead of need: preallocated with written zeros (see
/// `PosixFile.preallocateWritten`: faster syncs than fallocated blocks) and synced on a background
/// queue, under a `.tmp` name that a restart removes. At most one at a time.
final class SpareSegment: @unchecked Sendable {
    private let lock = Lock()
    private var ready: (any StorageFile)?
    private var preparing = false
    private var counter = 0
    private let queue = DispatchQueue(label: "capstan-wal-spare", qos: .utility)

    /// Starts preparing one if there is none (nothing on a file system that does not allow it).
    func prepare(fs: any FileSystem, directory: String, segmentBytes: Int) {
        guard fs.preparesSegmentsAhead else { return }
        let name: String? = lock.withLock {
            guard ready == nil, !preparing else { return nil }
            preparing = true
            counter += 1
            return directory + "/spare-\(counter).tmp"
        }
        guard let name else { return }
        queue.async { [self] in
            // On failure there is simply no spare: the roll then preallocates itself, and
            // reports the error if it fails again.
            let file: (any StorageFile)? = try? {
                () throws(StorageIOError) -> any StorageFile in
                let f = try fs.open(name, create: true)
                try f.truncate(to: 0)
                try f.preallocateWritten(size: segmentBytes)
                try f.sync()
                return f
            }()
            if file == nil { try? fs.remove(name) }
            lock.withLock {
                ready = file
                preparing = false
            }
        }
    }

    /// The spare, if one is ready (it is then no longer this object's).
    func take() -> (any StorageFile)? {
        lock.withLock {
            defer { ready = nil }
            return ready
        }
    }
}
