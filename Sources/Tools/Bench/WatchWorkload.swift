import Base
import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// The watch workloads' own flags.
public struct WatchOptions: Sendable {
    /// Watchers in all, spread evenly over the streams.
    public var watchers = 100
    /// Watch streams (gRPC streams), spread over the connections.
    public var streams = 10
    /// 0: every watcher watches one prefix (each put reaches every watcher); K > 0: watcher i
    /// watches key i mod K, and puts go round-robin over the K keys.
    public var watchKeys = 0
    public var putTotal = 1000
    /// Puts per second in all (0: as fast as the put clients go).
    public var putRate: Double = 0
    /// Give up waiting for events this long after the last one arrived.
    public var drainTimeout: Duration = .seconds(10)

    public init() {}

    /// Refuses flags that make no sense together.
    public func check() throws {
        guard watchers > 0, streams > 0, streams <= watchers, putTotal > 0, watchKeys >= 0, putRate >= 0 else {
            throw BenchError.invalid("--watchers and --put-total must be positive, --streams between 1 and --watchers")
        }
    }
}

/// What the streams and the put clients count, read by the main task.
final class WatchCounters: Sendable {
    let received = Atomic<Int>(0)
    let expected = Atomic<Int>(0)
    let lastEvent = Atomic<UInt64>(0)
    /// When the puts started and ended (monotonic ns).
    let putsStart = Atomic<UInt64>(0)
    let putsEnd = Atomic<UInt64>(0)
}

/// Per stream: the put→event lag histogram with the memo of the last events read, and the
/// watchers it has created.
final class StreamStats: Sendable {
    struct Reading {
        var lags = newLatencyHistogram()
        var memo = WatchResponseView.EventMemo()
    }
    let reading = Locked(Reading())
    let created = Atomic<Int>(0)
}

extension Bench {
    /// N watchers over M streams with a put load: events delivered per second and the put→event
    /// lag (each put's value starts with its send time). `name` is `watch` or `watch-latency`.
    public func watch(_ w: WatchOptions, name: String = "watch") async throws -> BenchReport {
        try w.check()
        guard options.valSize >= 8 else {
            throw BenchError.invalid("--val-size must be at least 8 for \(name) (the value carries the send time)")
        }
        let prefix = Array("capstan-bench-watch/".utf8)
        let keys = KeyMaker(
            size: options.keySize, space: w.watchKeys > 0 ? w.watchKeys : options.keySpaceSize,
            sequential: w.watchKeys > 0 || options.sequentialKeys, prefix: prefix)
        // Watchers per key (key mode) or on the prefix.
        var perKey = [Int](repeating: 0, count: max(w.watchKeys, 1))
        for i in 0..<w.watchers { perKey[w.watchKeys > 0 ? i % w.watchKeys : 0] += 1 }
        let watchersOn = perKey
        let connections = connections
        let streams = (0..<w.streams).map { _ in StreamStats() }
        let counters = WatchCounters()
        let failures = Recorder()

        // Open the streams and create every watcher before the first put. The streams run on
        // the lean connections: each answer is read in place on the connection's event loop
        // (grpc-swift-2's streams cost about 2.5 CPU-µs per message here: the client, not the
        // servers, limited the fan-out figures).
        var opened: [(UnaryConnection, Int)] = []
        for s in 0..<w.streams {
            let creates = try Self.watchCreates(stream: s, w, keys: keys, prefix: prefix)
            let connection = connections.connection(s)
            let id = try await connection.openStream(
                connection.headers(path: "/etcdserverpb.Watch/Watch"), messages: creates,
                onMessages: Self.watchFrameReader(streams[s], counters: counters, failures: failures),
                onEnd: { error in failures.fail(error ?? BenchError.invalid("the watch stream ended")) })
            opened.append((connection, id))
        }
        let cancelStreams = { @Sendable [opened] in
            for (connection, id) in opened { await connection.cancel(stream: id) }
        }
        try await Self.awaitWatchersCreated(w.watchers, on: streams, failures: failures, cancelStreams: cancelStreams)

        let puts = Recorder()
        let pacer = Pacer(total: w.putTotal, rate: w.putRate)
        let valSize = options.valSize
        let watchKeys = w.watchKeys
        var report = await measure(name, expected: w.putTotal, recorder: puts) {
            counters.putsStart.store(monotonicNanos(), ordering: .relaxed)
            await self.runClients(pacer, recorder: puts) { c in
                Self.watchPutClient(
                    connections.connection(c), keys: keys, valSize: valSize, watchKeys: watchKeys, watchersOn: watchersOn,
                    counters: counters)
            }
            counters.putsEnd.store(monotonicNanos(), ordering: .relaxed)
            await Self.drainEvents(counters, quietFor: w.drainTimeout)
            return []
        }
        await cancelStreams()
        Self.completeWatchReport(&report, w, streams: streams, counters: counters, puts: puts, failures: failures)
        return report
    }

