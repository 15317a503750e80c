import Base
import Foundation
import Testing

@testable import MVCC

/// The apply loop withdraws the published view while it writes (so the key tree is changed in
/// place), and publishes the new one after.
@Suite struct ViewPublisherTests {
    @Test func aReaderWaitsWhileTheViewIsWithdrawnAndGetsTheNextOne() throws {
        let store = KVStore()
        let publisher = ViewPublisher(store.view)
        publisher.withdraw()
        let seen = Locked<Int64?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let v = publisher.current
            seen.withLock { $0 = v.revision }
            done.signal()
        }
        // Still waiting after 100 ms: there is no view to give.
        #expect(done.wait(timeout: .now() + .milliseconds(100)) == .timedOut)
        #expect(seen.withLock { $0 } == nil)
        _ = try store.put(PutRequest(key: b("k"), value: b("v")))
        publisher.publish(store.view)
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(seen.withLock { $0 } == 2)
        // Published: reads do not wait.
        #expect(publisher.current.revision == 2)
    }

    @Test func aViewTakenBeforeTheWithdrawalKeepsWhatItHeld() throws {
        let store = KVStore()
        // Enough keys for a tree of several levels; every one rewritten below.
        for i in 0..<5_000 { _ = try store.put(PutRequest(key: b("k\(i)"), value: b("old"))) }
        let publisher = ViewPublisher(store.view)
        let held = publisher.current
        publisher.withdraw()
        for i in 0..<5_000 where i % 3 == 0 { _ = try store.put(PutRequest(key: b("k\(i)"), value: b("new"))) }
        for i in stride(from: 1, to: 5_000, by: 7) { _ = try store.deleteRange(DeleteRangeRequest(key: b("k\(i)"))) }
        for i in 5_000..<6_000 { _ = try store.put(PutRequest(key: b("k\(i)"), value: b("added"))) }
        publisher.publish(store.view)
        let all = RangeRequest(key: b("k"), rangeEnd: prefixEnd("k"))
        let before = try held.range(all)
        #expect(before.kvs.count == 5_000 && before.kvs.allSatisfy { $0.value == b("old") })
        #expect(held.revision == 5_001)
        let after = try publisher.current.range(all)
        #expect(after.kvs.count == 5_000 - 715 + 1_000)
        #expect(after.kvs.filter { $0.value == b("new") }.count == (0..<5_000).filter { $0 % 3 == 0 && $0 % 7 != 1 }.count)
        // An old revision read through the new view agrees with the held view.
        var atOld = all
        atOld.revision = 5_001
        #expect(try publisher.current.range(atOld).kvs == before.kvs)
    }
}
