// Custom resources' tables: the apiextensions-apiserver convertor for a CRD version's
// additionalPrinterColumns, with the part of client-go's JSONPath those columns use.

/// A CRD column's `jsonPath`, parsed as client-go's JSONPath parses `{<jsonPath>}`: fields
/// (`.spec.replicas`, `['a.b']`, `.a\.b`), indexes and slices (`[0]`, `[-1]`, `[1:3]`), wildcards
/// (`[*]`, `.*`), recursive descent (`..name`) and filters (`[?(@.type=="Ready")]`, `[?(@.x)]`,
/// with `==`, `!=`, `<`, `>`, `<=`, `>=`). Evaluation allows missing keys, as the convertor does.
struct TableJSONPath: Sendable {
    /// A filter comparison's right-hand side: a literal or a path from the element.
    enum Operand: Sendable {
        case literal(JSON)
        case path([Step])
    }

    enum Step: Sendable {
        case field(String)
        case wildcard
        case recursive
        case index(start: Int?, end: Int?, step: Int?, isSlice: Bool)
        case filter(left: [Step], op: String, right: Operand?)
    }

    /// A path the parser or evaluator rejects (Kubernetes then shows no value).
    struct Failure: Error {}

    let steps: [Step]

    /// Parses `text`, or returns nil when client-go would not parse it.
    init?(_ text: String) {
        var parser = Parser(Array(text.unicodeScalars))
        guard let steps = try? parser.path(allowRoot: true), parser.atEnd else { return nil }
        self.steps = steps
    }

    /// The results for `object`, in order; throws where client-go's FindResults fails (an index
    /// out of range, indexing or filtering a value that is not an array, comparing unlike values).
    func results(in object: JSON) throws(Failure) -> [JSON] { try Self.walk([object], steps) }

    private static func walk(_ input: [JSON], _ steps: [Step]) throws(Failure) -> [JSON] {
        var current = input
        for step in steps { current = try apply(step, to: current) }
        return current
    }

    private static func apply(_ step: Step, to input: [JSON]) throws(Failure) -> [JSON] {
        switch step {
        case .field(let name): return input.compactMap { $0.object?[name] }
        case .wildcard: return input.flatMap { $0.object?.values ?? $0.array ?? [] }
        case .recursive: return input.flatMap(descendants)
        case .index(let start, let end, let stride, let isSlice):
            var out: [JSON] = []
            for value in input where !value.isNull {
                out += try index(value, start: start, end: end, stride: stride, isSlice: isSlice)
            }
            return out
        case .filter(let left, let op, let right):
            var out: [JSON] = []
            for value in input {
                guard let array = value.array else { throw Failure() }
                for element in array where try matches(element, left: left, op: op, right: right) { out.append(element) }
            }
            return out
        }
    }

    /// The value and everything under it, depth first (client-go's recursive descent).
    private static func descendants(_ value: JSON) -> [JSON] {
        let children = value.object?.values ?? value.array ?? []
        if children.isEmpty { return [] }
        return [value] + children.flatMap(descendants)
    }

    /// `[i]` or `[start:end:step]` of an array, with client-go's bounds checks.
    private static func index(_ value: JSON, start: Int?, end: Int?, stride: Int?, isSlice: Bool) throws(Failure) -> [JSON] {
        guard let array = value.array else { throw Failure() }
        let count = array.count
        var from = start ?? 0
        if from < 0 { from += count }
        var to = isSlice ? (end ?? count) : from + 1
        if isSlice, let end, end < 0 { to = end + count }
        if to == from { return [] }
        guard from >= 0, from < count, to >= 0, to <= count, from <= to else { throw Failure() }
        let step = stride ?? 1
        guard step > 0 else { throw Failure() }
        return Swift.stride(from: from, to: to, by: step).map { array[$0] }
    }

    private static func matches(_ element: JSON, left: [Step], op: String, right: Operand?) throws(Failure) -> Bool {
        let lefts = try walk([element], left)
        if op == "exists" { return !lefts.isEmpty }
        guard let right else { throw Failure() }
        if lefts.isEmpty { return false }
        guard lefts.count == 1 else { throw Failure() }
        let rights: [JSON]
        switch right {
        case .literal(let value): rights = [value]
        case .path(let steps): rights = try walk([element], steps)
        }
        if rights.isEmpty { return false }
        guard rights.count == 1 else { throw Failure() }
        return try compare(lefts[0], op, rights[0])
    }

