import Base
public import Raft

/// The named limits of storage, gathered so they can be read together.
public enum StorageLimits {
    /// Size of a WAL segment file (preallocated); a segment rolls over before it would pass it.
    public static let walSegmentBytesDefault = 64 << 20
    /// Largest record payload; an append of a larger entry is refused.
    public static let walRecordPayloadBytesMax = 16 << 20
    /// Bytes one group-commit write gathers at most; the rest waits for the next one.
    public static let walBatchBytesMax = 16 << 20
    /// Appends waiting for the writer; past it, appends are refused rather than queued.
    public static let walPendingAppendsMax = 65_536
    /// After a round of at least this many appends, the next round may wait for more to gather.
    public static let walGatherRoundAppendsMin = 32
    /// The longest such wait, in microseconds (well under one fdatasync here, ~80 µs).
    public static let walGatherWaitMicros = 60
    /// Snapshot files kept (the newest ones); older ones are purged after a new one is saved.
    public static let snapshotsRetainedDefault = 2
    /// Uncompressed bytes per LZ4 block in a snapshot file.
    public static let snapshotBlockBytes = 4 << 20
}

/// What a WAL record carries.
public enum WALRecordType: UInt8, Sendable {
    /// The first record of every segment: format version, segment number, first index.
    case segmentHeader = 1
    /// One Raft log entry. An entry at an index already in the log replaces it and all after it.
    case entry = 2
    /// The Raft hard state (term, vote, commit); the last one wins.
    case hardState = 3
    /// A snapshot exists at (index, term): entries up to it may be gone.
    case snapshotMarker = 4
}

/// A record to append.
public enum WALRecord: Equatable, Sendable {
    case entry(Entry)
    case hardState(HardState)
    case snapshotMarker(index: LogIndex, term: Term)
}

/// The record framing (see docs/storage.md):
///
///     offset size field
///     0      4    CRC-32C of bytes 4..<24 of the header and the payload (little endian)
///     4      4    payload length in bytes
///     8      8    sequence number: 1 for the WAL's first record, +1 for each record after
///     16     1    record type
///     17     7    zero
///     24     n    payload
///     24+n   p    zero padding to a multiple of 8 bytes
enum WALFormat {
    static let headerBytes = 24
    static let version: UInt32 = 1
    static let segmentSuffix = ".wal"

    static func paddedSize(payload: Int) -> Int { (headerBytes + payload + 7) & ~7 }

