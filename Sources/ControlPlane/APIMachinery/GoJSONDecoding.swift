// kube-apiserver decodes every create, update and patch body into the kind's Go struct
// (sigs.k8s.io/json: case-sensitive, strict mode collecting unknown and duplicate fields) and
// stores json.Marshal of that struct. This file does the same over the GoTypes model: it drops
// unknown fields (reporting them as fieldValidation asks), rejects values of the wrong JSON type
// with encoding/json's messages, and writes the result as Go would (GoJSONWriter).

/// The `fieldValidation` query parameter of create, update and patch: what to do with unknown
/// and duplicate fields. Absent (or empty) means `Warn`.
package enum FieldValidation: String, Sendable, Hashable {
    case strict = "Strict"
    case warn = "Warn"
    case ignore = "Ignore"

    /// The values ValidateFieldValidation accepts, sorted as its error lists them.
    private static let supportedValues = ["", "Ignore", "Strict", "Warn"]

    /// Reads the query value; a value kube does not know is its 422 on the options kind
    /// (`CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "x":
    /// supported values: "", "Ignore", "Strict", "Warn"`). `optionsKind` is `CreateOptions`,
    /// `UpdateOptions` or `PatchOptions`.
    package init(query value: String?, optionsKind: String) throws(APIStatus) {
        guard let value, !value.isEmpty else {
            self = .warn
            return
        }
        guard let known = FieldValidation(rawValue: value) else {
            let supported = "supported values: " + Self.supportedValues.map(GoValue.quote).joined(separator: ", ")
            let error = FieldError(.notSupported, field: "fieldValidation", value: GoValue.quote(value), detail: supported)
            throw APIStatus.invalid(kind: optionsKind, group: "meta.k8s.io", name: "", errors: [error])
        }
        self = known
    }

    /// Whether unknown and duplicate fields are looked for at all (the strict decoder is used).
    var collectsStrictErrors: Bool { self != .ignore }
}

/// A body kube-apiserver would not decode, with its 400 message.
package struct GoDecodeError: Error, Sendable, Equatable {
    /// The unknown and duplicate fields (`unknown field "spec.foo"`) when that is the failure
    /// (Strict mode); empty for a type or value error.
    package var strictErrors: [String]
    /// The decoder's own text: `strict decoding error: unknown field "spec.foo"` or
    /// `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`.
    package var detail: String
    /// transformDecodeError's message: `Deployment in version "v1" cannot be handled as a Deployment: <detail>`.
    package var message: String

    /// The 400 BadRequest kube answers a create or update with. (A patch reports strict errors
    /// as a 422 on the field `patch`; build that from `strictErrors`.)
    package var status: APIStatus { .badRequest(message) }
}

