// JSON as Kubernetes' Go code reads and writes it: an ordered tree, a parser from bytes with
// encoding/json's grammar, error messages and depth limit, and a serializer with its bytes.

/// A JSON value: the tree Kubernetes objects are read into and written from. Objects keep their
/// members in the order they came; numbers keep their text. Equality is by meaning: objects compare
/// without regard to member order, strings and keys by their UTF-8 bytes (as Go compares them).
package enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, as its text (validated by the JSON grammar when parsed).
    case number(JSONNumber)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    /// The nesting limit of Kubernetes' JSON decoder (Go's encoding/json scanner): 10,000 arrays
    /// and objects inside one another are accepted, one more is `exceeded max depth`.
    package static let maxDepth = 10_000
}

// MARK: - Numbers

/// A JSON number as its text, such as `42`, `-0`, `1.5` or `1e+21`. Parsed numbers keep the
/// text they came with; numbers made from Swift values get the text Go's encoding/json writes.
/// Two numbers are equal when their texts are, or when they decode to the same value the way
/// Kubernetes decodes them (an `Int64` for a text without `.` that fits, else a `Double`).
package struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number as written in JSON.
    package let text: String

    /// The number's text as `text`, trusted to follow the JSON grammar.
    init(unchecked text: String) { self.text = text }

    /// An integer, written in decimal.
    package init(_ int: Int64) { text = String(int) }

    /// A finite floating-point value, written as Go's encoding/json writes a float64: the
    /// shortest digits that read back to the same value, in `f` form (`100`, `0.1`, `1.5`) unless
    /// its magnitude is below 1e-6 or at least 1e21, then in `e` form (`1e-7`, `1e+21`). A
    /// negative zero is `-0`. NaN and infinities have no JSON form: they are a programming error.
    package init(_ double: Double) {
        precondition(double.isFinite, "JSON has no form for \(double)")
        text = JSONNumber.goText(double)
    }

    /// A number from its text, or nil when the text does not follow the JSON number grammar
    /// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    package init?(text: String) {
        guard JSONNumber.isValid(text) else { return nil }
        self.text = text
    }

    /// The number as an `Int64` when its text is an integer (no fraction or exponent) in range.
    package var int64: Int64? {
        guard !text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
        else { return nil }
        return Int64(text)
    }

    /// The number as the nearest `Double`, or nil when it is beyond a `Double`'s range.
    package var double: Double? {
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }

    /// The number's text.
    package var description: String { text }

    /// What Kubernetes decodes the number into (sigs.k8s.io/json with PreserveInts): an integer
    /// when the text has no `.` and fits an Int64, else a float64; nil when out of float range.
    private enum Decoded: Hashable {
        case int(Int64)
        case float(Double)
    }

    private var decoded: Decoded? {
        if !text.utf8.contains(UInt8(ascii: ".")), let int = Int64(text) { return .int(int) }
        return double.map { .float($0) }
    }

    /// True when both texts are the same, or when both decode to the same integer or float.
    package static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if lhs.text == rhs.text { return true }
        guard let left = lhs.decoded, let right = rhs.decoded else { return false }
        return left == right
    }

    /// Hashes the decoded value, so that equal numbers hash alike.
    package func hash(into hasher: inout Hasher) {
        if let decoded { hasher.combine(decoded) } else { hasher.combine(text) }
    }

    /// Whether `text` follows the JSON number grammar exactly.
    private static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < bytes.count, bytes[i] &- UInt8(ascii: "0") < 10 { i += 1 }
            return i - start
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count else { return false }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { return false }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            if digits() == 0 { return false }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            if digits() == 0 { return false }
        }
        return i == bytes.count
    }

    /// Go's encoding/json float64 text: strconv's shortest digits in 'f' or 'e' form, with a
    /// two-digit negative exponent shortened (`e-07` becomes `e-7`).
    private static func goText(_ value: Double) -> String {
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        // Swift's description has the shortest round-trip digits too; take them and the exponent.
        var digits: [UInt8] = []
        var pointAt: Int?  // digits before the decimal point, in the description's mantissa
        var exponent = 0
        var exponentSign = 1
        var inExponent = false
        for byte in value.magnitude.description.utf8 {
            switch byte {
            case UInt8(ascii: "."): pointAt = digits.count
            case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true
            case UInt8(ascii: "-") where inExponent: exponentSign = -1
            case UInt8(ascii: "+"): break
            default:
                if inExponent { exponent = exponent * 10 + Int(byte - UInt8(ascii: "0")) } else { digits.append(byte) }
            }
        }
        // value = 0.d1d2...dn × 10^point
        var point = (pointAt ?? digits.count) + exponentSign * exponent
        while let first = digits.first, first == UInt8(ascii: "0") {
            digits.removeFirst()
            point -= 1
        }
        while let last = digits.last, last == UInt8(ascii: "0") { digits.removeLast() }

        var out: [UInt8] = value < 0 ? [UInt8(ascii: "-")] : []
        let magnitude = value.magnitude
        if magnitude < 1e-6 || magnitude >= 1e21 {
            out.append(digits[0])
            if digits.count > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            let e = point - 1
            out.append(UInt8(ascii: "e"))
            out.append(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            let exponentDigits = Array(String(e.magnitude).utf8)
            // strconv writes at least two exponent digits; encoding/json drops the 0 of `e-0X`.
            if exponentDigits.count == 1 && e >= 0 { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: exponentDigits)
        } else if point <= 0 {
            out.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: ".")])
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -point))
            out.append(contentsOf: digits)
        } else if point >= digits.count {
            out.append(contentsOf: digits)
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: point - digits.count))
        } else {
            out.append(contentsOf: digits[..<point])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[point...])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

