import Base
import CLZ4
public import Raft

/// Why a snapshot file cannot be used.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    case damaged(file: String, offset: Int, reason: String)
    case io(StorageIOError)

    public var description: String {
        switch self {
        case .damaged(let file, let offset, let reason):
            return "snapshot \(file) is damaged at offset \(offset): \(reason)"
        case .io(let error):
            return "snapshot I/O error: \(error)"
        }
    }
}

/// Snapshot files: the state machine's image with its Raft metadata, compressed with LZ4 in
/// blocks, each block checksummed. Saved to a temporary file, synced, renamed into place, and
/// the directory synced; the newest few are kept.
public final class SnapshotStore: Sendable {
    let fs: any FileSystem
    let directory: String
    let retained: Int

    static let magic: [UInt8] = Array("CAPSNAP1".utf8)
    static let version: UInt32 = 1
    static let suffix = ".snap"

    public init(
        directory: String, fs: any FileSystem = PosixFileSystem(),
        retained: Int = StorageLimits.snapshotsRetainedDefault
    ) throws(SnapshotError) {
        precondition(retained >= 1, "keep at least one snapshot")
        self.fs = fs
        self.directory = directory
        self.retained = retained
        do {
            if !fs.exists(directory) { try fs.createDirectory(directory) }
            for name in try fs.listDirectory(directory) where name.hasSuffix(".tmp") {
                try fs.remove(directory + "/" + name)  // A save that a crash interrupted.
            }
        } catch {
            throw .io(error)
        }
    }

    /// "00000000000004d2-0000000000000003.snap": index and term, in hex.
    static func fileName(_ metadata: SnapshotMetadata) -> String {
        hex16(metadata.index.rawValue) + "-" + hex16(metadata.term.rawValue) + suffix
    }

    /// Writes the snapshot durably and purges the oldest beyond the retention count.
    /// Returns the file's path.
    @discardableResult
    public func save(_ snapshot: Snapshot) throws(SnapshotError) -> String {
        let path = directory + "/" + SnapshotStore.fileName(snapshot.metadata)
        let bytes = SnapshotStore.encode(snapshot)
        do {
            let temporary = try fs.open(path + ".tmp", create: true)
            try temporary.truncate(to: 0)
            try temporary.write(bytes, at: 0)
            try temporary.sync()
            try fs.rename(path + ".tmp", to: path)
            try fs.syncDirectory(directory)
            let names = try snapshotNames()
            if names.count > retained {
                for name in names.dropLast(retained) { try fs.remove(directory + "/" + name) }
                try fs.syncDirectory(directory)
            }
        } catch {
            throw .io(error)
        }
        return path
    }

    /// The snapshot files, oldest first (by index).
    func snapshotNames() throws(StorageIOError) -> [String] {
        try fs.listDirectory(directory).filter { $0.hasSuffix(SnapshotStore.suffix) && $0.count == 33 + SnapshotStore.suffix.count }
            .sorted()
    }

    /// The newest snapshot that verifies, with the damaged newer ones it skipped (reported,
    /// never silently used). nil when there is no valid snapshot.
    public func loadNewest() throws(SnapshotError) -> (snapshot: Snapshot?, damaged: [SnapshotError]) {
        let names: [String]
        do { names = try snapshotNames() } catch { throw .io(error) }
        var damaged: [SnapshotError] = []
        for name in names.reversed() {
            let path = directory + "/" + name
            do {
                let bytes = try fs.open(path, create: false).readAll()
                return (try SnapshotStore.decode(bytes, file: path), damaged)
            } catch let error as SnapshotError {
                damaged.append(error)
            } catch let error as StorageIOError {
                throw .io(error)
            } catch {
                throw .damaged(file: path, offset: 0, reason: "\(error)")
            }
        }
        return (nil, damaged)
    }

    // MARK: - Format (see docs/storage.md)

