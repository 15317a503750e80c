// The string rules of apimachinery 1.32's pkg/util/validation (qualified names, label values,
// DNS labels and subdomains, config keys, env names, port names) with their exact messages, and
// the Go renderings (%q, %v, %#v) field errors show values in.

/// Kubernetes' string validators; each returns its problems in Kubernetes' words (empty: valid).
package enum Rules {
    package static let qualifiedNameMaxLength = 63
    package static let labelValueMaxLength = 63
    package static let dns1123LabelMaxLength = 63
    package static let dns1123SubdomainMaxLength = 253
    package static let portNameMaxLength = 15

    private static let qualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    private static let qualifiedNameMessage =
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    private static let labelFormat = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"

    /// `msg (e.g. 'a' or 'b', regex used for validation is 'fmt')`, as RegexError builds it.
    package static func regexError(_ message: String, _ format: String, _ examples: String...) -> String {
        guard !examples.isEmpty else { return message + " (regex used for validation is '\(format)')" }
        return message + " (e.g. " + examples.map { "'\($0)', " }.joined(separator: " or ") + "regex used for validation is '\(format)')"
    }

    package static func maxLength(_ n: Int) -> String { "must be no more than \(n) characters" }

    private static func isAlnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    private static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, or empty when `allowEmpty`.
    private static func matchesQualifiedPart(_ s: String, allowEmpty: Bool = false) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, let last = b.last else { return allowEmpty }
        return isAlnum(first) && isAlnum(last) && b.allSatisfy { isAlnum($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }

    private static func matchesLabel(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, let last = b.last else { return false }
        return isLowerAlnum(first) && isLowerAlnum(last) && b.allSatisfy { isLowerAlnum($0) || $0 == 0x2D }
    }

    private static func matchesSubdomain(_ s: String) -> Bool {
        !s.isEmpty && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(matchesLabel)
    }

    /// IsQualifiedName: an optional DNS subdomain prefix and `/`, then a name of at most 63.
    package static func qualifiedName(_ value: String) -> [String] {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        var errors: [String] = []
        let name: String
        switch parts.count {
        case 1: name = value
        case 2:
            name = String(parts[1])
            if parts[0].isEmpty {
                errors.append("prefix part must be non-empty")
            } else {
                errors += dns1123Subdomain(String(parts[0])).map { "prefix part " + $0 }
            }
        default:
            return [
                "a qualified name " + regexError(qualifiedNameMessage, qualifiedNameFormat, "MyName", "my.name", "123-abc")
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            errors.append("name part must be non-empty")
        } else if name.utf8.count > qualifiedNameMaxLength {
            errors.append("name part " + maxLength(qualifiedNameMaxLength))
        }
        if !matchesQualifiedPart(name) {
            errors.append("name part " + regexError(qualifiedNameMessage, qualifiedNameFormat, "MyName", "my.name", "123-abc"))
        }
        return errors
    }

    /// IsValidLabelValue: empty, or a qualified-name part of at most 63 characters.
    package static func labelValue(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > labelValueMaxLength { errors.append(maxLength(labelValueMaxLength)) }
        if !matchesQualifiedPart(value, allowEmpty: true) {
            errors.append(
                regexError(
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                        + "with an alphanumeric character", "(\(qualifiedNameFormat))?", "MyValue", "my_value", "12345"))
        }
        return errors
    }

    /// IsDNS1123Label (1.32: a valid subdomain with dots gets "must not contain dots").
    package static func dns1123Label(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > dns1123LabelMaxLength { errors.append(maxLength(dns1123LabelMaxLength)) }
        if !matchesLabel(Substring(value)) {
            if matchesSubdomain(value) {
                errors.append("must not contain dots")
            } else {
                errors.append(
                    regexError(
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with "
                            + "an alphanumeric character", labelFormat, "my-name", "123-abc"))
            }
        }
        return errors
    }

    /// IsDNS1123Subdomain.
    package static func dns1123Subdomain(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > dns1123SubdomainMaxLength { errors.append(maxLength(dns1123SubdomainMaxLength)) }
        if !matchesSubdomain(value) {
            errors.append(
                regexError(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
                        + "with an alphanumeric character", labelFormat + "(\\." + labelFormat + ")*", "example.com"))
        }
        return errors
    }

    /// IsDNS1035Label: as a DNS-1123 label but starting with a letter.
    package static func dns1035Label(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > dns1123LabelMaxLength { errors.append(maxLength(dns1123LabelMaxLength)) }
        let startsWithLetter = value.utf8.first.map { $0 >= 0x61 && $0 <= 0x7A } ?? false
        if !(startsWithLetter && matchesLabel(Substring(value))) {
            errors.append(
                regexError(
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end "
                        + "with an alphanumeric character", "[a-z]([-a-z0-9]*[a-z0-9])?", "my-name", "abc-123"))
        }
        return errors
    }

    /// A name prefix (generateName) is checked with its trailing dashes removed (maskTrailingDash).
    package static func asPrefix(_ value: String) -> String {
        var s = Substring(value)
        while s.count > 1, s.last == "-" { s = s.dropLast() }
        return String(s)
    }

    /// `.`, `..` and a leading `..` are refused for keys that become file names.
    private static func chdirPrefix(_ value: String) -> [String] {
        if value == "." { return ["must not be '.'"] }
        if value == ".." { return ["must not be '..'"] }
        if value.hasPrefix("..") { return ["must not start with '..'"] }
        return []
    }

    /// IsConfigMapKey: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.`/`..`.
    package static func configMapKey(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > dns1123SubdomainMaxLength { errors.append(maxLength(dns1123SubdomainMaxLength)) }
        if value.isEmpty || !value.utf8.allSatisfy({ isAlnum($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }) {
            errors.append(
                regexError(
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'", "[-._a-zA-Z0-9]+", "key.name",
                    "KEY_NAME", "key-name"))
        }
        return errors + chdirPrefix(value)
    }

    /// IsEnvVarName: `[-._a-zA-Z][-._a-zA-Z0-9]*`, not `.`/`..`.
    package static func envVarName(_ value: String) -> [String] {
        let b = Array(value.utf8)
        func allowed(_ c: UInt8) -> Bool { isAlnum(c) || c == 0x2D || c == 0x2E || c == 0x5F }
        var errors: [String] = []
        if b.isEmpty || !b.allSatisfy(allowed) || (b[0] >= 0x30 && b[0] <= 0x39) {
            errors.append(
                regexError(
                    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start "
                        + "with a digit", "[-._a-zA-Z][-._a-zA-Z0-9]*", "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
        }
        return errors + chdirPrefix(value)
    }

    /// IsValidPortName: an IANA service name.
    package static func portName(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > portNameMaxLength { errors.append(maxLength(portNameMaxLength)) }
        if value.isEmpty || !value.utf8.allSatisfy({ isLowerAlnum($0) || $0 == 0x2D }) {
            errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
        }
        if !value.utf8.contains(where: { $0 >= 0x61 && $0 <= 0x7A }) { errors.append("must contain at least one letter (a-z)") }
        if value.contains("--") { errors.append("must not contain consecutive hyphens") }
        if value.hasPrefix("-") || value.hasSuffix("-") { errors.append("must not begin or end with a hyphen") }
        return errors
    }

    package static func portNumber(_ value: Int64) -> [String] {
        (1...65535).contains(value) ? [] : ["must be between 1 and 65535, inclusive"]
    }

    /// IsValidPercent: digits then `%`.
    package static func percent(_ value: String) -> [String] {
        let digits = value.dropLast()
        if value.hasSuffix("%"), !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return [] }
        return [regexError("a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", "1%", "93%")]
    }
}

/// Go's renderings of values in field errors.
package enum GoValue {
    /// `%q` (strconv.Quote): escapes for `"`, `\` and control characters; printable kept.
    package static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            // Line and paragraph separators are not printable to Go: escaped.
            case "\u{2028}", "\u{2029}": out += "\\u" + String(scalar.value, radix: 16)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" : "") + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `%v` of a JSON scalar as the Go field holds it: strings quoted, numbers and bools bare, null as `null`.
    package static func scalar(_ value: JSON?) -> String {
        switch value {
        case .string(let s)?: return quote(s)
        case .number(let n)?: return n.text
        case .bool(let b)?: return b ? "true" : "false"
        default: return "null"
        }
    }

    /// `%#v` of a map[string]string: `map[string]string{"a":"b", "c":"d"}` (keys sorted).
    package static func stringMap(_ map: JSONObject?) -> String {
        guard let map else { return "map[string]string(nil)" }
        let pairs = map.keys.sorted().map { "\(quote($0)):\(quote(map[$0]?.string ?? ""))" }
        return "map[string]string{" + pairs.joined(separator: ", ") + "}"
    }

    /// `%#v` of a []string.
    package static func stringSlice(_ list: [JSON]?) -> String {
        guard let list else { return "[]string(nil)" }
        return "[]string{" + list.map { quote($0.string ?? "") }.joined(separator: ", ") + "}"
    }

    /// `%#v` of a metav1.LabelSelector, as errors on selectors print it.
    package static func labelSelector(_ selector: JSON?) -> String {
        let expressions: String
        if let list = selector?["matchExpressions"]?.array {
            let items = list.map { e in
                "v1.LabelSelectorRequirement{Key:\(quote(e.text("key"))), Operator:\(quote(e.text("operator"))), "
                    + "Values:\(stringSlice(e["values"]?.array))}"
            }
            expressions = "[]v1.LabelSelectorRequirement{" + items.joined(separator: ", ") + "}"
        } else {
            expressions = "[]v1.LabelSelectorRequirement(nil)"
        }
        return "v1.LabelSelector{MatchLabels:\(stringMap(selector?["matchLabels"]?.object)), MatchExpressions:\(expressions)}"
    }

    /// `%#v` of an intstr.IntOrString (its String method needs a pointer, so Go prints the struct).
    package static func intOrString(_ value: JSON?) -> String {
        switch value {
        case .string(let s)?: return "intstr.IntOrString{Type:1, IntVal:0, StrVal:\(quote(s))}"
        case .number(let n)?: return "intstr.IntOrString{Type:0, IntVal:\(n.text), StrVal:\"\"}"
        default: return "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}"
        }
    }

    /// `String()` of a metav1.Time given as RFC 3339 (`2024-01-02 03:04:05 +0000 UTC`).
    package static func time(_ value: JSON?) -> String {
        guard let text = value?.string, text.count >= 19 else { return "0001-01-01 00:00:00 +0000 UTC" }
        let date = text.prefix(10)
        let clock = text.dropFirst(11).prefix(8)
        return "\(date) \(clock) +0000 UTC"
    }
}
