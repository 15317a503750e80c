import APIMachinery
import EtcdClient
import Foundation
import Hummingbird
import NIOCore

// Watch: a chunked response of one JSON event per line ({"type":..., "object":...}), from a
// store watch on the resource's prefix (one per request for now; the shared watch cache is a
// later step). The semantics are Kubernetes': resourceVersion unset or 0 starts with ADDED for
// what exists, N sends every change after N or a 410 ERROR event when N was compacted,
// selectors turn objects entering and leaving them into ADDED and DELETED, bookmarks when asked.

/// What a watch asks for.
struct WatchRequest: Sendable {
    var resource: ResourceInfo
    var namespace: String?
    /// A single object's watch (a name in the path, or `metadata.name=` in the field selector).
    var name: String?
    var options: Registry.ListOptions
    /// The revision after which to send changes; nil: send the current state first.
    var afterRevision: Int64?
    var sendInitialEvents: Bool
    var allowBookmarks: Bool
    var timeout: Duration
    /// How the events' objects are written (a Table for `kubectl get -w`).
    var shown = Shown()
}

extension APIServer {
    /// How many store event batches may wait for a slow watch client before its watch is ended.
    static let maxWatchBacklog = 1_000

    /// The longest a watch runs when the client gives no timeoutSeconds: a random time between
    /// --min-request-timeout and twice that (kube's spread, so clients do not relist together).
    func watchTimeout(_ query: Query) throws(APIStatus) -> Duration {
        if let t = query.value("timeoutSeconds"), !t.isEmpty {
            guard let n = Int64(t), n >= 0 else { throw .badRequest("invalid timeoutSeconds: \(t)") }
            if n > 0 { return .seconds(n) }
        }
        let base = Int64(max(options.minRequestTimeout, 1))
        return .seconds(Int64.random(in: base...(2 * base)))
    }

