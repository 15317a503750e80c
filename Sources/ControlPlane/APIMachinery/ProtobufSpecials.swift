// The types with their own protobuf Unmarshal and MarshalJSON in apimachinery (metav1.Time,
// MicroTime, Duration, FieldsV1, intstr.IntOrString, resource.Quantity, runtime.RawExtension)
// and apiextensions v1 JSON: read from their small messages, written as their MarshalJSON does.

/// Decodes one special type's message into its JSON.
struct SpecialDecoder {
    let bytes: [UInt8]

    func decode(_ special: GoSpecial, _ range: Range<Int>) throws(ProtobufFailure) -> JSON {
        switch special {
        case .time:
            // Time's Unmarshal: no bytes is the zero time; else seconds only (nanos dropped).
            guard !range.isEmpty else { return .null }
            let (seconds, _) = try timestamp(range)
            return GoTime.json(seconds: seconds, nanos: 0, fractionDigits: 0)
        case .microTime:
            // MicroTime's Unmarshal: nanos truncated to microseconds.
            guard !range.isEmpty else { return .null }
            let (seconds, nanos) = try timestamp(range)
            return GoTime.json(seconds: seconds, nanos: Int64(nanos) - Int64(nanos) % 1000, fractionDigits: 6)
        case .duration:
            return .string(GoDuration.text(nanoseconds: try int64Field(range, message: "Duration", goName: "Duration")))
        case .intOrString:
            return try intOrString(range)
        case .quantity:
            return .string(try quantity(range))
        case .rawExtension:
            return try embeddedJSON(range, message: "RawExtension")
        case .fieldsV1:
            return try embeddedJSON(range, message: "FieldsV1")
        case .extensionJSON:
            return try embeddedJSON(range, message: "JSON")
        }
    }

    /// metav1.Timestamp: seconds (1) and nanos (2).
    private func timestamp(_ range: Range<Int>) throws(ProtobufFailure) -> (Int64, Int32) {
        var reader = WireReader(bytes: bytes, range: range)
        var seconds: Int64 = 0
        var nanos: Int32 = 0
        while let field = try reader.nextField(message: "Timestamp") {
            switch field.number {
            case 1:
                if field.wireType != 0 { throw .wrongWireType(field.wireType, "Seconds") }
                seconds = Int64(bitPattern: try reader.varint())
            case 2:
                if field.wireType != 0 { throw .wrongWireType(field.wireType, "Nanos") }
                nanos = Int32(truncatingIfNeeded: try reader.varint())
            default: try reader.skip(field)
            }
        }
        return (seconds, nanos)
    }

    /// A message whose field 1 is a varint int64 (metav1.Duration).
    private func int64Field(_ range: Range<Int>, message: String, goName: String) throws(ProtobufFailure) -> Int64 {
        var reader = WireReader(bytes: bytes, range: range)
        var value: Int64 = 0
        while let field = try reader.nextField(message: message) {
            guard field.number == 1 else {
                try reader.skip(field)
                continue
            }
            if field.wireType != 0 { throw .wrongWireType(field.wireType, goName) }
            value = Int64(bitPattern: try reader.varint())
        }
        return value
    }

    /// intstr.IntOrString: type (1; 0 int, 1 string), intVal (2), strVal (3); its MarshalJSON
    /// fails on any other type.
    private func intOrString(_ range: Range<Int>) throws(ProtobufFailure) -> JSON {
        var reader = WireReader(bytes: bytes, range: range)
        var type: Int64 = 0
        var intValue: Int32 = 0
        var stringValue = ""
        while let field = try reader.nextField(message: "IntOrString") {
            switch field.number {
            case 1:
                if field.wireType != 0 { throw .wrongWireType(field.wireType, "Type") }
                type = Int64(bitPattern: try reader.varint())
            case 2:
                if field.wireType != 0 { throw .wrongWireType(field.wireType, "IntVal") }
                intValue = Int32(truncatingIfNeeded: try reader.varint())
            case 3: stringValue = goString(bytes[try reader.lengthDelimited(field, goName: "StrVal")])
            default: try reader.skip(field)
            }
        }
        switch type {
        case 0: return .number(JSONNumber(Int64(intValue)))
        case 1: return .string(stringValue)
        default:
            throw ProtobufFailure(
                .invalidValue, "json: error calling MarshalJSON for type *intstr.IntOrString: impossible IntOrString.Type")
        }
    }

    /// resource.Quantity: its `string` (1). Go parses it and writes the canonical form; the text
    /// is kept as sent (identical for canonical input, see NOTES).
    private func quantity(_ range: Range<Int>) throws(ProtobufFailure) -> String {
        var reader = WireReader(bytes: bytes, range: range)
        var text: String?
        while let field = try reader.nextField(message: "Quantity") {
            guard field.number == 1 else {
                try reader.skip(field)
                continue
            }
            text = goString(bytes[try reader.lengthDelimited(field, goName: "String_")])
        }
        guard let text else { return "0" }
        if let error = QuantityText.parseError(text) { throw ProtobufFailure(.invalidValue, error) }
        return text
    }

