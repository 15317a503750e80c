import Base
import Foundation

/// A planted bug for the robustness checkers (`--inject-bug ack-before-fsync`), never used
/// otherwise: WAL segment writes are held in memory for `delay` before they reach the file, and
/// `sync` returns at once, so the WAL reports records durable that a crash (kill -9) loses.
/// Reads see the held writes, so the member itself runs normally. Other files pass through.
public final class LateWritingFileSystem: WrappingFileSystem, @unchecked Sendable {
    let base: any FileSystem
    private let delay: Duration
    private let files = Locked<[LateWritingFile]>([])

    public init(base: any FileSystem = PosixFileSystem(), delay: Duration = .milliseconds(300)) {
        self.base = base
        self.delay = delay
        let flusher = Thread { [weak self] in
            while let self {
                Thread.sleep(forTimeInterval: 0.02)
                for f in self.files.withLock({ $0 }) { f.flush(all: false) }
            }
        }
        flusher.name = "capstan-planted-late-writes"
        flusher.start()
    }

    public func open(_ path: String, create: Bool) throws(StorageIOError) -> any StorageFile {
        let file = try base.open(path, create: create)
        guard path.hasSuffix(".wal") else { return file }
        let late = LateWritingFile(file, delay: delay)
        files.withLock { $0.append(late) }
        return late
    }
}

final class LateWritingFile: StorageFile, @unchecked Sendable {
    private let file: any StorageFile
    private let delay: Duration
    /// Writes not yet in the file, oldest first.
    private let held = Locked<[(due: ContinuousClock.Instant, offset: Int, bytes: [UInt8])]>([])

    init(_ file: any StorageFile, delay: Duration) {
        self.file = file
        self.delay = delay
    }

    var path: String { file.path }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageIOError) {
        let copy = [UInt8](bytes)
        held.withLock { $0.append((.now + delay, offset, copy)) }
    }

    /// Writes the held writes whose time has come (all with `all`) to the file, in order.
    func flush(all: Bool) {
        let now = ContinuousClock.now
        held.withLock { h in
            while let first = h.first, all || first.due <= now {
                try? file.write(first.bytes, at: first.offset)
                h.removeFirst()
            }
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageIOError) -> Int {
        var result: Result<Int, StorageIOError> = .success(0)
        held.withLock { h in
            do throws(StorageIOError) {
                var n = try file.read(into: buffer, at: offset)
                // The held writes over what the file has (later writes win).
                for w in h {
                    let from = max(w.offset, offset)
                    let to = min(w.offset + w.bytes.count, offset + buffer.count)
                    guard from < to else { continue }
                    for i in from..<to { buffer[i - offset] = w.bytes[i - w.offset] }
                    n = max(n, to - offset)
                }
                result = .success(n)
            } catch { result = .failure(error) }
        }
        return try result.get()
    }

    func sync() throws(StorageIOError) {}

    func size() throws(StorageIOError) -> Int {
        let heldEnd = held.withLock { h in h.map { $0.offset + $0.bytes.count }.max() ?? 0 }
        return max(try file.size(), heldEnd)
    }

    func truncate(to size: Int) throws(StorageIOError) {
        flush(all: true)
        try file.truncate(to: size)
    }

    func preallocate(size: Int) throws(StorageIOError) {
        flush(all: true)
        try file.preallocate(size: size)
    }

    func preallocateWritten(size: Int) throws(StorageIOError) {
        flush(all: true)
        try file.preallocateWritten(size: size)
    }
}