/// Decodes request objects as kube-apiserver's Go decoder does and marshals them as it stores them.
package enum GoJSONDecoder {
    /// Strict errors kept at most (sigs.k8s.io/json stops collecting after this many).
    static let maxStrictErrors = 100

    /// The object as kube stores it (Go field order, omitempty, zero values, canonical quantities
    /// and times, unknown fields gone, `apiVersion` and `kind` set), and the warning texts
    /// (`unknown field "spec.foo"`) in Warn mode. Kinds that are not built in are returned as
    /// they are (kube decodes those as unstructured). The tree has no duplicate keys: use
    /// `normalize(bytes:…)` to have them reported.
    package static func normalize(
        _ object: JSON, apiVersion: String, kind: String, validation: FieldValidation
    ) throws(GoDecodeError) -> (object: JSON, warnings: [String]) {
        try normalize(object, duplicates: [], apiVersion: apiVersion, kind: kind, validation: validation)
    }

    /// As `normalize(_:…)`, from the body's bytes, so that repeated keys are reported as
    /// `duplicate field "metadata.name"` (where Go's decoder sees them: in typed fields and maps,
    /// not inside RawExtension or unknown fields). A repeated key keeps its last value. The body
    /// must be valid JSON: a syntax error is thrown as the parser's JSONError message.
    package static func normalize(
        bytes: some Collection<UInt8>, apiVersion: String, kind: String, validation: FieldValidation
    ) throws(GoDecodeError) -> (object: JSON, warnings: [String]) {
        var duplicates: [String] = []
        let object: JSON
        do throws(JSONError) {
            object = validation.collectsStrictErrors ? try JSON.parse(bytes, duplicateKeys: &duplicates) : try JSON.parse(bytes)
        } catch {
            throw GoDecodeError(strictErrors: [], detail: error.message, message: error.message)
        }
        return try normalize(object, duplicates: Set(duplicates), apiVersion: apiVersion, kind: kind, validation: validation)
    }

    private static func normalize(
        _ object: JSON, duplicates: Set<String>, apiVersion: String, kind: String, validation: FieldValidation
    ) throws(GoDecodeError) -> (object: JSON, warnings: [String]) {
        let version = apiVersion.split(separator: "/").last.map(String.init) ?? apiVersion
        let prefix = "\(kind) in version \(GoValue.quote(version)) cannot be handled as a \(kind): "
        guard let index = GoTypes.kind(apiVersion: apiVersion, kind: kind) else {
            // Unstructured: every repeated key is a strict error; nothing else is checked here.
            let found = validation.collectsStrictErrors ? duplicates.sorted().map { "duplicate field " + GoValue.quote($0) } : []
            return try finish(object, strictErrors: found, validation: validation, prefix: prefix)
        }
        var decoder = StructDecoder(strict: validation.collectsStrictErrors, duplicates: duplicates)
        var fields: [DecodedValue?]
        do throws(DecodeFailure) {
            fields = try decoder.topLevel(index, object)
            if let saved = decoder.saved { throw saved }
        } catch {
            throw GoDecodeError(strictErrors: [], detail: error.text, message: prefix + error.text)
        }
        setTypeMeta(&fields, index, apiVersion: apiVersion, kind: kind)
        let json: JSON
        do throws(ProtobufFailure) {
            json = try GoJSONWriter().structure(index, fields)
        } catch {
            throw GoDecodeError(strictErrors: [], detail: error.message, message: prefix + error.message)
        }
        return try finish(json, strictErrors: decoder.strictErrors, validation: validation, prefix: prefix)
    }

    /// Applies the validation mode to the strict errors found: Strict fails, Warn warns.
    private static func finish(
        _ json: JSON, strictErrors: [String], validation: FieldValidation, prefix: String
    ) throws(GoDecodeError) -> (object: JSON, warnings: [String]) {
        guard !strictErrors.isEmpty else { return (json, []) }
        switch validation {
        case .strict:
            let detail = "strict decoding error: " + strictErrors.joined(separator: ", ")
            throw GoDecodeError(strictErrors: strictErrors, detail: detail, message: prefix + detail)
        case .warn: return (json, strictErrors)
        case .ignore: return (json, [])
        }
    }

    /// Sets the inline TypeMeta's `kind` and `apiVersion`, as kube's encoder does before writing.
    private static func setTypeMeta(_ fields: inout [DecodedValue?], _ index: Int, apiVersion: String, kind: String) {
        let structure = GoTypes.builtinStructs[index]
        for (position, field) in structure.fields.enumerated() where field.inline {
            guard case .structure(let inner) = field.shape else { continue }
            let innerFields = GoTypes.builtinStructs[inner].fields
            guard let kindAt = innerFields.firstIndex(where: { $0.jsonName == "kind" }),
                let versionAt = innerFields.firstIndex(where: { $0.jsonName == "apiVersion" })
            else { continue }
            var values = [DecodedValue?](repeating: nil, count: innerFields.count)
            if case .structure(let existing) = fields[position] { values = existing }
            values[kindAt] = .scalar(.string(kind))
            values[versionAt] = .scalar(.string(apiVersion))
            fields[position] = .structure(values)
        }
    }
}

// MARK: - Errors

/// A decoding failure as encoding/json reports it.
enum DecodeFailure: Error {
    /// UnmarshalTypeError: the JSON kind (`string`, `number 1.5`) and the Go type it could not
    /// go into, with the struct and JSON field path in effect when it happened (empty outside a struct).
    case type(value: String, goType: String, structName: String, field: String)
    /// Any other error, printed as it is (a quantity, time or base64 error).
    case other(String)

    var text: String {
        switch self {
        case .type(let value, let goType, let structName, let field):
            // reflect spells `[]byte` as `[]uint8`.
            let goType = goType.replacing("[]byte", with: "[]uint8")
            if structName.isEmpty && field.isEmpty { return "json: cannot unmarshal \(value) into Go value of type \(goType)" }
            return "json: cannot unmarshal \(value) into Go struct field \(structName).\(field) of type \(goType)"
        case .other(let text): return text
        }
    }

