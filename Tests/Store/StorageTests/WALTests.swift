import Base
import Foundation
import Raft
import Testing

@testable import Storage

struct CRC32CTests {
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)  // RFC 3720 B.4
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
    }

    @Test func hardwareAndTablesAgree() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let seed = UInt32.random(in: 0...UInt32.max, using: &generator)
            let table = bytes.withUnsafeBytes { CRC32C.software($0, continuing: seed) }
            #expect(CRC32C.checksum(bytes, continuing: seed) == table, "length \(length)")
        }
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.software($0) } == 0xE306_9283)
    }

    @Test func continuingEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = CRC32C.checksum(Array(bytes[..<cut]))
            #expect(CRC32C.checksum(Array(bytes[cut...]), continuing: first) == CRC32C.checksum(bytes))
        }
    }
}

struct WALTests {
    /// `writesOnCaller`: no writer thread, each append written on the thread that calls it.
    @Test(arguments: [false, true]) func recordsRoundTrip(writesOnCaller: Bool) async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let state = HardState(term: 3, vote: 2, commit: 4)
        let positions = try await writeWAL(
            dir + "/wal", writesOnCaller: writesOnCaller,
            [entries(1...5), [.hardState(state)], entries(6...6, term: 3)])
        let contents = try reopen(dir + "/wal")
        #expect(contents.entries.map(\.index) == [1, 2, 3, 4, 5, 6])
        #expect(contents.entries[5] == entry(6, term: 3))
        #expect(contents.hardState == state)
        #expect(contents.tornTail == nil)
        #expect(contents.positions == positions[0] + positions[2])
        let (wal, _) = try WAL.open(directory: dir + "/wal")
        defer { wal.close() }
        #expect(try wal.readEntry(at: positions[0][2]) == entry(3))
    }

    @Test func writtenOnTheCallerAnAppendIsAnsweredBeforeItReturns() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let (wal, _) = try WAL.open(directory: dir + "/wal", writesOnCaller: true)
        let answers = Answers()
        let caller = pthread_self()
        for (i, batch) in [entries(1...3), entries(4...4)].enumerated() {
            wal.append(batch) { answers.add($0, onCaller: pthread_equal(pthread_self(), caller) != 0) }
            // Durable and answered already, on this thread: nothing is left to a thread of the WAL's.
            #expect(answers.count == i + 1)
        }
        #expect(answers.allOnCaller)
        #expect(answers.results.allSatisfy { (try? $0.get()) != nil })
        wal.close()
        wal.append(entries(5...5)) { answers.add($0, onCaller: true) }
        #expect(answers.count == 3)
        if case .failure(.closed) = answers.results[2] {} else { Issue.record("an append after close was not refused") }
        #expect(try reopen(dir + "/wal").entries.map(\.index) == [1, 2, 3, 4])
    }

    /// An unsynced append (a commit-only HardState) that finds the writer idle and nothing
    /// queued is written on the calling thread and answered before `append` returns; with synced
    /// appends arriving from another thread meanwhile nothing is written twice or out of order.
    @Test func anUnsyncedAppendFindingTheWriterIdleIsWrittenByItsCaller() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let (wal, _) = try WAL.open(directory: dir + "/wal")
        try await wal.append(entries(1...3))
        let answers = Answers()
        let caller = pthread_self()
        // The writer goes back to waiting just after it answers: a few tries at most.
        var commit: UInt64 = 0
        while answers.count == 0 || !answers.allOnCaller, commit < 1_000 {
            commit += 1
            let fresh = Answers()
            wal.append([.hardState(HardState(term: 1, vote: NodeID(1), commit: LogIndex(commit)))], sync: false) {
                fresh.add($0, onCaller: pthread_equal(pthread_self(), caller) != 0)
            }
            if fresh.count == 1 && fresh.allOnCaller {
                answers.add(fresh.results[0], onCaller: true)
            } else {
                usleep(1_000)
            }
        }
        #expect(answers.count == 1 && answers.allOnCaller, "an unsynced append on an idle writer was written by the writer")
        #expect(answers.results.allSatisfy { (try? $0.get()) != nil })

        wal.close()
        #expect(try reopen(dir + "/wal").hardState == HardState(term: 1, vote: NodeID(1), commit: LogIndex(commit)))
    }

    /// Unsynced appends between synced ones across many segment rolls (a caller never rolls a
    /// segment: near a segment's end the writer takes the append): everything reads back.
    @Test func unsyncedAppendsAcrossSegmentRolls() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let (wal, _) = try WAL.open(directory: dir + "/wal", segmentBytes: 8192)
        for i in UInt64(1)...300 {
            try await wal.append(entries(i...i))
            wal.append([.hardState(HardState(term: 1, vote: NodeID(1), commit: LogIndex(i)))], sync: false) { _ in }
        }
        try await wal.append(entries(301...301))
        wal.close()
        let contents = try reopen(dir + "/wal", segmentBytes: 8192)
        #expect(contents.entries.map(\.index.rawValue) == Array(1...301))
        #expect(contents.hardState == HardState(term: 1, vote: NodeID(1), commit: 300))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/wal").filter { $0.hasSuffix(".wal") }.count > 2)
    }

    /// While a caller writes its unsynced append, a synced one from another thread waits for it:
    /// the writer does not write at the same time (the caller's write is held open here).
    @Test func theWriterWaitsForACallersWrite() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let (wal, fs) = try await Self.openWithACallersWriteHeld(dir + "/wal")
        // The caller is inside its write: a synced append now must wait for it.
        let done = Answers()
        wal.append(entries(4...4)) { done.add($0, onCaller: true) }
        usleep(50_000)
        #expect(done.count == 0, "the writer wrote while the caller was writing")
        fs.release()
        for _ in 0..<5_000 where done.count == 0 { usleep(1_000) }
        #expect(fs.overlapped == false)
        wal.close()
        let contents = try reopen(dir + "/wal")
        #expect(contents.entries.map(\.index.rawValue) == [1, 2, 3, 4])
        #expect(contents.tornTail == nil)
    }

    /// Closing while a caller writes waits for that write, and then the writer ends.
    @Test func closingWhileACallerWritesEnds() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let (wal, fs) = try await Self.openWithACallersWriteHeld(dir + "/wal")
        let closed = Answers()
        Thread {
            wal.close()
            closed.add(.success([]), onCaller: true)
        }.start()
        usleep(50_000)
        #expect(closed.count == 0, "close returned while a caller was still writing")
        fs.release()
        for _ in 0..<5_000 where closed.count == 0 { usleep(1_000) }
        #expect(closed.count == 1, "close did not return after the caller's write")
        #expect(try reopen(dir + "/wal").hardState.commit.rawValue >= 1)
    }

    /// A WAL holding entries 1...3 on a `GatedFileSystem`, with a caller's unsynced write held open.
    static func openWithACallersWriteHeld(_ directory: String) async throws -> (WAL, GatedFileSystem) {
        let fs = GatedFileSystem()
        try fs.createDirectory(directory)
        let (wal, _) = try WAL.open(directory: directory, fs: fs)
        try await wal.append(entries(1...3))
        try holdACallersWrite(wal, fs)
        return (wal, fs)
    }

    /// On a thread of its own, appends unsynced HardStates until one is written by that thread
    /// (the writer idle), whose write `fs` then holds open; returns once it is held.
    static func holdACallersWrite(_ wal: WAL, _ fs: GatedFileSystem) throws {
        let caller = Thread {
            // Until the writer is idle (it goes back to waiting just after it answers).
            for commit in 1...1_000 {
                let onCaller = Answers()
                let me = pthread_self()
                fs.holdNextWrite(on: me)
                wal.append([.hardState(HardState(term: 1, vote: NodeID(1), commit: LogIndex(UInt64(commit))))], sync: false) {
                    onCaller.add($0, onCaller: pthread_equal(pthread_self(), me) != 0)
                }
                if onCaller.count == 1 && onCaller.allOnCaller { return }
                fs.holdNextWrite(on: nil)
                usleep(1_000)
            }
        }
        caller.start()
        try #require(fs.waitUntilHeld(seconds: 20), "no unsynced append found the writer idle")
    }

    /// Holds one thread's next write open until released, and notes writes that overlap.
    final class GatedFileSystem: FileSystem, @unchecked Sendable {
        let base = PosixFileSystem()
        private let lock = Lock()
        private var holdThread: pthread_t?
        private var held = false
        private var released = false
        private var writing = 0
        private(set) var overlapped = false

        func holdNextWrite(on thread: pthread_t?) { lock.withLock { holdThread = thread } }
        func waitUntilHeld(seconds: Double) -> Bool {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            return lock.withLock {
                while !held && lock.wait(until: deadline) {}
                return held
            }
        }
        func release() {
            lock.withLock {
                released = true
                lock.broadcast()
            }
        }

        func wrote(_ body: () throws(StorageIOError) -> Void) throws(StorageIOError) {
            lock.withLock {
                writing += 1
                if writing > 1 { overlapped = true }
                if let t = holdThread, pthread_equal(t, pthread_self()) != 0 {
                    holdThread = nil
                    held = true
                    lock.broadcast()
                    while !released { lock.wait() }
                }
            }
            defer { lock.withLock { writing -= 1 } }
            try body()
        }

        var preparesSegmentsAhead: Bool { base.preparesSegmentsAhead }
        func open(_ path: String, create: Bool) throws(StorageIOError) -> any StorageFile {
            GatedFile(try base.open(path, create: create), fs: self)
        }
        func listDirectory(_ path: String) throws(StorageIOError) -> [String] { try base.listDirectory(path) }
        func createDirectory(_ path: String) throws(StorageIOError) { try base.createDirectory(path) }
        func remove(_ path: String) throws(StorageIOError) { try base.remove(path) }
        func rename(_ from: String, to: String) throws(StorageIOError) { try base.rename(from, to: to) }
        func syncDirectory(_ path: String) throws(StorageIOError) { try base.syncDirectory(path) }
        func exists(_ path: String) -> Bool { base.exists(path) }
    }

    final class GatedFile: StorageFile, @unchecked Sendable {
        let file: any StorageFile
        let fs: GatedFileSystem
        init(_ file: any StorageFile, fs: GatedFileSystem) {
            self.file = file
            self.fs = fs
        }
        var path: String { file.path }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageIOError) {
            try fs.wrote { () throws(StorageIOError) in try file.write(bytes, at: offset) }
        }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageIOError) -> Int {
            try file.read(into: buffer, at: offset)
        }
        func sync() throws(StorageIOError) { try file.sync() }
        func size() throws(StorageIOError) -> Int { try file.size() }
        func truncate(to size: Int) throws(StorageIOError) { try file.truncate(to: size) }
        func preallocate(size: Int) throws(StorageIOError) { try file.preallocate(size: size) }
        func preallocateWritten(size: Int) throws(StorageIOError) { try file.preallocateWritten(size: size) }
    }

    final class Answers: @unchecked Sendable {
        private let lock = Lock()
        private var stored: [Result<ArraySlice<RecordPosition>, WALError>] = []
        private var offCaller = false
        func add(_ r: Result<ArraySlice<RecordPosition>, WALError>, onCaller: Bool) {
            lock.withLock {
                stored.append(r)
                if !onCaller { offCaller = true }
            }
        }
        var results: [Result<ArraySlice<RecordPosition>, WALError>] { lock.withLock { stored } }
        var count: Int { results.count }
        var allOnCaller: Bool { lock.withLock { !offCaller } }
    }

    @Test func laterEntriesReplaceConflictingOnes() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        _ = try await writeWAL(dir + "/wal", [entries(1...5), entries(3...4, term: 2)])
        let contents = try reopen(dir + "/wal")
        #expect(contents.entries.map(\.index) == [1, 2, 3, 4])
        #expect(contents.entries.map(\.term) == [1, 1, 2, 2])
    }

    @Test func snapshotMarkersDropCoveredEntries() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        _ = try await writeWAL(dir + "/wal", [entries(1...10), [.snapshotMarker(index: 6, term: 1)]])
        var contents = try reopen(dir + "/wal")
        #expect(contents.entries.map(\.index) == [7, 8, 9, 10])
        #expect(contents.snapshot?.index == 6)
        // A snapshot from the leader whose term does not match the log replaces it all.
        _ = try await writeWAL(dir + "/wal", [[.snapshotMarker(index: 8, term: 5)], entries(9...9, term: 5)])
        contents = try reopen(dir + "/wal")
        #expect(contents.entries.map(\.index) == [9])
        #expect(contents.entries[0].term == 5)
    }

    @Test(arguments: [false, true]) func segmentsRollOverAndArePurged(writesOnCaller: Bool) async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let batches = tenEntryBatches(40)
        _ = try await writeWAL(
            dir + "/wal", segmentBytes: 8192, writesOnCaller: writesOnCaller,
            batches + [[.hardState(HardState(term: 1, commit: 400))]])
        let (wal, contents) = try WAL.open(directory: dir + "/wal", segmentBytes: 8192, writesOnCaller: writesOnCaller)
        #expect(contents.entries.count == 400)
        #expect(contents.hardState.commit == 400)
        let before = wal.segmentPaths.count
        #expect(before > 5)
        try await wal.append([.snapshotMarker(index: 300, term: 1)])
        let removed = try wal.purgeSegments(coveredThrough: 300)
        #expect(!removed.isEmpty)
        #expect(wal.segmentPaths.count == before - removed.count)
        wal.close()
        let after = try reopen(dir + "/wal", segmentBytes: 8192)
        let expected: [LogIndex] = (301...400).map { LogIndex(UInt64($0)) }
        #expect(after.entries.map(\.index) == expected)
        #expect(after.hardState.commit == 400)
    }

    @Test func aMissingSegmentIsRefused() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let batches = tenEntryBatches(20)
        _ = try await writeWAL(dir + "/wal", segmentBytes: 8192, batches)
        let names = try PosixFileSystem().listDirectory(dir + "/wal").filter { $0.hasSuffix(".wal") }.sorted()
        #expect(names.count >= 3)
        try PosixFileSystem().remove(dir + "/wal/" + names[1])
        #expect {
            _ = try reopen(dir + "/wal", segmentBytes: 8192)
        } throws: { error in
            guard case WALError.corrupt(_, _, let reason) = error else { return false }
            return reason.contains("missing")
        }
    }
}

