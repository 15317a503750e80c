/// Checks what watchers received against each other and against the writes the clients saw
/// acknowledged (etcd's watch guarantees, as its robustness tests state them):
///
/// - **ordered**: revisions never go backwards on a watcher (across its reconnections too);
/// - **unique**: no (revision, key) arrives twice;
/// - **atomic**: all events of one revision arrive in one response;
/// - **reliable**: no gap — a watcher sees every event in its key range from its start revision
///   up to the last revision it heard of, as the other watchers and the acknowledged writes
///   establish them; and with `denseRevisions`, no revision is missing for everybody;
/// - **resumable**: the same, across a watcher's reconnections (a reconnecting watcher asks for
///   the revision after its last event; the checker sees one stream per watcher);
/// - **progress**: after a progress notification at revision R, no event at or below R arrives;
/// - **prev_kv**: with prev_kv asked for, each event carries the key's previous value;
/// - **consistent**: watchers and acknowledged writes agree on what happened at a revision.
public enum WatchChecker {
    public struct Event: Equatable, Sendable {
        public var revision: Int64
        public var key: String
        /// The value put, or nil for a delete.
        public var value: String?
        /// The key's previous value as the event carried it (nil: none given).
        public var prevValue: String?
        /// The lease a put attached the key to (0: none).
        public var lease: Int64

        public init(revision: Int64, key: String, value: String?, prevValue: String? = nil, lease: Int64 = 0) {
            self.revision = revision
            self.key = key
            self.value = value
            self.prevValue = prevValue
            self.lease = lease
        }
    }

    /// One watch response as received: its events, or a progress notification (no events)
    /// with the response header's revision.
    public struct Response: Equatable, Sendable {
        public var events: [Event]
        public var headerRevision: Int64
        public var isProgress: Bool { events.isEmpty }

        public init(events: [Event], headerRevision: Int64) {
            self.events = events
            self.headerRevision = headerRevision
        }
    }

    /// What one watcher asked for and what it received, in order.
    public struct Watcher: Sendable {
        public var id: Int
        /// Keys with this prefix ("" for all keys).
        public var prefix: String
        /// The first revision asked for (must be given: a watch "from now" cannot be checked for gaps).
        public var startRevision: Int64
        public var prevKV: Bool
        public var responses: [Response]

        public init(id: Int, prefix: String, startRevision: Int64, prevKV: Bool, responses: [Response] = []) {
            self.id = id
            self.prefix = prefix
            self.startRevision = startRevision
            self.prevKV = prevKV
            self.responses = responses
        }

        /// The last revision the watcher heard of: its newest event's, or a progress
        /// notification's (0: nothing yet).
        public var reachedRevision: Int64 {
            responses.map { $0.isProgress ? $0.headerRevision : $0.events.map(\.revision).max() ?? 0 }.max() ?? 0
        }
    }

    /// A write a client saw acknowledged, with the revision its response carried (a delete that
    /// deleted nothing, or a failed compare, made no revision and does not belong here).
    public struct Write: Equatable, Sendable {
        public var revision: Int64
        public var key: String
        public var value: String?

        public init(revision: Int64, key: String, value: String?) {
            self.revision = revision
            self.key = key
            self.value = value
        }
    }

    public enum Property: String, Sendable, CaseIterable, Codable {
        case ordered, unique, atomic, reliable, progress
        case prevKV = "prev_kv"
        case consistent
    }

    public struct Violation: Equatable, Sendable, Codable, CustomStringConvertible {
        public var property: Property
        /// The watcher (nil: a revision nobody saw).
        public var watcher: Int?
        public var revision: Int64
        public var detail: String

        public init(property: Property, watcher: Int?, revision: Int64, detail: String) {
            self.property = property
            self.watcher = watcher
            self.revision = revision
            self.detail = detail
        }

        public var description: String {
            "\(property.rawValue): " + (watcher.map { "watcher \($0), " } ?? "") + "revision \(revision): \(detail)"
        }
    }

    /// Every violation found (empty: the watches kept every guarantee), at most `limit`.
    /// `denseRevisions`: every write in the cluster is to keys some watcher covers from
    /// revision `firstRevision`, so every revision in between must have been seen by somebody.
    public static func check(
        _ watchers: [Watcher], writes: [Write], denseRevisions: Bool = false,
        firstRevision: Int64 = 2, limit: Int = 100
    ) -> [Violation] {
        var found: [Violation] = []
        func report(_ p: Property, _ w: Int?, _ rev: Int64, _ detail: String) {
            if found.count < limit { found.append(Violation(property: p, watcher: w, revision: rev, detail: detail)) }
        }
        // What happened, as the first source to report each (revision, key) says.
        var truth = acknowledged(writes, report: report)
        for w in watchers { checkStream(w, truth: &truth, report: report) }

        // Each key's history in revision order, for gaps and prev_kv.
        let slots = truth.keys.sorted { ($0.revision, $0.key) < ($1.revision, $1.key) }
        if denseRevisions { checkDense(slots, firstRevision: firstRevision, report: report) }
        let previous = previousValues(slots, truth: truth)

        for w in watchers {
            checkDelivered(w, slots: slots, truth: truth, previous: previous, denseRevisions: denseRevisions, report: report)
        }
        return found
    }