    /// The error with the decoder's current context, as addErrorContext rewrites a type error.
    func inContext(structName: String, field: String) -> DecodeFailure {
        guard case .type(let value, let goType, _, _) = self, !structName.isEmpty || !field.isEmpty else { return self }
        return .type(value: value, goType: goType, structName: structName, field: field)
    }
}

// MARK: - Field lookup

/// Where a JSON name lands in a struct: the field's position (for a field promoted from an
/// inline struct, the inline field's position, then the position inside it), with what the
/// decoder needs of the field, copied out so the walk touches no GoField.
struct FieldRoute {
    var outer: Int
    var inner: Int?
    /// The inline struct's field count (0 for a direct field).
    var innerCount: Int
    var shape: GoShape
    var goType: String
}

/// What the decoder needs of one struct: its Go name (for error context), its field count,
/// its custom JSON form, and its JSON names.
struct StructDecodeTable {
    var goName: String
    var fieldCount: Int
    var customJSON: GoCustomJSON?
    var routes: [String: FieldRoute]
}

extension GoTypes {
    /// For each struct, its decode table (inline structs' fields promoted, the outer name winning).
    static let decodeTables: [StructDecodeTable] = builtinStructs.map { structure in
        var routes: [String: FieldRoute] = [:]
        for (position, field) in structure.fields.enumerated() where !field.inline {
            routes[field.jsonName] = FieldRoute(outer: position, inner: nil, innerCount: 0, shape: field.shape, goType: field.goType)
        }
        for (position, field) in structure.fields.enumerated() where field.inline {
            guard case .structure(let inner) = field.shape else { continue }
            let innerFields = builtinStructs[inner].fields
            for (innerPosition, innerField) in innerFields.enumerated() where routes[innerField.jsonName] == nil {
                routes[innerField.jsonName] = FieldRoute(
                    outer: position, inner: innerPosition, innerCount: innerFields.count, shape: innerField.shape,
                    goType: innerField.goType)
            }
        }
        return StructDecodeTable(
            goName: structure.goName, fieldCount: structure.fields.count, customJSON: structure.customJSON, routes: routes)
    }
}

// MARK: - The decoder

/// One step of a strict path: an object key or a list index.
enum PathSegment {
    case key(String)
    case index(Int)
}

/// Walks a JSON value along the Go types, building the struct's field values. Type errors are
/// kept (the first one) and decoding goes on, as encoding/json's saveError does; errors from a
/// type's own UnmarshalJSON (times, quantities, IntOrString) end decoding at once.
struct StructDecoder {
    /// Whether unknown and duplicate fields are collected.
    let strict: Bool
    /// The repeated keys the parser saw, by path; reported where the walk reaches a typed key.
    let duplicates: Set<String>
    private(set) var strictErrors: [String] = []
    private var seenStrictErrors: Set<String> = []
    /// The first type error, reported when decoding finishes without a worse one.
    private(set) var saved: DecodeFailure?
    /// encoding/json's error context: the struct whose field is being read, and the JSON names
    /// of the struct fields from the top (map keys and list indexes are not part of it).
    private var contextStruct = ""
    private var fieldStack: [String] = []
    /// sigs.k8s.io/json's strict path: keys and `[i]` indexes from the top.
    private var strictStack: [PathSegment] = []
    /// Inside a custom UnmarshalJSON that decodes with the non-strict decoder.
    private var nonStrictDepth = 0

    init(strict: Bool, duplicates: Set<String>) {
        self.strict = strict
        self.duplicates = duplicates
    }

    /// The top-level object's fields.
    mutating func topLevel(_ index: Int, _ json: JSON) throws(DecodeFailure) -> [DecodedValue?] {
        guard case .object(let object) = json else {
            throw DecodeFailure.type(value: json.kindName, goType: Self.goTypeName(.structure(index)), structName: "", field: "")
        }
        return try fields(index, object, existing: nil)
    }

    // MARK: Structs