// MARK: - Objects

/// A JSON object: members in the order they were added (the order they came in, when parsed).
/// Setting an existing key keeps its position; setting nil removes it. Keys compare by their
/// UTF-8 bytes, as Go's do. Lookups are linear in small objects and hashed past 16 keys.
/// Two objects are equal when they have the same keys with equal values, in any order.
package struct JSONObject: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// A member: its key and value.
    package typealias Element = (key: String, value: JSON)
    /// Iterates the members in order.
    package typealias Iterator = IndexingIterator<[Element]>

    /// A key in the index: equal when the UTF-8 bytes are (String's own `==` is Unicode
    /// canonical equivalence, which Go does not use); hashed as the String (byte-equal strings
    /// hash alike).
    private struct IndexKey: Hashable {
        let string: String
        static func == (lhs: IndexKey, rhs: IndexKey) -> Bool { sameBytes(lhs.string, rhs.string) }
        func hash(into hasher: inout Hasher) { hasher.combine(string) }
    }

    /// Objects with more keys than this keep a hash index of their keys.
    private static let indexThreshold = 16

    fileprivate var entries: [Element]
    private var index: [IndexKey: Int]?

    /// An empty object.
    package init() {
        entries = []
        index = nil
    }

    /// An object with these members in this order; a repeated key takes the last value and
    /// keeps its first position.
    package init(_ pairs: [(String, JSON)]) {
        self.init()
        entries.reserveCapacity(pairs.count)
        for (key, value) in pairs { _ = insertOrReplace(key, value) }
    }

    /// An object literal, keeping the literal's order.
    package init(dictionaryLiteral elements: (String, JSON)...) { self.init(elements) }

    /// How many members the object has.
    package var count: Int { entries.count }

    /// Whether the object has no members.
    package var isEmpty: Bool { entries.isEmpty }

    /// The keys, in order.
    package var keys: [String] { entries.map(\.key) }

    /// The values, in the order of their keys.
    package var values: [JSON] { entries.map(\.value) }

    /// Iterates the members in order.
    package func makeIterator() -> Iterator { entries.makeIterator() }

    /// The number of members (iteration visits exactly this many).
    package var underestimatedCount: Int { entries.count }

    /// Whether the object has a member with this key.
    package func contains(_ key: String) -> Bool { position(of: key) != nil }

    /// Makes room for this many members.
    package mutating func reserveCapacity(_ capacity: Int) { entries.reserveCapacity(capacity) }

    /// The value for `key`, or nil. Setting a value keeps an existing key's position or appends a
    /// new key; setting nil removes the key.
    package subscript(key: String) -> JSON? {
        get {
            guard let position = position(of: key) else { return nil }
            return entries[position].value
        }
        set {
            if let newValue { _ = insertOrReplace(key, newValue) } else { removeValue(forKey: key) }
        }
        _modify {
            if let position = position(of: key) {
                // Move the value out, so that changing it in place does not copy it.
                var value: JSON? = entries[position].value
                entries[position].value = .null
                defer {
                    if let value { entries[position].value = value } else { remove(at: position) }
                }
                yield &value
            } else {
                var value: JSON?
                defer {
                    if let value { append(key, value) }
                }
                yield &value
            }
        }
    }

    /// Removes `key` and returns its value, or returns nil when there is no such key.
    @discardableResult
    package mutating func removeValue(forKey key: String) -> JSON? {
        guard let position = position(of: key) else { return nil }
        let value = entries[position].value
        remove(at: position)
        return value
    }

    /// Same keys with equal values, in any order.
    package static func == (lhs: JSONObject, rhs: JSONObject) -> Bool { JSON.object(lhs) == JSON.object(rhs) }

    /// The position of `key`, if present.
    private func position(of key: String) -> Int? {
        if let index { return index[IndexKey(string: key)] }
        let length = key.utf8.count
        for position in entries.indices {
            let candidate = entries[position].key
            if candidate.utf8.count == length && sameBytes(candidate, key) { return position }
        }
        return nil
    }

    /// Sets `key` to `value`, keeping its position when present; returns true when it was.
    mutating func insertOrReplace(_ key: String, _ value: JSON) -> Bool {
        if let position = position(of: key) {
            entries[position].value = value
            return true
        }
        append(key, value)
        return false
    }

    /// Appends a key known to be absent.
    private mutating func append(_ key: String, _ value: JSON) {
        entries.append((key, value))
        if index != nil {
            index![IndexKey(string: key)] = entries.count - 1
        } else if entries.count > JSONObject.indexThreshold {
            var built: [IndexKey: Int] = [:]
            built.reserveCapacity(entries.count * 2)
            for (position, entry) in entries.enumerated() { built[IndexKey(string: entry.key)] = position }
            index = built
        }
    }

    /// Removes the member at `position`, renumbering the index after it.
    private mutating func remove(at position: Int) {
        let removed = entries.remove(at: position)
        guard index != nil else { return }
        if entries.count <= JSONObject.indexThreshold {
            index = nil
            return
        }
        index!.removeValue(forKey: IndexKey(string: removed.key))
        for later in position..<entries.count { index![IndexKey(string: entries[later].key)] = later }
    }
}