    /// The serialized create requests of stream `s`'s watchers (watchers s, s + streams, …).
    private static func watchCreates(stream s: Int, _ w: WatchOptions, keys: KeyMaker, prefix: [UInt8]) throws -> [[UInt8]] {
        var creates: [[UInt8]] = []
        for i in stride(from: s, to: w.watchers, by: w.streams) {
            var c = Etcdserverpb_WatchCreateRequest()
            if w.watchKeys > 0 {
                c.key = Data(keys.key(number: i % w.watchKeys))
            } else {
                c.key = Data(prefix)
                c.rangeEnd = Data(EtcdClient.prefixEnd(prefix))
            }
            creates.append(try Etcdserverpb_WatchRequest.with { $0.createRequest = c }.serializedBytes())
        }
        return creates
    }

    /// A stream's `onMessages`: reads one frame's watch responses into the stream's stats and the
    /// shared counters, and records unreadable responses and cancellations as failures.
    private static func watchFrameReader(
        _ stats: StreamStats, counters: WatchCounters, failures: Recorder
    ) -> @Sendable (_ now: UInt64, _ forEach: ((UnsafeRawBufferPointer) -> Void) -> Void) -> Void {
        { now, forEach in
            // One frame's answers: one lock, one clock read and one update of the shared
            // counters for all of them. The responses of a stream's watchers carry the
            // same events: each distinct run of them is parsed once and its lags recorded
            // with the number of responses that had it (they share the frame's clock).
            var events = 0
            var created = 0
            var unreadable = 0
            var canceled = 0
            var cancelReason = ""
            stats.reading.withLock { reading in
                forEach { bytes in
                    guard
                        let view = try? WatchResponseView.read(
                            bytes, memo: &reading.memo,
                            onEvents: { e, n in
                                reading.lags.recordLag(of: e, at: now, count: n)
                            })
                    else {
                        unreadable += 1
                        return
                    }
                    if view.created { created += 1 }
                    if view.canceled {
                        canceled += 1
                        cancelReason = view.cancelReason
                    }
                    events += view.events
                }
                reading.memo.flush { e, n in reading.lags.recordLag(of: e, at: now, count: n) }
            }
            for _ in 0..<unreadable { failures.fail(BenchError.invalid("a watch response could not be read")) }
            if created > 0 { stats.created.add(created, ordering: .relaxed) }
            for _ in 0..<canceled { failures.fail(BenchError.invalid("watch canceled: \(cancelReason)")) }
            if events > 0 {
                counters.received.add(events, ordering: .relaxed)
                counters.lastEvent.max(now, ordering: .relaxed)
            }
        }
    }

