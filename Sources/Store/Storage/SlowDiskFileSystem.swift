import Base
import Foundation
import Synchronization

/// A file system whose fsyncs can be slowed at run time (`syncDelay`), for the robustness
/// harness's slow-disk fault (`capstan store --fault-control`): each `sync` of a file, and of a
/// directory, first waits the delay in force. With no delay it adds one atomic load per sync.
public final class SlowDiskFileSystem: WrappingFileSystem, Sendable {
    let base: any FileSystem
    private let delayNanoseconds = Atomic<Int64>(0)

    public init(base: any FileSystem = PosixFileSystem()) { self.base = base }

    /// How long every fsync waits before it starts (zero: not at all).
    public var syncDelay: Duration {
        get { .nanoseconds(delayNanoseconds.load(ordering: .relaxed)) }
        set {
            delayNanoseconds.store(max(newValue.nanoseconds, 0), ordering: .relaxed)
        }
    }

    func pause() {
        let ns = delayNanoseconds.load(ordering: .relaxed)
        if ns > 0 { Thread.sleep(forTimeInterval: Double(ns) / 1e9) }
    }

    public func open(_ path: String, create: Bool) throws(StorageIOError) -> any StorageFile {
        SlowSyncFile(try base.open(path, create: create), disk: self)
    }

    public func syncDirectory(_ path: String) throws(StorageIOError) {
        pause()
        try base.syncDirectory(path)
    }
}

final class SlowSyncFile: StorageFile, Sendable {
    private let file: any StorageFile
    private let disk: SlowDiskFileSystem

    init(_ file: any StorageFile, disk: SlowDiskFileSystem) {
        self.file = file
        self.disk = disk
    }

    var path: String { file.path }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageIOError) { try file.write(bytes, at: offset) }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageIOError) -> Int {
        try file.read(into: buffer, at: offset)
    }
    func sync() throws(StorageIOError) {
        disk.pause()
        try file.sync()
    }
    func size() throws(StorageIOError) -> Int { try file.size() }
    func truncate(to size: Int) throws(StorageIOError) { try file.truncate(to: size) }
    func preallocate(size: Int) throws(StorageIOError) { try file.preallocate(size: size) }
    func preallocateWritten(size: Int) throws(StorageIOError) { try file.preallocateWritten(size: size) }
}
