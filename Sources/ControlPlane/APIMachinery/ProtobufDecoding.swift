// The two halves of KubeProtobuf.decode: reading a message into the Go struct's fields (what
// gogo's generated Unmarshal fills in), and writing those fields as encoding/json would.

/// A decoded field value: what a Go struct field holds after unmarshalling. A field never seen
/// is nil (Go's zero value, or a nil pointer, slice or map).
indirect enum DecodedValue {
    /// A scalar, already as its JSON (a string, bool, number, or base64 string for `[]byte`).
    case scalar(JSON)
    /// A special type, already as its JSON.
    case special(JSON)
    /// A struct's fields, in `GoStruct.fields` order.
    case structure([DecodedValue?])
    case list([DecodedValue])
    /// A map's entries in the order first seen; `keys` finds an entry by the key's bytes.
    case map(DecodedMap)
}

/// A Go map being filled: entries by key bytes (Go compares map keys by bytes).
struct DecodedMap {
    var entries: [(key: String, value: DecodedValue)] = []
    var positions: [[UInt8]: Int] = [:]

    mutating func set(_ key: String, _ value: DecodedValue) {
        let bytes = Array(key.utf8)
        if let position = positions[bytes] {
            entries[position].value = value
        } else {
            positions[bytes] = entries.count
            entries.append((key, value))
        }
    }
}

/// Reads messages into struct fields by the GoTypes model: scalars last-wins, repeated fields
/// appended (packed or not), map entries inserted, a struct field seen twice merged, as gogo's
/// generated code does.
struct MessageDecoder {
    let bytes: [UInt8]

    /// Decodes the message in `range` as struct `index`, `depth` structs deep.
    func decodeStruct(_ index: Int, _ range: Range<Int>, depth: Int) throws(ProtobufFailure) -> [DecodedValue?] {
        var fields = [DecodedValue?](repeating: nil, count: GoTypes.builtinStructs[index].fields.count)
        try merge(index, range, into: &fields, depth: depth)
        return fields
    }

    /// Decodes the message in `range` into existing fields.
    private func merge(_ index: Int, _ range: Range<Int>, into fields: inout [DecodedValue?], depth: Int) throws(ProtobufFailure) {
        if depth > KubeProtobuf.maxNestingDepth {
            throw ProtobufFailure(.tooDeep, "proto: exceeded maximum nesting depth of \(KubeProtobuf.maxNestingDepth) messages")
        }
        let structure = GoTypes.builtinStructs[index]
        var reader = WireReader(bytes: bytes, range: range)
        while let key = try reader.nextField(message: structure.goName) {
            guard let position = structure.fieldPosition(protobufNumber: key.number) else {
                try reader.skip(key)
                continue
            }
            let field = structure.fields[position]
            fields[position] = try value(field.shape, key, field.goName, &reader, existing: fields[position], depth: depth)
        }
    }

    /// The field's new value after reading one occurrence of it.
    private func value(
        _ shape: GoShape, _ key: WireField, _ goName: String, _ reader: inout WireReader, existing: DecodedValue?, depth: Int
    ) throws(ProtobufFailure) -> DecodedValue {
        switch shape {
        case .pointer(let target):
            return try value(target, key, goName, &reader, existing: existing, depth: depth)
        case .slice(let element):
            var list: [DecodedValue] = []
            if case .list(let current) = existing { list = current }
            if key.wireType == 2, case .scalar(let scalar) = element, scalar != .string, scalar != .bytes {
                let range = try reader.lengthDelimitedBody()
                var packed = WireReader(bytes: bytes, range: range)
                while packed.position < packed.end { list.append(.scalar(try Self.scalar(scalar, &packed, goName))) }
            } else {
                list.append(try value(element, key, goName, &reader, existing: nil, depth: depth))
            }
            return .list(list)
        case .map(let valueShape):
            var map = DecodedMap()
            if case .map(let current) = existing { map = current }
            let range = try reader.lengthDelimited(key, goName: goName)
            let (entryKey, entryValue) = try mapEntry(valueShape, range, goName, depth: depth)
            map.set(entryKey, entryValue ?? zeroEntry(valueShape))
            return .map(map)
        case .scalar(let scalar):
            if key.wireType != Self.wireType(scalar) { throw .wrongWireType(key.wireType, goName) }
            return .scalar(try Self.scalar(scalar, &reader, goName))
        case .structure(let index):
            let range = try reader.lengthDelimited(key, goName: goName)
            var fields = [DecodedValue?](repeating: nil, count: GoTypes.builtinStructs[index].fields.count)
            if case .structure(let current) = existing { fields = current }
            try merge(index, range, into: &fields, depth: depth + 1)
            return .structure(fields)
        case .special(let special):
            let range = try reader.lengthDelimited(key, goName: goName)
            return .special(try SpecialDecoder(bytes: bytes).decode(special, range))
        }
    }

