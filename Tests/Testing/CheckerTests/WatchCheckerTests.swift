import Base
import Checker
import Testing

@Suite struct WatchCheckerTests {
    typealias W = WatchChecker

    /// A clean run: 60 revisions of puts and deletes on three keys (some revisions two keys at
    /// once, as a txn makes them), acknowledged writes for every other revision, two watchers on
    /// all keys from revision 2 with prev_kv (responses of one to three revisions), one on a
    /// prefix from revision 30, and progress notifications.
    static func clean() -> (watchers: [W.Watcher], writes: [W.Write]) {
        var values: [String: String] = [:]
        var revisions: [[W.Event]] = []
        var writes: [W.Write] = []
        var rng = SeededRandom(seed: 7)
        for rev in Int64(2)...61 {
            let first = Int(rng.next() % 3)
            let keys = (0..<(rev % 5 == 0 ? 2 : 1)).map { ["a", "b", "c"][(first + $0) % 3] }
            var events: [W.Event] = []
            for k in keys {
                let value: String? = rng.next() % 4 == 0 && values[k] != nil ? nil : "\(k)\(rev)"
                events.append(W.Event(revision: rev, key: k, value: value, prevValue: values[k]))
                values[k] = value
                if rev % 2 == 0 { writes.append(W.Write(revision: rev, key: k, value: value)) }
            }
            revisions.append(events)
        }
        func responses(_ from: Int64, _ prefix: String, prevKV: Bool, sizes: [Int]) -> [W.Response] {
            var out: [W.Response] = []
            var i = 0
            var s = 0
            let chosen = revisions.filter { $0[0].revision >= from }
            while i < chosen.count {
                let n = sizes[s % sizes.count]
                s += 1
                let group = chosen[i..<min(i + n, chosen.count)]
                var events = group.flatMap { $0 }.filter { $0.key.hasPrefix(prefix) }
                if !prevKV {
                    events = events.map {
                        var e = $0
                        e.prevValue = nil
                        return e
                    }
                }
                if !events.isEmpty { out.append(W.Response(events: events, headerRevision: group.last![0].revision)) }
                if s % 4 == 0 { out.append(W.Response(events: [], headerRevision: group.last![0].revision)) }
                i += n
            }
            return out
        }
        let watchers = [
            W.Watcher(id: 0, prefix: "", startRevision: 2, prevKV: true, responses: responses(2, "", prevKV: true, sizes: [1, 2, 3])),
            W.Watcher(id: 1, prefix: "", startRevision: 2, prevKV: true, responses: responses(2, "", prevKV: true, sizes: [3, 1])),
            W.Watcher(id: 2, prefix: "b", startRevision: 30, prevKV: false, responses: responses(30, "b", prevKV: false, sizes: [2]))
        ]
        return (watchers, writes)
    }

    static func properties(_ v: [W.Violation]) -> Set<W.Property> { Set(v.map(\.property)) }

    @Test func aCleanHistoryPasses() {
        let (watchers, writes) = Self.clean()
        #expect(W.check(watchers, writes: writes, denseRevisions: true) == [])
    }

    @Test func aResponseOneWatcherMissedIsAGap() {
        var (watchers, writes) = Self.clean()
        let dropped = watchers[1].responses.remove(at: 5)
        let v = W.check(watchers, writes: writes, denseRevisions: true)
        #expect(Self.properties(v) == [.reliable], "\(v)")
        #expect(v.allSatisfy { $0.watcher == 1 && dropped.events.map(\.revision).contains($0.revision) }, "\(v)")
    }