    /// The sequence field of the record header at `offset` (the caller checks the bounds).
    static func sequence(in bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)) }
    }

    /// Appends one framed record to `out`.
    static func frame(type: WALRecordType, sequence: UInt64, payload: [UInt8], into out: inout [UInt8]) {
        frame(type: type, sequence: sequence, payloadBytes: payload.count, into: &out) { $0.append(contentsOf: payload) }
    }

    /// Appends one framed record to `out`, its payload written in place by `writePayload`
    /// (which must append exactly `payloadBytes`).
    static func frame(
        type: WALRecordType, sequence: UInt64, payloadBytes: Int, into out: inout [UInt8],
        writePayload: (inout [UInt8]) -> Void
    ) {
        let start = out.count
        out.appendLittleEndian(UInt32(0))
        out.appendLittleEndian(UInt32(payloadBytes))
        out.appendLittleEndian(sequence)
        out.append(type.rawValue)
        out.append(contentsOf: repeatElement(0, count: 7))
        writePayload(&out)
        assert(out.count == start + headerBytes + payloadBytes, "payload size mismatch")
        let crc = out.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 4)...]))
        }
        out.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: start, as: UInt32.self) }
        out.append(contentsOf: repeatElement(0, count: paddedSize(payload: payloadBytes) - headerBytes - payloadBytes))
    }

    /// Appends one framed record of `record` to `out`.
    static func frame(_ record: WALRecord, sequence: UInt64, into out: inout [UInt8]) {
        switch record {
        case .entry(let entry):
            frame(type: .entry, sequence: sequence, payloadBytes: payloadBytes(of: record), into: &out) { out in
                out.appendLittleEndian(entry.term.rawValue)
                out.appendLittleEndian(entry.index.rawValue)
                out.append(entry.kind.rawValue)
                out.append(contentsOf: entry.data)
            }
        case .hardState, .snapshotMarker:
            let (type, payload) = self.payload(of: record)
            frame(type: type, sequence: sequence, payload: payload, into: &out)
        }
    }

    static func payloadBytes(of record: WALRecord) -> Int {
        switch record {
        case .entry(let entry): return 17 + entry.data.count
        case .hardState: return 24
        case .snapshotMarker: return 16
        }
    }

    static func payload(of record: WALRecord) -> (WALRecordType, [UInt8]) {
        var out: [UInt8] = []
        switch record {
        case .entry(let entry):
            out.reserveCapacity(17 + entry.data.count)
            out.appendLittleEndian(entry.term.rawValue)
            out.appendLittleEndian(entry.index.rawValue)
            out.append(entry.kind.rawValue)
            out.append(contentsOf: entry.data)
            return (.entry, out)
        case .hardState(let state):
            out.appendLittleEndian(state.term.rawValue)
            out.appendLittleEndian(state.vote.rawValue)
            out.appendLittleEndian(state.commit.rawValue)
            return (.hardState, out)
        case .snapshotMarker(let index, let term):
            out.appendLittleEndian(index.rawValue)
            out.appendLittleEndian(term.rawValue)
            return (.snapshotMarker, out)
        }
    }

    static func segmentHeaderPayload(segment: UInt64, firstIndex: LogIndex) -> [UInt8] {
        var out: [UInt8] = []
        out.appendLittleEndian(version)
        out.appendLittleEndian(UInt32(0))
        out.appendLittleEndian(segment)
        out.appendLittleEndian(firstIndex.rawValue)
        return out
    }

    /// Decodes a record's payload; nil when it does not have the shape its type requires.
    static func decode(type: WALRecordType, payload: ArraySlice<UInt8>) -> WALRecord? {
        var reader = ByteReader(payload)
        switch type {
        case .entry:
            guard let term = (try? reader.int(UInt64.self)), let index = (try? reader.int(UInt64.self)), let rawKind = (try? reader.u8()),
                let kind = EntryKind(rawValue: rawKind)
            else { return nil }
            return .entry(Entry(term: Term(term), index: LogIndex(index), kind: kind, data: Array(reader.rest())))
        case .hardState:
            guard let term = (try? reader.int(UInt64.self)), let vote = (try? reader.int(UInt64.self)),
                let commit = (try? reader.int(UInt64.self)), reader.isAtEnd
            else {
                return nil
            }
            return .hardState(HardState(term: Term(term), vote: NodeID(vote), commit: LogIndex(commit)))
        case .snapshotMarker:
            guard let index = (try? reader.int(UInt64.self)), let term = (try? reader.int(UInt64.self)), reader.isAtEnd else { return nil }
            return .snapshotMarker(index: LogIndex(index), term: Term(term))
        case .segmentHeader:
            return nil
        }
    }

    /// "0000000000000003-00000000000004d2.wal": segment number and first entry index, in hex.
    static func segmentName(number: UInt64, firstIndex: LogIndex) -> String {
        hex16(number) + "-" + hex16(firstIndex.rawValue) + segmentSuffix
    }

    static func parseSegmentName(_ name: String) -> (number: UInt64, firstIndex: LogIndex)? {
        guard name.hasSuffix(segmentSuffix), name.count == 33 + segmentSuffix.count else { return nil }
        let parts = name.dropLast(segmentSuffix.count).split(separator: "-")
        guard parts.count == 2, let number = UInt64(parts[0], radix: 16), let first = UInt64(parts[1], radix: 16) else {
            return nil
        }
        return (number, LogIndex(first))
    }
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