/// Whether two strings have the same UTF-8 bytes (Go's string equality).
@inline(__always)
private func sameBytes(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.count == rhs.utf8.count && lhs.utf8.elementsEqual(rhs.utf8)
}

// MARK: - Equality

extension JSON {
    /// Equal values: same kind, equal numbers (see `JSONNumber`), strings with the same bytes,
    /// arrays with equal elements in order, objects with the same keys and equal values in any
    /// order. Iterative, so that values nested 10,000 deep compare without deep recursion.
    package static func == (lhs: JSON, rhs: JSON) -> Bool {
        var pending: [(JSON, JSON)] = []
        var left = lhs
        var right = rhs
        while true {
            switch (left, right) {
            case (.null, .null): break
            case (.bool(let a), .bool(let b)): if a != b { return false }
            case (.number(let a), .number(let b)): if a != b { return false }
            case (.string(let a), .string(let b)): if !sameBytes(a, b) { return false }
            case (.array(let a), .array(let b)):
                guard a.count == b.count else { return false }
                for position in a.indices { pending.append((a[position], b[position])) }
            case (.object(let a), .object(let b)):
                guard a.count == b.count else { return false }
                for (key, value) in a {
                    guard let other = b[key] else { return false }
                    pending.append((value, other))
                }
            default: return false
            }
            guard let next = pending.popLast() else { return true }
            (left, right) = next
        }
    }
}

// MARK: - Access

extension JSON {
    /// The member `key` of an object (nil for other values). Setting changes an object's member
    /// in place (nil removes it); setting on a value that is not an object does nothing.
    package subscript(key: String) -> JSON? {
        get {
            guard case .object(let object) = self else { return nil }
            return object[key]
        }
        set {
            guard case .object(var object) = self else { return }
            self = .null
            object[key] = newValue
            self = .object(object)
        }
        _modify {
            if case .object(var object) = self {
                // Take the object out, so that changing it in place does not copy it.
                self = .null
                defer { self = .object(object) }
                yield &object[key]
            } else {
                var ignored: JSON?
                yield &ignored
            }
        }
    }