    static func encode(_ snapshot: Snapshot) -> [UInt8] {
        let meta = snapshot.metadata
        var header: [UInt8] = []
        header.appendLittleEndian(version)
        header.appendLittleEndian(meta.index.rawValue)
        header.appendLittleEndian(meta.term.rawValue)
        header.appendLittleEndian(UInt32(meta.confState.voters.count))
        for id in meta.confState.voters { header.appendLittleEndian(id.rawValue) }
        header.appendLittleEndian(UInt32(meta.confState.learners.count))
        for id in meta.confState.learners { header.appendLittleEndian(id.rawValue) }
        header.appendLittleEndian(UInt64(snapshot.data.count))
        let blockBytes = StorageLimits.snapshotBlockBytes
        let blocks = (snapshot.data.count + blockBytes - 1) / blockBytes
        header.appendLittleEndian(UInt32(blocks))
        header.appendLittleEndian(UInt32(blockBytes))

        var out = magic
        // Room for the worst case at once (pages are only touched as they are written).
        out.reserveCapacity(64 + header.count + blocks * (12 + Int(LZ4_compressBound(Int32(blockBytes)))))
        out.appendLittleEndian(UInt32(header.count))
        out.append(contentsOf: header)
        out.appendLittleEndian(CRC32C.checksum(Array(out[8...])))
        snapshot.data.withUnsafeBytes { raw in
            var scratch = [UInt8](repeating: 0, count: Int(LZ4_compressBound(Int32(blockBytes))))
            for block in 0..<blocks {
                let start = block * blockBytes
                let length = min(blockBytes, raw.count - start)
                let compressed = scratch.withUnsafeMutableBytes { dst in
                    LZ4_compress_default(
                        raw.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self),
                        dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(length), Int32(dst.count))
                }
                precondition(compressed > 0, "LZ4 compression failed")
                let body = scratch[..<Int(compressed)]
                out.appendLittleEndian(UInt32(length))
                out.appendLittleEndian(UInt32(compressed))
                out.appendLittleEndian(body.withUnsafeBytes { CRC32C.checksum($0) })
                out.append(contentsOf: body)
            }
        }
        return out
    }

    static func decode(_ bytes: [UInt8], file: String) throws(SnapshotError) -> Snapshot {
        func damaged(_ offset: Int, _ reason: String) -> SnapshotError { .damaged(file: file, offset: offset, reason: reason) }
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else { throw damaged(0, "not a Capstan snapshot file") }
        var reader = ByteReader(bytes[8...])
        guard let headerLength = (try? reader.int(UInt32.self)).map(Int.init), headerLength <= bytes.count - 16,
            let headerBytes = try? reader.take(headerLength), let storedCRC = (try? reader.int(UInt32.self))
        else { throw damaged(8, "the header is cut short") }
        guard CRC32C.checksum(Array(bytes[8..<(12 + headerLength)])) == storedCRC else {
            throw damaged(8, "header checksum mismatch")
        }
        var header = ByteReader(headerBytes)
        guard (try? header.int(UInt32.self)) == version, let index = (try? header.int(UInt64.self)),
            let term = (try? header.int(UInt64.self)),
            let voterCount = (try? header.int(UInt32.self)), voterCount < 1 << 16
        else { throw damaged(12, "unsupported version or malformed header") }
        var voters: [NodeID] = []
        for _ in 0..<voterCount {
            guard let id = (try? header.int(UInt64.self)) else { throw damaged(12, "malformed membership") }
            voters.append(NodeID(id))
        }
        guard let learnerCount = (try? header.int(UInt32.self)), learnerCount < 1 << 16 else { throw damaged(12, "malformed membership") }
        var learners: [NodeID] = []
        for _ in 0..<learnerCount {
            guard let id = (try? header.int(UInt64.self)) else { throw damaged(12, "malformed membership") }
            learners.append(NodeID(id))
        }
        guard let rawSize = (try? header.int(UInt64.self)), let blocks = (try? header.int(UInt32.self)),
            let blockBytes = (try? header.int(UInt32.self)), blockBytes > 0,
            rawSize <= UInt64(blocks) * UInt64(blockBytes)
        else { throw damaged(12, "malformed size fields") }

        var data = [UInt8](repeating: 0, count: Int(rawSize))
        var written = 0
        for block in 0..<Int(blocks) {
            let offset = bytes.count - reader.remaining
            guard let length = (try? reader.int(UInt32.self)).map(Int.init),
                let compressedLength = (try? reader.int(UInt32.self)).map(Int.init),
                let crc = (try? reader.int(UInt32.self)), let body = try? reader.take(compressedLength)
            else { throw damaged(offset, "block \(block) of \(blocks) is cut short") }
            guard body.withUnsafeBytes({ CRC32C.checksum($0) }) == crc else {
                throw damaged(offset, "block \(block) checksum mismatch")
            }
            guard length <= Int(blockBytes), written + length <= data.count else {
                throw damaged(offset, "block \(block) is larger than declared")
            }
            let produced = body.withUnsafeBytes { src in
                data.withUnsafeMutableBytes { dst in
                    LZ4_decompress_safe(
                        src.baseAddress!.assumingMemoryBound(to: CChar.self),
                        dst.baseAddress!.advanced(by: written).assumingMemoryBound(to: CChar.self),
                        Int32(compressedLength), Int32(length))
                }
            }
            guard produced == Int32(length) else { throw damaged(offset, "block \(block) does not decompress") }
            written += length
        }
        guard written == data.count, reader.isAtEnd else {
            throw damaged(bytes.count - reader.remaining, "the data size does not match the header")
        }
        let meta = SnapshotMetadata(
            index: LogIndex(index), term: Term(term),
            confState: ConfState(voters: voters, learners: learners))
        return Snapshot(metadata: meta, data: data)
    }
}
