import Base
public import Storage

#if canImport(Glibc)
import Glibc
#endif

/// An in-memory file system that behaves like a disk that can crash: data written but not
/// synced may be lost or torn at a crash, directory changes not synced are undone, and faults
/// (EIO, ENOSPC, bit flips) can be injected.
public final class SimulatedFileSystem: FileSystem, @unchecked Sendable {
    public var preparesSegmentsAhead: Bool { false }

    final class Node {
        /// What reads see now.
        var current: [UInt8] = []
        /// What survives a crash.
        var durable: [UInt8] = []
        /// Writes since the last sync, in order (truncations and preallocations included, as
        /// writes of zeros or a size change).
        var pending: [Change] = []
    }

    enum Change {
        case write(offset: Int, bytes: [UInt8])
        case resize(Int)
    }

    // Every field below is guarded by `lock`.
    private let lock = Locked(())
    private var names: [String: Node] = [:]
    private var durableNames: [String: Node] = [:]
    private var directories: Set<String> = ["/", "."]
    /// Total bytes all files may hold; writes past it fail with ENOSPC.
    public var capacityBytes = Int.max
    /// When set, every write fails with this kind (and writes nothing).
    public var failWrites: StorageIOError.Kind?
    /// When set, every sync fails with this kind. Like a real fsync failure, the data's fate is
    /// then unknown: it may or may not be on disk after a crash.
    public var failSyncs: StorageIOError.Kind?

    public init() {}

    func locked<T>(_ body: () throws(StorageIOError) -> T) throws(StorageIOError) -> T {
        try lock.withLock { (_) throws(StorageIOError) -> T in try body() }
    }

    public func open(_ path: String, create: Bool) throws(StorageIOError) -> any StorageFile {
        try locked { () throws(StorageIOError) -> any StorageFile in
            if names[path] == nil {
                guard create else { throw StorageIOError(kind: .notFound, operation: "open", path: path, errno: ENOENT) }
                guard directories.contains(parentDirectory(of: path)) else {
                    throw StorageIOError(kind: .notFound, operation: "open", path: path, errno: ENOENT)
                }
                names[path] = Node()
            }
            return SimulatedFile(fs: self, path: path, node: names[path]!)
        }
    }

    public func listDirectory(_ path: String) throws(StorageIOError) -> [String] {
        try locked { () throws(StorageIOError) -> [String] in
            guard directories.contains(path) else {
                throw StorageIOError(kind: .notFound, operation: "opendir", path: path, errno: ENOENT)
            }
            let prefix = path.hasSuffix("/") ? path : path + "/"
            let files = names.keys.filter { parentDirectory(of: $0) == path }.map { String($0.dropFirst(prefix.count)) }
            let dirs = directories.filter { $0 != path && parentDirectory(of: $0) == path }
                .map { String($0.dropFirst(prefix.count)) }
            return (files + dirs).sorted()
        }
    }