    /// The element at `index` of an array, or nil (out of range, or not an array).
    package subscript(index: Int) -> JSON? {
        guard case .array(let array) = self, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// The string, if this is one.
    package var string: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    /// The boolean, if this is one.
    package var bool: Bool? {
        guard case .bool(let value) = self else { return nil }
        return value
    }

    /// The number, if this is one.
    package var number: JSONNumber? {
        guard case .number(let value) = self else { return nil }
        return value
    }

    /// The number as an `Int64`, if this is an integer number in range.
    package var int64: Int64? { number?.int64 }

    /// The number as a `Double`, if this is a number in a `Double`'s range.
    package var double: Double? { number?.double }

    /// The object, if this is one.
    package var object: JSONObject? {
        guard case .object(let value) = self else { return nil }
        return value
    }

    /// The array, if this is one.
    package var array: [JSON]? {
        guard case .array(let value) = self else { return nil }
        return value
    }

    /// Whether this is `null`.
    package var isNull: Bool {
        guard case .null = self else { return false }
        return true
    }

    /// The value at a path of object keys (`["metadata", "labels", "app"]`), or nil when a key is
    /// missing or a value on the way is not an object. The empty path is the value itself.
    package func value(at path: [String]) -> JSON? {
        var current = self
        for key in path {
            guard let next = current[key] else { return nil }
            current = next
        }
        return current
    }

    /// Sets the value at a path of object keys, making the missing objects on the way (as Go's
    /// unstructured.SetNestedField); nil removes the last key (and makes nothing). Returns false,
    /// changing nothing, when this value or one on the way exists but is not an object. The empty
    /// path replaces the value itself (nil makes it `null`).
    @discardableResult
    package mutating func set(_ value: JSON?, at path: [String]) -> Bool {
        set(value, at: path[...])
    }

    private mutating func set(_ value: JSON?, at path: ArraySlice<String>) -> Bool {
        guard let key = path.first else {
            self = value ?? .null
            return true
        }
        guard case .object(var object) = self else { return false }
        self = .null
        defer { self = .object(object) }
        if path.count == 1 {
            object[key] = value
            return true
        }
        if object[key] == nil {
            guard value != nil else { return true }
            object[key] = .object(JSONObject())
        }
        return object[key]!.set(value, at: path.dropFirst())
    }
}

// MARK: - Literals

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// `null`.
    package init(nilLiteral: ()) { self = .null }
    /// `true` or `false`.
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A string.
    package init(stringLiteral value: String) { self = .string(value) }
    /// An integer number.
    package init(integerLiteral value: Int64) { self = .number(JSONNumber(value)) }
    /// A number with Go's float text (see `JSONNumber.init(_: Double)`).
    package init(floatLiteral value: Double) { self = .number(JSONNumber(value)) }
    /// An array.
    package init(arrayLiteral elements: JSON...) { self = .array(elements) }
    /// An object with the literal's members in the literal's order.
    package init(dictionaryLiteral elements: (String, JSON)...) { self = .object(JSONObject(elements)) }
}

// MARK: - Errors

/// A JSON syntax error, as Go's encoding/json reports it: its message (such as
/// `invalid character 'x' looking for beginning of value`) and its offset, the number of bytes
/// read when the error was found (Go's `SyntaxError.Offset`: one past the offending byte, or the
/// input's length at its end).
package struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Go's message, word for word.
    package var message: String
    /// Bytes read when the error was found.
    package var offset: Int

    /// An error with this message at this offset.
    package init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// The message.
    package var description: String { message }

    /// Go's error for the byte `byte` in `context`, such as `after array element`.
    static func invalid(_ byte: UInt8, _ context: String, offset: Int) -> JSONError {
        JSONError(message: "invalid character " + quoteChar(byte) + " " + context, offset: offset)
    }

    /// The byte as Go's scanner quotes it (quoteChar): `'x'`, `'\''`, `'"'`, `'\\'`, `'\n'`,
    /// `'\x01'`; a byte of 0x80 and above is the Latin-1 character of that number (`'Ã'` for
    /// 0xC3), or `'\u0085'` style where Go's strconv does not count it printable.
    static func quoteChar(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "'"): return #"'\''"#
        case UInt8(ascii: "\""): return #"'"'"#
        case UInt8(ascii: "\\"): return #"'\\'"#
        case 0x07: return #"'\a'"#
        case 0x08: return #"'\b'"#
        case 0x0C: return #"'\f'"#
        case 0x0A: return #"'\n'"#
        case 0x0D: return #"'\r'"#
        case 0x09: return #"'\t'"#
        case 0x0B: return #"'\v'"#
        case 0x20...0x7E, 0xA1...0xAC, 0xAE...0xFF: return "'" + String(Character(Unicode.Scalar(byte))) + "'"
        case 0x00..<0x20, 0x7F: return #"'\x"# + hex(byte) + "'"
        default: return #"'\u00"# + hex(byte) + "'"  // 0x80...0xA0 and 0xAD
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
    }
}