    @Test func aRevisionEveryWatcherMissedIsFoundFromTheWritesOrTheRevisionNumbers() {
        var (watchers, writes) = Self.clean()
        // Revision 41 (odd: no acknowledged write has it) removed everywhere: only density tells.
        for i in watchers.indices {
            watchers[i].responses = watchers[i].responses.map { r in
                W.Response(events: r.events.filter { $0.revision != 41 }, headerRevision: r.headerRevision)
            }
        }
        let v = W.check(watchers, writes: writes, denseRevisions: true)
        #expect(v.contains { $0.property == .reliable && $0.watcher == nil && $0.revision == 41 }, "\(v)")
        #expect(!W.check(watchers, writes: writes, denseRevisions: false).contains { $0.revision == 41 })
        // Revision 40 (an acknowledged write's) removed everywhere: the write tells.
        for i in watchers.indices {
            watchers[i].responses = watchers[i].responses.map { r in
                W.Response(events: r.events.filter { $0.revision != 40 }, headerRevision: r.headerRevision)
            }
        }
        let v2 = W.check(watchers, writes: writes, denseRevisions: false)
        #expect(v2.contains { $0.property == .reliable && $0.watcher == 0 && $0.revision == 40 }, "\(v2)")
    }

    @Test func orderDuplicatesSplitsProgressPrevKVAndValuesAreChecked() {
        let (watchers, writes) = Self.clean()
        func damaged(_ change: (inout [W.Response]) -> Void) -> [W.Violation] {
            var ws = watchers
            change(&ws[0].responses)
            return W.check(ws, writes: writes, denseRevisions: true)
        }
        let events = watchers[0].responses.filter { !$0.isProgress }
        // Two responses swapped: revisions go backwards.
        #expect(
            Self.properties(
                damaged { r in
                    let i = r.firstIndex(of: events[3])!
                    let j = r.firstIndex(of: events[4])!
                    r.swapAt(i, j)
                }
            ).contains(.ordered))
        // A response delivered twice.
        #expect(Self.properties(damaged { r in r.insert(events[2], at: r.firstIndex(of: events[3])!) }).contains(.unique))
        // A two-key revision split in two responses.
        let twoKey = events.first { r in Dictionary(grouping: r.events, by: \.revision).values.contains { $0.count == 2 } }!
        let split = damaged { r in
            let i = r.firstIndex(of: twoKey)!
            let rev = Dictionary(grouping: twoKey.events, by: \.revision).first { $0.value.count == 2 }!.key
            let first = twoKey.events.firstIndex { $0.revision == rev }!
            let a = W.Response(events: Array(twoKey.events[...first]), headerRevision: twoKey.headerRevision)
            let b = W.Response(events: Array(twoKey.events[(first + 1)...]), headerRevision: twoKey.headerRevision)
            r.replaceSubrange(i...i, with: [a, b])
        }
        #expect(Self.properties(split) == [.atomic], "\(split)")
        // A progress notification ahead of an event still to come.
        let progress = damaged { r in
            let i = r.firstIndex(of: events[6])!
            r.insert(W.Response(events: [], headerRevision: events[6].events.last!.revision), at: i)
        }
        #expect(Self.properties(progress) == [.progress], "\(progress)")
        // A wrong prev_kv.
        let prev = damaged { r in
            let i = r.firstIndex(of: events[8])!
            r[i].events[0].prevValue = "never"
        }
        #expect(Self.properties(prev) == [.prevKV], "\(prev)")
        // A value that differs from the other watcher's.
        let value = damaged { r in
            let i = r.firstIndex(of: events[9])!
            r[i].events[0].value = "other"
        }
        #expect(Self.properties(value).contains(.consistent), "\(value)")
        // An event outside the watched prefix.
        var ws = watchers
        let k = ws[2].responses.firstIndex { !$0.isProgress }!
        ws[2].responses[k].events.append(W.Event(revision: ws[2].responses[k].events.last!.revision, key: "zz", value: "x"))
        #expect(W.check(ws, writes: writes, denseRevisions: false).contains { $0.watcher == 2 && $0.detail.contains("outside") })
    }

    @Test func anAcknowledgedWriteTheWatchersContradictIsCaught() {
        var (watchers, writes) = Self.clean()
        writes[3].value = "not-what-happened"
        let v = W.check(watchers, writes: writes, denseRevisions: true)
        #expect(v.contains { $0.property == .consistent && $0.revision == writes[3].revision }, "\(v)")
        watchers.removeAll()
        #expect(
            W.check(watchers, writes: [writes[0], W.Write(revision: writes[0].revision, key: writes[0].key, value: "x")]).map(\.property)
                == [.consistent])
    }
}
