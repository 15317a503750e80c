// The three patch formats kube-apiserver takes: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and Kubernetes' strategic merge patch, whose lists merge by the schema's merge keys
// and which carries its directives ($patch, $retainKeys, $setElementOrder, $deleteFromPrimitiveList).

/// A patch that could not be applied: the message kube-apiserver answers with (422 unless said).
package struct PatchError: Error, Equatable, Sendable {
    package var message: String
    /// Whether the patch itself is malformed (400) rather than inapplicable to the object (422).
    package var malformed: Bool
    package init(_ message: String, malformed: Bool = false) {
        self.message = message
        self.malformed = malformed
    }
}

package enum Patch {
    /// The longest a JSON patch may be (kube's maxJSONPatchOperations).
    package static let maxJSONPatchOperations = 10_000

    // MARK: - JSON merge patch

    /// RFC 7386: objects merge key by key, `null` removes a key, anything else replaces.
    package static func mergePatch(_ target: JSON, with patch: JSON) -> JSON {
        guard case .object(let patchObject) = patch else { return patch }
        var result = target.object ?? JSONObject()
        for (key, value) in patchObject {
            if value.isNull {
                result[key] = nil
            } else {
                result[key] = mergePatch(result[key] ?? .null, with: value)
            }
        }
        return .object(result)
    }

    // MARK: - JSON patch

    /// RFC 6902's operations over JSON pointers.
    package static func jsonPatch(_ target: JSON, with patch: JSON) throws(PatchError) -> JSON {
        guard case .array(let operations) = patch else {
            throw PatchError("json: cannot unmarshal \(patch.kindName) into Go value of type jsonpatch.Patch", malformed: true)
        }
        if operations.count > maxJSONPatchOperations {
            throw PatchError(
                "The allowed maximum operations in a JSON patch is \(maxJSONPatchOperations), got \(operations.count)", malformed: true)
        }
        var doc = target
        for op in operations {
            guard case .object(let o) = op else {
                throw PatchError("json: cannot unmarshal \(op.kindName) into Go value of type jsonpatch.Operation", malformed: true)
            }
            guard let name = o["op"]?.string else { throw PatchError("Unexpected kind: unknown", malformed: true) }
            guard let pathText = o["path"]?.string else { throw PatchError("operation missing path", malformed: true) }
            let path = try pointer(pathText)
            switch name {
            case "add":
                guard let value = o["value"] else { throw PatchError("missing value for add operation", malformed: true) }
                doc = try add(doc, path, value, pathText)
            case "remove":
                doc = try remove(doc, path, pathText).0
            case "replace":
                guard let value = o["value"] else { throw PatchError("missing value for replace operation", malformed: true) }
                _ = try get(doc, path, pathText)
                doc = try remove(doc, path, pathText).0
                doc = try add(doc, path, value, pathText)
            case "move":
                guard let fromText = o["from"]?.string else { throw PatchError("missing from for move operation", malformed: true) }
                let (removed, value) = try remove(doc, try pointer(fromText), fromText)
                doc = try add(removed, path, value, pathText)
            case "copy":
                guard let fromText = o["from"]?.string else { throw PatchError("missing from for copy operation", malformed: true) }
                doc = try add(doc, path, try get(doc, try pointer(fromText), fromText), pathText)
            case "test":
                let expected = o["value"] ?? .null
                let actual = try? get(doc, path, pathText)
                if (actual ?? .null) != expected { throw PatchError("testing value \(pathText) failed: test failed") }
            default:
                throw PatchError("Unexpected kind: \(name)", malformed: true)
            }
        }
        return doc
    }

    /// A JSON pointer's tokens (`~1` is `/`, `~0` is `~`).
    static func pointer(_ text: String) throws(PatchError) -> [String] {
        if text.isEmpty { return [] }
        guard text.hasPrefix("/") else { throw PatchError("JSON pointer must be empty or start with a \"/\": \(text)", malformed: true) }
        return text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(unescapeToken)
    }

    static func get(_ doc: JSON, _ path: [String], _ text: String) throws(PatchError) -> JSON {
        var current = doc
        for token in path {
            switch current {
            case .object(let o):
                guard let next = o[token] else { throw PatchError("doc is missing path: \"\(text)\": missing value") }
                current = next
            case .array(let a):
                guard let i = Int(token), i >= 0, i < a.count else { throw PatchError("doc is missing path: \"\(text)\": missing value") }
                current = a[i]
            default:
                throw PatchError("doc is missing path: \"\(text)\": missing value")
            }
        }
        return current
    }

    static func add(_ doc: JSON, _ path: [String], _ value: JSON, _ text: String) throws(PatchError) -> JSON {
        guard let last = path.last else { return value }
        return try update(doc, path.dropLast(), text) { (parent) throws(PatchError) -> JSON in
            switch parent {
            case .object(var o):
                o[last] = value
                return .object(o)
            case .array(var a):
                if last == "-" {
                    a.append(value)
                } else {
                    guard let i = Int(last), i >= 0, i <= a.count else {
                        throw PatchError("add operation does not apply: doc is missing path: \"\(text)\": missing value")
                    }
                    a.insert(value, at: i)
                }
                return .array(a)
            default:
                throw PatchError("add operation does not apply: doc is missing path: \"\(text)\": missing value")
            }
        }
    }

    static func remove(_ doc: JSON, _ path: [String], _ text: String) throws(PatchError) -> (JSON, JSON) {
        guard let last = path.last else { throw PatchError("unable to remove the whole document") }
        var removed: JSON = .null
        let result = try update(doc, path.dropLast(), text) { (parent) throws(PatchError) -> JSON in
            switch parent {
            case .object(var o):
                guard let v = o[last] else {
                    throw PatchError("remove operation does not apply: doc is missing path: \"\(text)\": missing value")
                }
                removed = v
                o[last] = nil
                return .object(o)
            case .array(var a):
                guard let i = Int(last), i >= 0, i < a.count else {
                    throw PatchError("remove operation does not apply: doc is missing path: \"\(text)\": missing value")
                }
                removed = a.remove(at: i)
                return .array(a)
            default:
                throw PatchError("remove operation does not apply: doc is missing path: \"\(text)\": missing value")
            }
        }
        return (result, removed)
    }

    /// `doc` with the value at `path` replaced by `change(value)`.
    static func update(_ doc: JSON, _ path: ArraySlice<String>, _ text: String, _ change: (JSON) throws(PatchError) -> JSON)
        throws(PatchError) -> JSON
    {
        guard let first = path.first else { return try change(doc) }
        switch doc {
        case .object(var o):
            guard let child = o[first] else { throw PatchError("doc is missing path: \"\(text)\": missing value") }
            o[first] = try update(child, path.dropFirst(), text, change)
            return .object(o)
        case .array(var a):
            guard let i = Int(first), i >= 0, i < a.count else { throw PatchError("doc is missing path: \"\(text)\": missing value") }
            a[i] = try update(a[i], path.dropFirst(), text, change)
            return .array(a)
        default:
            throw PatchError("doc is missing path: \"\(text)\": missing value")
        }
    }

    // MARK: - Strategic merge patch

    /// Applies a strategic merge patch to `target`, whose schema is `definition` (an OpenAPI
    /// definition name such as `io.k8s.api.apps.v1.Deployment`; nil: no schema, so lists replace).
    package static func strategicMerge(_ target: JSON, with patch: JSON, definition: String?) throws(PatchError) -> JSON {
        guard case .object(let p) = patch else {
            throw PatchError("json: cannot unmarshal \(patch.kindName) into Go value of type map[string]interface {}", malformed: true)
        }
        return .object(try mergeObject(target.object ?? JSONObject(), p, definition))
    }

    static func mergeObject(_ original: JSONObject, _ patch: JSONObject, _ definition: String?) throws(PatchError) -> JSONObject {
        var patch = patch
        // $patch: replace / delete on the object itself.
        if let directive = patch["$patch"] {
            patch["$patch"] = nil
            switch directive.string {
            case "replace"?: return try mergeObject(JSONObject(), patch, definition)
            case "delete"?: return JSONObject()
            case "merge"?: break
            default:
                throw PatchError(
                    "Unknown patch type: \(directive.string ?? directive.text) in map: \(JSON.object(patch).text)", malformed: true)
            }
        }
        var result = original
        // $retainKeys: keys of the original not listed are dropped.
        if let retain = patch["$retainKeys"] {
            patch["$retainKeys"] = nil
            guard case .array(let keys) = retain else { throw PatchError("$retainKeys must be a list", malformed: true) }
            let kept = Set(keys.compactMap(\.string))
            for key in result.keys where !kept.contains(key) { result[key] = nil }
        }
        var orders: [String: [JSON]] = [:]
        var deletions: [String: [JSON]] = [:]
        for (key, value) in patch {
            if key.hasPrefix("$setElementOrder/") {
                orders[String(key.dropFirst("$setElementOrder/".count))] = value.array ?? []
            } else if key.hasPrefix("$deleteFromPrimitiveList/") {
                deletions[String(key.dropFirst("$deleteFromPrimitiveList/".count))] = value.array ?? []
            }
        }
        for (key, values) in deletions {
            guard case .array(let list)? = result[key] else { continue }
            result[key] = .array(list.filter { !values.contains($0) })
        }
        for (key, value) in patch where !key.hasPrefix("$") {
            let field = definition.flatMap { PatchSchema.field(key, of: $0) }
            if value.isNull {
                result[key] = nil
                continue
            }
            let current = result[key]
            switch value {
            case .object(let sub):
                if field?.shape == .value {
                    result[key] = value
                } else if case .object(let existing)? = current {
                    result[key] = .object(try mergeObject(existing, sub, field?.ref))
                } else {
                    result[key] = .object(try mergeObject(JSONObject(), sub, field?.ref))
                }
            case .array(let list):
                if let field, field.shape == .list, field.merges {
                    result[key] = .array(try mergeList(current?.array ?? [], list, field: field))
                } else {
                    result[key] = .array(try list.map { (item) throws(PatchError) -> JSON in try stripDirectives(item) })
                }
            default:
                result[key] = value
            }
        }
        for (key, order) in orders {
            guard case .array(let merged)? = result[key] else { continue }
            let field = definition.flatMap { PatchSchema.field(key, of: $0) }
            result[key] = .array(
                normalizeOrder(merged, patchOrder: order, serverOrder: original[key]?.array ?? [], mergeKey: field?.mergeKey))
        }
        return result
    }

    /// A merging list: elements with a merge key merge with the element of the same key (or are
    /// appended); `$patch: delete` elements remove theirs; `$patch: replace` replaces the list;
    /// primitive lists take the union.
    static func mergeList(_ original: [JSON], _ patch: [JSON], field: PatchField) throws(PatchError) -> [JSON] {
        if patch.contains(where: { $0.object?["$patch"]?.string == "replace" }) {
            return try patch.filter { $0.object?["$patch"]?.string != "replace" }.map { (item) throws(PatchError) -> JSON in
                try stripDirectives(item)
            }
        }
        guard let mergeKey = field.mergeKey else {
            // A primitive list that merges: the union, ordered as kube orders it.
            var result = original
            for item in patch where !result.contains(item) { result.append(item) }
            return normalizeOrder(result, patchOrder: patch, serverOrder: original, mergeKey: nil)
        }
        var result = original
        // The patch's elements other than deletions: they set the order of what they name.
        var kept: [JSON] = []
        for item in patch {
            guard case .object(var element) = item else {
                if !result.contains(item) { result.append(item) }
                continue
            }
            guard let key = element[mergeKey] else {
                throw PatchError("map: \(item.text) does not contain declared merge key: \(mergeKey)", malformed: true)
            }
            let index = result.firstIndex { $0.object?[mergeKey] == key }
            if element["$patch"]?.string == "delete" {
                if let index { result.remove(at: index) }
                continue
            }
            element["$patch"] = nil
            if let index, case .object(let existing) = result[index] {
                result[index] = .object(try mergeObject(existing, element, field.ref))
            } else {
                result.append(.object(try mergeObject(JSONObject(), element, field.ref)))
            }
            kept.append(.object(element))
        }
        return normalizeOrder(result, patchOrder: kept, serverOrder: original, mergeKey: mergeKey)
    }

    /// Orders a merged list as kube's strategic merge does: the elements the patch (or its
    /// `$setElementOrder`) names in the patch's order, the others (server-only) in the original's
    /// order, the two interleaved by their places in the original; an element the original lacks
    /// goes before the server-only element it is compared with. (So a new element with no order
    /// given lands first.) Elements are identified by `mergeKey`, or by value for primitives.
    static func normalizeOrder(_ merged: [JSON], patchOrder: [JSON], serverOrder: [JSON], mergeKey: String?) -> [JSON] {
        func id(_ item: JSON) -> JSON { mergeKey.flatMap { item.object?[$0] } ?? item }
        let patchIDs = patchOrder.map(id)
        let serverIDs = serverOrder.map(id)
        var fromPatch: [(Int, JSON)] = []
        var serverOnly: [(Int, JSON)] = []
        for item in merged {
            if let i = patchIDs.firstIndex(of: id(item)) {
                fromPatch.append((i, item))
            } else {
                serverOnly.append((serverIDs.firstIndex(of: id(item)) ?? Int.max, item))
            }
        }
        // Stable sorts: equal places keep the merged order.
        let left = serverOnly.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
        let right = fromPatch.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
        var result: [JSON] = []
        result.reserveCapacity(merged.count)
        var i = 0
        var j = 0
        while i < left.count || j < right.count {
            if j >= right.count {
                result.append(left[i])
                i += 1
            } else if i >= left.count {
                result.append(right[j])
                j += 1
            } else if let li = serverIDs.firstIndex(of: id(left[i])), let ri = serverIDs.firstIndex(of: id(right[j])), li < ri {
                result.append(left[i])
                i += 1
            } else {
                result.append(right[j])
                j += 1
            }
        }
        return result
    }

    /// A value from a patch without its directives (an element added whole).
    static func stripDirectives(_ value: JSON) throws(PatchError) -> JSON {
        guard case .object(let o) = value else { return value }
        return .object(try mergeObject(JSONObject(), o, nil))
    }
}

extension JSON {
    /// The JSON kind's name in Go's messages (`object`, `array`, `string`...).
    package var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON pointer token with `~1` as `/` and `~0` as `~` (in that order, as RFC 6901 says).
private func unescapeToken(_ token: Substring) -> String {
    var out = ""
    var chars = token.makeIterator()
    while let c = chars.next() {
        guard c == "~" else {
            out.append(c)
            continue
        }
        switch chars.next() {
        case "1": out.append("/")
        case "0": out.append("~")
        case let other?: out.append("~\(other)")
        case nil: out.append("~")
        }
    }
    return out
}
