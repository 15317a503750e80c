/// A gRPC status as it travels in a call's trailers (`grpc-status`, `grpc-message`): the one
/// status type of the gRPC wire, used by the server, the etcd API's error mapping and the
/// benchmark client alike.
public struct GRPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    /// gRPC's status codes (grpc/doc/statuscodes.md), by name.
    public enum Code: Int, Sendable, CaseIterable, CustomStringConvertible {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16

        /// A code read from `grpc-status`; a number gRPC does not define reads as `unknown`, as
        /// gRPC's own clients take it.
        public init(wire value: Int) { self = Code(rawValue: value) ?? .unknown }

        /// The name grpc-go prints for the code (`Unavailable`), as etcdctl shows it.
        public var description: String {
            switch self {
            case .ok: "OK"
            case .cancelled: "Canceled"
            case .unknown: "Unknown"
            case .invalidArgument: "InvalidArgument"
            case .deadlineExceeded: "DeadlineExceeded"
            case .notFound: "NotFound"
            case .alreadyExists: "AlreadyExists"
            case .permissionDenied: "PermissionDenied"
            case .resourceExhausted: "ResourceExhausted"
            case .failedPrecondition: "FailedPrecondition"
            case .aborted: "Aborted"
            case .outOfRange: "OutOfRange"
            case .unimplemented: "Unimplemented"
            case .internalError: "Internal"
            case .unavailable: "Unavailable"
            case .dataLoss: "DataLoss"
            case .unauthenticated: "Unauthenticated"
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static let ok = GRPCStatus(.ok, "")
    public static func invalidArgument(_ m: String) -> GRPCStatus { GRPCStatus(.invalidArgument, m) }
    public static func resourceExhausted(_ m: String) -> GRPCStatus { GRPCStatus(.resourceExhausted, m) }
    public static func unimplemented(_ m: String) -> GRPCStatus { GRPCStatus(.unimplemented, m) }
    public static func internalError(_ m: String) -> GRPCStatus { GRPCStatus(.internalError, m) }
    public static func unavailable(_ m: String) -> GRPCStatus { GRPCStatus(.unavailable, m) }

    /// As grpc-go prints a status, so that errors read as they do from etcd's own tools.
    public var description: String { "rpc error: code = \(code) desc = \(message)" }
}
