import Foundation
import Storage
import Testing

/// The file systems the robustness harness uses: a slow disk set at run time, and the planted
/// bug that writes the WAL late.
@Suite struct FaultFileSystemTests {
    static func directory() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-faultfs-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func aSlowDiskDelaysEachSyncByWhatIsInForce() throws {
        let d = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let disk = SlowDiskFileSystem()
        let file = try disk.open(d + "/f", create: true)
        try file.write([1, 2, 3], at: 0)
        func timed(_ body: () throws -> Void) rethrows -> Duration {
            let start = ContinuousClock.now
            try body()
            return ContinuousClock.now - start
        }
        disk.syncDelay = .milliseconds(120)
        #expect(try timed { try file.sync() } >= .milliseconds(120))
        #expect(try timed { try disk.syncDirectory(d) } >= .milliseconds(120))
        disk.syncDelay = .zero
        #expect(try timed { try file.sync() } < .milliseconds(100))
        #expect(try file.read(count: 3, at: 0) == [1, 2, 3])
    }

    @Test func theLateWritingPlantedBugHoldsWALWritesButReadsThem() throws {
        let d = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let late = LateWritingFileSystem(delay: .milliseconds(300))
        let file = try late.open(d + "/0.wal", create: true)
        try file.write([7, 8, 9], at: 0)
        try file.sync()
        // Read back through the bug, but not yet in the file itself (what a crash would find).
        #expect(try file.read(count: 3, at: 0) == [7, 8, 9])
        #expect(try file.size() == 3)
        #expect(try PosixFileSystem().open(d + "/0.wal", create: false).size() == 0)
        // Later it reaches the file.
        let deadline = ContinuousClock.now + .seconds(5)
        while try PosixFileSystem().open(d + "/0.wal", create: false).size() < 3 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(try PosixFileSystem().open(d + "/0.wal", create: false).read(count: 3, at: 0) == [7, 8, 9])
        // Files other than WAL segments pass straight through.
        let other = try late.open(d + "/snap", create: true)
        try other.write([1], at: 0)
        #expect(try PosixFileSystem().open(d + "/snap", create: false).size() == 1)
    }
}
