package import APIMachinery
import Foundation

// Which representation of an object the client asked for in `Accept`, as kube-apiserver
// negotiates it: the object itself in JSON, a meta.k8s.io Table (kubectl get), or only the
// metadata (PartialObjectMetadata, the metadata informers'). Protobuf and YAML responses are not
// served, so a client that accepts only those gets 406.

/// The negotiated response representation of a resource request.
package enum Representation: Sendable, Equatable {
    /// The object or list as stored, in JSON.
    case object
    /// A `Table` of meta.k8s.io `version` (v1 or v1beta1).
    case table(version: String)
    /// `PartialObjectMetadata` (one object) or `PartialObjectMetadataList` (a list) of meta.k8s.io `version`.
    case partialMetadata(list: Bool, version: String)

    /// The media types a response can take (the 406 message lists them).
    static let served = ["application/json"]

    /// The first clause of an Accept header this server can answer, in kube's order: by `q`, then
    /// specific types before wildcards, then as written. An empty header is JSON.
    package init(accept header: String) throws(APIStatus) {
        if header.trimmingCharacters(in: .whitespaces).isEmpty {
            self = .object
            return
        }
        for clause in Self.clauses(header) {
            guard
                clause.type == "*" && clause.subtype == "*"
                    || clause.type == "application" && (clause.subtype == "json" || clause.subtype == "*")
            else { continue }
            if let chosen = Self.conversion(clause.params) {
                self = chosen
                return
            }
        }
        throw APIStatus(
            code: 406, reason: .notAcceptable,
            message: "only the following media types are accepted: \(Self.served.joined(separator: ", "))")
    }

    /// The representation a clause's `as`, `g` and `v` parameters name, nil when this server cannot produce it.
    static func conversion(_ params: [String: String]) -> Representation? {
        guard let kind = params["as"] else {
            return params["g"] == nil && params["v"] == nil ? .object : nil
        }
        guard params["g"] == "meta.k8s.io", let version = params["v"], version == "v1" || version == "v1beta1" else { return nil }
        switch kind {
        case "Table": return .table(version: version)
        case "PartialObjectMetadata": return .partialMetadata(list: false, version: version)
        case "PartialObjectMetadataList": return .partialMetadata(list: true, version: version)
        default: return nil
        }
    }

    /// One media range of an Accept header.
    struct Clause {
        var type: String
        var subtype: String
        var q: Double
        var params: [String: String]
    }

    /// The clauses of an Accept header, most preferred first (goautoneg's order: higher `q`, then
    /// a specific type or subtype before a wildcard; ties keep the header's order).
    static func clauses(_ header: String) -> [Clause] {
        var clauses: [Clause] = []
        for part in header.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let range = fields.first, !range.isEmpty else { continue }
            let halves = range.split(separator: "/", maxSplits: 1).map { String($0).lowercased() }
            var clause = Clause(type: halves[0], subtype: halves.count > 1 ? halves[1] : "*", q: 1, params: [:])
            for field in fields.dropFirst() {
                let kv = field.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { continue }
                if kv[0] == "q" {
                    clause.q = Double(kv[1]) ?? 0
                } else {
                    clause.params[kv[0]] = kv[1]
                }
            }
            clauses.append(clause)
        }
        let ranked = clauses.enumerated().sorted { a, b in
            if a.element.q != b.element.q { return a.element.q > b.element.q }
            let wildA = (a.element.type == "*" ? 2 : 0) + (a.element.subtype == "*" ? 1 : 0)
            let wildB = (b.element.type == "*" ? 2 : 0) + (b.element.subtype == "*" ? 1 : 0)
            if wildA != wildB { return wildA < wildB }
            return a.offset < b.offset
        }
        return ranked.map(\.element).filter { $0.q > 0 }
    }
}

extension Representation {
    /// The metadata-only form of one object (its kind becomes PartialObjectMetadata).
    static func partial(_ object: JSON, version: String) -> JSON {
        .object(
            JSONObject([
                ("kind", "PartialObjectMetadata"), ("apiVersion", .string("meta.k8s.io/\(version)")),
                ("metadata", object["metadata"] ?? .object(JSONObject()))
            ]))
    }

