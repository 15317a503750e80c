// Server-side tables (meta.k8s.io/v1 Table): what kube-apiserver 1.32 answers to `kubectl get`'s
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Column definitions and row cells are
// computed from an object's JSON the way Kubernetes' printers compute them from typed objects
// (pkg/printers/internalversion), the aggregator's APIService convertor, the apiextensions
// convertor for custom resources' additionalPrinterColumns, and the default convertor
// (Name, Created At) for resources without a printer.

/// One column of a Table: a `columnDefinitions` entry. `type` is an OpenAPI type (`string`,
/// `integer`, `number`, `boolean`, `date`); `format` is `name` for the NAME column; `priority` 0
/// columns show by default and priority 1 ones only with `-o wide`.
package struct TableColumn: Sendable, Equatable {
    package var name: String
    package var type: String
    package var format: String
    package var description: String
    package var priority: Int32

    package init(name: String, type: String, format: String = "", description: String, priority: Int32 = 0) {
        self.name = name
        self.type = type
        self.format = format
        self.description = description
        self.priority = priority
    }

    /// The `columnDefinitions` entry, members in the order kube writes them (none omitted).
    package var json: JSON {
        .object([
            "name": .string(name), "type": .string(type), "format": .string(format), "description": .string(description),
            "priority": .number(JSONNumber(Int64(priority)))
        ])
    }
}

/// What each row's `object` holds: the `includeObject` query parameter (`None`, `Metadata`, the
/// default, or `Object`).
package enum TableInclude: Sendable, Equatable {
    /// `"object": null`.
    case none
    /// A PartialObjectMetadata with the object's metadata.
    case metadata
    /// The whole object.
    case object

    /// The value of `includeObject` (case as Kubernetes spells it; "" is the default), or nil
    /// when Kubernetes would answer `unrecognized includeObject value`.
    package init?(parameter: String) {
        switch parameter {
        case "None": self = .none
        case "Metadata", "": self = .metadata
        case "Object": self = .object
        default: return nil
        }
    }

    /// The 400 kube-apiserver answers for an `includeObject` value it does not know (the Table
    /// options validation), e.g. `… includeObject: Invalid value: "all": must be 'Metadata', …`.
    package static func invalidParameter(_ value: String) -> APIStatus {
        // Go quotes the value with %q.
        let quoted = GoValue.quote(value)
        let error = FieldError(
            .invalid, field: "includeObject", value: quoted, detail: "must be 'Metadata', 'Object', 'None', or empty")
        return .badRequest("Unable to convert to Table as requested: \(error)")
    }
}

/// The cells of one row and its `conditions` (pods that succeeded or failed are `Completed`).
struct TableRow: Sendable {
    var cells: [JSON]
    var conditions: [JSON] = []
}

/// How one resource becomes a Table: its column definitions, how one object becomes a row, and
/// whether an empty list has `"rows": null` (the default convertor, which never makes its
/// slice) rather than `[]`.
struct TableConvertor: Sendable {
    var columns: [TableColumn]
    var row: @Sendable (GoFields, TableInstant) -> TableRow
    var emptyRowsAreNull = false
}

