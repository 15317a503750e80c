import Foundation
import Robustness
import Testing

/// Bad input on the wire against a real `capstan store`: random and mutated messages to every
/// RPC, connections dropped part-way, a thousand idle connections held at once.
@Suite(.serialized) struct FuzzTests {
    @Test func theMemberAnswersEveryCallAndGivesBackItsConnections() async throws {
        let capstan = try #require(EtcdctlTests.capstanBinary(), "the capstan executable was not built")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-fuzz-\(UInt64.random(in: 0...UInt64.max))")
            .path
        let member = try StoreCluster(binary: capstan, directory: directory, size: 1)
        let reportPath = directory + ".report.json"
        defer {
            member.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: reportPath)
        }
        let pid = try #require(member.pid(0))
        let calls = 1_500
        let idle = 1_000
        let seed = UInt64.random(in: 1...1_000_000)
        // The fuzzer runs in a process of its own (`capstan fuzz --endpoint`): in this one, the
        // suites running beside it block threads of Swift's pool (two on two cores) for tens of
        // seconds, and the fuzzer's own calls then went unsent until their deadline (CI, seed
        // 89897). The call timeout is whether each call is answered, not how fast: CI keeps the
        // disk busy (a write's fsync can then take seconds).
        let status = try await Self.run(
            capstan,
            [
                "fuzz", "--endpoint", member.endpoints[0], "--pid", "\(pid)",
                "--calls", "\(calls)", "--idle", "\(idle)", "--seed", "\(seed)",
                "--call-timeout", "30", "--report", reportPath
            ])
        let report = try JSONDecoder().decode(FuzzReport.self, from: Data(contentsOf: URL(fileURLWithPath: reportPath)))
        #expect(status == (report.passed ? 0 : 1), "capstan fuzz exited with \(status)")
        #expect(report.unanswered.isEmpty, "seed \(seed): \(report.unanswered.prefix(10))")
        #expect(report.processAlive && report.servesAfterwards, "seed \(seed): \(report.notServing)")
        #expect(report.calls > calls)
        #expect(report.idleConnectionsHeld == idle)
        #expect(report.descriptorsWithIdle >= report.descriptorsBefore + idle)
        #expect(
            report.descriptorsAfter <= report.descriptorsBefore + 16,
            "file descriptors \(report.descriptorsBefore) → \(report.descriptorsAfter)")
        // Most inputs are refused, some accepted: both kinds of answer were seen.
        #expect(report.statuses["ok", default: 0] > 0 && report.statuses.keys.count > 3, "\(report.statuses)")
    }

    /// Runs a program to its end without holding a thread of Swift's pool; its output goes to
    /// this process's.
    static func run(_ binary: String, _ arguments: [String]) async throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        return try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch {
                p.terminationHandler = nil
                c.resume(throwing: error)
            }
        }
    }
}