    /// One map entry: key (field 1) and value (field 2); other fields skipped.
    private func mapEntry(
        _ valueShape: GoShape, _ range: Range<Int>, _ goName: String, depth: Int
    ) throws(ProtobufFailure) -> (String, DecodedValue?) {
        var reader = WireReader(bytes: bytes, range: range)
        var key = ""
        var value: DecodedValue?
        while let field = try reader.nextField(message: goName) {
            switch field.number {
            case 1: key = goString(bytes[try reader.lengthDelimited(field, goName: goName)])
            case 2: value = try self.value(valueShape, field, goName, &reader, existing: value, depth: depth)
            default: try reader.skip(field)
            }
        }
        return (key, value)
    }

    /// A map value absent from its entry: gogo stores the zero value (`[]byte{}` for bytes).
    private func zeroEntry(_ shape: GoShape) -> DecodedValue {
        switch shape {
        case .scalar(let scalar): .scalar(GoJSONWriter.zero(scalar) ?? .string(""))
        case .structure(let index): .structure([DecodedValue?](repeating: nil, count: GoTypes.builtinStructs[index].fields.count))
        case .special(let special): .special(GoJSONWriter.zero(special))
        case .pointer, .slice, .map: .scalar(.null)
        }
    }

    /// The wire type a scalar's field has.
    static func wireType(_ scalar: GoScalar) -> Int {
        switch scalar {
        case .string, .bytes: 2
        case .bool, .int32, .int64: 0
        case .float64: 1
        }
    }

    /// Reads a scalar (its wire type already checked) as its JSON.
    static func scalar(_ scalar: GoScalar, _ reader: inout WireReader, _ goName: String) throws(ProtobufFailure) -> JSON {
        switch scalar {
        case .string:
            return .string(goString(reader.bytes[try reader.lengthDelimitedBody()]))
        case .bytes:
            return .string(base64(reader.bytes[try reader.lengthDelimitedBody()]))
        case .bool:
            return .bool(try reader.varint() != 0)
        case .int32:
            return .number(JSONNumber(Int64(Int32(truncatingIfNeeded: try reader.varint()))))
        case .int64:
            return .number(JSONNumber(Int64(bitPattern: try reader.varint())))
        case .float64:
            let value = Double(bitPattern: try reader.fixed64())
            guard value.isFinite else { throw ProtobufFailure(.invalidValue, "json: unsupported value: \(goFloatName(value))") }
            return .number(JSONNumber(value))
        }
    }

    /// How Go prints a non-finite float (`NaN`, `+Inf`, `-Inf`).
    private static func goFloatName(_ value: Double) -> String { value.isNaN ? "NaN" : value < 0 ? "-Inf" : "+Inf" }
}

/// Standard base64 with padding, as encoding/json writes a `[]byte`.
func base64(_ bytes: ArraySlice<UInt8>) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = bytes.startIndex
    while index < bytes.endIndex {
        let count = min(3, bytes.endIndex - index)
        var chunk: UInt32 = 0
        for offset in 0..<3 { chunk = chunk << 8 | (offset < count ? UInt32(bytes[index + offset]) : 0) }
        for offset in 0..<4 {
            out.append(offset <= count ? alphabet[Int(chunk >> (18 - 6 * UInt32(offset)) & 0x3F)] : UInt8(ascii: "="))
        }
        index += count
    }
    return String(decoding: out, as: UTF8.self)
}

// MARK: - Writing JSON

/// Writes decoded struct fields as Go's encoding/json marshals the struct: fields in struct
/// order, inline structs' fields in their place, omitempty leaving out zero scalars, empty slices
/// and maps and nil pointers (never a struct), nil slices, maps and pointers without omitempty as
/// `null`, map keys sorted by their bytes.
struct GoJSONWriter {
    /// The JSON of struct `index` holding `fields`.
    func structure(_ index: Int, _ fields: [DecodedValue?]) throws(ProtobufFailure) -> JSON {
        let structure = GoTypes.builtinStructs[index]
        if let custom = structure.customJSON { return try customJSON(custom, structure, fields) }
        var object = JSONObject()
        try appendFields(index, fields, to: &object)
        return .object(object)
    }

    private func appendFields(_ index: Int, _ fields: [DecodedValue?], to object: inout JSONObject) throws(ProtobufFailure) {
        let structure = GoTypes.builtinStructs[index]
        for (position, field) in structure.fields.enumerated() {
            let value = position < fields.count ? fields[position] : nil
            if field.inline, case .structure(let inner) = field.shape {
                var innerFields: [DecodedValue?] = []
                if case .structure(let values) = value { innerFields = values }
                try appendFields(inner, innerFields, to: &object)
                continue
            }
            if let json = try fieldJSON(field.shape, value, omitEmpty: field.omitEmpty) { object[field.jsonName] = json }
        }
    }

