/// A label selector as `labelSelector=` and `kubectl -l` write it: requirements joined by commas,
/// each equality-based (`app=web`, `app==web`, `tier!=db`), set-based (`env in (a,b)`,
/// `env notin (c)`, `app` to require the key, `!app` to forbid it) or numeric (`replicas>1`,
/// `replicas<3`). The empty selector matches everything. Keys and values are checked as
/// Kubernetes checks label keys and values; a bad selector is a 400 `APIStatus`.
package struct LabelSelector: Sendable, Equatable {
    package enum Operator: String, Sendable {
        case equals = "="
        case notEquals = "!="
        case `in`
        case notIn = "notin"
        case exists
        case doesNotExist = "!"
        case greaterThan = "gt"
        case lessThan = "lt"
    }

    package struct Requirement: Sendable, Equatable {
        package var key: String
        package var op: Operator
        package var values: [String]

        package init(key: String, op: Operator, values: [String]) {
            self.key = key
            self.op = op
            self.values = values
        }

        package func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals, .in: return value.map(values.contains) ?? false
            case .notEquals, .notIn: return value.map { !values.contains($0) } ?? true
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            case .greaterThan, .lessThan:
                guard let value, let have = Int64(value), let bound = values.first.flatMap({ Int64($0) }) else { return false }
                return op == .greaterThan ? have > bound : have < bound
            }
        }
    }

    package var requirements: [Requirement]

    /// The selector that matches everything.
    package static let everything = LabelSelector(requirements: [])

    package init(requirements: [Requirement]) { self.requirements = requirements }

    /// Parses `text`; throws a 400 `APIStatus` naming what is wrong.
    package init(parsing text: String) throws(APIStatus) {
        var parser = SelectorParser(text)
        requirements = try parser.requirements()
    }

    package func matches(_ labels: [String: String]) -> Bool { requirements.allSatisfy { $0.matches(labels) } }

    package var isEverything: Bool { requirements.isEmpty }
}

/// A field selector as `fieldSelector=` writes it: `field=value`, `field==value` or
/// `field!=value`, joined by commas; `\,`, `\=` and `\\` escape those characters in values. Which
/// fields a resource supports is its own (`metadata.name`, `metadata.namespace`, `spec.nodeName`...).
package struct FieldSelector: Sendable, Equatable {
    package struct Requirement: Sendable, Equatable {
        package var field: String
        package var equals: Bool
        package var value: String

        package init(field: String, equals: Bool, value: String) {
            self.field = field
            self.equals = equals
            self.value = value
        }
    }

    package var requirements: [Requirement]

    package static let everything = FieldSelector(requirements: [])

    package init(requirements: [Requirement]) { self.requirements = requirements }

    package init(parsing text: String) throws(APIStatus) {
        var result: [Requirement] = []
        for term in Self.split(text) where !term.isEmpty {
            guard let (field, equals, value) = Self.term(term) else {
                throw .badRequest("invalid field selector: invalid selector: '\(text)'; can't understand '\(term)'")
            }
            result.append(Requirement(field: field, equals: equals, value: value))
        }
        requirements = result
    }

    /// Whether the object's fields (from the resource's own field set) satisfy every term; a
    /// field the resource does not know is reported by `unsupported(in:)` before matching.
    package func matches(_ fields: [String: String]) -> Bool {
        requirements.allSatisfy { ($0.equals) == (fields[$0.field] == $0.value) }
    }

    /// The first field the selector names that is not in `supported`, as kube-apiserver rejects it.
    package func unsupported(in supported: Set<String>, resource: String) -> APIStatus? {
        guard let bad = requirements.first(where: { !supported.contains($0.field) }) else { return nil }
        return .badRequest("field label not supported: \(bad.field)")
    }

    /// The value of `field` when the selector pins it with `=` (the watch cache's index lookups).
    package func exactValue(of field: String) -> String? {
        requirements.first { $0.field == field && $0.equals }?.value
    }

    package var isEverything: Bool { requirements.isEmpty }

    /// Splits on commas not escaped with a backslash; escapes are kept for `term`.
    private static func split(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var escaped = false
        for c in text {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                current.append(c)
                escaped = true
            } else if c == "," {
                terms.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        terms.append(current)
        return terms
    }

    /// `field!=value`, `field==value` or `field=value`, the value unescaped.
    private static func term(_ term: String) -> (String, Bool, String)? {
        let chars = Array(term)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\" {
                i += 2
                continue
            }
            if chars[i] == "!" || chars[i] == "=" { break }
            i += 1
        }
        guard i < chars.count else { return nil }
        let field = String(chars[..<i])
        var rest: ArraySlice<Character>
        let equals: Bool
        if chars[i] == "!" {
            guard i + 1 < chars.count, chars[i + 1] == "=" else { return nil }
            equals = false
            rest = chars[(i + 2)...]
        } else {
            equals = true
            rest = chars[(i + 1)...]
            if rest.first == "=" { rest = rest.dropFirst() }
        }
        guard !field.isEmpty else { return nil }
        var value = ""
        var escaped = false
        for c in rest {
            if escaped {
                guard c == "\\" || c == "," || c == "=" else { return nil }
                value.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "=" || c == "," {
                return nil
            } else {
                value.append(c)
            }
        }
        return escaped ? nil : (field, equals, value)
    }
}
