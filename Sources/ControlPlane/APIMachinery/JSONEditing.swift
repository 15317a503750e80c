// Small edits on object members with Go's notion of "unset", shared by defaulting, the create
// strategies and admission.

extension JSON {
    /// Whether member `key` is missing or null: how a nil pointer (or nil slice/map) arrives.
    func isUnset(_ key: String) -> Bool {
        guard let value = self[key] else { return true }
        return value.isNull
    }

    /// Whether member `key` holds Go's zero value for its type: missing, null, `""`, `0`,
    /// `false`, `[]` or `{}`. Non-pointer fields with omitempty are defaulted on this.
    func isZero(_ key: String) -> Bool {
        guard let value = self[key] else { return true }
        switch value {
        case .null: return true
        case .string(let s): return s.isEmpty
        case .number(let n): return n.double == 0
        case .bool(let b): return !b
        case .array(let a): return a.isEmpty
        case .object(let o): return o.isEmpty
        }
    }

    /// Sets `key` when it is missing or null (a pointer field's default).
    mutating func setIfUnset(_ key: String, _ value: JSON) {
        if isUnset(key) { self[key] = value }
    }

    /// Sets `key` when it holds the zero value (a plain field's default).
    mutating func setIfZero(_ key: String, _ value: JSON) {
        if isZero(key) { self[key] = value }
    }

    /// Runs `body` on member `key` when it is an object (a pointer to a struct that is set).
    mutating func edit(_ key: String, _ body: (inout JSON) -> Void) {
        guard case .object = self, self[key]?.object != nil else { return }
        body(&self[key]!)
    }

    /// Runs `body` on member `key`, making it `{}` first when missing or null: a struct field
    /// (not a pointer), which Go always has and always serializes.
    mutating func editStruct(_ key: String, _ body: (inout JSON) -> Void = { _ in }) {
        guard case .object = self else { return }
        if self[key]?.object == nil { self[key] = .object(JSONObject()) }
        body(&self[key]!)
    }

    /// Runs `body` on each element of the array member `key` that is an object.
    mutating func editEach(_ key: String, _ body: (inout JSON) -> Void) {
        guard case .object = self, case .array(var items)? = self[key] else { return }
        for i in items.indices where items[i].object != nil { body(&items[i]) }
        self[key] = .array(items)
    }

    /// Runs `body` on each value of the object member `key` (a map), passing its key.
    mutating func editValues(_ key: String, _ body: (String, inout JSON) -> Void) {
        guard case .object = self, case .object(var map)? = self[key] else { return }
        for name in map.keys { body(name, &map[name]!) }
        self[key] = .object(map)
    }

    /// The string member `key`, or "" when missing or not a string (Go's zero string).
    func text(_ key: String) -> String { self[key]?.string ?? "" }

    /// The array member `key`, or [] when missing or not an array.
    func list(_ key: String) -> [JSON] { self[key]?.array ?? [] }

    /// The object member `key`, or an empty object.
    func members(_ key: String) -> JSONObject { self[key]?.object ?? JSONObject() }
}