    /// A field's JSON, or nil when omitempty leaves it out (`JSON?.none` spelled out: JSON is
    /// itself nil-literal expressible, so a bare `nil` would be `.null`).
    private func fieldJSON(_ shape: GoShape, _ value: DecodedValue?, omitEmpty: Bool) throws(ProtobufFailure) -> JSON? {
        switch shape {
        case .pointer(let target):
            guard let value else { return omitEmpty ? JSON?.none : JSON.null }
            return try present(target, value)
        case .slice, .map:
            guard let value else { return omitEmpty ? JSON?.none : JSON.null }
            let json = try present(shape, value)
            if omitEmpty, json.array?.isEmpty == true || json.object?.isEmpty == true { return JSON?.none }
            return json
        case .scalar(let scalar):
            guard let value else {
                let zero = Self.zero(scalar)
                return omitEmpty ? JSON?.none : zero ?? JSON.null
            }
            let json = try present(shape, value)
            if omitEmpty, Self.isEmpty(json) { return JSON?.none }
            return json
        case .structure(let index):
            guard let value else { return try structure(index, []) }
            return try present(shape, value)
        case .special(let special):
            guard let value else { return Self.zero(special) }
            return try present(shape, value)
        }
    }

    /// The JSON of a value that is there (a set pointer's target, a slice element, a map value).
    private func present(_ shape: GoShape, _ value: DecodedValue) throws(ProtobufFailure) -> JSON {
        switch (shape, value) {
        case (.scalar, .scalar(let json)), (.special, .special(let json)):
            return json
        case (.structure(let index), .structure(let fields)):
            return try structure(index, fields)
        case (.slice(let element), .list(let items)):
            var out: [JSON] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try present(element, item)) }
            return .array(out)
        case (.map(let valueShape), .map(let map)):
            var object = JSONObject()
            object.reserveCapacity(map.entries.count)
            for entry in map.entries.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                object[entry.key] = try present(valueShape, entry.value)
            }
            return .object(object)
        case (.pointer(let target), _):
            return try present(target, value)
        default:
            return .null
        }
    }

    /// apiextensions v1's own MarshalJSON of the schema-or-something structs.
    private func customJSON(_ custom: GoCustomJSON, _ structure: GoStruct, _ fields: [DecodedValue?]) throws(ProtobufFailure) -> JSON {
        func field(_ goName: String) -> (GoField, DecodedValue?)? {
            guard let position = structure.fields.firstIndex(where: { $0.goName == goName }) else { return nil }
            return (structure.fields[position], position < fields.count ? fields[position] : nil)
        }
        let schema = try field("Schema").flatMap { (field, value) throws(ProtobufFailure) in
            try value.map { (value) throws(ProtobufFailure) in try present(field.shape, value) }
        }
        switch custom {
        case .schemaOrArray:
            if let (list, value) = field("JSONSchemas"), let value, case .array(let items) = try present(list.shape, value), !items.isEmpty
            {
                return .array(items)
            }
            return schema ?? .null
        case .schemaOrBool:
            if let schema { return schema }
            if let (_, value) = field("Allows"), case .scalar(let allows) = value { return allows }
            return .bool(false)
        case .schemaOrStringArray:
            if let (list, value) = field("Property"), let value, case .array(let items) = try present(list.shape, value), !items.isEmpty {
                return .array(items)
            }
            return schema ?? .null
        }
    }

    /// A scalar's zero value; nil for `[]byte`, whose zero is a nil slice.
    static func zero(_ scalar: GoScalar) -> JSON? {
        switch scalar {
        case .string: .string("")
        case .bool: .bool(false)
        case .int32, .int64: .number(JSONNumber(Int64(0)))
        case .float64: .number(JSONNumber(Int64(0)))
        case .bytes: nil
        }
    }

    /// A special type's zero value as its MarshalJSON writes it.
    static func zero(_ special: GoSpecial) -> JSON {
        switch special {
        case .time, .microTime, .fieldsV1, .rawExtension, .extensionJSON: .null
        case .duration: .string("0s")
        case .intOrString: .number(JSONNumber(Int64(0)))
        case .quantity: .string("0")
        }
    }

    /// Whether omitempty leaves a scalar out: "", false, 0 (also -0), an empty byte slice.
    static func isEmpty(_ json: JSON) -> Bool {
        switch json {
        case .string(let text): text.isEmpty
        case .bool(let value): !value
        case .number(let number): number.double == 0
        default: false
        }
    }
}
