import Foundation
import Raft
import Testing

@testable import Storage

/// kill -9 of a process that appends and acknowledges in a loop, many times over the same
/// WAL: every entry it reported acknowledged must be there after each restart.
struct KillTests {
    /// The `capstan` executable `swift test` built beside the test bundle.
    static func capstanBinary() -> String? {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidates = [
            beside.appendingPathComponent("capstan").path,
            beside.deletingLastPathComponent().appendingPathComponent("capstan").path,
            root.appendingPathComponent(".build/debug/capstan").path
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func killedWhileAppendingLosesNothingAcknowledged() throws {
        let binary = try #require(Self.capstanBinary(), "the capstan executable was not built")
        let dir = temporaryDirectory("capstan-kill")
        defer { cleanup(dir) }
        var generator = SystemRandomNumberGenerator()
        var totalAcked = 0
        for round in 0..<15 {
            let output = dir + "/out-\(round).txt"
            #expect(FileManager.default.createFile(atPath: output, contents: nil))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "debug", "wal-append", "--dir", dir + "/wal", "--segment-bytes", "65536",
                "--concurrency", "16"
            ]
            process.standardOutput = FileHandle(forWritingAtPath: output)
            try process.run()
            // Wait until it is appending (its start replays the WAL so far), then kill it at a
            // random moment mid-flight.
            let deadline = Date().addingTimeInterval(20)
            while (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0 == 0
                && Date() < deadline && process.isRunning
            {
                usleep(2_000)
            }
            usleep(UInt32.random(in: 10_000...150_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)

            let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("failed") }, "\(lines.filter { $0.hasPrefix("failed") })")
            let acked =
                lines.compactMap { line -> UInt64? in
                    line.hasPrefix("acked ") ? UInt64(line.dropFirst(6)) : nil
                }.max() ?? 0
            let contents = try reopen(dir + "/wal", segmentBytes: 65536)
            let last = contents.entries.last?.index.rawValue ?? 0
            #expect(last >= acked, "round \(round): acknowledged through \(acked), only \(last) after restart")
            for entry in contents.entries.prefix(Int(acked)) {
                let expected = (0..<256).map { UInt8(truncatingIfNeeded: Int(entry.index.rawValue) &+ $0) }
                #expect(entry.data == expected, "entry \(entry.index) came back different")
            }
            totalAcked += lines.count { $0.hasPrefix("acked ") }
        }
        #expect(totalAcked > 1000, "the child acknowledged only \(totalAcked) entries")
    }
}