    /// Compares like values as Go's template functions do; unlike ones are an error.
    private static func compare(_ left: JSON, _ op: String, _ right: JSON) throws(Failure) -> Bool {
        switch (left, right) {
        case (.string(let a), .string(let b)):
            return decide(op, less: TableFormat.goLess(a, b), equal: a == b)
        case (.number(let a), .number(let b)):
            guard let x = a.double, let y = b.double else { throw Failure() }
            return decide(op, less: x < y, equal: x == y)
        case (.bool(let a), .bool(let b)):
            guard op == "==" || op == "!=" else { throw Failure() }
            return decide(op, less: false, equal: a == b)
        default:
            throw Failure()
        }
    }

    private static func decide(_ op: String, less: Bool, equal: Bool) -> Bool {
        switch op {
        case "==": equal
        case "!=": !equal
        case "<": less
        case "<=": less || equal
        case ">": !less && !equal
        case ">=": !less
        default: false
        }
    }
}

/// A recursive-descent reader of the JSONPath subset above.
private struct Parser {
    private let text: [Unicode.Scalar]
    private var position = 0

    init(_ text: [Unicode.Scalar]) { self.text = text }

    var atEnd: Bool { position == text.count }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? { position + offset < text.count ? text[position + offset] : nil }

    /// Steps until the end of the text or of a filter's operand; a leading `$` (or `@` in a
    /// filter) names the root.
    mutating func path(allowRoot: Bool) throws(TableJSONPath.Failure) -> [TableJSONPath.Step] {
        var steps: [TableJSONPath.Step] = []
        if allowRoot, peek() == "$" || peek() == "@" { position += 1 }
        while let scalar = peek() {
            switch scalar {
            case ".":
                if peek(1) == "." {
                    position += 2
                    steps.append(.recursive)
                    if peek() != "[" { steps.append(field()) }
                } else {
                    position += 1
                    steps.append(field())
                }
            case "[": steps.append(try bracket())
            default: return steps
            }
        }
        return steps
    }

    /// A dotted field name up to the next terminator; `\` escapes the next character.
    private mutating func field() -> TableJSONPath.Step {
        var name = ""
        while let scalar = peek(), !Self.isTerminator(scalar) {
            position += 1
            if scalar == "\\", let escaped = peek() {
                position += 1
                name.unicodeScalars.append(escaped)
            } else {
                name.unicodeScalars.append(scalar)
            }
        }
        return name == "*" ? .wildcard : .field(name)
    }

    private static func isTerminator(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || ".,[]$@{}()=!<>".unicodeScalars.contains(scalar)
    }

    /// `[*]`, `['name']`, `[?(…)]`, or an index or slice.
    private mutating func bracket() throws(TableJSONPath.Failure) -> TableJSONPath.Step {
        position += 1
        if peek() == "*", peek(1) == "]" {
            position += 2
            return .wildcard
        }
        if peek() == "'" || peek() == "\"" {
            let name = try quoted()
            try expect("]")
            return .field(name)
        }
        if peek() == "?" {
            position += 1
            try expect("(")
            let step = try filter()
            try expect(")")
            try expect("]")
            return step
        }
        return try slice()
    }

    private mutating func slice() throws(TableJSONPath.Failure) -> TableJSONPath.Step {
        var parts: [Int?] = []
        var current = ""
        while let scalar = peek(), scalar != "]" {
            position += 1
            if scalar == ":" {
                parts.append(try number(current))
                current = ""
            } else if !scalar.properties.isWhitespace {
                current.unicodeScalars.append(scalar)
            }
        }
        try expect("]")
        parts.append(try number(current))
        guard parts.count <= 3 else { throw TableJSONPath.Failure() }
        if parts.count == 1 {
            guard parts[0] != nil else { throw TableJSONPath.Failure() }
            return .index(start: parts[0], end: nil, step: nil, isSlice: false)
        }
        return .index(start: parts[0], end: parts[1], step: parts.count > 2 ? parts[2] : nil, isSlice: true)
    }

    private func number(_ text: String) throws(TableJSONPath.Failure) -> Int? {
        if text.isEmpty { return nil }
        guard let value = Int(text) else { throw TableJSONPath.Failure() }
        return value
    }

    /// `@.path`, optionally followed by an operator and an operand.
    private mutating func filter() throws(TableJSONPath.Failure) -> TableJSONPath.Step {
        skipSpaces()
        guard peek() == "@" else { throw TableJSONPath.Failure() }
        let left = try path(allowRoot: true)
        skipSpaces()
        if peek() == ")" { return .filter(left: left, op: "exists", right: nil) }
        var op = ""
        while let scalar = peek(), "=!<>".unicodeScalars.contains(scalar) {
            position += 1
            op.unicodeScalars.append(scalar)
        }
        guard ["==", "!=", "<", ">", "<=", ">="].contains(op) else { throw TableJSONPath.Failure() }
        skipSpaces()
        let right = try operand()
        skipSpaces()
        return .filter(left: left, op: op, right: right)
    }

