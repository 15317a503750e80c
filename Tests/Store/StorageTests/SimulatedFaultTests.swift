import Base
import Raft
import StorageTestSupport
import Testing

@testable import Storage

/// Records which appends were acknowledged, from the writer thread.
final class Acknowledgements: Sendable {
    private let state = Locked<(acked: Set<LogIndex>, errors: [WALError])>(([], []))

    func record(_ index: LogIndex, _ result: Result<ArraySlice<RecordPosition>, WALError>) {
        state.withLock {
            switch result {
            case .success: $0.acked.insert(index)
            case .failure(let error): $0.errors.append(error)
            }
        }
    }

    var acked: Set<LogIndex> { state.withLock { $0.acked } }
    var errors: [WALError] { state.withLock { $0.errors } }
}

struct SimulatedFaultTests {
    /// An append with `sync: false` (a commit-only HardState) is answered without an fsync of its
    /// own, and the next synced append makes it durable with it: after a crash both are there.
    @Test(arguments: 1...10)
    func unsyncedAppendsBecomeDurableWithTheNextSyncedOne(seed: UInt64) async throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        var generator = SeededRandom(seed: seed)
        let (wal, _) = try WAL.open(directory: "/data/wal", fs: fs, segmentBytes: 1 << 20)
        let syncs = Locked(0)
        wal.observeSyncs { _ in syncs.withLock { $0 += 1 } }
        try await wal.append([.entry(Storage_entry(1)), .hardState(HardState(term: 1, vote: NodeID(1), commit: 0))])
        let before = syncs.withLock { $0 }
        let unsynced: Result<ArraySlice<RecordPosition>, WALError> = await withCheckedContinuation { c in
            wal.append([.hardState(HardState(term: 1, vote: NodeID(1), commit: 1))], sync: false) { c.resume(returning: $0) }
        }
        #expect((try? unsynced.get()) != nil)
        #expect(syncs.withLock { $0 } == before, "answered without an fsync")
        try await wal.append([.entry(Storage_entry(2))])
        #expect(syncs.withLock { $0 } == before + 1)
        fs.failWrites = .io
        fs.failSyncs = .io
        fs.crash(random: &generator)
        wal.close()
        fs.failWrites = nil
        fs.failSyncs = nil
        let (reopened, contents) = try WAL.open(directory: "/data/wal", fs: fs, segmentBytes: 1 << 20)
        reopened.close()
        #expect(contents.entries.map(\.index) == [1, 2])
        #expect(contents.hardState == HardState(term: 1, vote: NodeID(1), commit: 1))
    }

    /// Many rounds of: append entries concurrently, crash at an arbitrary moment (unsynced
    /// writes lost or torn), reopen. Every acknowledged entry must be there, with its data.
    @Test(arguments: 1...40)
    func crashesLoseNothingAcknowledged(seed: UInt64) async throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        var generator = SeededRandom(seed: seed)
        var next: UInt64 = 1
        var everAcked = Set<LogIndex>()
        var targets = 0
        for _ in 0..<3 {
            let (wal, contents) = try WAL.open(directory: "/data/wal", fs: fs, segmentBytes: 4096)
            // Everything acknowledged before any crash is still there.
            let present = Set(contents.entries.map(\.index))
            #expect(everAcked.isSubset(of: present), "lost \(everAcked.subtracting(present).sorted())")
            for entry in contents.entries { #expect(entry == Storage_entry(entry.index)) }
            next = (contents.entries.last?.index.rawValue ?? 0) + 1
            let acks = Acknowledgements()
            let count = Int(generator.next() % 60) + 1
            for i in 0..<count {
                let index = LogIndex(next + UInt64(i))
                wal.append([.entry(Storage_entry(index))]) { acks.record(index, $0) }
            }
            // Let a seeded number of them become durable, then pull the plug with the rest in
            // flight.
            let target = Int(generator.next() % UInt64(count + 1))
            targets += target
            let deadline = ContinuousClock.now + .seconds(10)
            while acks.acked.count < target && ContinuousClock.now < deadline {
                try await Task.sleep(for: .microseconds(50))
            }
            fs.failWrites = .io  // Freeze the old writer: nothing more reaches the disk.
            fs.failSyncs = .io
            fs.crash(random: &generator)
            wal.close()
            fs.failWrites = nil
            fs.failSyncs = nil
            // Acknowledged entries are contiguous from the start of this round in the log
            // only if earlier ones were; record exactly what was acknowledged.
            everAcked.formUnion(acks.acked)
        }
        let (wal, contents) = try WAL.open(directory: "/data/wal", fs: fs, segmentBytes: 4096)
        wal.close()
        let present = Set(contents.entries.map(\.index))
        #expect(everAcked.isSubset(of: present), "lost \(everAcked.subtracting(present).sorted())")
        // The rounds really wrote before crashing (not a check that passes by doing nothing).
        #expect(everAcked.count >= targets)
    }

    @Test(arguments: [false, true]) func aFailedSyncAcknowledgesNothingAndStopsTheLog(writesOnCaller: Bool) async throws {
        let (fs, wal) = try openSimulatedWAL(writesOnCaller: writesOnCaller)
        try await wal.append(entries(1...3))
        fs.failSyncs = .io
        await #expect(throws: WALError.self) { try await wal.append(entries(4...4)) }
        fs.failSyncs = nil
        // Even with the disk healthy again, this log acknowledges nothing more: after a failed
        // fsync the state of the file is unknown.
        do {
            try await wal.append(entries(5...5))
            Issue.record("an append after a failed sync was acknowledged")
        } catch {
            #expect(error.description.contains("earlier failure"))
        }
        wal.close()
        let contents = try reopen("/data/wal", fs: fs, segmentBytes: 1 << 16)
        #expect(Array(contents.entries.map(\.index).prefix(3)) == [1, 2, 3])
    }

    @Test func aFullDiskSurfacesAsNoSpaceAndAcknowledgesNothing() async throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        fs.capacityBytes = 3 * 4096 + 100  // Room for three segments.
        let (wal, _) = try WAL.open(directory: "/data/wal", fs: fs, segmentBytes: 4096)
        var acked: [LogIndex] = []
        var failure: WALError?
        for index in 1...200 as ClosedRange<UInt64> {
            do {
                try await wal.append([.entry(entry(index, bytes: 100))])
                acked.append(LogIndex(index))
            } catch {
                failure = error
                break
            }
        }
        wal.close()
        guard case .io(let io)? = failure else {
            Issue.record("expected an I/O error, got \(String(describing: failure))")
            return
        }
        #expect(io.kind == .noSpace)
        #expect(acked.count > 10 && acked.count < 200)
        fs.capacityBytes = .max
        let contents = try reopen("/data/wal", fs: fs, segmentBytes: 4096)
        #expect(Array(contents.entries.map(\.index).prefix(acked.count)) == acked)
    }

    @Test func aWriteErrorFailsTheAppend() async throws {
        let (fs, wal) = try openSimulatedWAL()
        try await wal.append(entries(1...2))
        fs.failWrites = .io
        do {
            try await wal.append(entries(3...3))
            Issue.record("an append whose write failed was acknowledged")
        } catch {
            guard case .io(let io) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(io.kind == .io && io.operation == "write")
        }
        wal.close()
    }

    @Test func aBitFlipOnTheMediumIsRefused() async throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        let positions = try await writeWAL("/data/wal", fs: fs, segmentBytes: 1 << 16, [entries(1...4), entries(5...8)])
        let path = try "/data/wal/" + fs.listDirectory("/data/wal")[0]
        fs.flipBit(path: path, offset: positions[0][1].offset + 30, bit: 3)
        #expect {
            _ = try reopen("/data/wal", fs: fs, segmentBytes: 1 << 16)
        } throws: { error in
            guard case WALError.corrupt(let file, let offset, _) = error else { return false }
            return file == path && offset == positions[0][1].offset
        }
    }

    @Test func recordsOverTheLimitAreRefused() async throws {
        let (_, wal) = try openSimulatedWAL()
        defer { wal.close() }
        let huge = Entry(term: 1, index: 1, data: [UInt8](repeating: 1, count: StorageLimits.walRecordPayloadBytesMax))
        await #expect(throws: WALError.recordTooLarge(bytes: StorageLimits.walRecordPayloadBytesMax + 17)) {
            try await wal.append([.entry(huge)])
        }
    }
}

/// A simulated disk with a WAL open on it (64 KiB segments) in `/data/wal`.
func openSimulatedWAL(writesOnCaller: Bool = false) throws -> (SimulatedFileSystem, WAL) {
    let fs = SimulatedFileSystem()
    try fs.createDirectory("/data")
    let (wal, _) = try WAL.open(directory: "/data/wal", fs: fs, segmentBytes: 1 << 16, writesOnCaller: writesOnCaller)
    return (fs, wal)
}

/// The entry the crash test writes at `index`.
func Storage_entry(_ index: LogIndex) -> Entry { entry(index.rawValue, bytes: 48) }
