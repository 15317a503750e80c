import Foundation
import Robustness
import Testing

/// Bad input on the wire against a real `capstan store`: random and mutated messages to every
/// RPC, connections dropped part-way, a thousand idle connections held at once.
@Suite(.serialized) struct FuzzTests {
    @Test func theMemberAnswersEveryCallAndGivesBackItsConnections() async throws {
        let capstan = try #require(EtcdctlTests.capstanBinary(), "the capstan executable was not built")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-fuzz-\(UInt64.random(in: 0...UInt64.max))").path
        let member = try StoreCluster(binary: capstan, directory: directory, size: 1)
        defer {
            member.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
        }
        var config = FuzzConfig(endpoint: member.endpoints[0])
        config.pid = member.pid(0)
        config.calls = 1_500
        config.seed = UInt64.random(in: 1...1_000_000)
        // Whether each call is answered, not how fast: CI runs this beside suites that keep the
        // disk busy (a write's fsync can then take seconds).
        config.callTimeout = .seconds(30)
        let report = try await WireFuzzer.run(config)
        print("fuzz, seed \(config.seed): \(report.summary)")
        #expect(report.unanswered.isEmpty, "seed \(config.seed): \(report.unanswered.prefix(10))")
        #expect(report.processAlive && report.servesAfterwards, "seed \(config.seed): \(report.notServing)")
        #expect(report.idleConnectionsHeld == config.idleConnections)
        #expect(report.descriptorsWithIdle >= report.descriptorsBefore + config.idleConnections)
        #expect(report.descriptorsAfter <= report.descriptorsBefore + 16, "file descriptors \(report.descriptorsBefore) → \(report.descriptorsAfter)")
        // Most inputs are refused, some accepted: both kinds of answer were seen.
        #expect(report.statuses["ok", default: 0] > 0 && report.statuses.keys.count > 3, "\(report.statuses)")
    }
}
