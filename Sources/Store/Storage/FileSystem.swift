#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An I/O failure, with what was being done and to which file.
public struct StorageIOError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// ENOSPC: the disk is full.
        case noSpace
        /// EIO or another error of the device.
        case io
        case notFound
        case other
    }
    public var kind: Kind
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(kind: Kind, operation: String, path: String, errno: Int32) {
        self.kind = kind
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    init(errno code: Int32, operation: String, path: String) {
        let kind: Kind
        switch code {
        case ENOSPC, EDQUOT: kind = .noSpace
        case ENOENT: kind = .notFound
        case EIO: kind = .io
        default: kind = .other
        }
        self.init(kind: kind, operation: operation, path: path, errno: code)
    }

    public var description: String {
        let reason: String
        switch kind {
        case .noSpace: reason = "no space left on device"
        case .io: reason = "input/output error"
        case .notFound: reason = "no such file or directory"
        case .other: reason = String(cString: strerror(errno))
        }
        return "\(operation) \(path): \(reason) (errno \(errno))"
    }
}

/// An open file. Writes and reads are positional; `sync` makes written data durable.
public protocol StorageFile: AnyObject, Sendable {
    var path: String { get }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageIOError)
    /// Reads up to `buffer.count` bytes; returns how many were read (fewer at the end of the file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageIOError) -> Int
    /// fdatasync: the data written so far (and the size) survive a crash once this returns.
    func sync() throws(StorageIOError)
    func size() throws(StorageIOError) -> Int
    func truncate(to size: Int) throws(StorageIOError)
    /// Reserves `size` bytes of zeros (extending the file), so later writes cannot run out of space.
    func preallocate(size: Int) throws(StorageIOError)
    /// As `preallocate`, and the blocks are written (zeros), where the file system tells the two
    /// apart: later writes and syncs then change no allocation metadata. Slow: it writes `size` bytes.
    func preallocateWritten(size: Int) throws(StorageIOError)
}

extension StorageFile {
    public func preallocateWritten(size: Int) throws(StorageIOError) { try preallocate(size: size) }
}

/// The operations on files and directories storage needs, so that a simulated file system with
/// injected faults can stand in for the real one.
public protocol FileSystem: AnyObject, Sendable {
    /// Whether the WAL may prepare its next segment on another thread (the simulated file
    /// system's tests replay every operation in order, so it says no).
    var preparesSegmentsAhead: Bool { get }
    func open(_ path: String, create: Bool) throws(StorageIOError) -> any StorageFile
    func listDirectory(_ path: String) throws(StorageIOError) -> [String]
    func createDirectory(_ path: String) throws(StorageIOError)
    func remove(_ path: String) throws(StorageIOError)
    func rename(_ from: String, to: String) throws(StorageIOError)
    /// fsync on the directory: creations, renames and removals in it survive a crash.
    func syncDirectory(_ path: String) throws(StorageIOError)
    func exists(_ path: String) -> Bool
}

/// A file system that changes how some of its files behave and leaves the rest of the file
/// system's operations to `base` (the fault-injecting ones: a slow disk, a planted bug).
protocol WrappingFileSystem: FileSystem {
    var base: any FileSystem { get }
}

extension WrappingFileSystem {
    public var preparesSegmentsAhead: Bool { base.preparesSegmentsAhead }
    public func listDirectory(_ path: String) throws(StorageIOError) -> [String] { try base.listDirectory(path) }
    public func createDirectory(_ path: String) throws(StorageIOError) { try base.createDirectory(path) }
    public func remove(_ path: String) throws(StorageIOError) { try base.remove(path) }
    public func rename(_ from: String, to: String) throws(StorageIOError) { try base.rename(from, to: to) }
    public func syncDirectory(_ path: String) throws(StorageIOError) { try base.syncDirectory(path) }
    public func exists(_ path: String) -> Bool { base.exists(path) }
}