    func watchRequest(_ info: RequestInfo, _ resource: ResourceInfo, query: Query) throws(APIStatus) -> WatchRequest {
        var options = try listOptions(query, watch: true)
        options.limit = 0
        options.continueToken = nil
        let strategy = Strategy.of(resource)
        if let bad = options.fields.unsupported(in: strategy.supportedFields, resource: resource.name) { throw bad }
        let rv = query.value("resourceVersion") ?? ""
        let sendInitial = query.boolean("sendInitialEvents")
        let bookmarks = query.flag("allowWatchBookmarks")
        if sendInitial == nil && !(query.value("resourceVersionMatch") ?? "").isEmpty {
            throw Self.invalidListOptions(
                FieldError(
                    .forbidden, field: "resourceVersionMatch", value: nil,
                    detail: "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
        }
        if sendInitial != nil {
            guard query.value("resourceVersionMatch") == "NotOlderThan" else {
                throw Self.invalidListOptions(
                    FieldError(
                        .forbidden, field: "resourceVersionMatch", value: nil,
                        detail: "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
            }
            if sendInitial == true && !bookmarks {
                throw Self.invalidListOptions(
                    FieldError(
                        .forbidden, field: "allowWatchBookmarks", value: nil,
                        detail: "allowWatchBookmarks required when sendInitialEvents is true"))
            }
        }
        var after: Int64?
        // listOptions checked that resourceVersion is empty, 0 or a positive integer.
        if !rv.isEmpty && rv != "0" { after = Int64(rv) }
        // sendInitialEvents=true always starts with the state (at least as new as resourceVersion);
        // false never does. Unset: the state for "" and "0", none for N.
        if sendInitial == true { after = nil } else if sendInitial == false && after == nil { after = 0 }
        let name = info.name ?? options.fields.exactValue(of: "metadata.name")
        return WatchRequest(
            resource: resource, namespace: resource.namespaced ? info.namespace : nil, name: name, options: options,
            afterRevision: after, sendInitialEvents: sendInitial == true, allowBookmarks: bookmarks,
            timeout: try watchTimeout(query))
    }

    /// The watch response: headers now, events as they come, until the timeout or the client leaves.
    func watchResponse(_ watch: WatchRequest) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-cache, private"
        let body = ResponseBody { writer in
            self.metrics.watches(
                self.openWatches.withLock { n in
                    n += 1
                    return n
                })
            defer {
                self.metrics.watches(
                    self.openWatches.withLock { n in
                        n -= 1
                        return n
                    })
            }
            try await self.streamWatch(watch) { bytes in try await writer.write(ByteBuffer(bytes: bytes)) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Sends the watch's events through `send` until its timeout; returns normally at the end.
    func streamWatch(_ watch: WatchRequest, send: (inout [UInt8]) async throws -> Void) async throws {
        let strategy = Strategy.of(watch.resource)
        let collection = registry.collectionKey(watch.resource, watch.namespace)
        var start = collection
        var end = EtcdClient.prefixEnd(collection)
        if let name = watch.name {
            start = registry.key(watch.resource, watch.namespace, name)
            end = []
        }
        var headersSent = false
        func event(_ type: String, _ object: JSON) -> [UInt8] {
            var shown = object
            if type != "ERROR" && type != "BOOKMARK" {
                shown = watch.shown.event(object, resource: watch.resource, headers: !headersSent, now: Date())
                headersSent = true
            }
            var line = JSON.object(JSONObject([("type", .string(type)), ("object", shown)])).serialized()
            line.append(0x0A)
            return line
        }
        var after: Int64
        if let given = watch.afterRevision, given > 0 {
            after = given
        } else if watch.afterRevision == 0 {
            // From now, without the state.
            let answer: RangeAnswer
            do {
                answer = try await registry.store.range(from: start, to: end, countOnly: true)
            } catch {
                var line = event("ERROR", (try? JSON.parse(Registry.storeFailure(error).json)) ?? .null)
                try await send(&line)
                return
            }
            after = answer.revision
        } else {
            // The current state as ADDED events, then changes after the state's revision.
            var options = watch.options
            options.limit = 0
            let page: Registry.ListPage
            do {
                page = try await registry.list(watch.resource, namespace: watch.namespace, options, strategy: strategy)
            } catch {
                var line = event("ERROR", (try? JSON.parse(error.json)) ?? .null)
                try await send(&line)
                return
            }
            for item in page.items where watch.name == nil || item["metadata"]?["name"]?.string == watch.name {
                var line = event("ADDED", item)
                try await send(&line)
            }
            after = page.revision
            if watch.sendInitialEvents {
                var line = event("BOOKMARK", bookmark(watch.resource, revision: after, initialEventsEnd: true))
                try await send(&line)
            }
        }
        // The store's events go through a bounded buffer: a client that falls behind it has its
        // watch ended (it re-lists or re-watches), never holding up the store watch.
        enum Item { case batch(Int64, [StoredEvent]), failed(any Error) }
        let (items, sink) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingOldest(Self.maxWatchBacklog))
        let store = registry.store
        let forwarder = Task {
            do {
                for try await batch in store.watchEvents(from: start, to: end, startRevision: after + 1) {
                    if case .dropped = sink.yield(.batch(batch.revision, batch.events)) { break }
                }
            } catch {
                sink.yield(.failed(error))
            }
            sink.finish()
        }
        let timeout = watch.timeout
        let timer = Task {
            try? await Task.sleep(for: timeout)
            sink.finish()
        }
        defer {
            forwarder.cancel()
            timer.cancel()
        }
        let decode = { (value: StoredValue) -> JSON? in try? self.registry.decode(value) }
        let passes = { (object: JSON) -> Bool in self.registry.matches(object, watch.options, strategy) }
        for await item in items {
            switch item {
            case .failed(let error):
                let status: APIStatus
                if case StoreCallError.compacted? = error as? StoreCallError {
                    status = .expired("too old resource version: \(after) (\(after + 1))")
                } else {
                    status = Registry.storeFailure(error)
                }
                var line = event("ERROR", (try? JSON.parse(status.json)) ?? .null)
                try await send(&line)
                return
            case .batch(let revision, let batch):
                if batch.isEmpty {
                    if watch.allowBookmarks {
                        var line = event("BOOKMARK", bookmark(watch.resource, revision: revision, initialEventsEnd: false))
                        try await send(&line)
                    }
                    continue
                }
                for e in batch {
                    let revision = e.value.modRevision
                    var previous = e.previous.flatMap(decode)
                    previous?.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
                    let before = previous.map(passes) ?? false
                    var line: [UInt8]
                    switch e.kind {
                    case .delete:
                        guard let previous, before else { continue }
                        line = event("DELETED", previous)
                    case .put:
                        guard let object = decode(e.value) else { continue }
                        let now = passes(object)
                        if e.value.createRevision == e.value.modRevision || previous == nil {
                            guard now else { continue }
                            line = event("ADDED", object)
                        } else if now && before {
                            line = event("MODIFIED", object)
                        } else if now {
                            line = event("ADDED", object)
                        } else if before, let previous {
                            line = event("DELETED", previous)
                        } else {
                            continue
                        }
                    }
                    try await send(&line)
                }
            }
        }
    }

    /// A BOOKMARK's object: the kind with only metadata.resourceVersion (and the initial-events-end annotation).
    func bookmark(_ resource: ResourceInfo, revision: Int64, initialEventsEnd: Bool) -> JSON {
        var meta = JSONObject()
        meta["resourceVersion"] = .string(String(revision))
        meta["creationTimestamp"] = .null
        if initialEventsEnd { meta["annotations"] = .object(JSONObject([("k8s.io/initial-events-end", "true")])) }
        return .object(
            JSONObject([("kind", .string(resource.kind)), ("apiVersion", .string(resource.groupVersion)), ("metadata", .object(meta))]))
    }
}