// MARK: - Parsing

extension JSON {
    /// Parses one JSON value from `bytes` as Go's encoding/json does: whitespace around it, nothing
    /// else after it; strings unescaped (surrogate pairs joined, a lone surrogate and each invalid
    /// UTF-8 byte U+FFFD); numbers kept as text; a repeated object key takes the last value and
    /// keeps its first position. Arrays and objects may nest `maxDepth` deep. Errors carry Go's
    /// message and offset. The parser is iterative: no input can overflow the stack.
    package static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = JSON.maxDepth) throws(JSONError) -> JSON {
        var ignored: [String] = []
        return try parse(bytes, maxDepth: maxDepth, reportingDuplicatesTo: &ignored, report: false)
    }

    /// Parses as `parse(_:maxDepth:)` does, and appends to `duplicateKeys` the field path of each
    /// repeated object key, in Kubernetes' form: `metadata.labels.app`, `spec.containers[0].name`.
    package static func parse(
        _ bytes: some Collection<UInt8>, duplicateKeys: inout [String], maxDepth: Int = JSON.maxDepth
    ) throws(JSONError) -> JSON {
        try parse(bytes, maxDepth: maxDepth, reportingDuplicatesTo: &duplicateKeys, report: true)
    }

    private static func parse(
        _ bytes: some Collection<UInt8>, maxDepth: Int, reportingDuplicatesTo duplicates: inout [String], report: Bool
    ) throws(JSONError) -> JSON {
        func run(_ buffer: UnsafeBufferPointer<UInt8>) -> (Result<JSON, JSONError>, [String]) {
            var parser = Parser(buffer, maxDepth: maxDepth, reportDuplicates: report)
            let result: Result<JSON, JSONError>
            do throws(JSONError) { result = .success(try parser.parse()) } catch { result = .failure(error) }
            return (result, parser.duplicates)
        }
        let (result, found) = bytes.withContiguousStorageIfAvailable(run) ?? Array(bytes).withUnsafeBufferPointer(run)
        duplicates.append(contentsOf: found)
        return try result.get()
    }
}

/// The parser's state: the input, the position, and the open arrays and objects (an explicit
/// stack rather than recursion).
private struct Parser {
    let input: UnsafeBufferPointer<UInt8>
    let count: Int
    let maxDepth: Int
    let reportDuplicates: Bool
    var position = 0
    var duplicates: [String] = []
    /// Bytes of a string being unescaped.
    var scratch: [UInt8] = []

    /// Open containers, innermost last: true for an object, false for an array.
    var isObject: [Bool] = []
    var arrays: [[JSON]] = []
    var objects: [JSONObject] = []
    /// The key whose value is being read, for each open object.
    var keys: [String] = []

    init(_ input: UnsafeBufferPointer<UInt8>, maxDepth: Int, reportDuplicates: Bool) {
        self.input = input
        count = input.count
        self.maxDepth = maxDepth
        self.reportDuplicates = reportDuplicates
    }

    // Byte values the parser looks for.
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")

    /// Go's error for the byte at the current position.
    func invalid(_ context: String) -> JSONError {
        JSONError.invalid(input[position], context, offset: position + 1)
    }

    /// Go's error at the end of the input: its scanner is given a space there, which is an error
    /// in some states (`in numeric literal` after `-`) and is otherwise `unexpected end of JSON input`.
    func endOfInput(_ context: String? = nil) -> JSONError {
        guard let context else { return JSONError(message: "unexpected end of JSON input", offset: count) }
        return JSONError.invalid(UInt8(ascii: " "), context, offset: count)
    }