    private mutating func operand() throws(TableJSONPath.Failure) -> TableJSONPath.Operand {
        switch peek() {
        case "'", "\"": return .literal(.string(try quoted()))
        case "@": return .path(try path(allowRoot: true))
        default:
            var literal = ""
            while let scalar = peek(), scalar != ")", !scalar.properties.isWhitespace {
                position += 1
                literal.unicodeScalars.append(scalar)
            }
            if literal == "true" || literal == "false" { return .literal(.bool(literal == "true")) }
            guard let number = JSONNumber(text: literal) else { throw TableJSONPath.Failure() }
            return .literal(.number(number))
        }
    }

    private mutating func quoted() throws(TableJSONPath.Failure) -> String {
        guard let quote = peek() else { throw TableJSONPath.Failure() }
        position += 1
        var value = ""
        while let scalar = peek(), scalar != quote {
            position += 1
            if scalar == "\\", let escaped = peek() {
                position += 1
                value.unicodeScalars.append(escaped)
            } else {
                value.unicodeScalars.append(scalar)
            }
        }
        try expect(quote)
        return value
    }

    private mutating func expect(_ scalar: Unicode.Scalar) throws(TableJSONPath.Failure) {
        guard peek() == scalar else { throw TableJSONPath.Failure() }
        position += 1
    }

    private mutating func skipSpaces() {
        while let scalar = peek(), scalar.properties.isWhitespace { position += 1 }
    }
}

/// The apiextensions-apiserver table convertor for custom resources.
enum CustomResourceTable {
    /// The convertor for a version's additionalPrinterColumns: NAME, then each column whose
    /// jsonPath parses (the first that does not ends the list, as Kubernetes falls back to the
    /// columns made so far); the default `Age` column when there are none.
    static func convertor(printerColumns: JSON) -> TableConvertor {
        var definitions = printerColumns.array ?? []
        if definitions.isEmpty {
            definitions = [
                [
                    "name": "Age", "type": "date", "description": .string(TableDescriptions.creationTimestamp),
                    "jsonPath": ".metadata.creationTimestamp"
                ]
            ]
        }
        var columns = [BuiltinTables.nameColumn]
        var paths: [TableJSONPath] = []
        for definition in definitions.map(GoFields.init) {
            let jsonPath = definition.string("jsonPath")
            guard let path = TableJSONPath(jsonPath) else { break }
            let description = definition.string("description")
            columns.append(
                TableColumn(
                    name: definition.string("name"), type: definition.string("type"), format: definition.string("format"),
                    description: description.isEmpty ? "Custom resource definition column (in JSONPath format): \(jsonPath)" : description,
                    priority: Int32(clamping: definition.int("priority"))))
            paths.append(path)
        }
        let types = columns.dropFirst().map(\.type)
        let compiled = paths
        return TableConvertor(
            columns: columns,
            row: { object, now in
                var cells: [JSON] = [BuiltinTables.name(object)]
                for (path, type) in zip(compiled, types) {
                    guard let value = (try? path.results(in: object.json))?.first else {
                        cells.append(.null)
                        continue
                    }
                    cells.append(cell(value, type: type, now: now))
                }
                return TableRow(cells: cells)
            })
    }

    /// The cell for a column's first result, by the column's type (the convertor's cellForJSONValue):
    /// `string` prints any value; `integer` truncates numbers; `number` widens them; `boolean`
    /// takes booleans; `date` shows a timestamp's age (`<invalid>` when it is not one); anything
    /// else, or a value of another type, is null.
    static func cell(_ value: JSON, type: String, now: TableInstant) -> JSON {
        if type == "string" { return .string(TableFormat.goPrint(value)) }
        switch (type, value) {
        case ("integer", .number(let number)):
            if let int = JSONNumber.decodedInt(number) { return .number(JSONNumber(int)) }
            guard let double = number.double, double.magnitude < 9.2e18 else { return .null }
            return .number(JSONNumber(Int64(double)))
        case ("number", .number(let number)):
            return number.double.map { .number(JSONNumber($0)) } ?? .null
        case ("boolean", .bool): return value
        case ("date", .string(let text)):
            if text.isEmpty || text == "null" { return .string(TableTime.age(of: .zero, now: now)) }
            guard let instant = TableTime.parse(text) else { return .string("<invalid>") }
            return .string(TableTime.age(of: instant, now: now))
        default: return .null
        }
    }
}

extension JSONNumber {
    /// The integer Kubernetes decodes a number's text to (no `.`, fits an Int64), if it is one.
    static func decodedInt(_ number: JSONNumber) -> Int64? {
        number.text.contains(".") ? nil : Int64(number.text)
    }
}
