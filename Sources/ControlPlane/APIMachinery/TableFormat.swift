// The field reading and text formatting Kubernetes' table printers share: fields read with Go's
// zero values, label maps and label selectors written as apimachinery writes them, container
// lists, and JSON values printed as Go's fmt and encoding/json print them.

/// An object's fields read as Go's decoder leaves them in a typed struct: a missing, null or
/// mistyped field is its zero value ("" / 0 / false / empty), so printers behave on partial JSON as
/// kube-apiserver's do on zero values.
struct GoFields: Sendable {
    let json: JSON

    init(_ json: JSON) { self.json = json }

    /// The value at `path`, or nil when it is missing or null.
    func value(_ path: [String]) -> JSON? {
        guard let value = json.value(at: path), !value.isNull else { return nil }
        return value
    }

    func string(_ path: String...) -> String { value(path)?.string ?? "" }

    func optionalString(_ path: String...) -> String? { value(path)?.string }

    func int(_ path: String...) -> Int64 { value(path)?.int64 ?? 0 }

    func optionalInt(_ path: String...) -> Int64? { value(path)?.int64 }

    func bool(_ path: String...) -> Bool { value(path)?.bool ?? false }

    func optionalBool(_ path: String...) -> Bool? { value(path)?.bool }

    /// Whether the field is present and not null (a Go pointer that is not nil).
    func exists(_ path: String...) -> Bool { value(path) != nil }

    /// The nested object at `path` (empty when missing), for reading further.
    func child(_ path: String...) -> GoFields { GoFields(value(path) ?? .null) }

    /// The elements of the array at `path` (none when it is missing or not an array).
    func items(_ path: String...) -> [GoFields] { (value(path)?.array ?? []).map(GoFields.init) }

    /// How many members or elements the object or array at `path` has (Go's `len`).
    func count(_ path: String...) -> Int64 {
        switch value(path) {
        case .array(let array): Int64(array.count)
        case .object(let object): Int64(object.count)
        default: 0
        }
    }

    /// The string-valued members of the object at `path`, as a Go `map[string]string`.
    func stringMap(_ path: String...) -> [(key: String, value: String)] {
        (value(path)?.object ?? JSONObject()).map { ($0.key, $0.value.string ?? "") }
    }

    /// The timestamp at `path`; Go's zero time when it is missing, null, empty or unreadable.
    func time(_ path: String...) -> TableInstant { value(path)?.string.flatMap(TableTime.parse) ?? .zero }
}

/// Text formatting shared by the printers, each as the Go helper it stands for writes it.
enum TableFormat {
    /// Compares strings by their UTF-8 bytes, as Go's `<` on strings does.
    static func goLess(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// labels.Set.String: `key=value` pairs sorted as strings and joined with `,`.
    static func labelSet(_ labels: [(key: String, value: String)]) -> String {
        labels.map { $0.key + "=" + $0.value }.sorted(by: goLess).joined(separator: ",")
    }

    /// labels.FormatLabels: the label set, or `<none>` when it is empty.
    static func labels(_ labels: [(key: String, value: String)]) -> String {
        let text = labelSet(labels)
        return text.isEmpty ? "<none>" : text
    }

    /// metav1.LabelSelectorAsSelector(…).String(): nil when the selector is invalid; "" for a
    /// missing (matches nothing) or empty (matches everything) selector; otherwise its
    /// requirements sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by `,`.
    static func selector(_ selector: GoFields) -> String? {
        guard selector.json.object != nil else { return "" }
        var requirements: [(key: String, text: String)] = []
        for (key, value) in selector.stringMap("matchLabels") {
            guard isValidKey(key), isValidValue(value) else { return nil }
            requirements.append((key, key + "=" + value))
        }
        for expression in selector.items("matchExpressions") {
            guard let requirement = requirementText(expression) else { return nil }
            requirements.append(requirement)
        }
        // labels.internalSelector.Add sorts the requirements by key.
        let sorted = requirements.enumerated().sorted {
            $0.element.key == $1.element.key ? $0.offset < $1.offset : goLess($0.element.key, $1.element.key)
        }
        return sorted.map(\.element.text).joined(separator: ",")
    }

    /// One matchExpressions entry as a requirement, or nil when labels.NewRequirement rejects it.
    private static func requirementText(_ expression: GoFields) -> (key: String, text: String)? {
        let key = expression.string("key")
        let values = expression.items("values").map { $0.json.string ?? "" }
        guard isValidKey(key), values.allSatisfy(isValidValue) else { return nil }
        let list = values.count == 1 ? values[0] : values.sorted(by: goLess).joined(separator: ",")
        switch expression.string("operator") {
        case "In": return values.isEmpty ? nil : (key, key + " in (" + list + ")")
        case "NotIn": return values.isEmpty ? nil : (key, key + " notin (" + list + ")")
        case "Exists": return values.isEmpty ? (key, key) : nil
        case "DoesNotExist": return values.isEmpty ? (key, "!" + key) : nil
        default: return nil
        }
    }

    private static func isValidKey(_ key: String) -> Bool { (try? SelectorParser.validateKey(key)) != nil }

    private static func isValidValue(_ value: String) -> Bool { (try? SelectorParser.validateValue(value)) != nil }

    /// metav1.FormatLabelSelector: the selector's text, `<none>` when it has none, `<error>`
    /// when it is invalid.
    static func labelSelector(_ selector: GoFields) -> String {
        guard let text = self.selector(selector) else { return "<error>" }
        return text.isEmpty ? "<none>" : text
    }

    /// printers' layoutContainerCells: the containers' names and images, each joined by `,`.
    static func containers(_ containers: [GoFields]) -> (names: String, images: String) {
        (containers.map { $0.string("name") }.joined(separator: ","), containers.map { $0.string("image") }.joined(separator: ","))
    }

    /// A list cut to its first three entries as printers' listWithMoreString writes it: `a,b,c + 2 more...`,
    /// or `<unset>` when there is nothing.
    static func listWithMore(_ list: [String], limit: Int = 3) -> String {
        let shown = list.prefix(limit).joined(separator: ",")
        if list.count > limit { return shown + " + \(list.count - limit) more..." }
        return shown.isEmpty ? "<unset>" : shown
    }

    /// An IntOrString as Go's intstr.IntOrString.String writes it: the integer in decimal, or the string.
    static func intOrString(_ value: JSON) -> String {
        if case .number(let number) = value { return number.int64.map { String($0) } ?? number.text }
        return value.string ?? ""
    }

    /// Go's net.JoinHostPort: an IPv6 host (one with `:`) goes in brackets.
    static func joinHostPort(_ host: String, _ port: Int64) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Go's strings.TrimSpace: leading and trailing Unicode white space removed.
    static func trimSpace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }

    // MARK: - Go's printing of decoded JSON values

    /// A JSON value as client-go's JSONPath prints one result (fmt.Fprint of the decoded value;
    /// objects and arrays as encoding/json writes them): `abc`, `3`, `0.5`, `1e+06`, `true`,
    /// `{"a":1}`; `<no value>` for null.
    static func goPrint(_ value: JSON) -> String {
        switch value {
        case .null: "<no value>"
        case .bool(let bool): bool ? "true" : "false"
        case .string(let string): string
        case .number(let number): goPrint(number)
        case .array, .object: String(decoding: goJSON(value).serialized(), as: UTF8.self)
        }
    }

    /// A number as fmt's `%v` prints what Kubernetes decodes it to: an int64 in decimal, a
    /// float64 in `%g` form with the shortest digits (`e` form for exponents below -4 or from 6 on).
    static func goPrint(_ number: JSONNumber) -> String {
        if !number.text.contains("."), let int = Int64(number.text) { return String(int) }
        guard let double = number.double else { return number.text }
        return goGeneral(double)
    }

    /// The value re-encoded as Go's json.Marshal writes a decoded `interface{}`: object keys
    /// sorted, integers kept, other numbers as float64.
    static func goJSON(_ value: JSON) -> JSON {
        switch value {
        case .object(let object):
            let sorted = object.map { ($0.key, goJSON($0.value)) }.sorted { goLess($0.0, $1.0) }
            return .object(JSONObject(sorted))
        case .array(let array): return .array(array.map(goJSON))
        case .number(let number):
            if !number.text.contains("."), let int = Int64(number.text) { return .number(JSONNumber(int)) }
            return number.double.map { .number(JSONNumber($0)) } ?? value
        default: return value
        }
    }

    /// strconv.FormatFloat(v, 'g', -1, 64), which `%v` uses: shortest digits, `e` form (at least
    /// two exponent digits) when the decimal exponent is below -4 or at least 6: `0.5`, `123456`, `1e+06`.
    static func goGeneral(_ value: Double) -> String {
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        let (negative, digits, exponent) = decimalDigits(of: value)
        let sign = negative ? "-" : ""
        if exponent < -4 || exponent >= 6 {
            let mantissa = digits.count > 1 ? String(digits.first!) + "." + digits.dropFirst() : String(digits)
            let magnitude = abs(exponent)
            return sign + mantissa + (exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        if exponent < 0 { return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits }
        if digits.count <= exponent + 1 { return sign + digits + String(repeating: "0", count: exponent + 1 - digits.count) }
        let point = digits.index(digits.startIndex, offsetBy: exponent + 1)
        return sign + digits[..<point] + "." + digits[point...]
    }

    /// The shortest round-trip decimal digits of a finite non-zero Double and the exponent of
    /// its first digit (1234.5 is ("12345", 3)), from Swift's own shortest description.
    private static func decimalDigits(of value: Double) -> (Bool, String, Int) {
        var text = "\(abs(value))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = whole + fraction
        var pointExponent = whole.count - 1 + exponent
        while digits.hasPrefix("0"), digits.count > 1 {
            digits.removeFirst()
            pointExponent -= 1
        }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        return (value < 0, digits, pointExponent)
    }
}