    /// A struct's fields from a JSON object.
    private mutating func fields(_ index: Int, _ object: JSONObject, existing: [DecodedValue?]?) throws(DecodeFailure) -> [DecodedValue?] {
        let table = GoTypes.decodeTables[index]
        var fields = existing ?? [DecodedValue?](repeating: nil, count: table.fieldCount)
        let outerStruct = contextStruct
        for (key, value) in object {
            guard let route = table.routes[key] else {
                if collecting { addStrictError("unknown field", strictPath(appending: key)) }
                continue
            }
            contextStruct = table.goName
            fieldStack.append(key)
            if collecting { strictStack.append(.key(key)) }
            let decoded = try self.value(route.shape, value, goType: route.goType)
            if collecting {
                reportDuplicate()
                strictStack.removeLast()
            }
            fieldStack.removeLast()
            contextStruct = outerStruct
            if let innerPosition = route.inner {
                var inner = [DecodedValue?](repeating: nil, count: route.innerCount)
                if case .structure(let current) = fields[route.outer] { inner = current }
                inner[innerPosition] = decoded
                fields[route.outer] = .structure(inner)
            } else {
                fields[route.outer] = decoded
            }
        }
        return fields
    }

    /// A struct value (not a pointer): an object fills it, null leaves it zero.
    private mutating func structure(_ index: Int, _ json: JSON, goType: String) throws(DecodeFailure) -> DecodedValue? {
        if let custom = GoTypes.decodeTables[index].customJSON { return try customStructure(custom, index, json) }
        switch json {
        case .object(let object): return .structure(try fields(index, object, existing: nil))
        case .null: return nil
        default:
            save(json, goType: goType)
            return nil
        }
    }

    // MARK: Values

    /// A field's (or element's) value; nil when Go leaves it zero or nil.
    private mutating func value(_ shape: GoShape, _ json: JSON, goType: String) throws(DecodeFailure) -> DecodedValue? {
        switch shape {
        case .pointer(let target):
            if json.isNull { return nil }
            let targetType = Self.strip("*", goType, target)
            return try value(target, json, goType: targetType) ?? Self.zeroValue(target)
        case .slice(let element):
            return try slice(element, json, goType: goType)
        case .map(let valueShape):
            return try map(valueShape, json, goType: goType)
        case .scalar(let scalar):
            return scalarValue(scalar, json, goType: goType)
        case .structure(let index):
            return try structure(index, json, goType: goType)
        case .special(let special):
            return try self.special(special, json)
        }
    }

    private mutating func slice(_ element: GoShape, _ json: JSON, goType: String) throws(DecodeFailure) -> DecodedValue? {
        switch json {
        case .null: return nil
        case .array(let items):
            let elementType = Self.strip("[]", goType, element)
            var list: [DecodedValue] = []
            list.reserveCapacity(items.count)
            for (position, item) in items.enumerated() {
                if collecting { strictStack.append(.index(position)) }
                list.append(try value(element, item, goType: elementType) ?? Self.zeroValue(element))
                if collecting { strictStack.removeLast() }
            }
            return .list(list)
        default:
            save(json, goType: goType)
            return nil
        }
    }

    private mutating func map(_ valueShape: GoShape, _ json: JSON, goType: String) throws(DecodeFailure) -> DecodedValue? {
        switch json {
        case .null: return nil
        case .object(let object):
            let valueType = Self.mapValueType(goType, valueShape)
            var map = DecodedMap()
            map.entries.reserveCapacity(object.count)
            for (key, item) in object {
                if collecting { strictStack.append(.key(key)) }
                let decoded = try value(valueShape, item, goType: valueType) ?? Self.zeroValue(valueShape)
                if collecting {
                    reportDuplicate()
                    strictStack.removeLast()
                }
                // Keys are unique in the tree, so entries can be appended without the byte index.
                map.entries.append((key, decoded))
            }
            return .map(map)
        default:
            save(json, goType: goType)
            return nil
        }
    }

    /// A scalar from a JSON literal, as literalStore converts it.
    private mutating func scalarValue(_ scalar: GoScalar, _ json: JSON, goType: String) -> DecodedValue? {
        switch (scalar, json) {
        case (_, .null): return nil
        case (.string, .string), (.bool, .bool): return .scalar(json)
        case (.int32, .number(let number)), (.int64, .number(let number)):
            guard let int = number.int64,
                scalar == .int64 || (Int64(Int32.min)...Int64(Int32.max)).contains(int)
            else {
                save(.type(value: "number " + number.text, goType: goType, structName: "", field: ""))
                return nil
            }
            return .scalar(.number(JSONNumber(int)))
        case (.float64, .number(let number)):
            guard let double = number.double else {
                save(.type(value: "number " + number.text, goType: goType, structName: "", field: ""))
                return nil
            }
            return .scalar(.number(JSONNumber(double)))
        case (.bytes, .string(let text)):
            do throws(GoBase64.CorruptInput) {
                return .scalar(.string(base64(try GoBase64.decode(text.utf8)[...])))
            } catch {
                save(.other(error.message))
                return nil
            }
        case (.bytes, .array(let items)):
            return byteArray(items)
        default:
            save(json, goType: goType)
            return nil
        }
    }

