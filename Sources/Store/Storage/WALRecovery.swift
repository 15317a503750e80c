import Base
public import Raft

/// Why the WAL cannot be used.
public enum WALError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Damage that is not a torn tail: the member must not start.
    case corrupt(file: String, offset: Int, reason: String)
    /// A read, write or sync failed. After a failed write or sync the WAL refuses every later
    /// append: what reached the disk is unknown, so nothing more is acknowledged.
    case io(StorageIOError)
    /// The WAL stopped accepting appends after an earlier failure.
    case failed(String)
    case closed
    /// A record's payload is over `StorageLimits.walRecordPayloadBytesMax`.
    case recordTooLarge(bytes: Int)
    /// Too many appends are waiting (`StorageLimits.walPendingAppendsMax`).
    case queueFull

    public var description: String {
        switch self {
        case .corrupt(let file, let offset, let reason):
            return "WAL corruption in \(file) at offset \(offset): \(reason). The member refuses to start rather "
                + "than serve data it cannot trust. To recover: if the other members are healthy, remove this member "
                + "from the cluster (etcdctl member remove), move its data directory aside for inspection, and add it "
                + "back as a new member so it catches up from the leader; otherwise restore from a snapshot "
                + "(capstan snapshot restore)."
        case .io(let error): return "WAL I/O error: \(error)"
        case .failed(let reason): return "WAL refuses appends after an earlier failure: \(reason)"
        case .closed: return "WAL is closed"
        case .recordTooLarge(let bytes):
            return "WAL record of \(bytes) bytes is over the limit of \(StorageLimits.walRecordPayloadBytesMax)"
        case .queueFull: return "WAL append queue is full (\(StorageLimits.walPendingAppendsMax) waiting)"
        }
    }
}

/// Where a record is: for reading an entry back from disk.
public struct RecordPosition: Equatable, Sendable {
    public var segment: UInt64
    public var offset: Int
    public var paddedLength: Int
}

/// What a WAL holds after replay.
public struct WALContents: Sendable {
    public var hardState = HardState()
    /// The last snapshot marker.
    public var snapshot: (index: LogIndex, term: Term)?
    /// Entries after the snapshot, contiguous, the newest version of each index.
    public var entries: [Entry] = []
    public var positions: [RecordPosition] = []
    /// Set when a torn tail was cut off at open: the file and offset it was cut at.
    public var tornTail: (file: String, offset: Int)?
    /// Entries that start past the snapshot, not yet covered by a later marker.
    var gap: (file: String, offset: Int, snapshot: LogIndex, entry: LogIndex)?
}

/// One segment as found on disk.
struct SegmentFile {
    var number: UInt64
    var firstIndex: LogIndex
    var path: String
}

/// Reading a WAL directory back, verifying every record.
struct WALReader {
    let fs: any FileSystem
    let directory: String

    func segments() throws(WALError) -> [SegmentFile] {
        let names: [String]
        do { names = try fs.listDirectory(directory) } catch { throw .io(error) }
        var found: [SegmentFile] = []
        for name in names {
            guard let parsed = WALFormat.parseSegmentName(name) else { continue }
            found.append(SegmentFile(number: parsed.number, firstIndex: parsed.firstIndex, path: directory + "/" + name))
        }
        found.sort { $0.number < $1.number }
        for (previous, next) in zip(found, found.dropFirst()) where next.number != previous.number + 1 {
            throw .corrupt(
                file: next.path, offset: 0,
                reason: "segment \(previous.number + 1) is missing between \(previous.path) and \(next.path)")
        }
        return found
    }

    struct Scan {
        var contents = WALContents()
        /// The sequence the next record must have; the oldest segment's first record sets it
        /// (older segments may have been purged).
        var nextSequence: UInt64 = 0
        /// The end of valid data in the last segment (where appending continues).
        var lastSegmentEnd = 0
    }