    public func createDirectory(_ path: String) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            guard directories.contains(parentDirectory(of: path)) else {
                throw StorageIOError(kind: .notFound, operation: "mkdir", path: path, errno: ENOENT)
            }
            directories.insert(path)
        }
    }

    public func remove(_ path: String) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            guard names.removeValue(forKey: path) != nil else {
                throw StorageIOError(kind: .notFound, operation: "unlink", path: path, errno: ENOENT)
            }
        }
    }

    public func rename(_ from: String, to: String) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            guard let node = names.removeValue(forKey: from) else {
                throw StorageIOError(kind: .notFound, operation: "rename", path: from, errno: ENOENT)
            }
            names[to] = node
        }
    }

    public func syncDirectory(_ path: String) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            if let failSyncs { throw StorageIOError(kind: failSyncs, operation: "fsync directory", path: path, errno: EIO) }
            for key in durableNames.keys where parentDirectory(of: key) == path && names[key] == nil {
                durableNames[key] = nil
            }
            for (key, node) in names where parentDirectory(of: key) == path { durableNames[key] = node }
        }
    }

    public func exists(_ path: String) -> Bool {
        lock.withLock { _ in names[path] != nil || directories.contains(path) }
    }

    // MARK: - Faults

    /// A crash: each file keeps its durable content plus, for each write since its last sync,
    /// in order, either all of it, a torn prefix of it, or none of it (chosen by `random`);
    /// directory changes not synced are undone.
    public func crash(random: inout some RandomNumberGenerator) {
        lock.withLock { _ in
            // Visit each file once, in path order, so a seeded crash replays exactly.
            var seen = Set<ObjectIdentifier>()
            var nodes: [Node] = []
            for path in (Array(names.keys) + Array(durableNames.keys)).sorted() {
                guard let node = names[path] ?? durableNames[path] else { continue }
                if seen.insert(ObjectIdentifier(node)).inserted { nodes.append(node) }
            }
            for node in nodes {
                var image = node.durable
                var keeping = true
                for change in node.pending where keeping {
                    switch change {
                    case .resize(let size):
                        if Bool.random(using: &random) { resize(&image, to: size) } else { keeping = false }
                    case .write(let offset, let bytes):
                        let outcome = Int.random(in: 0..<3, using: &random)
                        let kept = outcome == 0 ? bytes.count : outcome == 1 ? Int.random(in: 0...bytes.count, using: &random) : 0
                        if kept > 0 { apply(&image, offset: offset, bytes: bytes[..<kept]) }
                        if kept < bytes.count { keeping = false }  // Later writes of a lost one are lost too.
                    }
                }
                node.durable = image
                node.current = image
                node.pending = []
            }
            names = durableNames
        }
    }

    /// Flips one bit of a file, durably (media corruption).
    public func flipBit(path: String, offset: Int, bit: Int = 0) {
        lock.withLock { _ in
            guard let node = names[path], offset < node.current.count else { return }
            node.current[offset] ^= UInt8(1 << bit)
            if offset < node.durable.count { node.durable[offset] ^= UInt8(1 << bit) }
        }
    }

    /// The bytes of a file as reads see them now.
    public func contents(_ path: String) -> [UInt8]? {
        lock.withLock { _ in names[path]?.current }
    }

    func usedBytes() -> Int { names.values.reduce(0) { $0 + $1.current.count } }

    // MARK: - File operations (called by SimulatedFile)

    func write(_ node: Node, path: String, bytes: [UInt8], at offset: Int) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            if let failWrites {
                throw StorageIOError(kind: failWrites, operation: "write", path: path, errno: failWrites == .noSpace ? ENOSPC : EIO)
            }
            let growth = max(0, offset + bytes.count - node.current.count)
            if growth > 0 && usedBytes() + growth > capacityBytes {
                throw StorageIOError(kind: .noSpace, operation: "write", path: path, errno: ENOSPC)
            }
            apply(&node.current, offset: offset, bytes: bytes[...])
            node.pending.append(.write(offset: offset, bytes: bytes))
        }
    }

    func resize(_ node: Node, path: String, to size: Int, operation: String) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            let growth = max(0, size - node.current.count)
            if growth > 0 && usedBytes() + growth > capacityBytes {
                throw StorageIOError(kind: .noSpace, operation: operation, path: path, errno: ENOSPC)
            }
            resize(&node.current, to: size)
            node.pending.append(.resize(size))
        }
    }

    func sync(_ node: Node, path: String) throws(StorageIOError) {
        try locked { () throws(StorageIOError) in
            if let failSyncs { throw StorageIOError(kind: failSyncs, operation: "fdatasync", path: path, errno: EIO) }
            node.durable = node.current
            node.pending = []
        }
    }

    func read(_ node: Node, count: Int, at offset: Int) -> [UInt8] {
        lock.withLock { _ in
            guard offset < node.current.count else { return [] }
            return Array(node.current[offset..<min(node.current.count, offset + count)])
        }
    }

    func size(_ node: Node) -> Int { lock.withLock { _ in node.current.count } }

    private func apply(_ image: inout [UInt8], offset: Int, bytes: ArraySlice<UInt8>) {
        if image.count < offset + bytes.count { image += [UInt8](repeating: 0, count: offset + bytes.count - image.count) }
        image.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }

    private func resize(_ image: inout [UInt8], to size: Int) {
        if size < image.count { image.removeSubrange(size...) } else { image += [UInt8](repeating: 0, count: size - image.count) }
    }
}

final class SimulatedFile: StorageFile, @unchecked Sendable {
    let fs: SimulatedFileSystem
    let path: String
    let node: SimulatedFileSystem.Node

    init(fs: SimulatedFileSystem, path: String, node: SimulatedFileSystem.Node) {
        self.fs = fs
        self.path = path
        self.node = node
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageIOError) {
        try fs.write(node, path: path, bytes: Array(bytes), at: offset)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageIOError) -> Int {
        let bytes = fs.read(node, count: buffer.count, at: offset)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return bytes.count
    }

    func sync() throws(StorageIOError) { try fs.sync(node, path: path) }

    func size() throws(StorageIOError) -> Int { fs.size(node) }

    func truncate(to size: Int) throws(StorageIOError) { try fs.resize(node, path: path, to: size, operation: "ftruncate") }

    func preallocate(size: Int) throws(StorageIOError) {
        if size > fs.size(node) { try fs.resize(node, path: path, to: size, operation: "fallocate") }
    }
}