    /// One (revision, key): where an event happened.
    private struct Slot: Hashable {
        var revision: Int64
        var key: String
    }

    /// What happened at each slot, and the first source that reported it.
    private typealias Truth = [Slot: (value: String?, source: String)]

    /// How the checks report a violation: its property, the watcher (nil: none), the revision, the detail.
    private typealias Report = (Property, Int?, Int64, String) -> Void

    /// What the acknowledged writes say happened; two of them that disagree on a slot are inconsistent.
    private static func acknowledged(_ writes: [Write], report: Report) -> Truth {
        var truth: Truth = [:]
        for w in writes {
            let slot = Slot(revision: w.revision, key: w.key)
            if let seen = truth[slot], seen.value != w.value {
                report(.consistent, nil, w.revision, "two acknowledged writes at key \(w.key): \(show(seen.value)) and \(show(w.value))")
            }
            truth[slot] = (w.value, "an acknowledged write")
        }
        return truth
    }

    /// Checks one watcher's stream on its own (ordered, progress, in range, unique, atomic) and
    /// against `truth` (consistent), adding to `truth` what it is the first to report.
    private static func checkStream(_ w: Watcher, truth: inout Truth, report: Report) {
        var last: Int64 = 0
        var seen = Set<Slot>()
        var revisionsSeen = Set<Int64>()
        var progressed: Int64 = 0
        for response in w.responses {
            if response.isProgress {
                progressed = max(progressed, response.headerRevision)
                continue
            }
            var inThisResponse = Set<Int64>()
            for e in response.events {
                if e.revision < last {
                    report(.ordered, w.id, e.revision, "arrived after revision \(last)")
                }
                if e.revision <= progressed {
                    report(.progress, w.id, e.revision, "arrived after a progress notification at revision \(progressed)")
                }
                if e.revision < w.startRevision || !e.key.hasPrefix(w.prefix) {
                    report(
                        .reliable, w.id, e.revision,
                        "key \(e.key) is outside the watch (prefix \"\(w.prefix)\" from revision \(w.startRevision))")
                }
                let slot = Slot(revision: e.revision, key: e.key)
                if !seen.insert(slot).inserted { report(.unique, w.id, e.revision, "key \(e.key) arrived twice") }
                if revisionsSeen.contains(e.revision) && !inThisResponse.contains(e.revision) {
                    report(.atomic, w.id, e.revision, "the revision's events were split across responses")
                }
                inThisResponse.insert(e.revision)
                revisionsSeen.insert(e.revision)
                last = max(last, e.revision)
                if let known = truth[slot] {
                    if known.value != e.value {
                        report(
                            .consistent, w.id, e.revision,
                            "key \(e.key) is \(show(e.value)) here, \(show(known.value)) in \(known.source)")
                    }
                } else {
                    truth[slot] = (e.value, "watcher \(w.id)")
                }
            }
        }
    }

    /// Reports each revision from `firstRevision` to the highest known that nobody saw.
    private static func checkDense(_ slots: [Slot], firstRevision: Int64, report: Report) {
        guard let top = slots.last?.revision else { return }
        let present = Set(slots.map(\.revision))
        for r in firstRevision...max(top, firstRevision) where !present.contains(r) && r <= top {
            report(
                .reliable, nil, r,
                "no watcher and no acknowledged write has this revision (revisions \(firstRevision)–\(top) are all watched)")
        }
    }

    /// Each slot's key's value just before it (`slots` in revision order; nil inside: absent).
    private static func previousValues(_ slots: [Slot], truth: Truth) -> [Slot: String?] {
        var previous: [Slot: String?] = [:]
        var current: [String: String?] = [:]
        for slot in slots {
            previous[slot] = .some(current[slot.key] ?? nil)
            current[slot.key] = truth[slot]!.value
        }
        return previous
    }

    /// Checks that a watcher got every known event in its range up to the revision it reached
    /// (reliable), each with the previous value where that is known (prev_kv).
    private static func checkDelivered(
        _ w: Watcher, slots: [Slot], truth: Truth, previous: [Slot: String?], denseRevisions: Bool, report: Report
    ) {
        let end = w.reachedRevision
        var got: [Slot: Event] = [:]
        for response in w.responses {
            for e in response.events { got[Slot(revision: e.revision, key: e.key)] = e }
        }
        for slot in slots where slot.revision >= w.startRevision && slot.revision <= end && slot.key.hasPrefix(w.prefix) {
            guard let e = got[slot] else {
                report(
                    .reliable, w.id, slot.revision,
                    "missed key \(slot.key) (\(show(truth[slot]!.value)), known from \(truth[slot]!.source)); the watcher reached revision \(end)"
                )
                continue
            }
            // prev_kv is checkable where the key's history is known: from the first
            // revision every write is watched.
            if w.prevKV && denseRevisions, let before = previous[slot], e.prevValue != before {
                report(
                    .prevKV, w.id, slot.revision,
                    "key \(slot.key): prev_kv \(show(e.prevValue)), but the value before was \(show(before))")
            }
        }
    }

    static func show(_ value: String?) -> String { value.map { "\"\($0)\"" } ?? "deleted/absent" }
}