extension StorageFile {
    public func write(_ bytes: [UInt8], at offset: Int) throws(StorageIOError) {
        var failure: StorageIOError?
        bytes.withUnsafeBytes { raw in
            do throws(StorageIOError) { try write(raw, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer at the end of the file.
    public func read(count: Int, at offset: Int) throws(StorageIOError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var result: Result<Int, StorageIOError> = .success(0)
        bytes.withUnsafeMutableBytes { raw in
            do throws(StorageIOError) { result = .success(try read(into: raw, at: offset)) } catch { result = .failure(error) }
        }
        let got = try result.get()
        if got < count { bytes.removeSubrange(got...) }
        return bytes
    }

    public func readAll() throws(StorageIOError) -> [UInt8] { try read(count: size(), at: 0) }
}

/// The parent directory of a path ("." for a bare name).
public func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

// MARK: - POSIX

/// The real file system, through POSIX calls.
public final class PosixFileSystem: FileSystem {
    public init() {}

    public var preparesSegmentsAhead: Bool { true }

    public func open(_ path: String, create: Bool) throws(StorageIOError) -> any StorageFile {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else { throw StorageIOError(errno: errno, operation: "open", path: path) }
        return PosixFile(fd: fd, path: path)
    }

    public func listDirectory(_ path: String) throws(StorageIOError) -> [String] {
        guard let dir = opendir(path) else { throw StorageIOError(errno: errno, operation: "opendir", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func createDirectory(_ path: String) throws(StorageIOError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw StorageIOError(errno: errno, operation: "mkdir", path: path)
        }
    }

    public func remove(_ path: String) throws(StorageIOError) {
        if unlink(path) != 0 { throw StorageIOError(errno: errno, operation: "unlink", path: path) }
    }

    public func rename(_ from: String, to: String) throws(StorageIOError) {
        if Glibc.rename(from, to) != 0 { throw StorageIOError(errno: errno, operation: "rename to \(to)", path: from) }
    }

    public func syncDirectory(_ path: String) throws(StorageIOError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageIOError(errno: errno, operation: "open directory", path: path) }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw StorageIOError(errno: errno, operation: "fsync directory", path: path) }
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

final class PosixFile: StorageFile, @unchecked Sendable {
    // The descriptor is set once; positional reads and writes on it are safe from any thread.
    let fd: Int32
    let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { Glibc.close(fd) }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageIOError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageIOError(errno: errno, operation: "write", path: path)
            }
            done += n
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageIOError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageIOError(errno: errno, operation: "read", path: path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func sync() throws(StorageIOError) {
        if fdatasync(fd) != 0 { throw StorageIOError(errno: errno, operation: "fdatasync", path: path) }
    }

    func size() throws(StorageIOError) -> Int {
        var info = stat()
        if fstat(fd, &info) != 0 { throw StorageIOError(errno: errno, operation: "fstat", path: path) }
        return Int(info.st_size)
    }

    func truncate(to size: Int) throws(StorageIOError) {
        if ftruncate(fd, off_t(size)) != 0 { throw StorageIOError(errno: errno, operation: "ftruncate", path: path) }
    }

    func preallocate(size: Int) throws(StorageIOError) {
        let code = posix_fallocate(fd, 0, off_t(size))
        if code != 0 { throw StorageIOError(errno: code, operation: "fallocate", path: path) }
    }

    /// Reserves the space (failing at once if the disk is full), then writes the zeros: ext4
    /// leaves fallocated blocks "unwritten", and the first write into each then changes the
    /// extent tree, so that an fdatasync after writing new blocks also commits a metadata journal
    /// transaction. Measured here (each write synced): 32 KiB writes took 158–161 µs and 57
    /// CPU-µs per fdatasync into fallocated blocks, 89–101 µs and 36–39 into zero-written ones
    /// (4 KiB: 217–229 against 140–152 µs; 512 B, mostly within written blocks: no difference).
    func preallocateWritten(size: Int) throws(StorageIOError) {
        try preallocate(size: size)
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < size {
            let n = min(zeros.count, size - offset)
            try write(n == zeros.count ? zeros : Array(zeros[..<n]), at: offset)
            offset += n
        }
    }
}