    /// Reads and verifies every segment, cutting a torn tail off the last one.
    func scan(_ segments: [SegmentFile]) throws(WALError) -> Scan {
        var scan = Scan()
        for (position, segment) in segments.enumerated() {
            let isLast = position == segments.count - 1
            let bytes: [UInt8]
            do { bytes = try fs.open(segment.path, create: false).readAll() } catch { throw .io(error) }
            let end = try scanSegment(segment, bytes: bytes, isLast: isLast, into: &scan)
            if isLast { scan.lastSegmentEnd = end }
        }
        if let gap = scan.contents.gap {
            throw .corrupt(
                file: gap.file, offset: gap.offset,
                reason: "entry \(gap.entry) follows the snapshot at \(gap.snapshot): entries are missing")
        }
        return scan
    }

    /// Returns the offset where valid records end.
    func scanSegment(_ segment: SegmentFile, bytes: [UInt8], isLast: Bool, into scan: inout Scan) throws(WALError) -> Int {
        var offset = 0
        var first = true
        if scan.nextSequence == 0, bytes.count >= WALFormat.headerBytes {
            scan.nextSequence = max(1, WALFormat.sequence(in: bytes, at: 0))
        }
        while true {
            switch inspect(bytes, at: offset, expectedSequence: scan.nextSequence) {
            case .end:
                if first {
                    throw .corrupt(file: segment.path, offset: 0, reason: "the segment has no header record")
                }
                return offset
            case .bad(let reason):
                guard isLast else { throw .corrupt(file: segment.path, offset: offset, reason: reason) }
                if let later = laterValidRecord(bytes, after: offset, sequence: scan.nextSequence) {
                    throw .corrupt(
                        file: segment.path, offset: offset,
                        reason: "\(reason), and a complete record follows at offset \(later)")
                }
                // A torn tail: the last write was cut short by a crash. It was never acknowledged.
                try cutTornTail(segment, at: offset, fileSize: bytes.count)
                scan.contents.tornTail = (segment.path, offset)
                return offset
            case .record(let type, let payload, let size):
                if first {
                    try checkSegmentHeader(segment, type: type, payload: payload)
                    first = false
                } else {
                    let position = RecordPosition(segment: segment.number, offset: offset, paddedLength: size)
                    try replay(type, payload, position: position, file: segment.path, offset: offset, into: &scan.contents)
                }
                scan.nextSequence += 1
                offset += size
            }
        }
    }

    enum Inspection {
        case end
        case bad(String)
        case record(WALRecordType, ArraySlice<UInt8>, paddedSize: Int)
    }

