// Kubernetes' protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
// JSON kube-apiserver would hold: it unmarshals the bytes into the kind's Go struct (gogo-protobuf)
// and json.Marshal's that struct, so the JSON follows the struct (GoTypes.builtinStructs).

/// Decodes Kubernetes protobuf bodies: the `k8s\0` magic, a runtime.Unknown envelope naming the
/// kind, and the object's own message, into the JSON object Go's encoding/json writes for it.
package enum KubeProtobuf {
    /// The media type kubectl and client-go send protobuf bodies with.
    package static let mediaType = "application/vnd.kubernetes.protobuf"
    /// The four bytes every body starts with: `k8s` and a zero byte.
    package static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]
    /// How deeply structs may nest inside one another (JSONSchemaProps in a CRD nests itself);
    /// deeper bodies are refused rather than decoded on an ever deeper stack.
    package static let maxNestingDepth = 100

    /// Decodes a body: the object with `kind` and `apiVersion` first (from the envelope, or from
    /// the defaults when the envelope leaves them empty, as kube-apiserver defaults them from the
    /// request's URL), then its fields in Go struct order with encoding/json's omitempty rules.
    /// Unknown fields are skipped; errors carry the message kube-apiserver's decoder gives.
    package static func decode(
        _ body: some Collection<UInt8>, defaultAPIVersion: String? = nil, defaultKind: String? = nil
    ) throws(KubeProtobufError) -> JSON {
        let bytes = Array(body)
        let envelope = try readEnvelope(bytes)
        var apiVersion = envelope.apiVersion
        var kind = envelope.kind
        if kind.isEmpty, let defaultKind { kind = defaultKind }
        if version(of: apiVersion).isEmpty, let defaultAPIVersion, !version(of: defaultAPIVersion).isEmpty {
            apiVersion = defaultAPIVersion
        }
        let typeMeta = "runtime.TypeMeta{APIVersion:\(goQuoted(envelope.apiVersion)), Kind:\(goQuoted(envelope.kind))}"
        if kind.isEmpty {
            throw KubeProtobufError(.missingKind, "Object 'Kind' is missing in '\(typeMeta)'", apiVersion: apiVersion)
        }
        if version(of: apiVersion).isEmpty {
            throw KubeProtobufError(.missingVersion, "Object 'apiVersion' is missing in '\(typeMeta)'", kind: kind, apiVersion: apiVersion)
        }
        guard let index = GoTypes.kind(apiVersion: apiVersion, kind: kind) else {
            let message = "no kind \(goQuoted(kind)) is registered for version \(goQuoted(apiVersion)) in scheme \(goQuoted(schemeName))"
            throw KubeProtobufError(.unknownKind, message, kind: kind, apiVersion: apiVersion)
        }
        do throws(ProtobufFailure) {
            let decoder = MessageDecoder(bytes: bytes)
            var fields = try decoder.decodeStruct(index, envelope.raw, depth: 1)
            fillTypeMeta(&fields, of: index, kind: kind, apiVersion: apiVersion)
            return try GoJSONWriter().structure(index, fields)
        } catch {
            throw KubeProtobufError(error.reason, error.message, kind: kind, apiVersion: apiVersion)
        }
    }

    /// The scheme kube-apiserver names in its "no kind is registered" errors.
    static let schemeName = "pkg/api/legacyscheme/scheme.go:30"

    /// The envelope's type and the range of the object's bytes.
    private struct Envelope {
        var apiVersion = ""
        var kind = ""
        var raw: Range<Int> = 0..<0
    }

    /// Checks the magic and reads the runtime.Unknown envelope (typeMeta, raw; contentEncoding
    /// and contentType are read and, as kube-apiserver does, not used).
    private static func readEnvelope(_ bytes: [UInt8]) throws(KubeProtobufError) -> Envelope {
        if bytes.isEmpty { throw KubeProtobufError(.emptyData, "empty data") }
        guard bytes.count >= magic.count, bytes.starts(with: magic) else {
            let prefix = "[" + magic.map { String($0) }.joined(separator: " ") + "]"
            throw KubeProtobufError(.badMagic, "provided data does not appear to be a protobuf message, expected prefix \(prefix)")
        }
        if bytes.count == magic.count { throw KubeProtobufError(.emptyBody, "empty body") }
        var envelope = Envelope()
        do throws(ProtobufFailure) {
            var reader = WireReader(bytes: bytes, range: magic.count..<bytes.count)
            while let field = try reader.nextField(message: "Unknown") {
                switch field.number {
                case 1:
                    let range = try reader.lengthDelimited(field, goName: "TypeMeta")
                    var inner = WireReader(bytes: bytes, range: range)
                    while let tm = try inner.nextField(message: "TypeMeta") {
                        switch tm.number {
                        case 1: envelope.apiVersion = goString(bytes[try inner.lengthDelimited(tm, goName: "APIVersion")])
                        case 2: envelope.kind = goString(bytes[try inner.lengthDelimited(tm, goName: "Kind")])
                        default: try inner.skip(tm)
                        }
                    }
                case 2: envelope.raw = try reader.lengthDelimited(field, goName: "Raw")
                case 3: _ = try reader.lengthDelimited(field, goName: "ContentEncoding")
                case 4: _ = try reader.lengthDelimited(field, goName: "ContentType")
                default: try reader.skip(field)
                }
            }
        } catch {
            throw KubeProtobufError(error.reason, error.message)
        }
        return envelope
    }

    /// Sets the top-level struct's inline TypeMeta (not on the wire) to the envelope's type, as
    /// kube-apiserver's decoder sets the object's kind after unmarshalling it.
    private static func fillTypeMeta(_ fields: inout [DecodedValue?], of index: Int, kind: String, apiVersion: String) {
        let structure = GoTypes.builtinStructs[index]
        for (position, field) in structure.fields.enumerated() where field.inline {
            guard case .structure(let inner) = field.shape, GoTypes.builtinStructs[inner].goName == "TypeMeta" else { continue }
            let meta = GoTypes.builtinStructs[inner]
            var values = [DecodedValue?](repeating: nil, count: meta.fields.count)
            for (slot, metaField) in meta.fields.enumerated() {
                if metaField.jsonName == "kind" { values[slot] = .scalar(.string(kind)) }
                if metaField.jsonName == "apiVersion" { values[slot] = .scalar(.string(apiVersion)) }
            }
            fields[position] = .structure(values)
        }
    }

    /// The version part of an apiVersion (`v1` of `apps/v1`).
    static func version(of apiVersion: String) -> Substring {
        apiVersion.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
    }

    /// A string as Go's `%q` writes it.
    static func goQuoted(_ text: String) -> String { GoValue.quote(text) }
}

