package import APIMachinery
package import EtcdClient
import Foundation

// The generic storage of every resource, written once (kube's generic registry): objects as JSON
// under `<prefix>/<resource>/<namespace>/<name>`, resourceVersion as the key's mod revision,
// writes conditioned on the revision they read (several apiservers may share the store).

/// Create, get, list, update and delete of any resource through the etcd v3 API.
package final class Registry: Sendable {
    package let store: EtcdClient
    /// `--etcd-prefix`: `/registry` by default.
    package let prefix: String
    /// How many times a write whose condition failed is re-read and retried before a 409.
    package static let maxWriteAttempts = 16
    /// How many names a `generateName` create tries before it reports the collision.
    package static let maxGenerateNameAttempts = 8
    /// The largest page a list reads from the store at once (its `limit` when filtering).
    package static let maxPageSize: Int64 = 10_000

    package init(store: EtcdClient, prefix: String) {
        self.store = store
        self.prefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
    }

    // MARK: - Keys and decoding

    func key(_ resource: ResourceInfo, _ namespace: String?, _ name: String) -> [UInt8] {
        Array(resource.storeKey(prefix: prefix, namespace: resource.namespaced ? namespace : nil, name: name).utf8)
    }

    func collectionKey(_ resource: ResourceInfo, _ namespace: String?) -> [UInt8] {
        Array(resource.storePrefix(prefix: prefix, namespace: resource.namespaced ? namespace : nil).utf8)
    }

    /// A stored object with its resourceVersion; a value that is not a JSON object is the
    /// store's corruption, reported as such (never served as an object).
    func decode(_ value: StoredValue) throws(APIStatus) -> JSON {
        guard case .object(var object)? = try? JSON.parse(value.value) else {
            throw APIStatus(
                code: 500, reason: .internalError,
                message:
                    "stored object at \(String(decoding: value.key, as: UTF8.self)) is not a JSON object (revision \(value.modRevision))")
        }
        var metadata = object["metadata"]?.object ?? JSONObject()
        metadata["resourceVersion"] = .string(String(value.modRevision))
        object["metadata"] = .object(metadata)
        return .object(object)
    }

    /// The bytes stored for an object: without resourceVersion (the key's revision is the truth),
    /// as kube-apiserver's JSON storage writes them, ending in a newline.
    func encodeForStorage(_ object: JSON) -> [UInt8] {
        var stored = object
        stored.set(nil, at: ["metadata", "resourceVersion"])
        stored.set(nil, at: ["metadata", "selfLink"])
        var bytes = stored.serialized()
        bytes.append(0x0A)
        return bytes
    }

    static func storeFailure(_ error: any Error) -> APIStatus {
        if let status = error as? APIStatus { return status }
        switch error as? StoreCallError {
        case .compacted?: return .expired("The resourceVersion for the provided list is too old.")
        case .futureRevision?: return APIStatus(code: 504, reason: .timeout, message: "Too large resource version")
        case .failed(_, let message)?: return APIStatus(code: 503, reason: .serviceUnavailable, message: message)
        case nil: return APIStatus(code: 503, reason: .serviceUnavailable, message: "the store did not answer: \(error)")
        }
    }

    // MARK: - Get

    /// The object, or 404.
    package func get(_ resource: ResourceInfo, namespace: String?, name: String, serializable: Bool = false) async throws(APIStatus)
        -> JSON
    {
        guard let (object, _) = try await read(resource, namespace, name, serializable: serializable) else {
            throw .notFound(resource: resource.name, group: resource.group, name: name)
        }
        return object
    }

    /// The object and its stored value, or nil.
    func read(_ resource: ResourceInfo, _ namespace: String?, _ name: String, serializable: Bool = false) async throws(APIStatus)
        -> (JSON, StoredValue)?
    {
        let answer: RangeAnswer
        do {
            answer = try await store.range(from: key(resource, namespace, name), serializable: serializable)
        } catch {
            throw Self.storeFailure(error)
        }
        guard let value = answer.values.first else { return nil }
        return (try decode(value), value)
    }

    // MARK: - List

    /// What a list asks for.
    package struct ListOptions: Sendable {
        package var labels = LabelSelector(requirements: [])
        package var fields = FieldSelector.everything
        package var limit: Int64 = 0
        package var continueToken: String?
        /// The revision to read at (0: the newest).
        package var revision: Int64 = 0
        /// `resourceVersion=0`: any revision will do (a serializable read).
        package var anyRevision = false
        package init() {}
    }

    /// A page of objects with the revision it was read at, its continue token and how many remain.
    package struct ListPage: Sendable {
        package var items: [JSON]
        package var revision: Int64
        package var continueToken: String?
        package var remaining: Int64?
    }

    package func list(_ resource: ResourceInfo, namespace: String?, _ options: ListOptions, strategy: Strategy) async throws(APIStatus)
        -> ListPage
    {
        let collection = collectionKey(resource, namespace)
        let end = EtcdClient.prefixEnd(collection)
        var start = collection
        var revision = options.revision
        if let token = options.continueToken {
            let (tokenRevision, startKey) = try ContinueToken.decode(token)
            revision = tokenRevision
            start = collection + Array(startKey.utf8)
        }
        let filtering = !options.labels.isEverything || !options.fields.isEverything
        var items: [JSON] = []
        var readAt: Int64 = 0
        var more = false
        var lastKey: [UInt8] = []
        var remaining: Int64?
        // Pages read at one revision (the first page's) until the limit is filled or the range ends.
        while true {
            let want = options.limit > 0 ? (filtering ? Self.maxPageSize : options.limit - Int64(items.count)) : 0
            let answer: RangeAnswer
            do {
                answer = try await store.range(
                    from: start, to: end, limit: want, revision: revision, serializable: options.anyRevision && revision == 0)
            } catch StoreCallError.compacted where options.continueToken != nil {
                throw APIStatus.expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
                        + "without the continue parameter.")
            } catch {
                throw Self.storeFailure(error)
            }
            readAt = answer.revision
            if revision == 0 { revision = answer.revision }
            for (i, value) in answer.values.enumerated() {
                let object = try decode(value)
                lastKey = value.key
                if filtering && !matches(object, options, strategy) { continue }
                items.append(object)
                if options.limit > 0 && Int64(items.count) == options.limit {
                    more = i < answer.values.count - 1 || answer.more
                    if !filtering { remaining = answer.count - Int64(i + 1) }
                    break
                }
            }
            if options.limit > 0 && Int64(items.count) == options.limit { break }
            guard answer.more, let last = answer.values.last else { break }
            start = last.key + [0]
        }
        var token: String?
        if more {
            let after = String(decoding: lastKey.dropFirst(collection.count), as: UTF8.self) + "\u{0}"
            token = ContinueToken.encode(revision: revision, start: after)
        }
        // A continued list reports the revision of its first page, as kube does.
        return ListPage(
            items: items, revision: options.continueToken == nil && options.revision == 0 ? readAt : revision, continueToken: token,
            remaining: more ? remaining : nil)
    }

    func matches(_ object: JSON, _ options: ListOptions, _ strategy: Strategy) -> Bool {
        if !options.labels.isEverything {
            var labels: [String: String] = [:]
            for (k, v) in object["metadata"]?["labels"]?.object ?? JSONObject() { labels[k] = v.string ?? "" }
            if !options.labels.matches(labels) { return false }
        }
        return options.fields.isEverything || options.fields.matches(strategy.fieldValues(of: object))
    }

    // MARK: - Create

    /// Stores a new object (its metadata completed by the caller); 409 AlreadyExists when the key
    /// is taken. Returns the object as stored, with its resourceVersion.
    package func create(_ resource: ResourceInfo, namespace: String?, object: JSON, dryRun: Bool) async throws(APIStatus) -> JSON {
        guard let name = object["metadata"]?["name"]?.string else { throw .badRequest("the object has no name") }
        if dryRun {
            if try await read(resource, namespace, name) != nil {
                throw .alreadyExists(resource: resource.name, group: resource.group, name: name)
            }
            return object
        }
        let outcome: ConditionalOutcome
        do {
            outcome = try await store.create(key(resource, namespace, name), value: encodeForStorage(object))
        } catch {
            throw Self.storeFailure(error)
        }
        switch outcome {
        case .written(let revision):
            var stored = object
            stored.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
            return stored
        case .failed:
            throw .alreadyExists(resource: resource.name, group: resource.group, name: name)
        }
    }

    // MARK: - Update (read, change, write if unchanged since the read)

    /// What an update's change function decided.
    package enum Change: Sendable {
        /// Write this object (the store's current revision is checked).
        case write(JSON)
        /// Delete the object (an update that removed the last finalizer of an object being deleted).
        case delete(JSON)
        /// Nothing to write: answer with the current object.
        case unchanged
    }

    /// Reads the object, applies `change` to it (nil: the object does not exist), and writes the
    /// result only if the object is still at the revision read; on a race, reads again and
    /// re-applies (kube's GuaranteedUpdate). `change` throws its own Status (409 on a stale
    /// resourceVersion the client sent, 422 for an invalid result). Returns the object written
    /// and whether it was created.
    package func update(
        _ resource: ResourceInfo, namespace: String?, name: String, dryRun: Bool,
        change: (JSON?) async throws(APIStatus) -> Change
    ) async throws(APIStatus) -> (object: JSON, created: Bool, deleted: Bool) {
        for _ in 0..<Self.maxWriteAttempts {
            let current = try await read(resource, namespace, name)
            let decision = try await change(current?.0)
            let k = key(resource, namespace, name)
            let outcome: ConditionalOutcome
            switch decision {
            case .unchanged:
                guard let current else { throw .notFound(resource: resource.name, group: resource.group, name: name) }
                return (current.0, false, false)
            case .write(let object):
                if dryRun { return (object, current == nil, false) }
                let bytes = encodeForStorage(object)
                if let current, current.1.value == bytes { return (current.0, false, false) }
                do {
                    if let current {
                        outcome = try await store.update(k, value: bytes, ifModRevision: current.1.modRevision)
                    } else {
                        outcome = try await store.create(k, value: bytes)
                    }
                } catch {
                    throw Self.storeFailure(error)
                }
                if case .written(let revision) = outcome {
                    var stored = object
                    stored.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
                    return (stored, current == nil, false)
                }
            case .delete(let object):
                guard let current else { throw .notFound(resource: resource.name, group: resource.group, name: name) }
                if dryRun { return (object, false, true) }
                do {
                    outcome = try await store.delete(k, ifModRevision: current.1.modRevision)
                } catch {
                    throw Self.storeFailure(error)
                }
                if case .written = outcome { return (object, false, true) }
            }
        }
        throw .conflict(resource: resource.name, group: resource.group, name: name)
    }

    // MARK: - Delete

    /// Deletes the object if it is still at `modRevision`; false when it changed in between.
    func delete(_ resource: ResourceInfo, _ namespace: String?, _ name: String, ifModRevision modRevision: Int64) async throws(APIStatus)
        -> Bool
    {
        do {
            if case .written = try await store.delete(key(resource, namespace, name), ifModRevision: modRevision) { return true }
            return false
        } catch {
            throw Self.storeFailure(error)
        }
    }
}

/// The `continue` token of a paged list: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"key"}`,
/// as kube-apiserver makes it (the revision the list was read at, the key to start after).
package enum ContinueToken {
    package static func encode(revision: Int64, start: String) -> String {
        let json: JSON = .object(JSONObject([("v", "meta.k8s.io/v1"), ("rv", .number(JSONNumber(revision))), ("start", .string(start))]))
        return Data(json.serialized()).base64EncodedString()
    }

    package static func decode(_ token: String) throws(APIStatus) -> (revision: Int64, start: String) {
        let bad = APIStatus.badRequest("continue key is not valid: \(token)")
        // Go's RawURLEncoding tokens (no padding) are taken too.
        var text = token
        while text.count % 4 != 0 { text.append("=") }
        guard let data = Data(base64Encoded: text), let json = try? JSON.parse([UInt8](data)) else { throw bad }
        guard json["v"]?.string == "meta.k8s.io/v1" else {
            throw .badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        }
        guard let revision = json["rv"]?.int64, revision > 0, let start = json["start"]?.string else { throw bad }
        if start.hasPrefix("/") || start.split(separator: "/").contains(where: { $0 == ".." }) { throw bad }
        return (revision, start)
    }
}
