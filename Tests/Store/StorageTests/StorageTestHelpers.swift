import Foundation
import Raft

@testable import Storage

/// A new empty directory under the system's temporary folder, removed by `cleanup`.
func temporaryDirectory(_ name: String = "capstan-test") -> String {
    var template = Array((NSTemporaryDirectory() + "/\(name)-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func cleanup(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func entry(_ index: UInt64, term: UInt64 = 1, bytes: Int = 32) -> Entry {
    Entry(term: Term(term), index: LogIndex(index), data: (0..<bytes).map { UInt8(truncatingIfNeeded: Int(index) &* 31 &+ $0) })
}

func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, bytes: Int = 32) -> [WALRecord] {
    range.map { .entry(entry($0, term: term, bytes: bytes)) }
}

/// Opens, appends each batch (waiting for durability), and closes.
func writeWAL(
    _ directory: String, fs: any FileSystem = PosixFileSystem(), segmentBytes: Int = 1 << 20,
    writesOnCaller: Bool = false, _ batches: [[WALRecord]]
) async throws -> [[RecordPosition]] {
    let (wal, _) = try WAL.open(directory: directory, fs: fs, segmentBytes: segmentBytes, writesOnCaller: writesOnCaller)
    var positions: [[RecordPosition]] = []
    for batch in batches { positions.append(try await wal.append(batch)) }
    wal.close()
    return positions
}

func reopen(_ directory: String, fs: any FileSystem = PosixFileSystem(), segmentBytes: Int = 1 << 20) throws -> WALContents {
    let (wal, contents) = try WAL.open(directory: directory, fs: fs, segmentBytes: segmentBytes)
    wal.close()
    return contents
}

/// `count` batches of ten 100-byte entries each, indexes 1, 2, 3... in order.
func tenEntryBatches(_ count: Int) -> [[WALRecord]] {
    (0..<count).map { (i: Int) -> [WALRecord] in
        let low = UInt64(i * 10 + 1)
        return entries(low...(low + 9), bytes: 100)
    }
}