/// Why a protobuf body could not be decoded, with the message kube-apiserver's decoder gives for
/// it (the text Go's protobuf serializer and gogo's generated code return) and, once the
/// envelope was read, the kind and apiVersion it named.
package struct KubeProtobufError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kinds of failure.
    package enum Reason: Sendable, Equatable {
        /// A body of no bytes (`empty data`).
        case emptyData
        /// The body does not start with `k8s\0`.
        case badMagic
        /// Only the magic (`empty body`).
        case emptyBody
        /// The bytes end inside a field (`unexpected EOF`).
        case truncated
        /// A varint of more than ten bytes (`proto: integer overflow`).
        case integerOverflow
        /// A length beyond any buffer (`proto: negative length found during unmarshaling`).
        case negativeLength
        /// A field's wire type is not the one its Go type has (`proto: wrong wireType = 0 for field Name`).
        case wrongWireType
        /// Field number 0 or below, an end-group tag, a wire type 6 or 7, an unbalanced group.
        case illegalTag
        /// The envelope names no kind, or no version.
        case missingKind
        case missingVersion
        /// The envelope's apiVersion and kind are not a served kind.
        case unknownKind
        /// Structs nested deeper than `KubeProtobuf.maxNestingDepth`.
        case tooDeep
        /// A value Go decodes but cannot write as JSON (an IntOrString of an unknown type, embedded
        /// bytes that are not JSON, a NaN float).
        case invalidValue
    }

    package let reason: Reason
    /// Go's error text, e.g. `proto: wrong wireType = 2 for field Replicas`.
    package let message: String
    /// The envelope's kind and apiVersion (after defaults), when the error came after reading them.
    package let kind: String?
    package let apiVersion: String?

    package init(_ reason: Reason, _ message: String, kind: String? = nil, apiVersion: String? = nil) {
        self.reason = reason
        self.message = message
        self.kind = kind
        self.apiVersion = apiVersion
    }

    package var description: String { message }

    /// The message of kube-apiserver's 400 BadRequest for this error when the request's URL
    /// expects `expectedKind` (its handlers' transformDecodeError): `Pod in version "v1" cannot
    /// be handled as a Pod: <message>` once a kind is known, else `the object provided is
    /// unrecognized (must be of type Pod): <message> (<first 30 bytes of the body in hex> ...)`.
    package func badRequestMessage(expectedKind: String, body: some Collection<UInt8>) -> String {
        if let kind, !kind.isEmpty {
            let version = KubeProtobuf.version(of: apiVersion ?? "")
            return "\(kind) in version \(KubeProtobuf.goQuoted(String(version))) cannot be handled as a \(expectedKind): \(message)"
        }
        return "the object provided is unrecognized (must be of type \(expectedKind)): \(message) (\(Self.summary(body)))"
    }

    /// How many bytes of the body the unrecognized-object message shows.
    private static let summaryLength = 30

    /// kube-apiserver's summary of a body: `<empty>`, the text when it starts with `{`, else hex;
    /// cut at 30 bytes with ` ...`.
    private static func summary(_ body: some Collection<UInt8>) -> String {
        let bytes = Array(body)
        guard let first = bytes.first else { return "<empty>" }
        let shown = bytes.prefix(summaryLength)
        let more = bytes.count > summaryLength ? " ..." : ""
        if first == UInt8(ascii: "{") { return String(decoding: shown, as: UTF8.self) + more }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in shown { hex += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: hex, as: UTF8.self) + more
    }
}