    @inline(__always)
    mutating func skipSpace() {
        while position < count {
            let byte = input[position]
            guard byte <= 0x20, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    /// The next byte after whitespace, or Go's end-of-input error.
    @inline(__always)
    mutating func nextNonSpace() throws(JSONError) -> UInt8 {
        skipSpace()
        guard position < count else { throw endOfInput() }
        return input[position]
    }

    mutating func parse() throws(JSONError) -> JSON {
        var value: JSON
        nextValue: while true {
            let byte = try nextNonSpace()
            switch byte {
            case UInt8(ascii: "{"):
                guard isObject.count < maxDepth else { throw invalid("exceeded max depth") }
                position += 1
                if try nextNonSpace() == UInt8(ascii: "}") {
                    position += 1
                    value = .object(JSONObject())
                } else {
                    let key = try parseKey()
                    isObject.append(true)
                    objects.append(JSONObject())
                    keys.append(key)
                    continue nextValue
                }
            case UInt8(ascii: "["):
                guard isObject.count < maxDepth else { throw invalid("exceeded max depth") }
                position += 1
                if try nextNonSpace() == UInt8(ascii: "]") {
                    position += 1
                    value = .array([])
                } else {
                    isObject.append(false)
                    arrays.append([])
                    continue nextValue
                }
            case Parser.quote:
                position += 1
                value = .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case UInt8(ascii: "t"):
                try parseLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try parseLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try parseLiteral("null")
                value = .null
            default:
                throw invalid("looking for beginning of value")
            }

            // A value is complete: add it to its container, closing the containers it completes.
            while let inObject = isObject.last {
                if inObject {
                    let last = objects.count - 1
                    if objects[last].insertOrReplace(keys[last], value) && reportDuplicates { duplicates.append(path()) }
                    let byte = try nextNonSpace()
                    if byte == UInt8(ascii: ",") {
                        position += 1
                        skipSpace()
                        guard position < count else { throw endOfInput() }
                        keys[last] = try parseKey()
                        continue nextValue
                    }
                    guard byte == UInt8(ascii: "}") else { throw invalid("after object key:value pair") }
                    position += 1
                    value = .object(objects.removeLast())
                    keys.removeLast()
                } else {
                    arrays[arrays.count - 1].append(value)
                    let byte = try nextNonSpace()
                    if byte == UInt8(ascii: ",") {
                        position += 1
                        continue nextValue
                    }
                    guard byte == UInt8(ascii: "]") else { throw invalid("after array element") }
                    position += 1
                    value = .array(arrays.removeLast())
                }
                isObject.removeLast()
            }
            skipSpace()
            guard position == count else { throw invalid("after top-level value") }
            return value
        }
    }

    /// The field path of the key being read, in Kubernetes' form (`spec.containers[0].name`).
    func path() -> String {
        var path = ""
        var arrayLevel = 0
        var objectLevel = 0
        for inObject in isObject {
            if inObject {
                if !path.isEmpty { path += "." }
                path += keys[objectLevel]
                objectLevel += 1
            } else {
                path += "[\(arrays[arrayLevel].count)]"
                arrayLevel += 1
            }
        }
        return path
    }

    /// An object key and the colon after it, at the current position (after whitespace).
    mutating func parseKey() throws(JSONError) -> String {
        guard input[position] == Parser.quote else { throw invalid("looking for beginning of object key string") }
        position += 1
        let key = try parseString()
        guard try nextNonSpace() == UInt8(ascii: ":") else { throw invalid("after object key") }
        position += 1
        return key
    }

    /// `true`, `false` or `null`, whose first byte is at the current position.
    mutating func parseLiteral(_ word: StaticString) throws(JSONError) {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        position += 1
        for index in 1..<expected.count {
            guard position < count, input[position] == expected[index] else {
                let letter = Character(Unicode.Scalar(expected[index]))
                let context = "in literal \(word) (expecting '\(letter)')"
                throw position < count ? invalid(context) : endOfInput(context)
            }
            position += 1
        }
    }

    /// A number starting at the current position, by the JSON grammar.
    mutating func parseNumber() throws(JSONError) -> JSONNumber {
        let start = position
        @inline(__always) func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
        if input[position] == UInt8(ascii: "-") {
            position += 1
            guard position < count else { throw endOfInput("in numeric literal") }
            guard isDigit(input[position]) else { throw invalid("in numeric literal") }
        }
        if input[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            position += 1
            while position < count && isDigit(input[position]) { position += 1 }
        }
        if position < count && input[position] == UInt8(ascii: ".") {
            position += 1
            guard position < count else { throw endOfInput("after decimal point in numeric literal") }
            guard isDigit(input[position]) else { throw invalid("after decimal point in numeric literal") }
            while position < count && isDigit(input[position]) { position += 1 }
        }
        if position < count && (input[position] | 0x20) == UInt8(ascii: "e") {
            position += 1
            if position < count && (input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-")) { position += 1 }
            guard position < count else { throw endOfInput("in exponent of numeric literal") }
            guard isDigit(input[position]) else { throw invalid("in exponent of numeric literal") }
            while position < count && isDigit(input[position]) { position += 1 }
        }
        let text = UnsafeBufferPointer(rebasing: input[start..<position])
        return JSONNumber(unchecked: String(decoding: text, as: UTF8.self))
    }

    /// A string's contents, after its opening quote, through its closing quote.
    mutating func parseString() throws(JSONError) -> String {
        let start = position
        var high: UInt8 = 0
        while position < count {
            let byte = input[position]
            if byte == Parser.quote {
                let bytes = UnsafeBufferPointer(rebasing: input[start..<position])
                if high < 0x80 {
                    position += 1
                    return String(decoding: bytes, as: UTF8.self)
                }
                if let string = String(validating: bytes, as: UTF8.self) {
                    position += 1
                    return string
                }
                break
            }
            if byte == Parser.backslash || byte < 0x20 { break }
            high |= byte
            position += 1
        }
        return try parseEscapedString(from: start)
    }

    /// A string with escapes, control characters (an error) or invalid UTF-8, from `start`.
    mutating func parseEscapedString(from start: Int) throws(JSONError) -> String {
        scratch.removeAll(keepingCapacity: true)
        position = start
        while true {
            let runStart = position
            var high: UInt8 = 0
            while position < count {
                let byte = input[position]
                if byte == Parser.quote || byte == Parser.backslash || byte < 0x20 { break }
                high |= byte
                position += 1
            }
            appendRun(from: runStart, checkingUTF8: high >= 0x80)
            guard position < count else { throw endOfInput() }
            let byte = input[position]
            if byte == Parser.quote {
                position += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            guard byte == Parser.backslash else { throw invalid("in string literal") }
            position += 1
            guard position < count else { throw endOfInput("in string escape code") }
            let escape = input[position]
            position += 1
            switch escape {
            case Parser.quote, Parser.backslash, UInt8(ascii: "/"): scratch.append(escape)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar & 0xF800 == 0xD800 {
                    // A surrogate: joined with a following low surrogate escape, else U+FFFD
                    // (and the following escape, if any, is read on its own).
                    let first = scalar
                    scalar = 0xFFFD
                    if position + 1 < count && input[position] == Parser.backslash && input[position + 1] == UInt8(ascii: "u") {
                        let save = position
                        position += 2
                        let second = try parseHex4()
                        if first < 0xDC00 && second & 0xFC00 == 0xDC00 {
                            scalar = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                        } else {
                            position = save
                        }
                    }
                }
                appendUTF8(scalar)
            default:
                position -= 1
                throw invalid("in string escape code")
            }
        }
    }

    /// Four hex digits of a `\u` escape.
    mutating func parseHex4() throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < count else { throw endOfInput(#"in \u hexadecimal character escape"#) }
            let byte = input[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw invalid(#"in \u hexadecimal character escape"#)
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case ..<0x80:
            scratch.append(UInt8(scalar))
        case ..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case ..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Appends the input from `start` to the position, replacing each byte that does not begin
    /// a well-formed UTF-8 sequence with U+FFFD (as Go's utf8.DecodeRune does, byte by byte).
    mutating func appendRun(from start: Int, checkingUTF8: Bool) {
        guard checkingUTF8 else {
            scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<position]))
            return
        }
        var index = start
        while index < position {
            let length = Parser.sequenceLength(input, at: index, end: position)
            if length == 0 {
                scratch.append(contentsOf: [0xEF, 0xBF, 0xBD])
                index += 1
            } else {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<index + length]))
                index += length
            }
        }
    }

    /// The length of the well-formed UTF-8 sequence at `index` (before `end`), or 0.
    static func sequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, end: Int) -> Int {
        let first = bytes[index]
        if first < 0x80 { return 1 }
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch first {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: return 0
        }
        guard index + length <= end else { return 0 }
        let second = bytes[index + 1]
        guard second >= low && second <= high else { return 0 }
        for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 { return 0 }
        return length
    }
}

// MARK: - Serializing

extension JSON {
    /// The value as Go's json.Marshal writes it: compact, no spaces, members in order, strings
    /// escaped as Go escapes them (HTML-safe), numbers as their text.
    package func serialized() -> [UInt8] {
        var out: [UInt8] = []
        appendSerialized(to: &out)
        return out
    }