    /// A JSON array into `[]byte`: each element a number that fits a byte.
    private mutating func byteArray(_ items: [JSON]) -> DecodedValue? {
        var bytes: [UInt8] = []
        for (position, item) in items.enumerated() {
            if collecting { strictStack.append(.index(position)) }
            defer { if collecting { strictStack.removeLast() } }
            switch item {
            case .null: bytes.append(0)
            case .number(let number):
                guard let int = number.int64, let byte = UInt8(exactly: int) else {
                    save(.type(value: "number " + number.text, goType: "uint8", structName: "", field: ""))
                    return nil
                }
                bytes.append(byte)
            default:
                save(item, goType: "uint8")
                return nil
            }
        }
        return .scalar(.string(base64(bytes[...])))
    }

    // MARK: Types with their own UnmarshalJSON

    private mutating func special(_ special: GoSpecial, _ json: JSON) throws(DecodeFailure) -> DecodedValue? {
        switch special {
        case .time, .microTime:
            let layout: GoTimeLayout = special == .time ? .rfc3339 : .rfc3339Micro
            if json.isNull { return .special(.null) }
            let text = try stringForUnmarshal(json)
            do throws(GoTimeLayout.ParseError) {
                let (seconds, nanos) = try layout.parse(text)
                let digits = special == .time ? 0 : 6
                return .special(GoTime.json(seconds: seconds, nanos: nanos, fractionDigits: digits))
            } catch {
                throw .other(error.message)
            }
        case .duration:
            let text = json.isNull ? "" : try stringForUnmarshal(json)
            do throws(GoDurationParser.ParseError) {
                return .special(.string(GoDuration.text(nanoseconds: try GoDurationParser.parse(text))))
            } catch {
                throw .other(error.message)
            }
        case .intOrString:
            return .special(try intOrString(json))
        case .quantity:
            return .special(try quantity(json))
        case .rawExtension, .fieldsV1, .extensionJSON:
            return .special(json)
        }
    }

    /// What `json.Unmarshal(b, &str)` inside an UnmarshalJSON gives: the string, or a type error
    /// that ends decoding, in the field's context.
    private func stringForUnmarshal(_ json: JSON) throws(DecodeFailure) -> String {
        guard case .string(let text) = json else { throw failure(json, goType: "string") }
        return text
    }

    /// intstr.IntOrString: a string is kept, anything else goes into an int32.
    private func intOrString(_ json: JSON) throws(DecodeFailure) -> JSON {
        switch json {
        case .string: return json
        case .null: return .number(JSONNumber(Int64(0)))
        case .number(let number):
            guard let int = number.int64, let small = Int32(exactly: int) else {
                throw DecodeFailure.type(value: "number " + number.text, goType: "int32", structName: "", field: "")
                    .inContext(structName: contextStruct, field: fieldStack.joined(separator: "."))
            }
            return .number(JSONNumber(Int64(small)))
        default: throw failure(json, goType: "int32")
        }
    }

    /// resource.Quantity: ParseQuantity of the string (or the literal's text), written canonically.
    private func quantity(_ json: JSON) throws(DecodeFailure) -> JSON {
        let text: String
        switch json {
        case .null: return .string("0")
        case .string(let string):
            if Quantity.isCanonical(string) { return json }
            text = Self.trimSpace(string)
        case .number(let number): text = number.text
        case .bool(let value): text = value ? "true" : "false"
        case .array, .object: text = "{"
        }
        do throws(Quantity.ParseError) {
            return .string(try Quantity(parsing: text).description)
        } catch {
            throw .other(error.message)
        }
    }