    /// An answer of a get (`list` false) or list in this representation; the object itself for `.object`.
    /// A Table is made by `table`, given the objects and the list's metadata.
    func transform(_ body: JSON, list: Bool, resource: ResourceInfo, table: (_ objects: [JSON], _ metadata: JSON) throws(APIStatus) -> JSON)
        throws(APIStatus) -> JSON
    {
        switch self {
        case .object:
            return body
        case .table:
            if list { return try table(body["items"]?.array ?? [], body["metadata"] ?? .object(JSONObject())) }
            var meta = JSONObject()
            if let rv = body["metadata"]?["resourceVersion"] { meta["resourceVersion"] = rv }
            return try table([body], .object(meta))
        case .partialMetadata(let wantsList, let version):
            let typeName =
                "*\(resource.group.isEmpty ? "core" : resource.group.split(separator: ".")[0]).\(resource.kind)\(list ? "List" : "")"
            guard wantsList == list else {
                let message =
                    wantsList
                    ? "you requested PartialObjectMetadataList, but the requested object is not a list (\(typeName))"
                    : "you requested PartialObjectMetadata, but the requested object is a list (\(typeName))"
                throw APIStatus(code: 406, reason: .notAcceptable, message: message)
            }
            guard list else { return Self.partial(body, version: version) }
            var meta = JSONObject()
            for key in ["resourceVersion", "continue", "remainingItemCount"] {
                if let value = body["metadata"]?[key] { meta[key] = value }
            }
            let items = (body["items"]?.array ?? []).map { Self.partial($0, version: version) }
            return .object(
                JSONObject([
                    ("kind", "PartialObjectMetadataList"), ("apiVersion", .string("meta.k8s.io/\(version)")), ("metadata", .object(meta)),
                    ("items", items.isEmpty ? .null : .array(items))
                ]))
        }
    }
}

/// A response's representation with the Table options that go with it (`includeObject`).
struct Shown: Sendable {
    var representation: Representation = .object
    var include: TableInclude = .metadata

    init() {}

    /// The representation `Accept` asks for, and for a Table the `includeObject` parameter (a 400
    /// for a value kube does not know).
    init(accept: String, query: Query) throws(APIStatus) {
        representation = try Representation(accept: accept)
        if case .table = representation {
            let value = query.value("includeObject") ?? ""
            guard let include = TableInclude(parameter: value) else { throw TableInclude.invalidParameter(value) }
            self.include = include
        }
    }

    /// A get's object or a list in this representation, with ages counted to `now`.
    func transform(_ body: JSON, list: Bool, resource: ResourceInfo, now: Date) throws(APIStatus) -> JSON {
        try representation.transform(body, list: list, resource: resource) { (objects, meta) throws(APIStatus) -> JSON in
            table(resource, objects, meta, headers: true, now: now)
        }
    }

    /// The Table of `objects` under a list's `meta` (resourceVersion, continue, remainingItemCount).
    func table(_ resource: ResourceInfo, _ objects: [JSON], _ meta: JSON, headers: Bool, now: Date) -> JSON {
        var document = TablePrinter.table(
            for: resource, objects: objects, resourceVersion: meta["resourceVersion"]?.string ?? "",
            continueToken: meta["continue"]?.string, remainingItemCount: meta["remainingItemCount"]?.int64, include: include,
            headers: headers, now: TableInstant(unixSeconds: now.timeIntervalSince1970))
        if case .table(let version) = representation, version != "v1" {
            // meta.k8s.io/v1beta1: the same document under the older version.
            let apiVersion = JSON.string("meta.k8s.io/\(version)")
            document["apiVersion"] = apiVersion
            if include == .metadata, var rows = document["rows"]?.array {
                for i in rows.indices { rows[i]["object"]?["apiVersion"] = apiVersion }
                document["rows"] = .array(rows)
            }
        }
        return document
    }

    /// One watch event's object in this representation; `headers` says whether a Table carries its
    /// column definitions (only the first event's does).
    func event(_ object: JSON, resource: ResourceInfo, headers: Bool, now: Date) -> JSON {
        switch representation {
        case .object:
            return object
        case .table:
            var meta = JSONObject()
            if let rv = object["metadata"]?["resourceVersion"] { meta["resourceVersion"] = rv }
            return table(resource, [object], .object(meta), headers: headers, now: now)
        case .partialMetadata(_, let version):
            return Representation.partial(object, version: version)
        }
    }
}