    /// Looks at the bytes at `offset`: the end of data (zeros or the end of the file), a valid
    /// record, or something bad (with why).
    func inspect(_ bytes: [UInt8], at offset: Int, expectedSequence: UInt64) -> Inspection {
        if offset >= bytes.count { return .end }
        if offset + WALFormat.headerBytes > bytes.count {
            return bytes[offset...].allSatisfy { $0 == 0 } ? .end : .bad("a record header is cut short by the end of the file")
        }
        var header = ByteReader(bytes[offset..<(offset + WALFormat.headerBytes)])
        let crc = (try! header.int(UInt32.self))
        let length = Int((try! header.int(UInt32.self)))
        let sequence = (try! header.int(UInt64.self))
        let rawType = (try! header.u8())
        if crc == 0 && length == 0 && sequence == 0 && rawType == 0 {
            // Preallocated zeros: the end of the records, if nothing follows.
            return laterValidRecord(bytes, after: offset, sequence: expectedSequence) == nil
                ? .end : .bad("zeros where a record header should be")
        }
        guard let type = WALRecordType(rawValue: rawType) else { return .bad("unknown record type \(rawType)") }
        guard length <= StorageLimits.walRecordPayloadBytesMax else { return .bad("record length \(length) is over the limit") }
        let size = WALFormat.paddedSize(payload: length)
        guard offset + WALFormat.headerBytes + length <= bytes.count else {
            return .bad("a record of \(length) bytes is cut short by the end of the file")
        }
        let computed = bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(offset + 4)..<(offset + WALFormat.headerBytes + length)]))
        }
        guard computed == crc else { return .bad("checksum mismatch (stored \(crc), computed \(computed))") }
        guard sequence == expectedSequence else {
            return .bad("record sequence \(sequence) where \(expectedSequence) was expected")
        }
        let payloadStart = offset + WALFormat.headerBytes
        return .record(type, bytes[payloadStart..<(payloadStart + length)], paddedSize: min(size, bytes.count - offset))
    }

    /// The offset of a complete, valid record after `offset` (at 8-byte steps), if any.
    /// Most of what it passes over is preallocated zeros, so it checks the sequence and type
    /// fields with plain loads before trying a checksum.
    func laterValidRecord(_ bytes: [UInt8], after offset: Int, sequence: UInt64) -> Int? {
        let limit = sequence &+ UInt64(bytes.count)
        var candidate = (offset + 8) & ~7
        while candidate + WALFormat.headerBytes <= bytes.count {
            let seq = WALFormat.sequence(in: bytes, at: candidate)
            if seq >= sequence && seq < limit && WALRecordType(rawValue: bytes[candidate + 16]) != nil,
                case .record = inspect(bytes, at: candidate, expectedSequence: seq)
            {
                return candidate
            }
            candidate += 8
        }
        return nil
    }

    func cutTornTail(_ segment: SegmentFile, at offset: Int, fileSize: Int) throws(WALError) {
        do {
            let file = try fs.open(segment.path, create: false)
            try file.truncate(to: offset)
            try file.preallocate(size: fileSize)
            try file.sync()
        } catch {
            throw .io(error)
        }
    }

    func checkSegmentHeader(_ segment: SegmentFile, type: WALRecordType, payload: ArraySlice<UInt8>) throws(WALError) {
        var reader = ByteReader(payload)
        guard type == .segmentHeader, let version = (try? reader.int(UInt32.self)), (try? reader.int(UInt32.self)) != nil,
            let number = (try? reader.int(UInt64.self)),
            let first = (try? reader.int(UInt64.self))
        else {
            throw .corrupt(file: segment.path, offset: 0, reason: "the first record is not a segment header")
        }
        guard version == WALFormat.version else {
            throw .corrupt(file: segment.path, offset: 0, reason: "unsupported WAL format version \(version)")
        }
        guard number == segment.number, first == segment.firstIndex.rawValue else {
            throw .corrupt(
                file: segment.path, offset: 0,
                reason: "the header says segment \(number) from index \(first), the name says otherwise")
        }
    }

    /// Applies one record to the replayed state.
    func replay(
        _ type: WALRecordType, _ payload: ArraySlice<UInt8>, position: RecordPosition, file: String,
        offset: Int, into contents: inout WALContents
    ) throws(WALError) {
        guard let record = WALFormat.decode(type: type, payload: payload) else {
            throw .corrupt(file: file, offset: offset, reason: "a \(type) record has a malformed payload")
        }
        switch record {
        case .hardState(let state):
            contents.hardState = state
        case .snapshotMarker(let index, let term):
            let keep: Bool = {
                guard let first = contents.entries.first, index >= first.index - 1 else { return false }
                let position = first.index.distance(to: index)
                return position < contents.entries.count && contents.entries[position].term == term
            }()
            if keep {
                let drop = contents.entries.first!.index.distance(to: index) + 1
                contents.entries.removeFirst(drop)
                contents.positions.removeFirst(drop)
            } else {
                contents.entries = []
                contents.positions = []
            }
            contents.snapshot = (index, term)
            if let gap = contents.gap, index >= gap.entry - 1 { contents.gap = nil }
        case .entry(let entry):
            let floor = contents.snapshot?.index ?? 0
            if entry.index <= floor { return }  // Covered by the snapshot.
            if let first = contents.entries.first {
                if entry.index <= contents.entries.last!.index {
                    let cut = max(0, first.index.distance(to: entry.index))
                    contents.entries.removeSubrange(cut...)
                    contents.positions.removeSubrange(cut...)
                } else if entry.index != contents.entries.last!.index + 1 {
                    throw .corrupt(
                        file: file, offset: offset,
                        reason: "entry \(entry.index) follows entry \(contents.entries.last!.index)")
                }
            } else if entry.index != floor + 1 {
                // After older segments were purged, the first one left may start past the
                // snapshot marker it carries; a later marker must cover the gap (checked at the end).
                contents.gap = (file, offset, floor, entry.index)
            }
            contents.entries.append(entry)
            contents.positions.append(position)
        }
    }
}