/// Server-side Table output for built-in and custom resources.
package enum TablePrinter {
    /// The column definitions kube-apiserver sends for `resource`, wide (priority 1) ones included:
    /// the server always generates wide tables and kubectl hides priority 1 columns itself.
    package static func columns(for resource: ResourceInfo) -> [TableColumn] { convertor(for: resource).columns }

    /// One object's row cells, one per column of `columns(for:)`; `now` is Unix seconds.
    package static func cells(for resource: ResourceInfo, object: JSON, now: Int64) -> [JSON] {
        cells(for: resource, object: object, now: TableInstant(seconds: now))
    }

    /// One object's row cells at an instant that may have a fraction of a second.
    package static func cells(for resource: ResourceInfo, object: JSON, now: TableInstant) -> [JSON] {
        convertor(for: resource).row(GoFields(object), now).cells
    }

    /// The whole Table document for a list (or, with one object, for a single-object GET, whose
    /// metadata carries that object's resourceVersion and no continue token). `headers: false`
    /// leaves `columnDefinitions` null, as in a watch's events after the first (the apiserver sets
    /// TableOptions' noHeaders once it has sent the headers).
    package static func table(
        for resource: ResourceInfo, objects: [JSON], resourceVersion: String, continueToken: String?,
        remainingItemCount: Int64?, include: TableInclude = .metadata, headers: Bool = true, now: Int64
    ) -> JSON {
        table(
            for: resource, objects: objects, resourceVersion: resourceVersion, continueToken: continueToken,
            remainingItemCount: remainingItemCount, include: include, headers: headers, now: TableInstant(seconds: now))
    }

    /// The Table document at an instant that may have a fraction of a second.
    package static func table(
        for resource: ResourceInfo, objects: [JSON], resourceVersion: String, continueToken: String?,
        remainingItemCount: Int64?, include: TableInclude = .metadata, headers: Bool = true, now: TableInstant
    ) -> JSON {
        document(
            convertor(for: resource), objects: objects,
            list: ListMeta(resourceVersion: resourceVersion, continueToken: continueToken, remainingItemCount: remainingItemCount),
            include: include, headers: headers, now: now)
    }

    // MARK: - Custom resources

    /// The columns of a custom resource version whose CRD has `printerColumns` as its
    /// `additionalPrinterColumns` (an array, or null/absent): NAME, then each column in order; a
    /// version without any gets Kubernetes' default `Age` column.
    package static func columns(printerColumns: JSON) -> [TableColumn] {
        CustomResourceTable.convertor(printerColumns: printerColumns).columns
    }

    /// One custom resource's row cells for those columns.
    package static func cells(printerColumns: JSON, object: JSON, now: Int64) -> [JSON] {
        CustomResourceTable.convertor(printerColumns: printerColumns).row(GoFields(object), TableInstant(seconds: now)).cells
    }

    /// The Table document for custom resources of a version with these printer columns.
    package static func table(
        printerColumns: JSON, objects: [JSON], resourceVersion: String, continueToken: String?, remainingItemCount: Int64?,
        include: TableInclude = .metadata, headers: Bool = true, now: Int64
    ) -> JSON {
        document(
            CustomResourceTable.convertor(printerColumns: printerColumns), objects: objects,
            list: ListMeta(resourceVersion: resourceVersion, continueToken: continueToken, remainingItemCount: remainingItemCount),
            include: include, headers: headers, now: TableInstant(seconds: now))
    }

    // MARK: - Document

    /// The Table's `metadata` (a ListMeta; empty members are left out).
    private struct ListMeta {
        var resourceVersion: String
        var continueToken: String?
        var remainingItemCount: Int64?

        var json: JSON {
            var object = JSONObject()
            if !resourceVersion.isEmpty { object["resourceVersion"] = .string(resourceVersion) }
            if let continueToken, !continueToken.isEmpty { object["continue"] = .string(continueToken) }
            if let remainingItemCount { object["remainingItemCount"] = .number(JSONNumber(remainingItemCount)) }
            return .object(object)
        }
    }

    /// The Table as kube-apiserver encodes it: kind, apiVersion, metadata, columnDefinitions (null
    /// without headers), rows; each row's cells, its conditions when it has some, and its object
    /// per `include`.
    private static func document(
        _ convertor: TableConvertor, objects: [JSON], list: ListMeta, include: TableInclude, headers: Bool, now: TableInstant
    ) -> JSON {
        let rows: [JSON] = objects.map { object in
            let row = convertor.row(GoFields(object), now)
            var entry: JSONObject = ["cells": .array(row.cells)]
            if !row.conditions.isEmpty { entry["conditions"] = .array(row.conditions) }
            entry["object"] = rowObject(object, include: include)
            return .object(entry)
        }
        return .object([
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list.json,
            "columnDefinitions": headers ? .array(convertor.columns.map(\.json)) : .null,
            "rows": rows.isEmpty && convertor.emptyRowsAreNull ? .null : .array(rows)
        ])
    }

    /// A row's `object`: null, a PartialObjectMetadata, or the object itself.
    private static func rowObject(_ object: JSON, include: TableInclude) -> JSON {
        switch include {
        case .none: .null
        case .object: object
        case .metadata:
            .object([
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": partialMetadata(object["metadata"] ?? .null)
            ])
        }
    }

    /// The ObjectMeta members meta.AsPartialObjectMetadata copies, in Go's field order, empty
    /// ones left out as encoding/json leaves out `omitempty` members; `creationTimestamp` is
    /// always written (null when unset), timestamps are rewritten as metav1.Time writes them and
    /// label and annotation keys are sorted, as Go writes maps.
    static func partialMetadata(_ metadata: JSON) -> JSON {
        var out = JSONObject()
        for key in ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"] {
            if let text = metadata[key]?.string, !text.isEmpty { out[key] = .string(text) }
        }
        if let generation = metadata["generation"]?.number, generation.int64 != 0 { out["generation"] = .number(generation) }
        out["creationTimestamp"] = timestamp(metadata["creationTimestamp"]) ?? .null
        if let deletion = timestamp(metadata["deletionTimestamp"]) { out["deletionTimestamp"] = deletion }
        if let grace = metadata["deletionGracePeriodSeconds"], case .number = grace { out["deletionGracePeriodSeconds"] = grace }
        for key in ["labels", "annotations"] {
            // Go writes a map's keys sorted.
            if let map = metadata[key]?.object, !map.isEmpty {
                out[key] = .object(JSONObject(map.map { ($0.key, $0.value) }.sorted { TableFormat.goLess($0.0, $1.0) }))
            }
        }
        for key in ["ownerReferences", "finalizers", "managedFields"] {
            if let list = metadata[key]?.array, !list.isEmpty { out[key] = .array(list) }
        }
        return .object(out)
    }

    /// A timestamp member as metav1.Time encodes it (UTC, whole seconds), nil when unset.
    private static func timestamp(_ value: JSON?) -> JSON? {
        guard let text = value?.string, !text.isEmpty else { return nil }
        guard let instant = TableTime.parse(text) else { return .string(text) }
        return instant.isZero ? nil : .string(TableTime.format(instant))
    }

    // MARK: - Convertors

    /// The convertor kube-apiserver uses for a built-in resource: its printer, or the default.
    static func convertor(for resource: ResourceInfo) -> TableConvertor {
        BuiltinTables.convertor(group: resource.group, kind: resource.kind) ?? defaultConvertor
    }

    /// k8s.io/apiserver's default table convertor: Name and Created At (a `date` column whose
    /// cell is the creation time in RFC 3339, `0001-01-01T00:00:00Z` when unset).
    static let defaultConvertor = TableConvertor(
        columns: [
            TableColumn(name: "Name", type: "string", format: "name", description: TableDescriptions.name),
            TableColumn(name: "Created At", type: "date", description: TableDescriptions.creationTimestamp)
        ],
        row: { object, _ in
            TableRow(cells: [
                .string(object.string("metadata", "name")), .string(TableTime.format(object.time("metadata", "creationTimestamp")))
            ])
        },
        emptyRowsAreNull: true)
}

/// Short descriptions for the columns (Kubernetes fills its own from the API documentation).
enum TableDescriptions {
    static let name = "Name of the object, unique within its namespace."
    static let creationTimestamp = "When the object was created; shown as its age."
    static let containers = "Names of the containers in the pod template."
    static let images = "Images of the containers in the pod template."
    static let selector = "Label selector of the pods this object manages."
}
