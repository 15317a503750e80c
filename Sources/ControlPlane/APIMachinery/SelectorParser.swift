/// The label selector grammar, lexed as Kubernetes lexes it: whitespace separates, `! != ( ) , =
/// == > <` are symbols, `in` and `notin` are keywords, any other run of characters is an
/// identifier.
struct SelectorParser {
    private enum Token: Equatable {
        case identifier(String)
        case symbol(String)
        case end

        var text: String {
            switch self {
            case .identifier(let s), .symbol(let s): return s
            case .end: return "end of string"
            }
        }
    }

    private var tokens: [Token] = []
    private var position = 0

    /// Selectors longer than this are refused (a URL's query stays far below it).
    static let maxLength = 1 << 16

    init(_ text: String) {
        tokens = text.count > Self.maxLength ? [.symbol("\u{0}")] : Self.lex(text)
    }

    private static func isSymbol(_ c: Character) -> Bool { "!=(),<>".contains(c) }

    private static func lex(_ text: String) -> [Token] {
        var out: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
            } else if isSymbol(c) {
                let two = i + 1 < chars.count ? String([c, chars[i + 1]]) : ""
                if two == "!=" || two == "==" {
                    out.append(.symbol(two))
                    i += 2
                } else {
                    out.append(.symbol(String(c)))
                    i += 1
                }
            } else {
                var j = i
                while j < chars.count, !chars[j].isWhitespace, !isSymbol(chars[j]) { j += 1 }
                out.append(.identifier(String(chars[i..<j])))
                i = j
            }
        }
        out.append(.end)
        return out
    }

    private var next: Token { tokens[position] }

    private mutating func take() -> Token {
        let t = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return t
    }

    private func failure(_ found: Token, _ expected: String) -> APIStatus {
        .badRequest("unable to parse requirement: found '\(found.text)', expected: \(expected)")
    }

    mutating func requirements() throws(APIStatus) -> [LabelSelector.Requirement] {
        var out: [LabelSelector.Requirement] = []
        if next == .end { return out }
        while true {
            out.append(try requirement())
            switch take() {
            case .end: return out
            case .symbol(","):
                if next == .end { throw failure(next, "identifier after ','") }
            case let other: throw failure(other, "',' or 'end of string'")
            }
        }
    }

    private mutating func requirement() throws(APIStatus) -> LabelSelector.Requirement {
        if next == .symbol("!") {
            _ = take()
            let keyToken = take()
            guard case .identifier(let key) = keyToken else { throw failure(keyToken, "identifier after '!'") }
            try Self.validateKey(key)
            return .init(key: key, op: .doesNotExist, values: [])
        }
        let keyToken = take()
        guard case .identifier(let key) = keyToken, key != "in", key != "notin" else { throw failure(keyToken, "identifier") }
        try Self.validateKey(key)
        if next == .end || next == .symbol(",") { return .init(key: key, op: .exists, values: []) }
        let opToken = take()
        let op: LabelSelector.Operator
        switch opToken {
        case .symbol("="), .symbol("=="): op = .equals
        case .symbol("!="): op = .notEquals
        case .symbol(">"): op = .greaterThan
        case .symbol("<"): op = .lessThan
        case .identifier("in"): op = .in
        case .identifier("notin"): op = .notIn
        default: throw failure(opToken, "'=', '!=', '==', 'in', 'notin', '>', '<'")
        }
        let values: [String]
        if op == .in || op == .notIn {
            values = try set()
            guard !values.isEmpty else {
                throw .badRequest("unable to parse requirement: for 'in', 'notin' operators, values set can't be empty")
            }
        } else {
            // `key=` selects the empty value.
            if case .identifier(let v) = next {
                _ = take()
                values = [v]
            } else {
                values = [""]
            }
            if op == .greaterThan || op == .lessThan, Int64(values[0]) == nil {
                throw .badRequest("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
            }
        }
        if op != .greaterThan && op != .lessThan { for v in values { try Self.validateValue(v) } }
        return .init(key: key, op: op, values: values)
    }

    /// `( a, b )`: identifiers separated by commas; an empty place is the empty value.
    private mutating func set() throws(APIStatus) -> [String] {
        let open = take()
        guard open == .symbol("(") else { throw failure(open, "'('") }
        var values: [String] = []
        if next == .symbol(")") {
            _ = take()
            return values
        }
        while true {
            if case .identifier(let v) = next {
                _ = take()
                values.append(v)
            } else {
                values.append("")
            }
            switch take() {
            case .symbol(","): continue
            case .symbol(")"): return values
            case let other: throw failure(other, "',' or ')'")
            }
        }
    }

    // MARK: - Kubernetes' label key and value rules

    private static func isAlphanumeric(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
    private static func isName(_ s: Substring) -> Bool {
        guard let first = s.first, let last = s.last, s.count <= 63, isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return s.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    /// A DNS subdomain (RFC 1123), at most 253 characters: label prefixes such as `app.kubernetes.io`.
    private static func isSubdomain(_ s: Substring) -> Bool {
        guard !s.isEmpty, s.count <= 253 else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            guard let first = part.first, let last = part.last, part.count <= 63 else { return false }
            let lowerAlnum: (Character) -> Bool = { $0.isASCII && ($0.isLowercase || $0.isNumber) }
            return lowerAlnum(first) && lowerAlnum(last) && part.allSatisfy { lowerAlnum($0) || $0 == "-" }
        }
    }

    static func validateKey(_ key: String) throws(APIStatus) {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let valid = parts.count == 1 ? isName(parts[0]) : isSubdomain(parts[0]) && !parts[1].contains("/") && isName(parts[1])
        guard valid else {
            throw .badRequest(
                "unable to parse requirement: invalid label key \"\(key)\": name part must consist of alphanumeric characters, "
                    + "'-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters, "
                    + "with an optional DNS subdomain prefix and '/')")
        }
    }

    static func validateValue(_ value: String) throws(APIStatus) {
        guard value.isEmpty || isName(Substring(value)) else {
            throw .badRequest(
                "unable to parse requirement: values[0]: Invalid value: \"\(value)\": a valid label must be an empty string or "
                    + "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
        }
    }
}