/// An error inside the decoder, before the envelope's kind is attached.
struct ProtobufFailure: Error {
    let reason: KubeProtobufError.Reason
    let message: String

    init(_ reason: KubeProtobufError.Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    static let truncated = ProtobufFailure(.truncated, "unexpected EOF")
    static let overflow = ProtobufFailure(.integerOverflow, "proto: integer overflow")
    static let negativeLength = ProtobufFailure(.negativeLength, "proto: negative length found during unmarshaling")

    static func wrongWireType(_ wireType: Int, _ goName: String) -> ProtobufFailure {
        ProtobufFailure(.wrongWireType, "proto: wrong wireType = \(wireType) for field \(goName)")
    }
}

// MARK: - Wire format

/// One field's key: its number and wire type, and where it starts (for skipping).
struct WireField {
    let number: UInt64
    let wireType: Int
    let start: Int
}

/// Reads protobuf wire format from a range of a byte array with gogo's checks and errors.
struct WireReader {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    /// A varint: at most ten bytes (gogo stops at a shift of 64), bits past 64 dropped.
    mutating func varint() throws(ProtobufFailure) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            if shift >= 64 { throw .overflow }
            if position >= end { throw .truncated }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// The next field's key, or nil at the end of the message. `message` names the Go type in
    /// gogo's errors for tags no message can have.
    mutating func nextField(message: String) throws(ProtobufFailure) -> WireField? {
        guard position < end else { return nil }
        let start = position
        let key = try varint()
        let number = Int32(truncatingIfNeeded: key >> 3)
        let wireType = Int(key & 7)
        if wireType == 4 { throw ProtobufFailure(.illegalTag, "proto: \(message): wiretype end group for non-group") }
        if number <= 0 { throw ProtobufFailure(.illegalTag, "proto: \(message): illegal tag \(number) (wire type \(key))") }
        return WireField(number: UInt64(number), wireType: wireType, start: start)
    }