    /// apiextensions' schema-or-something structs: their UnmarshalJSON decodes with the
    /// non-strict decoder, whose first error ends decoding in the field's context.
    private mutating func customStructure(_ custom: GoCustomJSON, _ index: Int, _ json: JSON) throws(DecodeFailure) -> DecodedValue? {
        let structure = GoTypes.builtinStructs[index]
        var fields = [DecodedValue?](repeating: nil, count: structure.fields.count)
        func position(_ goName: String) -> Int { structure.fields.firstIndex { $0.goName == goName } ?? 0 }
        nonStrictDepth += 1
        defer { nonStrictDepth -= 1 }
        let outerSaved = saved
        saved = nil
        defer { if saved == nil { saved = outerSaved } }
        switch (custom, json) {
        case (.schemaOrBool, .bool(let allows)):
            fields[position("Allows")] = .scalar(.bool(allows))
        case (.schemaOrBool, .object), (.schemaOrArray, .object), (.schemaOrStringArray, .object):
            let schema = position("Schema")
            fields[schema] = try nested(structure.fields[schema].shape, json)
            if custom == .schemaOrBool { fields[position("Allows")] = .scalar(.bool(true)) }
        case (.schemaOrArray, .array):
            let list = position("JSONSchemas")
            fields[list] = try nested(structure.fields[list].shape, json)
        case (.schemaOrStringArray, .array):
            let list = position("Property")
            fields[list] = try nested(structure.fields[list].shape, json)
        case (.schemaOrBool, _):
            throw .other("boolean or JSON schema expected")
        default:
            break
        }
        return .structure(fields)
    }

    /// A value decoded by a nested non-strict `json.Unmarshal`: its first error is returned by
    /// the UnmarshalJSON, and so ends decoding, rewritten to the outer field's context.
    private mutating func nested(_ shape: GoShape, _ json: JSON) throws(DecodeFailure) -> DecodedValue? {
        let context = (contextStruct, fieldStack, strictStack)
        contextStruct = ""
        fieldStack = []
        let decoded: DecodedValue?
        do throws(DecodeFailure) {
            decoded = try value(shape, json, goType: Self.goTypeName(shape))
            if let saved { throw saved }
        } catch {
            (contextStruct, fieldStack, strictStack) = context
            throw error.inContext(structName: contextStruct, field: fieldStack.joined(separator: "."))
        }
        (contextStruct, fieldStack, strictStack) = context
        return decoded
    }

    // MARK: Errors and strict paths

    private var collecting: Bool { strict && nonStrictDepth == 0 }

    /// A type error for `json` going into `goType`, in the current context.
    private func failure(_ json: JSON, goType: String) -> DecodeFailure {
        DecodeFailure.type(value: json.kindName, goType: goType, structName: "", field: "")
            .inContext(structName: contextStruct, field: fieldStack.joined(separator: "."))
    }

    private mutating func save(_ json: JSON, goType: String) { save(failure(json, goType: goType)) }

    /// Keeps the first type error, with the current context.
    private mutating func save(_ error: DecodeFailure) {
        guard saved == nil else { return }
        saved = error.inContext(structName: contextStruct, field: fieldStack.joined(separator: "."))
    }

    private func strictPath(appending key: String) -> String {
        var path = strictPath()
        if !path.isEmpty { path += "." }
        return path + key
    }

    /// The strict stack as a path: keys joined by `.`, indexes appended (`spec.containers[0].name`).
    private func strictPath() -> String {
        var path = ""
        for segment in strictStack {
            switch segment {
            case .key(let key):
                if !path.isEmpty { path += "." }
                path += key
            case .index(let position): path += "[\(position)]"
            }
        }
        return path
    }

    /// After a typed key's value: a duplicate error when the parser saw that key repeated.
    private mutating func reportDuplicate() {
        guard !duplicates.isEmpty else { return }
        let path = strictPath()
        if duplicates.contains(path) { addStrictError("duplicate field", path) }
    }

    /// Records a strict error once, up to the limit.
    private mutating func addStrictError(_ type: String, _ path: String) {
        guard strictErrors.count < GoJSONDecoder.maxStrictErrors else { return }
        let text = type + " " + GoValue.quote(path)
        if seenStrictErrors.insert(text).inserted { strictErrors.append(text) }
    }

    // MARK: Go type names