    /// Raw bytes (field 1) holding JSON, written as that JSON; none is `null`.
    private func embeddedJSON(_ range: Range<Int>, message: String) throws(ProtobufFailure) -> JSON {
        var reader = WireReader(bytes: bytes, range: range)
        var raw: Range<Int>?
        while let field = try reader.nextField(message: message) {
            guard field.number == 1 else {
                try reader.skip(field)
                continue
            }
            raw = try reader.lengthDelimited(field, goName: "Raw")
        }
        guard let raw, !raw.isEmpty else { return .null }
        do throws(JSONError) {
            return try JSON.parse(bytes[raw])
        } catch {
            throw ProtobufFailure(.invalidValue, "json: error calling MarshalJSON for type \(message): \(error.message)")
        }
    }
}

/// The shape check of resource.ParseQuantity: a sign, digits with at most one `.`, then a
/// suffix: none, a decimal SI (`n u m k M G T P E`), a binary SI (`Ki Mi Gi Ti Pi Ei`) or an
/// exponent (`e3`, `E-2`).
enum QuantityText {
    /// ErrFormatWrong's text.
    static let formatError = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    /// ErrSuffix's text.
    static let suffixError = "unable to parse quantity's suffix"
    private static let suffixes: Set<String> = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]

    /// ParseQuantity's error for `text`, or nil when it parses.
    static func parseError(_ text: String) -> String? {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let number = bytes.prefix { isDigit($0) || $0 == UInt8(ascii: ".") }
        guard number.contains(where: isDigit), number.filter({ $0 == UInt8(ascii: ".") }).count <= 1 else { return formatError }
        let suffix = String(decoding: bytes.dropFirst(number.count), as: UTF8.self)
        if suffixes.contains(suffix) { return nil }
        guard let first = suffix.utf8.first, first == UInt8(ascii: "e") || first == UInt8(ascii: "E") else { return suffixError }
        var exponent = suffix.utf8.dropFirst()
        if exponent.first == UInt8(ascii: "+") || exponent.first == UInt8(ascii: "-") { exponent = exponent.dropFirst() }
        return !exponent.isEmpty && exponent.allSatisfy(isDigit) ? nil : suffixError
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// metav1.Time and MicroTime JSON: RFC 3339 in UTC (`2006-01-02T15:04:05Z`, MicroTime with six
/// fraction digits), `null` for Go's zero time (0001-01-01T00:00:00Z).
enum GoTime {
    /// Seconds from 0001-01-01 to 1970-01-01: time.Time{}.Unix().
    static let zeroTimeUnix: Int64 = -62_135_596_800
    private static let secondsPerDay: Int64 = 86_400

    static func json(seconds: Int64, nanos: Int64, fractionDigits: Int) -> JSON {
        // time.Unix normalises nanos into [0, 1e9).
        var seconds = seconds
        var nanos = nanos
        if nanos < 0 || nanos >= 1_000_000_000 {
            seconds = seconds &+ nanos / 1_000_000_000
            nanos %= 1_000_000_000
            if nanos < 0 {
                nanos += 1_000_000_000
                seconds = seconds &- 1
            }
        }
        if seconds == zeroTimeUnix && nanos == 0 { return .null }
        return .string(text(seconds: seconds, nanos: nanos, fractionDigits: fractionDigits))
    }

    /// The RFC 3339 text of a Unix time in UTC.
    static func text(seconds: Int64, nanos: Int64, fractionDigits: Int) -> String {
        let days = TableTime.floorDivide(seconds, secondsPerDay)
        let secondOfDay = seconds - days * secondsPerDay
        let (year, month, day) = TableTime.civil(fromDays: days)
        var out = year < 0 ? "-" + pad(-year, 4) : pad(year, 4)
        out += "-" + pad(month, 2) + "-" + pad(day, 2) + "T"
        out += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if fractionDigits > 0 {
            var fraction = nanos
            for _ in fractionDigits..<9 { fraction /= 10 }
            out += "." + pad(fraction, fractionDigits)
        }
        return out + "Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// Go's time.Duration.String: `1h2m3s`, `1.5s`, `500ms`, `1.5µs`, `10ns`, `0s`.
enum GoDuration {
    static func text(nanoseconds: Int64) -> String {
        let negative = nanoseconds < 0
        let magnitude = nanoseconds.magnitude
        var out: String
        if magnitude < 1_000_000_000 {
            if magnitude == 0 { return "0s" }
            let (unit, precision): (String, Int) =
                magnitude < 1000 ? ("ns", 0) : magnitude < 1_000_000 ? ("µs", 3) : ("ms", 6)
            out = number(magnitude, fractionDigits: precision) + unit
        } else {
            let seconds = magnitude / 1_000_000_000
            out = number(magnitude % 60_000_000_000, fractionDigits: 9) + "s"
            let minutes = seconds / 60
            if minutes > 0 {
                out = String(minutes % 60) + "m" + out
                let hours = minutes / 60
                if hours > 0 { out = String(hours) + "h" + out }
            }
        }
        return negative ? "-" + out : out
    }

    /// `value / 10^fractionDigits` with the fraction's trailing zeros (and a bare point) dropped.
    private static func number(_ value: UInt64, fractionDigits: Int) -> String {
        var scale: UInt64 = 1
        for _ in 0..<fractionDigits { scale *= 10 }
        var fraction = String(value % scale)
        fraction = String(repeating: "0", count: fractionDigits - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return String(value / scale) + (fraction.isEmpty ? "" : "." + fraction)
    }
}