    /// The range of a length-delimited field's bytes (after checking its wire type is 2).
    mutating func lengthDelimited(_ field: WireField, goName: String) throws(ProtobufFailure) -> Range<Int> {
        if field.wireType != 2 { throw .wrongWireType(field.wireType, goName) }
        return try lengthDelimitedBody()
    }

    /// A length and the range of that many bytes.
    mutating func lengthDelimitedBody() throws(ProtobufFailure) -> Range<Int> {
        let length = try varint()
        if length > UInt64(Int.max - position) { throw .negativeLength }
        let upper = position + Int(length)
        if upper > end { throw .truncated }
        defer { position = upper }
        return position..<upper
    }

    /// Eight little-endian bytes.
    mutating func fixed64() throws(ProtobufFailure) -> UInt64 {
        if end - position < 8 { throw .truncated }
        var value: UInt64 = 0
        for offset in 0..<8 { value |= UInt64(bytes[position + offset]) << (8 * UInt64(offset)) }
        position += 8
        return value
    }

    /// Skips a field gogo does not know, as its skipGenerated does (groups balanced, wire types
    /// 6 and 7 refused), from the field's key.
    mutating func skip(_ field: WireField) throws(ProtobufFailure) {
        position = field.start
        var depth = 0
        repeat {
            let key = try varint()
            switch Int(key & 7) {
            case 0: _ = try varint()
            case 1: try advance(8)
            case 2:
                let length = try varint()
                if length > UInt64(Int.max - position) { throw .negativeLength }
                try advance(Int(length))
            case 3: depth += 1
            case 4:
                if depth == 0 { throw ProtobufFailure(.illegalTag, "proto: unexpected end of group") }
                depth -= 1
            case 5: try advance(4)
            default: throw ProtobufFailure(.illegalTag, "proto: illegal wireType \(key & 7)")
            }
        } while depth > 0 && position < end
        if depth > 0 { throw .truncated }
    }

    private mutating func advance(_ count: Int) throws(ProtobufFailure) {
        if count > end - position { throw .truncated }
        position += count
    }
}

/// A Go string from bytes, as encoding/json will write it: each byte that does not begin a
/// well-formed UTF-8 sequence becomes U+FFFD (Go's per-byte replacement, not Swift's maximal
/// subparts).
func goString(_ bytes: ArraySlice<UInt8>) -> String {
    if let valid = String(validating: bytes, as: UTF8.self) { return valid }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 8)
    var index = bytes.startIndex
    while index < bytes.endIndex {
        let length = utf8SequenceLength(bytes, at: index)
        if length == 0 {
            out += [0xEF, 0xBF, 0xBD]
            index += 1
        } else {
            out += bytes[index..<index + length]
            index += length
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// The length of the well-formed UTF-8 sequence starting at `index`, or 0.
private func utf8SequenceLength(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int {
    let first = bytes[index]
    if first < 0x80 { return 1 }
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF
    let length: Int
    switch first {
    case 0xC2...0xDF: length = 2
    case 0xE0: (length, low) = (3, 0xA0)
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED: (length, high) = (3, 0x9F)
    case 0xF0: (length, low) = (4, 0x90)
    case 0xF1...0xF3: length = 4
    case 0xF4: (length, high) = (4, 0x8F)
    default: return 0
    }
    guard index + length <= bytes.endIndex, bytes[index + 1] >= low, bytes[index + 1] <= high else { return 0 }
    for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 { return 0 }
    return length
}