    /// The element type of a slice or pointer type (`[]v1.Container` → `v1.Container`), or the
    /// shape's own name when the field's type is a named type (`v1.ValidationRules`).
    private static func strip(_ prefix: String, _ goType: String, _ shape: GoShape) -> String {
        goType.hasPrefix(prefix) ? String(goType.dropFirst(prefix.count)) : goTypeName(shape)
    }

    /// A map's value type (`map[string]string` → `string`; `v1.ResourceList` → `resource.Quantity`).
    private static func mapValueType(_ goType: String, _ shape: GoShape) -> String {
        guard goType.hasPrefix("map["), let close = goType.firstIndex(of: "]") else { return goTypeName(shape) }
        return String(goType[goType.index(after: close)...])
    }

    /// A shape's Go type as reflect prints it, for types the field table does not spell out.
    static func goTypeName(_ shape: GoShape) -> String {
        switch shape {
        case .scalar(let scalar): return scalarTypeName(scalar)
        case .special(let special): return specialTypeName(special)
        case .structure(let index):
            let structure = GoTypes.builtinStructs[index]
            let package = structure.name.split(separator: ".").dropLast().last.map(String.init) ?? ""
            return package + "." + structure.goName
        case .pointer(let target): return "*" + goTypeName(target)
        case .slice(let element): return "[]" + goTypeName(element)
        case .map(let value): return "map[string]" + goTypeName(value)
        }
    }

    private static func scalarTypeName(_ scalar: GoScalar) -> String {
        switch scalar {
        case .string: "string"
        case .bool: "bool"
        case .int32: "int32"
        case .int64: "int64"
        case .float64: "float64"
        case .bytes: "[]uint8"
        }
    }

    private static func specialTypeName(_ special: GoSpecial) -> String {
        switch special {
        case .time: "v1.Time"
        case .microTime: "v1.MicroTime"
        case .duration: "v1.Duration"
        case .fieldsV1: "v1.FieldsV1"
        case .intOrString: "intstr.IntOrString"
        case .quantity: "resource.Quantity"
        case .rawExtension: "runtime.RawExtension"
        case .extensionJSON: "v1.JSON"
        }
    }

    /// The zero value an element or map value gets from `null` (or a failed decode).
    static func zeroValue(_ shape: GoShape) -> DecodedValue {
        switch shape {
        case .scalar(let scalar): .scalar(GoJSONWriter.zero(scalar) ?? .null)
        case .structure(let index): .structure([DecodedValue?](repeating: nil, count: GoTypes.builtinStructs[index].fields.count))
        case .special(let special): .special(GoJSONWriter.zero(special))
        case .pointer, .slice, .map: .scalar(.null)
        }
    }

    /// strings.TrimSpace for the ASCII and Latin-1 white space Go trims.
    private static func trimSpace(_ text: String) -> String {
        let isSpace: (Unicode.Scalar) -> Bool = { $0.properties.isWhitespace }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(scalars[first...last])
    }
}

extension Quantity {
    /// Most digits the canonical-text shortcut accepts (far below any rounding or overflow).
    private static let maxShortcutDigits = 15
    private static let shortcutDecimalSuffixes: Set<String> = ["", "n", "u", "m", "k", "M", "G", "T", "P"]
    private static let shortcutBinarySuffixes: Set<String> = ["Ki", "Mi", "Gi", "Ti", "Pi"]

    /// Whether `text` is already what parsing and printing it gives, decided without parsing:
    /// a non-zero integer without sign or leading zero and a decimal suffix, its digits not a
    /// multiple of 1000 (`1500m`, `250m`, `128974848`), or a binary suffix, its digits not a
    /// multiple of 1024 (`128Mi`). The write path meets such quantities nearly always.
    package static func isCanonical(_ text: String) -> Bool {
        var mantissa: UInt64 = 0
        var digits = 0
        var suffixStart = text.utf8.endIndex
        for index in text.utf8.indices {
            let byte = text.utf8[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                suffixStart = index
                break
            }
            if digits == 0 && byte == UInt8(ascii: "0") { return false }
            digits += 1
            if digits > maxShortcutDigits { return false }
            mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        guard digits > 0 else { return false }
        let suffix = String(text.utf8[suffixStart...]) ?? ""
        if shortcutDecimalSuffixes.contains(suffix) { return mantissa % 1000 != 0 }
        if shortcutBinarySuffixes.contains(suffix) { return mantissa % 1024 != 0 }
        return false
    }
}