    /// Waits until the streams have created all `watchers`; cancels the streams and throws if that
    /// takes over 60 s or a stream fails first.
    private static func awaitWatchersCreated(
        _ watchers: Int, on streams: [StreamStats], failures: Recorder, cancelStreams: @Sendable () async -> Void
    ) async throws {
        let setupDeadline = ContinuousClock.now + .seconds(60)
        while streams.reduce(0, { $0 + $1.created.load(ordering: .relaxed) }) < watchers {
            guard ContinuousClock.now < setupDeadline, failures.errors == 0 else {
                await cancelStreams()
                throw BenchError.invalid(
                    "only \(streams.reduce(0) { $0 + $1.created.load(ordering: .relaxed) }) of \(watchers) watchers were created within 60 s"
                        + (failures.errorMessages.keys.first.map { ": \($0)" } ?? ""))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// One put client on `kv`: each put's value starts with its send time, and the events it
    /// should bring are added to `counters.expected` once it is acknowledged.
    private static func watchPutClient(
        _ kv: UnaryConnection, keys: KeyMaker, valSize: Int, watchKeys: Int, watchersOn: [Int], counters: WatchCounters
    ) -> @Sendable (Int) async throws -> Void {
        let put = kv.headers(path: "/etcdserverpb.KV/Put")
        return { n in
            var r = Etcdserverpb_PutRequest()
            let number = watchKeys > 0 ? n % watchKeys : (keys.sequential ? n % keys.space : Int.random(in: 0..<keys.space))
            r.key = Data(keys.key(number: number))
            var v = Data(count: valSize)
            v.withUnsafeMutableBytes { $0.storeBytes(of: monotonicNanos().littleEndian, as: UInt64.self) }
            if valSize > 8 { v.replaceSubrange(8..<valSize, with: repeatElement(UInt8(ascii: "v"), count: valSize - 8)) }
            r.value = v
            _ = try await kv.call(put, try r.serializedBytes())
            counters.expected.add(watchersOn[watchKeys > 0 ? number : 0], ordering: .relaxed)
        }
    }

    /// Waits for every event of every acknowledged put, or until none came for `timeout`.
    private static func drainEvents(_ counters: WatchCounters, quietFor timeout: Duration) async {
        var lastCount = -1
        var quietSince = ContinuousClock.now
        while counters.received.load(ordering: .relaxed) < counters.expected.load(ordering: .relaxed) {
            let now = counters.received.load(ordering: .relaxed)
            if now != lastCount {
                lastCount = now
                quietSince = .now
            }
            if ContinuousClock.now - quietSince > timeout { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Fills in the watch figures: the report counts delivered events as its operations, over the
    /// time from the first put to the last event, with their lag as latency.
    private static func completeWatchReport(
        _ report: inout BenchReport, _ w: WatchOptions, streams: [StreamStats], counters: WatchCounters, puts: Recorder,
        failures: Recorder
    ) {
        let got = counters.received.load(ordering: .relaxed)
        let want = counters.expected.load(ordering: .relaxed)
        let start = counters.putsStart.load(ordering: .relaxed)
        let putsEnd = counters.putsEnd.load(ordering: .relaxed)
        let seconds = Double(max(counters.lastEvent.load(ordering: .relaxed), putsEnd) - start) / 1e9
        let missing = max(want - got, 0)
        var lags = newLatencyHistogram()
        for s in streams { lags.add(s.reading.withLock { $0.lags }) }
        report.ops = got
        report.seconds = seconds
        report.histogram = lags
        report.errors = puts.errors + failures.errors + missing
        report.errorMessages = puts.errorMessages.merging(failures.errorMessages, uniquingKeysWith: +)
        if missing > 0 { report.errorMessages["events missing (never delivered)"] = missing }
        report.extra = [
            ("events_per_second", f(Double(got) / max(seconds, 1e-9), 1)),
            ("events_expected", String(want)), ("events_missing", String(missing)),
            ("puts", String(puts.ops)), ("put_errors", String(puts.errors)),
            ("puts_per_second", f(Double(puts.ops) / max(Double(putsEnd - start) / 1e9, 1e-9), 1)),
            ("put_latency_ms_p99", f(puts.ops == 0 ? 0 : Double(puts.histogram.valueAtPercentile(99)) / 1000, 3)),
            ("watchers", String(w.watchers)), ("streams", String(w.streams)),
            ("watch_keys", String(w.watchKeys)), ("events_seconds", f(seconds, 3))
        ]
    }
}
