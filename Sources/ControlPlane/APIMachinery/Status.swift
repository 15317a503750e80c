/// A failed API request as Kubernetes answers it: a `Status` object (meta/v1) with the HTTP
/// code, a reason clients branch on, a message people read, and details naming the object.
/// `json` writes it byte for byte as kube-apiserver does (its field order, Go's string escaping,
/// a trailing newline), since client libraries and tests compare those bytes.
package struct APIStatus: Error, Sendable, Equatable {
    package var code: Int
    package var reason: Reason
    package var message: String
    package var details: Details?

    package init(code: Int, reason: Reason, message: String, details: Details? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    /// meta/v1 StatusReason: what clients branch on (`errors.IsNotFound` and the like).
    package struct Reason: RawRepresentable, Sendable, Hashable {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        package static let badRequest = Reason(rawValue: "BadRequest")
        package static let unauthorized = Reason(rawValue: "Unauthorized")
        package static let forbidden = Reason(rawValue: "Forbidden")
        package static let notFound = Reason(rawValue: "NotFound")
        package static let methodNotAllowed = Reason(rawValue: "MethodNotAllowed")
        package static let notAcceptable = Reason(rawValue: "NotAcceptable")
        package static let alreadyExists = Reason(rawValue: "AlreadyExists")
        package static let conflict = Reason(rawValue: "Conflict")
        package static let gone = Reason(rawValue: "Gone")
        package static let expired = Reason(rawValue: "Expired")
        package static let requestEntityTooLarge = Reason(rawValue: "RequestEntityTooLarge")
        package static let unsupportedMediaType = Reason(rawValue: "UnsupportedMediaType")
        package static let invalid = Reason(rawValue: "Invalid")
        package static let tooManyRequests = Reason(rawValue: "TooManyRequests")
        package static let internalError = Reason(rawValue: "InternalError")
        package static let serviceUnavailable = Reason(rawValue: "ServiceUnavailable")
        package static let timeout = Reason(rawValue: "Timeout")
    }

    /// meta/v1 StatusDetails. `kind` is the plural resource for most errors and the Kind for
    /// Invalid, as kube-apiserver fills it.
    package struct Details: Sendable, Equatable {
        package var name: String?
        package var group: String?
        package var kind: String?
        package var causes: [Cause]
        package var retryAfterSeconds: Int?

        package init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [Cause] = [], retryAfterSeconds: Int? = nil) {
            self.name = name
            self.group = group
            self.kind = kind
            self.causes = causes
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    /// meta/v1 StatusCause: one field's failure (`FieldValueInvalid` at `spec.replicas`).
    package struct Cause: Sendable, Equatable {
        package var reason: String
        package var message: String
        package var field: String

        package init(reason: String, message: String, field: String) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }
}

// MARK: - The errors kube-apiserver makes, with its messages

extension APIStatus {
    /// `pods "web" not found`, `deployments.apps "web" not found`.
    package static func notFound(resource: String, group: String, name: String) -> APIStatus {
        APIStatus(
            code: 404, reason: .notFound, message: "\(qualified(resource, group)) \(quoted(name)) not found",
            details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource))
    }

    /// `services "mock-2" already exists`.
    package static func alreadyExists(resource: String, group: String, name: String) -> APIStatus {
        APIStatus(
            code: 409, reason: .alreadyExists, message: "\(qualified(resource, group)) \(quoted(name)) already exists",
            details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource))
    }

    /// An update with a stale resourceVersion.
    package static func conflict(resource: String, group: String, name: String) -> APIStatus {
        let message =
            "Operation cannot be fulfilled on \(qualified(resource, group)) \(quoted(name)): "
            + "the object has been modified; please apply your changes to the latest version and try again"
        return APIStatus(
            code: 409, reason: .conflict, message: message, details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource)
        )
    }

    /// `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or
    /// equal to 0`; several field errors are listed in brackets, comma-separated, each message
    /// once (errors.NewInvalid over an aggregate, which drops repeated messages); every error is
    /// a cause. Without errors the message stops at `is invalid`.
    package static func invalid(kind: String, group: String, name: String, errors: [FieldError]) -> APIStatus {
        var seen: Set<String> = []
        let messages = errors.map(\.description).filter { seen.insert($0).inserted }
        let listed = messages.count == 1 ? messages[0] : "[" + messages.joined(separator: ", ") + "]"
        let causes = errors.map { Cause(reason: $0.type.rawValue, message: $0.body, field: $0.field) }
        let suffix = messages.isEmpty ? "" : ": " + listed
        return APIStatus(
            code: 422, reason: .invalid, message: "\(qualified(kind, group)) \(quoted(name)) is invalid\(suffix)",
            details: Details(name: name, group: group.isEmpty ? nil : group, kind: kind, causes: causes))
    }

    package static func badRequest(_ message: String) -> APIStatus {
        APIStatus(code: 400, reason: .badRequest, message: message)
    }

    /// 410 for a resourceVersion or continue token older than the store keeps.
    package static func expired(_ message: String) -> APIStatus {
        APIStatus(code: 410, reason: .expired, message: message)
    }

    package static func gone(_ message: String) -> APIStatus {
        APIStatus(code: 410, reason: .gone, message: message)
    }

    package static func tooManyRequests(retryAfterSeconds: Int) -> APIStatus {
        APIStatus(
            code: 429, reason: .tooManyRequests, message: "Too many requests, please try again later.",
            details: Details(retryAfterSeconds: retryAfterSeconds))
    }

    package static func requestEntityTooLarge(limit: Int) -> APIStatus { requestEntityTooLarge("limit is \(limit)") }

    /// 413 with kube's `Request entity too large: <why>`.
    package static func requestEntityTooLarge(_ why: String) -> APIStatus {
        APIStatus(code: 413, reason: .requestEntityTooLarge, message: "Request entity too large: \(why)")
    }

    private static func qualified(_ name: String, _ group: String) -> String { group.isEmpty ? name : "\(name).\(group)" }
    /// Go's `%q` (strconv.Quote) of a name (escaped again, as JSON, in the body).
    private static func quoted(_ s: String) -> String { GoValue.quote(s) }
}

