import Foundation
import Robustness
import Testing

/// The ports the end-to-end suites give the servers they start.
@Suite struct TestPortsTests {
    @Test func reservedPortsAreFreeDistinctBelowTheEphemeralRangeAndRecorded() throws {
        let ephemeral = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let first = TestPorts.reserve(6)
        let second = TestPorts.reserve(6)
        #expect(first.count == 6 && second.count == 6)
        #expect(Set(first + second).count == 12, "a port was handed out twice: \(first) \(second)")
        for port in first + second {
            #expect(port >= TestPorts.lowestPort && port < ephemeral[0], "\(port) is outside \(TestPorts.lowestPort)..<\(ephemeral[0])")
        }
        let ledger = try String(contentsOfFile: TestPorts.ledgerPath, encoding: .utf8)
        let recorded = Set(ledger.split(separator: "\n").compactMap { $0.split(separator: " ").first.flatMap { Int($0) } })
        #expect(Set(first + second).isSubset(of: recorded), "the ledger lacks some of \(first + second)")
    }
}
