// The text parsers behind the UnmarshalJSON of metav1.Time, metav1.MicroTime and metav1.Duration
// (Go's time.Parse with the RFC 3339 layouts, time.ParseDuration) and of `[]byte` fields (Go's
// base64.StdEncoding), each with the error text Go gives, since kube-apiserver returns it verbatim.

/// Go's `time.Parse` for the two layouts Kubernetes uses, `time.RFC3339` (metav1.Time) and
/// `RFC3339Micro` (metav1.MicroTime): the general layout-driven parser, whose errors name the
/// layout element that did not match (`cannot parse "x" as "2006"`) or the field out of range.
package struct GoTimeLayout: Sendable {
    /// The layout text Go's errors quote.
    package let text: String
    /// Digits of fraction the layout requires (`.000000`); 0 when it has none.
    let fractionDigits: Int

    package static let rfc3339 = GoTimeLayout(text: "2006-01-02T15:04:05Z07:00", fractionDigits: 0)
    package static let rfc3339Micro = GoTimeLayout(text: "2006-01-02T15:04:05.000000Z07:00", fractionDigits: 6)

    /// A layout element: the literal text before it, and what it reads.
    private enum Element {
        case longYear, zeroMonth, zeroDay, hour, zeroMinute, zeroSecond, fraction, zone
        /// The element's own text in the layout, which Go's errors quote.
        func text(_ layout: GoTimeLayout) -> String {
            switch self {
            case .longYear: "2006"
            case .zeroMonth: "01"
            case .zeroDay: "02"
            case .hour: "15"
            case .zeroMinute: "04"
            case .zeroSecond: "05"
            case .fraction: "." + String(repeating: "0", count: layout.fractionDigits)
            case .zone: "Z07:00"
            }
        }
    }

    private var elements: [(prefix: String, element: Element)] {
        var list: [(String, Element)] = [("", .longYear), ("-", .zeroMonth), ("-", .zeroDay), ("T", .hour), (":", .zeroMinute)]
        list.append((":", .zeroSecond))
        if fractionDigits > 0 { list.append(("", .fraction)) }
        list.append(("", .zone))
        return list
    }

    /// A parse failure with Go's `*time.ParseError` text.
    package struct ParseError: Error, Sendable, Equatable {
        package var message: String
        package init(message: String) { self.message = message }
    }

    /// The fields read so far.
    private struct Fields {
        var year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0
        var nanos: Int64 = 0
        var offset = 0
    }

    /// Parses `value`, returning Unix seconds and nanoseconds (UTC).
    package func parse(_ value: String) throws(ParseError) -> (seconds: Int64, nanos: Int64) {
        let all = Array(value.utf8)
        var rest = all[...]
        var fields = Fields()
        for (prefix, element) in elements {
            for byte in prefix.utf8 {
                guard rest.first == byte else { throw cannotParse(all, rest, prefix) }
                rest = rest.dropFirst()
            }
            let hold = rest
            var range: String?
            let ok = read(element, &rest, &fields, &range)
            if let range { throw ParseError(message: "parsing time \(Self.quote(all[...])): \(range) out of range") }
            if !ok { throw cannotParse(all, hold, element.text(self)) }
        }
        if !rest.isEmpty {
            throw ParseError(message: "parsing time \(Self.quote(all[...])): extra text: \(Self.quote(rest))")
        }
        guard fields.day >= 1, fields.day <= Self.daysIn(month: fields.month, year: fields.year) else {
            throw ParseError(message: "parsing time \(Self.quote(all[...])): day out of range")
        }
        let days = Self.daysSinceEpoch(year: Int64(fields.year), month: Int64(fields.month), day: Int64(fields.day))
        let clock = Int64(fields.hour * 3600 + fields.minute * 60 + fields.second)
        return (days * 86_400 + clock - Int64(fields.offset), fields.nanos)
    }

    /// Reads one element; false when it does not match, `range` set when a value is out of range.
    private func read(_ element: Element, _ rest: inout ArraySlice<UInt8>, _ fields: inout Fields, _ range: inout String?) -> Bool {
        switch element {
        case .longYear:
            guard rest.count >= 4, Self.isDigit(rest, 0), let year = Self.atoi(rest.prefix(4)) else { return false }
            fields.year = year
            rest = rest.dropFirst(4)
        case .zeroMonth:
            guard let month = Self.number(&rest, fixed: true) else { return false }
            if month < 1 || month > 12 { range = "month" }
            fields.month = month
        case .zeroDay:
            guard let day = Self.number(&rest, fixed: true) else { return false }
            fields.day = day
        case .hour:
            guard let hour = Self.number(&rest, fixed: false) else { return false }
            if hour >= 24 { range = "hour" }
            fields.hour = hour
        case .zeroMinute:
            guard let minute = Self.number(&rest, fixed: true) else { return false }
            if minute >= 60 { range = "minute" }
            fields.minute = minute
        case .zeroSecond:
            guard let second = Self.number(&rest, fixed: true) else { return false }
            if second >= 60 {
                range = "second"
                return true
            }
            fields.second = second
            // A fraction the layout does not ask for is read anyway, any number of digits.
            if fractionDigits == 0, rest.count >= 2, Self.isCommaOrPeriod(rest.first), Self.isDigit(rest, 1) {
                var count = 2
                while Self.isDigit(rest, count) { count += 1 }
                guard let nanos = Self.nanoseconds(rest, count) else { return false }
                fields.nanos = nanos
                rest = rest.dropFirst(count)
            }
        case .fraction:
            let count = 1 + fractionDigits
            guard rest.count >= count, let nanos = Self.nanoseconds(rest, count) else { return false }
            if nanos < 0 { range = "fractional second" }
            fields.nanos = nanos
            rest = rest.dropFirst(count)
        case .zone:
            return readZone(&rest, &fields, &range)
        }
        return true
    }

    /// `Z`, or `±hh:mm` (hours up to 24, minutes up to 60, as Go allows).
    private func readZone(_ rest: inout ArraySlice<UInt8>, _ fields: inout Fields, _ range: inout String?) -> Bool {
        if rest.first == UInt8(ascii: "Z") {
            rest = rest.dropFirst()
            return true
        }
        guard rest.count >= 6, rest[rest.startIndex + 3] == UInt8(ascii: ":") else { return false }
        let start = rest.startIndex
        let sign = rest[start]
        var hourText = rest[(start + 1)..<(start + 3)]
        var minuteText = rest[(start + 4)..<(start + 6)]
        rest = rest.dropFirst(6)
        let hours = Self.number(&hourText, fixed: true)
        let minutes = hours == nil ? nil : Self.number(&minuteText, fixed: true)
        if let hours, hours > 24 { range = "time zone offset hour" }
        if let minutes, minutes > 60 { range = "time zone offset minute" }
        guard let hours, let minutes, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return false }
        let offset = (hours * 60 + minutes) * 60
        fields.offset = sign == UInt8(ascii: "-") ? -offset : offset
        return true
    }

    private func cannotParse(_ all: [UInt8], _ rest: ArraySlice<UInt8>, _ element: String) -> ParseError {
        ParseError(
            message: "parsing time \(Self.quote(all[...])) as \(Self.quote(Array(text.utf8)[...])): cannot parse "
                + "\(Self.quote(rest)) as \(Self.quote(Array(element.utf8)[...]))")
    }

    // MARK: - Go's time helpers

    private static func isDigit(_ bytes: ArraySlice<UInt8>, _ offset: Int) -> Bool {
        guard offset < bytes.count else { return false }
        let byte = bytes[bytes.startIndex + offset]
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isCommaOrPeriod(_ byte: UInt8?) -> Bool { byte == UInt8(ascii: ".") || byte == UInt8(ascii: ",") }

    /// getnum: one or two digits (exactly two when `fixed`).
    private static func number(_ rest: inout ArraySlice<UInt8>, fixed: Bool) -> Int? {
        guard isDigit(rest, 0) else { return nil }
        let first = Int(rest[rest.startIndex] - UInt8(ascii: "0"))
        guard isDigit(rest, 1) else {
            if fixed { return nil }
            rest = rest.dropFirst()
            return first
        }
        let value = first * 10 + Int(rest[rest.startIndex + 1] - UInt8(ascii: "0"))
        rest = rest.dropFirst(2)
        return value
    }

    /// atoi: an optional sign and digits, nothing else.
    private static func atoi(_ bytes: ArraySlice<UInt8>) -> Int? {
        var digits = bytes
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), value < Int.max / 10 else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// parseNanoseconds: `.` or `,` then digits (at most nine used), scaled to nanoseconds.
    private static func nanoseconds(_ bytes: ArraySlice<UInt8>, _ count: Int) -> Int64? {
        guard isCommaOrPeriod(bytes.first) else { return nil }
        let used = min(count, 10)
        guard let value = atoi(bytes.dropFirst().prefix(used - 1)) else { return nil }
        var nanos = Int64(value)
        for _ in 0..<(10 - used) { nanos *= 10 }
        return nanos
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date.
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = TableTime.floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        return era * 146_097 + yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear - 719_468
    }

    /// The time package's own quoting: printable ASCII kept (`"` and `\` escaped), every other
    /// byte of a non-ASCII or control character as `\xNN`.
    static func quote(_ bytes: ArraySlice<UInt8>) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in bytes {
            if byte >= 0x80 || byte < 0x20 {
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            } else {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}

/// Go's `time.ParseDuration`: a sign, then numbers with optional fractions, each with a unit
/// (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`); errors as `time: invalid duration "x"`.
package enum GoDurationParser {
    package struct ParseError: Error, Sendable, Equatable {
        package var message: String
        package init(message: String) { self.message = message }
    }

    private static let units: [String: UInt64] = [
        "ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
        "h": 3_600_000_000_000
    ]
    private static let limit: UInt64 = 1 << 63

    /// The duration in nanoseconds.
    package static func parse(_ text: String) throws(ParseError) -> Int64 {
        let original = Array(text.utf8)
        let invalid = ParseError(message: "time: invalid duration " + GoTimeLayout.quote(original[...]))
        var rest = original[...]
        var negative = false
        if let first = rest.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        if rest.elementsEqual("0".utf8) { return 0 }
        guard !rest.isEmpty else { throw invalid }
        var total: UInt64 = 0
        while !rest.isEmpty {
            guard rest.first == UInt8(ascii: ".") || isDigit(rest.first) else { throw invalid }
            let before = rest.count
            guard let whole = leadingInt(&rest) else { throw invalid }
            let hasWhole = before != rest.count
            var fraction: UInt64 = 0
            var scale = 1.0
            var hasFraction = false
            if rest.first == UInt8(ascii: ".") {
                rest = rest.dropFirst()
                let start = rest.count
                (fraction, scale) = leadingFraction(&rest)
                hasFraction = start != rest.count
            }
            guard hasWhole || hasFraction else { throw invalid }
            let unitText = rest.prefix { $0 != UInt8(ascii: ".") && !isDigit($0) }
            guard !unitText.isEmpty else {
                throw ParseError(message: "time: missing unit in duration " + GoTimeLayout.quote(original[...]))
            }
            rest = rest.dropFirst(unitText.count)
            guard let unit = units[String(decoding: unitText, as: UTF8.self)] else {
                throw ParseError(
                    message: "time: unknown unit \(GoTimeLayout.quote(unitText)) in duration \(GoTimeLayout.quote(original[...]))")
            }
            guard whole <= limit / unit else { throw invalid }
            var value = whole * unit
            if fraction > 0 {
                value += UInt64(Double(fraction) * (Double(unit) / scale))
                guard value <= limit else { throw invalid }
            }
            total += value
            guard total <= limit else { throw invalid }
        }
        if negative { return total == limit ? Int64.min : -Int64(total) }
        guard total <= limit - 1 else { throw invalid }
        return Int64(total)
    }

    private static func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Leading digits; nil on overflow past 2^63.
    private static func leadingInt(_ rest: inout ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        while let byte = rest.first, isDigit(byte) {
            guard value <= limit / 10 else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            guard value <= limit else { return nil }
            rest = rest.dropFirst()
        }
        return value
    }

    /// Leading fraction digits and their scale; precision stops growing on overflow.
    private static func leadingFraction(_ rest: inout ArraySlice<UInt8>) -> (UInt64, Double) {
        var value: UInt64 = 0
        var scale = 1.0
        var overflow = false
        while let byte = rest.first, isDigit(byte) {
            rest = rest.dropFirst()
            if overflow { continue }
            guard value <= (limit - 1) / 10 else {
                overflow = true
                continue
            }
            let next = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            guard next <= limit else {
                overflow = true
                continue
            }
            value = next
            scale *= 10
        }
        return (value, scale)
    }
}

/// Go's `base64.StdEncoding.Decode` as encoding/json applies it to a `[]byte` field: padding
/// required, CR and LF ignored, errors `illegal base64 data at input byte N`.
package enum GoBase64 {
    package struct CorruptInput: Error, Sendable, Equatable {
        package var offset: Int
        package var message: String { "illegal base64 data at input byte \(offset)" }
    }

    private static let decodeMap: [UInt8] = {
        var map = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            map[Int(byte)] = UInt8(value)
        }
        return map
    }()
    private static let pad = UInt8(ascii: "=")

    package static func decode(_ source: some Collection<UInt8>) throws(CorruptInput) -> [UInt8] {
        let src = Array(source)
        var out: [UInt8] = []
        out.reserveCapacity(src.count / 4 * 3)
        var index = 0
        while index < src.count {
            let (next, count, quantum, error) = decodeQuantum(src, index)
            for position in 0..<count { out.append(quantum[position]) }
            if let error { throw error }
            index = next
        }
        return out
    }

    private static func isNewline(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D }

    /// One group of four characters: where the next begins, how many bytes it gives, the bytes,
    /// and the error it ends with.
    private static func decodeQuantum(_ src: [UInt8], _ start: Int) -> (Int, Int, [UInt8], CorruptInput?) {
        var digits = [UInt8](repeating: 0, count: 4)
        var length = 4
        var index = start
        var error: CorruptInput?
        var position = 0
        quantum: while position < 4 {
            if index == src.count {
                if position == 0 { return (index, 0, [], nil) }
                return (index, 0, [], CorruptInput(offset: index - position))
            }
            let byte = src[index]
            index += 1
            let value = decodeMap[Int(byte)]
            if value != 0xFF {
                digits[position] = value
                position += 1
                continue
            }
            if isNewline(byte) { continue }
            guard byte == pad, position >= 2 else { return (index, 0, [], CorruptInput(offset: index - 1)) }
            if position == 2 {
                while index < src.count, isNewline(src[index]) { index += 1 }
                if index == src.count { return (index, 0, [], CorruptInput(offset: src.count)) }
                if src[index] != pad { return (index, 0, [], CorruptInput(offset: index - 1)) }
                index += 1
            }
            while index < src.count, isNewline(src[index]) { index += 1 }
            if index < src.count { error = CorruptInput(offset: index) }
            length = position
            break quantum
        }
        let value = UInt32(digits[0]) << 18 | UInt32(digits[1]) << 12 | UInt32(digits[2]) << 6 | UInt32(digits[3])
        let bytes = [UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
        return (index, length - 1, bytes, error)
    }
}