/// One field's validation failure, as Kubernetes' field errors print: `spec.replicas: Invalid
/// value: -1: must be greater than or equal to 0`.
package struct FieldError: Sendable, Equatable, CustomStringConvertible {
    package enum ErrorType: String, Sendable {
        case required = "FieldValueRequired"
        case invalid = "FieldValueInvalid"
        case notSupported = "FieldValueNotSupported"
        case duplicate = "FieldValueDuplicate"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
        case notFound = "FieldValueNotFound"
        case typeInvalid = "FieldValueTypeInvalid"
    }

    package var type: ErrorType
    package var field: String
    /// The offending value as Go's `%v` would print it (already rendered), when the message shows it.
    package var value: String?
    package var detail: String

    package init(_ type: ErrorType, field: String, value: String? = nil, detail: String = "") {
        self.type = type
        self.field = field
        self.value = value
        self.detail = detail
    }

    /// The message without the field: `Invalid value: -1: must be greater than or equal to 0`.
    package var body: String {
        var s: String
        switch type {
        case .required: s = "Required value"
        case .invalid: s = "Invalid value"
        case .notSupported: s = "Unsupported value"
        case .duplicate: s = "Duplicate value"
        case .forbidden: s = "Forbidden"
        case .tooLong: s = "Too long"
        case .tooMany: s = "Too many"
        case .notFound: s = "Not found"
        case .typeInvalid: s = "Invalid value"
        }
        if let value, type != .required, type != .forbidden, type != .tooLong { s += ": " + value }
        if !detail.isEmpty { s += ": " + detail }
        return s
    }

    /// `field: body`, as Go's `%s: %s` prints it (so an error at the root reads `: body`).
    package var description: String { "\(field): \(body)" }
}

// MARK: - The bytes

extension APIStatus {
    /// The Status object as kube-apiserver writes it, then a newline.
    package var json: [UInt8] {
        var out = #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"#
        GoJSON.appendString(message, to: &out)
        out += #","reason":"#
        GoJSON.appendString(reason.rawValue, to: &out)
        if let details { out += #","details":"# + details.json }
        out += #","code":\#(code)}"#
        out += "\n"
        return Array(out.utf8)
    }
}

extension APIStatus.Details {
    fileprivate var json: String {
        /// `"key":"value"` for each pair whose value is present and not empty (Go's omitempty).
        func members(_ pairs: [(String, String?)]) -> [String] {
            pairs.compactMap { key, value in
                guard let value, !value.isEmpty else { return nil }
                var member = "\"\(key)\":"
                GoJSON.appendString(value, to: &member)
                return member
            }
        }
        var fields = members([("name", name), ("group", group), ("kind", kind)])
        if !causes.isEmpty {
            let each = causes.map {
                "{" + members([("reason", $0.reason), ("message", $0.message), ("field", $0.field)]).joined(separator: ",") + "}"
            }
            fields.append(#""causes":["# + each.joined(separator: ",") + "]")
        }
        if let retryAfterSeconds, retryAfterSeconds != 0 { fields.append(#""retryAfterSeconds":\#(retryAfterSeconds)"#) }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// Strings as Go's encoding/json writes them (Kubernetes' JSON): `"` and `\` escaped, `\n \r \t
/// \b \f` by name, other control characters as `\u00XX`, and `<`, `>`, `&`, U+2028, U+2029 as
/// `\u` escapes (its HTML-safe default). Invalid UTF-8 cannot occur in a Swift String.
package enum GoJSON {
    package static func appendString(_ s: String, to out: inout String) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case "\u{08}": out.append("\\b")
            case "\u{0C}": out.append("\\f")
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out.append(hexEscape(scalar.value))
            default:
                if scalar.value < 0x20 { out.append(hexEscape(scalar.value)) } else { out.unicodeScalars.append(scalar) }
            }
        }
        out.append("\"")
    }

    private static func hexEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