    /// Appends the compact form (`serialized()`) to `out`.
    package func appendSerialized(to out: inout [UInt8]) { write(to: &out, indent: nil) }

    /// The value as Go's json.MarshalIndent(v, "", indent) writes it: one member or element a
    /// line, each level indented by `indent` more, `"key": value`, empty `{}` and `[]` on one line.
    package func serialized(indent: String) -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out, indent: Array(indent.utf8))
        return out
    }

    /// The compact form as a string.
    package var text: String { String(decoding: serialized(), as: UTF8.self) }

    /// An open array or object being written.
    private struct Frame {
        var elements: [JSON] = []
        var members: [JSONObject.Element] = []
        var isObject: Bool
        var next = 0
    }

    /// Writes iteratively (an explicit stack), so that deep values cannot overflow the stack.
    private func write(to out: inout [UInt8], indent: [UInt8]?) {
        var stack: [Frame] = []
        func newline(_ out: inout [UInt8], depth: Int) {
            guard let indent else { return }
            out.append(0x0A)
            for _ in 0..<depth { out.append(contentsOf: indent) }
        }
        var value = self
        while true {
            switch value {
            case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            case .bool(let flag):
                if flag { out.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65]) }
            case .number(let number): out.append(contentsOf: number.text.utf8)
            case .string(let string): JSON.appendQuoted(string, to: &out)
            case .array(let elements):
                if elements.isEmpty {
                    out.append(contentsOf: [0x5B, 0x5D])
                } else {
                    out.append(0x5B)
                    stack.append(Frame(elements: elements, isObject: false))
                }
            case .object(let object):
                if object.isEmpty {
                    out.append(contentsOf: [0x7B, 0x7D])
                } else {
                    out.append(0x7B)
                    stack.append(Frame(members: object.entries, isObject: true))
                }
            }
            // Find the next value to write, closing the containers that are done.
            while true {
                guard let top = stack.last else { return }
                let depth = stack.count
                let next = top.next
                if top.isObject ? next < top.members.count : next < top.elements.count {
                    if next > 0 { out.append(0x2C) }
                    newline(&out, depth: depth)
                    stack[depth - 1].next = next + 1
                    if top.isObject {
                        let member = top.members[next]
                        JSON.appendQuoted(member.key, to: &out)
                        out.append(0x3A)
                        if indent != nil { out.append(0x20) }
                        value = member.value
                    } else {
                        value = top.elements[next]
                    }
                    break
                }
                stack.removeLast()
                newline(&out, depth: depth - 1)
                out.append(top.isObject ? 0x7D : 0x5D)
            }
        }
    }

    /// Appends `string` quoted and escaped as Go's encoding/json does (and `GoJSON.appendString`):
    /// `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`; other control characters, `<`, `>`, `&`, U+2028
    /// and U+2029 as `\u00XX` / `\u202X` with lowercase hex; everything else as its UTF-8 bytes.
    package static func appendQuoted(_ string: String, to out: inout [UInt8]) {
        out.append(0x22)
        var string = string
        string.withUTF8 { bytes in
            let count = bytes.count
            var runStart = 0
            var index = 0
            while index < count {
                let byte = bytes[index]
                // Fast check: printable ASCII other than " \ < > &, and non-ASCII other than 0xE2.
                if byte >= 0x20 && byte != 0x22 && byte != 0x5C && byte != 0x3C && byte != 0x3E && byte != 0x26 && byte != 0xE2 {
                    index += 1
                    continue
                }
                if byte == 0xE2 {
                    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
                    guard index + 2 < count, bytes[index + 1] == 0x80, bytes[index + 2] & 0xFE == 0xA8 else {
                        index += 1
                        continue
                    }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                    out.append(contentsOf: [0x5C, 0x75, 0x32, 0x30, 0x32, bytes[index + 2] == 0xA8 ? 0x38 : 0x39])
                    index += 3
                    runStart = index
                    continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                switch byte {
                case 0x22, 0x5C: out.append(contentsOf: [0x5C, byte])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default:
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, JSON.hexDigit(byte >> 4), JSON.hexDigit(byte & 0xF)])
                }
                index += 1
                runStart = index
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count]))
        }
        out.append(0x22)
    }
}

extension JSON {
    /// The lowercase hex digit for `value` (0...15).
    @inline(__always)
    fileprivate static func hexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x57 + value }
}

extension JSON: CustomStringConvertible {
    /// The compact JSON text.
    package var description: String { text }
}
