import EtcdProto
import Foundation
import SwiftProtobuf
import Testing

@testable import Bench

@Suite struct BenchTests {
    /// A DATA frame's whole gRPC messages are found in one pass; a message cut by the frame's
    /// end (in its prefix or its body) is left for the next frame.
    @Test func wholeMessagesAtTheFrontOfAFrame() {
        let one: [UInt8] = [0, 0, 0, 0, 3, 7, 8, 9]
        let empty: [UInt8] = [0, 0, 0, 0, 0]
        let cutBody: [UInt8] = [0, 0, 0, 0, 4, 1]
        let cutPrefix: [UInt8] = [0, 0, 0]
        for (bytes, whole) in [(one + empty + cutBody, 13), (one + cutPrefix, 8), (cutBody, 0), (one + one, 16), ([], 0)] {
            #expect(bytes.withUnsafeBytes { UnaryCallHandler.wholeMessages($0) } == whole)
        }
        #expect((one + empty).withUnsafeBytes { UnaryCallHandler.messageLength($0, at: 8) } == 0)
        #expect(([0, 1, 2, 3, 4] as [UInt8]).withUnsafeBytes { UnaryCallHandler.messageLength($0, at: 0) } == 0x0102_0304)
    }

    /// The watch reader agrees with SwiftProtobuf's decoder on etcd's WatchResponse, including
    /// fields it skips (header, prev_kv, fragment) and the send stamp in each value.
    @Test func watchResponsesAreReadFromTheirBytes() throws {
        var r = Etcdserverpb_WatchResponse()
        r.header.revision = 77
        r.header.clusterID = 0xFFFF_FFFF_FFFF_FFFF
        r.watchID = 12
        r.created = false
        r.fragment = true
        r.compactRevision = 3
        for i in 0..<5 {
            var e = Mvccpb_Event()
            e.type = i == 3 ? .delete : .put
            e.kv.key = Data("key-\(i)".utf8)
            e.kv.modRevision = Int64(70 + i)
            e.kv.createRevision = 2
            e.kv.version = Int64(i)
            e.kv.lease = -5
            var v = Data(count: i == 4 ? 4 : 16)
            if i != 4 { v.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1_000 + i).littleEndian, as: UInt64.self) } }
            e.kv.value = v
            e.prevKv.key = e.kv.key
            e.prevKv.value = Data("old".utf8)
            r.events.append(e)
        }
        let bytes: [UInt8] = try r.serializedBytes()
        var seen: [WatchResponseView.Event] = []
        let view = try bytes.withUnsafeBytes { try WatchResponseView.read($0) { seen.append($0) } }
        #expect(view.watchID == 12 && !view.created && !view.canceled && view.compactRevision == 3 && view.events == 5)
        #expect(seen.map(\.modRevision) == [70, 71, 72, 73, 74])
        #expect(seen.map(\.isDelete) == [false, false, false, true, false])
        #expect(seen.map(\.stamp) == [1000, 1001, 1002, 1003, nil])

        var cancel = Etcdserverpb_WatchResponse()
        cancel.watchID = -1
        cancel.canceled = true
        cancel.created = true
        cancel.cancelReason = "mvcc: required revision has been compacted"
        let cancelBytes: [UInt8] = try cancel.serializedBytes()
        let c = try cancelBytes.withUnsafeBytes { try WatchResponseView.read($0) { _ in Issue.record("no events") } }
        #expect(c.canceled && c.created && c.watchID == -1 && c.cancelReason == "mvcc: required revision has been compacted")
    }

    /// A stream's responses whose event fields are the same bytes are parsed once: the memo
    /// counts them and reports each event once with the count; anything else is read in full.
    @Test func repeatedEventsAreCountedNotParsedAgain() throws {
        func response(watch: Int64, revision: Int64, stamps: [UInt64], fragment: Bool = false) throws -> [UInt8] {
            var r = Etcdserverpb_WatchResponse()
            r.header.revision = revision
            r.watchID = watch
            r.fragment = fragment
            for (i, s) in stamps.enumerated() {
                var e = Mvccpb_Event()
                e.kv.key = Data("k\(i)".utf8)
                e.kv.modRevision = revision - Int64(stamps.count - 1 - i)
                var v = Data(count: 8)
                v.withUnsafeMutableBytes { $0.storeBytes(of: s.littleEndian, as: UInt64.self) }
                e.kv.value = v
                r.events.append(e)
            }
            return try r.serializedBytes()
        }
        let a = [
            try response(watch: 1, revision: 9, stamps: [100, 101]), try response(watch: 2, revision: 9, stamps: [100, 101]),
            try response(watch: 3, revision: 9, stamps: [100, 101])
        ]
        let b = try response(watch: 1, revision: 10, stamps: [102])
        let created =
            try Etcdserverpb_WatchResponse.with {
                $0.watchID = 4
                $0.created = true
            }.serializedBytes() as [UInt8]
        var memo = WatchResponseView.EventMemo()
        var counts: [UInt64: Int] = [:]
        var calls = 0
        var events = 0
        let note = { (e: WatchResponseView.Event, n: Int) in
            counts[e.stamp!, default: 0] += n
            calls += 1
        }
        for bytes in a + [created, b, b] + a {
            let view = try bytes.withUnsafeBytes { try WatchResponseView.read($0, memo: &memo, onEvents: note) }
            events += view.events
        }
        memo.flush(note)
        #expect(events == 2 * 3 + 1 + 1 + 2 * 3)
        #expect(counts == [100: 6, 101: 6, 102: 2])
        // Parsed: a's first (2 calls), b's first (1), a again (2); the rest reported by count:
        // a's two repeats (2), b's one (1), the last a's two (2).
        #expect(calls == 10)

        // One byte different in an event (here its stamp) is another set of events.
        let c = try response(watch: 2, revision: 9, stamps: [100, 109])
        counts = [:]
        for bytes in [a[0], c] { _ = try bytes.withUnsafeBytes { try WatchResponseView.read($0, memo: &memo, onEvents: note) } }
        memo.flush(note)
        #expect(counts == [100: 2, 101: 1, 109: 1])

        // Events followed by another field (an order protobuf allows) are read in full each time.
        var odd = try response(watch: 1, revision: 9, stamps: [100, 101])
        odd += [0x10, 0x05]  // watch_id = 5, after the events
        counts = [:]
        for _ in 0..<3 {
            let view = try odd.withUnsafeBytes { try WatchResponseView.read($0, memo: &memo, onEvents: note) }
            #expect(view.watchID == 5 && view.events == 2)
        }
        memo.flush(note)
        #expect(counts == [100: 3, 101: 3])

        // A damaged response after a remembered one is refused, and is no match for the next.
        _ = try a[0].withUnsafeBytes { try WatchResponseView.read($0, memo: &memo, onEvents: note) }
        let cut = Array(a[1].dropLast())
        #expect(throws: WatchResponseView.Malformed.self) {
            _ = try cut.withUnsafeBytes { try WatchResponseView.read($0, memo: &memo, onEvents: note) }
        }
        counts = [:]
        _ = try a[2].withUnsafeBytes { try WatchResponseView.read($0, memo: &memo, onEvents: note) }
        memo.flush(note)
        #expect(counts == [100: 1, 101: 1])
    }

    /// Cut-off and damaged messages are reported, never read past their end.
    @Test func damagedWatchResponsesAreRefused() throws {
        var r = Etcdserverpb_WatchResponse()
        r.events = [
            Mvccpb_Event.with {
                $0.kv.key = Data("k".utf8)
                $0.kv.value = Data(count: 32)
            }
        ]
        let bytes: [UInt8] = try r.serializedBytes()
        for cut in 1..<bytes.count {
            let prefix = Array(bytes[..<cut])
            #expect(throws: WatchResponseView.Malformed.self) {
                _ = try prefix.withUnsafeBytes { try WatchResponseView.read($0) { _ in } }
            }
        }
        let bad: [UInt8] = [0x07]  // field 0
        #expect(throws: WatchResponseView.Malformed.self) { _ = try bad.withUnsafeBytes { try WatchResponseView.read($0) { _ in } } }
    }

    /// Keys hold their number zero-padded to --key-size (so they sort by number), after the prefix.
    @Test func keysAreNumberedLikeEtcdsBenchmark() {
        let k = KeyMaker(size: 8, space: 100, sequential: true, prefix: Array("p/".utf8))
        #expect(String(decoding: k.key(7), as: UTF8.self) == "p/00000007")
        #expect(String(decoding: k.key(107), as: UTF8.self) == "p/00000007")
        #expect(String(decoding: KeyMaker(size: 2, space: 1000, sequential: true).key(number: 345), as: UTF8.self) == "45")
        let random = KeyMaker(size: 3, space: 10, sequential: false)
        for n in 0..<100 { #expect(Int(String(decoding: random.key(n), as: UTF8.self))! < 10) }
    }

    /// The JSON line has the fields the issue and bench-compare.sh read.
    @Test func theJSONLineHasEveryField() throws {
        var h = newLatencyHistogram()
        for v in [1000, 2000, 3000, 50_000] as [UInt64] { _ = h.record(v) }
        let report = BenchReport(
            workload: "put", ops: 4, errors: 1, errorMessages: ["unavailable: \"x\"": 1], seconds: 2,
            histogram: h, serverPIDs: [10, 11], serverCPUSeconds: 0.5, serverRSSBytes: 1 << 20,
            clientCPUSeconds: 0.25, extra: [("conflicts", "3")])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(object["workload"] as? String == "put")
        #expect(object["ops"] as? Int == 4 && object["errors"] as? Int == 1)
        #expect(object["throughput"] as? Double == 2 && object["seconds"] as? Double == 2)
        let latency = try #require(object["latency_ms"] as? [String: Double])
        #expect(latency["p50"] == 2 && latency["max"].map { $0 >= 49.9 && $0 <= 50.1 } == true)
        #expect(object["server_cpu_seconds"] as? Double == 0.5 && object["server_rss_bytes"] as? Int == 1 << 20)
        #expect(object["server_cpu_us_per_op"] as? Double == 125_000)
        #expect(object["conflicts"] as? Int == 3 && object["first_error"] as? String == "unavailable: \"x\"")
        #expect(report.text.contains("125000.0 CPU-µs per operation"))
    }

    /// The server processes are found from the ports they listen on, and measured — also when
    /// the listener is far down /proc/net/tcp (past its first page, which is all that
    /// `String(contentsOfFile:)` returns for a procfs file).
    @Test func serversAreFoundByTheirListeningPort() throws {
        func listener() -> (fd: Int32, port: Int) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(fd >= 0 && bound == 0 && listen(fd, 1) == 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return (fd, Int(UInt16(bigEndian: address.sin_port)))
        }
        let others = (0..<300).map { _ in listener() }
        let (fd, port) = listener()
        defer {
            close(fd)
            for o in others { close(o.fd) }
        }
        #expect(ServerProcesses.listening(on: [port]) == [getpid()])
        #expect(ServerProcesses.listening(on: others.suffix(3).map(\.port) + [port]) == [getpid()])
        let sample = ServerProcesses(pids: [getpid()]).sample()
        #expect(sample.cpuSeconds > 0 && sample.rssBytes > 1 << 20 && sample.threadCPUSeconds > 0)
    }

    /// CPU between two samples: nanoseconds from the live threads, unless threads that ran in
    /// between have exited (then the tick count, which keeps them).
    @Test func cpuBetweenSamplesIsPreciseUnlessThreadsExited() {
        var before = ServerProcesses.Sample(cpuSeconds: 1.00, rssBytes: 0, threadCPUSeconds: 1.004)
        before.processes = 3
        var after = ServerProcesses.Sample(cpuSeconds: 1.02, rssBytes: 0, threadCPUSeconds: 1.0172)
        after.processes = 3
        // 13.2 ms by the threads' clocks, 20 ms in ticks: the precise figure.
        #expect(abs(after.cpuSeconds(since: before) - 0.0132) < 1e-9)
        // A thread that used 0.5 s exited in between: the live threads show less than the ticks.
        after.cpuSeconds = 1.60
        after.threadCPUSeconds = 1.10
        #expect(abs(after.cpuSeconds(since: before) - 0.60) < 1e-9)
    }
}