/// The torn-tail and corruption tests on real files.
struct WALDamageTests {
    /// Writes 5 batches, then for every byte of the last record: cut the file there (or zero
    /// everything from there, as a torn write into a preallocated file does), reopen, and
    /// expect exactly the records before it.
    @Test(arguments: [true, false])
    func tornTailAtEveryByteOfTheLastRecord(truncate: Bool) async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let positions = try await writeWAL(dir + "/wal", (1...5).map { entries(UInt64($0)...UInt64($0), bytes: 40) })
        let segment = try PosixFileSystem().listDirectory(dir + "/wal").filter { $0.hasSuffix(".wal") }.sorted()[0]
        let path = dir + "/wal/" + segment
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let last = positions[4][0]
        // The record's own bytes: header, then 17 bytes of entry fields and 40 of data; the
        // zero padding after them carries nothing, so a cut there loses nothing.
        let recordEnd = last.offset + 24 + 17 + 40
        for cut in last.offset..<(last.offset + last.paddedLength) {
            let expected: [LogIndex] = cut < recordEnd ? [1, 2, 3, 4] : [1, 2, 3, 4, 5]
            var damaged = original
            if truncate {
                damaged = original.prefix(cut)
            } else {
                damaged.replaceSubrange(cut..<original.count, with: Data(count: original.count - cut))
            }
            try damaged.write(to: URL(fileURLWithPath: path))
            let contents = try reopen(dir + "/wal")
            #expect(contents.entries.map(\.index) == expected, "cut at \(cut)")
            #expect((contents.tornTail != nil) == (cut > last.offset && cut < recordEnd), "cut at \(cut)")
            // Appending after the repair continues the log.
            _ = try await writeWAL(dir + "/wal", [entries(5...5, bytes: 40)])
            #expect(try reopen(dir + "/wal").entries.count == 5, "cut at \(cut)")
        }
    }

    @Test func aFlippedByteInAnEarlierRecordIsRefusedWithFileAndOffset() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let positions = try await writeWAL(dir + "/wal", (1...5).map { entries(UInt64($0)...UInt64($0), bytes: 40) })
        let segment = try PosixFileSystem().listDirectory(dir + "/wal").filter { $0.hasSuffix(".wal") }.sorted()[0]
        let path = dir + "/wal/" + segment
        let target = positions[1][0]  // Entry 2; entries 3 to 5 follow it.
        for byte in [target.offset + 2, target.offset + 12, target.offset + 30] {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[byte] ^= 0x10
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect {
                _ = try reopen(dir + "/wal")
            } throws: { error in
                guard case WALError.corrupt(let file, let offset, _) = error else { return false }
                let text = "\(error)"
                return file == path && offset == target.offset && text.contains(path) && text.contains("offset \(target.offset)")
                    && text.contains("member remove")
            }
            bytes[byte] ^= 0x10
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        #expect(try reopen(dir + "/wal").entries.count == 5)
    }
}

/// Segments made ready ahead of their roll.
struct WALSpareSegmentTests {
    /// A log that fills segments rolls onto spares prepared in the background (zero-written and
    /// synced), and everything written reads back after a reopen; no spare is left behind as a segment.
    @Test func rollsUseSparesAndLoseNothing() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let batches = tenEntryBatches(60)
        _ = try await writeWAL(dir + "/wal", segmentBytes: 8192, batches)
        let names = try PosixFileSystem().listDirectory(dir + "/wal")
        #expect(names.filter { $0.hasSuffix(".wal") }.count >= 5)
        #expect(names.allSatisfy { $0.hasSuffix(".wal") || ($0.hasPrefix("spare-") && $0.hasSuffix(".tmp")) }, "\(names)")
        let contents = try reopen(dir + "/wal", segmentBytes: 8192)
        let written = batches.joined().compactMap { record -> LogIndex? in
            if case .entry(let e) = record { return e.index } else { return nil }
        }
        #expect(contents.entries.map(\.index) == written)
        // A reopen removes a spare left over from the run before (and this one wrote too little to make one).
        #expect(try PosixFileSystem().listDirectory(dir + "/wal").allSatisfy { $0.hasSuffix(".wal") })
    }
}
