import APIMachinery
import Testing

/// A small protobuf writer for building request bodies the way client-go's serializer does.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func rawVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func key(_ field: Int, _ wireType: Int) { rawVarint(UInt64(field << 3 | wireType)) }

    mutating func varint(_ field: Int, _ value: Int64) {
        key(field, 0)
        rawVarint(UInt64(bitPattern: value))
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value.bitPattern >> UInt64(shift))) }
    }

    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void = { _ in }) {
        var inner = ProtoWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }

    /// A map<string, string> entry.
    mutating func entry(_ field: Int, _ key: String, _ value: String) {
        message(field) {
            $0.string(1, key)
            $0.string(2, value)
        }
    }

    /// `k8s\0` and a runtime.Unknown holding typeMeta (apiVersion 1, kind 2) and raw (2).
    static func body(apiVersion: String, kind: String, _ build: (inout ProtoWriter) -> Void) -> [UInt8] {
        var object = ProtoWriter()
        build(&object)
        var unknown = ProtoWriter()
        unknown.message(1) {
            $0.string(1, apiVersion)
            $0.string(2, kind)
        }
        unknown.bytes(2, object.bytes)
        return [0x6B, 0x38, 0x73, 0x00] + unknown.bytes
    }
}

/// Bytes from hex text.
func hexBytes(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8?
    for character in text.utf8 {
        let value = character <= UInt8(ascii: "9") ? character - UInt8(ascii: "0") : character - UInt8(ascii: "a") + 10
        if let first = high {
            out.append(first << 4 | value)
            high = nil
        } else {
            high = value
        }
    }
    return out
}

/// Expected JSON follows Go's encoding/json over the k8s.io/api v0.32 structs (types.go field
/// order, json tags, omitempty), as kube-apiserver writes a decoded object.
@Suite struct ProtobufTests {
    // MARK: kubectl's own bodies

    /// What kubectl 1.32.4 sent for `kubectl create namespace x` (captured on a loopback server).
    /// kubectl's Go client writes every non-pointer field, so empty ObjectMeta strings and an
    /// empty creationTimestamp message (the zero Time: null) are on the wire; Go writes `spec`
    /// and `status` as empty objects (structs are never omitted).
    @Test func kubectlCreateNamespace() throws {
        let body = hexBytes(
            "6b3873000a0f0a02763112094e616d65737061636512190a110a017812001a0022002a0032003800420012001a020a001a002200")
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x","creationTimestamp":null},"spec":{},"status":{}}"#)
    }

    /// `kubectl create configmap c --from-literal=a=b`.
    @Test func kubectlCreateConfigMap() throws {
        let body = hexBytes(
            "6b3873000a0f0a0276311209436f6e6669674d6170121b0a110a016312001a0022002a0032003800420012060a01611201621a002200")
        let json = try KubeProtobuf.decode(body)
        #expect(json.text == #"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c","creationTimestamp":null},"data":{"a":"b"}}"#)
    }

    /// `kubectl create deployment d --image=nginx`: the pod template with one container. Go
    /// writes `resources: {}` (a struct), `strategy: {}`, `status: {}`; `replicas: 1` is a set
    /// pointer; the container's empty strings and false bools are omitempty and left out.
    @Test func kubectlCreateDeployment() throws {
        let body = hexBytes(
            "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412a3010a1b0a016412001a0022002a003200380042005a080a03617070"
                + "12016412760801120a0a080a036170701201641a5e0a1a0a0012001a0022002a003200380042005a080a03617070120164124012220a05"
                + "6e67696e7812056e67696e782a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a"
                + "0100c2010022020a00280038001a0c0800100018002000280038001a002200")
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"d","creationTimestamp":null,"labels":{"app":"d"}},"#
                + #""spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"creationTimestamp":null,"#
                + #""labels":{"app":"d"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}]}},"strategy":{}},"#
                + #""status":{}}"#)
    }

    // MARK: Bodies built here

    /// Secret `data` is map[string][]byte: base64 values, keys sorted by bytes; `type` a string.
    @Test func secretDataIsBase64WithSortedKeys() throws {
        let body = ProtoWriter.body(apiVersion: "v1", kind: "Secret") {
            $0.message(1) { $0.string(1, "s") }
            $0.message(2) {
                $0.string(1, "zeta")
                $0.bytes(2, Array("hello".utf8))
            }
            $0.message(2) {
                $0.string(1, "alpha")
                $0.bytes(2, [0xFF, 0x00])
            }
            $0.string(3, "Opaque")
            $0.entry(4, "plain", "text")
        }
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","creationTimestamp":null},"#
                + #""data":{"alpha":"/wA=","zeta":"aGVsbG8="},"stringData":{"plain":"text"},"type":"Opaque"}"#)
    }

    /// A Pod: container ports (int32), env, a resource limit (Quantity map values), a set
    /// `*int64` of zero (written, it is a pointer), and the enum strings.
    @Test func podWithQuantitiesAndPointers() throws {
        let body = ProtoWriter.body(apiVersion: "v1", kind: "Pod") {
            $0.message(1) {
                $0.string(1, "p")
                $0.string(3, "default")
            }
            $0.message(2) {
                $0.message(2) {  // containers
                    $0.string(1, "c")
                    $0.string(2, "nginx")
                    $0.message(6) {  // ports
                        $0.varint(3, 80)
                        $0.string(4, "TCP")
                    }
                    $0.message(7) {  // env
                        $0.string(1, "A")
                        $0.string(2, "1")
                    }
                    $0.message(8) {  // resources
                        $0.message(1) {  // limits
                            $0.string(1, "cpu")
                            $0.message(2) { $0.string(1, "500m") }
                        }
                        $0.message(1) {
                            $0.string(1, "memory")
                            $0.message(2) { $0.string(1, "128Mi") }
                        }
                    }
                }
                $0.string(3, "Always")  // restartPolicy
                $0.varint(4, 0)  // terminationGracePeriodSeconds *int64 = 0
            }
        }
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default","creationTimestamp":null},"#
                + #""spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],"#
                + #""env":[{"name":"A","value":"1"}],"resources":{"limits":{"cpu":"500m","memory":"128Mi"}}}],"#
                + #""restartPolicy":"Always","terminationGracePeriodSeconds":0},"status":{}}"#)
    }

    /// policy/v1 Eviction as `kubectl drain` posts it: DeleteOptions nested (its inline TypeMeta
    /// is not on the wire, so no kind/apiVersion inside), gracePeriodSeconds a pointer.
    @Test func evictionWithDeleteOptions() throws {
        let body = ProtoWriter.body(apiVersion: "policy/v1", kind: "Eviction") {
            $0.message(1) {
                $0.string(1, "web-0")
                $0.string(3, "prod")
            }
            $0.message(2) {
                $0.varint(1, 30)
                $0.string(4, "Foreground")
                $0.string(5, "All")
            }
        }
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Eviction","apiVersion":"policy/v1","metadata":{"name":"web-0","namespace":"prod","creationTimestamp":null},"#
                + #""deleteOptions":{"gracePeriodSeconds":30,"propagationPolicy":"Foreground","dryRun":["All"]}}"#)
    }

    /// DeleteOptions is registered in every group-version and meta.k8s.io/v1.
    @Test func deleteOptionsInAnyGroupVersion() throws {
        for apiVersion in ["v1", "apps/v1", "meta.k8s.io/v1"] {
            let body = ProtoWriter.body(apiVersion: apiVersion, kind: "DeleteOptions") { $0.varint(3, 1) }
            let json = try KubeProtobuf.decode(body)
            #expect(json.text == #"{"kind":"DeleteOptions","apiVersion":"\#(apiVersion)","orphanDependents":true}"#)
        }
    }

    /// Service ports: targetPort is an IntOrString (type 0 → number, 1 → string); port int32.
    @Test func serviceIntOrStringTargetPort() throws {
        let body = ProtoWriter.body(apiVersion: "v1", kind: "Service") {
            $0.message(1) { $0.string(1, "web") }
            $0.message(2) {
                $0.message(1) {
                    $0.string(1, "http")
                    $0.varint(3, 80)
                    $0.message(4) {
                        $0.varint(1, 0)
                        $0.varint(2, 8080)
                    }
                }
                $0.message(1) {
                    $0.string(1, "metrics")
                    $0.varint(3, 9090)
                    $0.message(4) {
                        $0.varint(1, 1)
                        $0.string(3, "metrics")
                    }
                }
                $0.entry(2, "app", "web")
                $0.string(4, "ClusterIP")
            }
        }
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","creationTimestamp":null},"#
                + #""spec":{"ports":[{"name":"http","port":80,"targetPort":8080},{"name":"metrics","port":9090,"targetPort":"metrics"}],"#
                + #""selector":{"app":"web"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}"#)
    }

    /// metav1.Time keeps seconds only (nanos dropped by its Unmarshal), in UTC RFC 3339;
    /// MicroTime keeps microseconds (Lease renewTime); a Time before 1970 works too.
    @Test func timesAndMicroTimes() throws {
        let body = ProtoWriter.body(apiVersion: "coordination.k8s.io/v1", kind: "Lease") {
            $0.message(1) {
                $0.string(1, "l")
                $0.message(8) {
                    $0.varint(1, 1_700_000_000)
                    $0.varint(2, 999_999_999)
                }
                $0.message(9) { $0.varint(1, -86_400) }
            }
            $0.message(2) {
                $0.string(1, "holder")
                $0.message(3) { $0.varint(1, 1_700_000_001) }
                $0.message(4) {
                    $0.varint(1, 1_700_000_002)
                    $0.varint(2, 123_456_789)
                }
            }
        }
        let json = try KubeProtobuf.decode(body)
        #expect(
            json.text
                == #"{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"l","#
                + #""creationTimestamp":"2023-11-14T22:13:20Z","deletionTimestamp":"1969-12-31T00:00:00Z"},"#
                + #""spec":{"holderIdentity":"holder","acquireTime":"2023-11-14T22:13:21.000000Z","renewTime":"2023-11-14T22:13:22.123456Z"}}"#
        )
    }

    /// Unknown fields (any wire type) are skipped, as gogo does; a packed repeated int64 is read.
    @Test func unknownFieldsSkippedAndPackedRepeated() throws {
        let body = ProtoWriter.body(apiVersion: "v1", kind: "Namespace") {
            $0.varint(99, 5)
            $0.double(98, 1.5)
            $0.message(1) { $0.string(1, "n") }
            $0.string(97, "ignored")
        }
        #expect(
            try KubeProtobuf.decode(body).text
                == #"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"n","creationTimestamp":null},"spec":{},"status":{}}"#)
        // PodSecurityContext.supplementalGroups ([]int64, field 4 of message 14 of PodSpec), packed.
        let pod = ProtoWriter.body(apiVersion: "v1", kind: "Pod") {
            $0.message(2) {
                $0.message(14) {
                    $0.key(4, 2)
                    var packed = ProtoWriter()
                    packed.rawVarint(1)
                    packed.rawVarint(2000)
                    $0.rawVarint(UInt64(packed.bytes.count))
                    $0.bytes += packed.bytes
                }
            }
        }
        let spec = try KubeProtobuf.decode(pod)["spec"]
        #expect(spec?["securityContext"]?.text == #"{"supplementalGroups":[1,2000]}"#)
    }

    /// Defaults from the URL fill an envelope without kind/apiVersion (kube-apiserver's defaulting).
    @Test func defaultsFillAnEmptyEnvelope() throws {
        let body = ProtoWriter.body(apiVersion: "", kind: "") { $0.message(1) { $0.string(1, "x") } }
        let json = try KubeProtobuf.decode(body, defaultAPIVersion: "v1", defaultKind: "Namespace")
        #expect(json["kind"] == "Namespace")
        #expect(json["apiVersion"] == "v1")
    }

    // MARK: Errors, with the texts of k8s.io/apimachinery's protobuf serializer and gogo

    @Test func errors() {
        func failure(_ body: [UInt8]) -> KubeProtobufError? {
            do {
                _ = try KubeProtobuf.decode(body)
                return nil
            } catch { return error }
        }
        #expect(failure([])?.message == "empty data")
        #expect(
            failure(Array(#"{"kind":"Pod"}"#.utf8))?.message
                == "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
        #expect(failure(KubeProtobuf.magic)?.message == "empty body")
        #expect(failure(KubeProtobuf.magic + [0x0A, 0x05, 0x0A])?.message == "unexpected EOF")

        let unknownKind = failure(ProtoWriter.body(apiVersion: "apps/v1", kind: "Widget") { _ in })
        #expect(unknownKind?.reason == .unknownKind)
        #expect(
            unknownKind?.message == #"no kind "Widget" is registered for version "apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30""#)
        #expect(
            unknownKind?.badRequestMessage(expectedKind: "Deployment", body: [])
                == #"Widget in version "v1" cannot be handled as a Deployment: no kind "Widget" is registered for version "apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30""#
        )
        let missing = failure(ProtoWriter.body(apiVersion: "v1", kind: "") { _ in })
        #expect(missing?.message == #"Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:"v1", Kind:""}'"#)

        // DeploymentSpec.replicas (field 1) is a varint; a string there is gogo's wrong wireType.
        let wrongWire = failure(ProtoWriter.body(apiVersion: "apps/v1", kind: "Deployment") { $0.message(2) { $0.string(1, "3") } })
        #expect(wrongWire?.reason == .wrongWireType)
        #expect(wrongWire?.message == "proto: wrong wireType = 2 for field Replicas")
        #expect(
            wrongWire?.badRequestMessage(expectedKind: "Deployment", body: [])
                == #"Deployment in version "v1" cannot be handled as a Deployment: proto: wrong wireType = 2 for field Replicas"#)

        let badMagic = failure([0x01, 0x02])
        #expect(
            badMagic?.badRequestMessage(expectedKind: "Pod", body: [0x01, 0x02])
                == "the object provided is unrecognized (must be of type Pod): provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (0102)"
        )
        let zeroTag = failure(ProtoWriter.body(apiVersion: "v1", kind: "Namespace") { $0.bytes += [0x00] })
        #expect(zeroTag?.message == "proto: Namespace: illegal tag 0 (wire type 0)")
        let overflow = failure(
            ProtoWriter.body(apiVersion: "v1", kind: "Namespace") {
                $0.bytes += [0x98, 0x06] + [UInt8](repeating: 0xFF, count: 10) + [0x01]
            })
        #expect(overflow?.message == "proto: integer overflow")
        let badIntOrString = failure(
            ProtoWriter.body(apiVersion: "v1", kind: "Service") {
                $0.message(2) { $0.message(1) { $0.message(4) { $0.varint(1, 7) } } }
            })
        #expect(badIntOrString?.reason == .invalidValue)
        let badQuantity = failure(
            ProtoWriter.body(apiVersion: "v1", kind: "ResourceQuota") {
                $0.message(2) {
                    $0.message(1) {
                        $0.string(1, "cpu")
                        $0.message(2) { $0.string(1, "lots") }
                    }
                }
            })
        #expect(badQuantity?.message == "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    }

    /// JSONSchemaProps nests itself; past `maxNestingDepth` structs the body is refused.
    @Test func nestingDepthIsLimited() {
        func schema(_ depth: Int) -> [UInt8] {
            var writer = ProtoWriter()
            writer.string(5, "object")
            if depth > 0 { writer.bytes(28, schema(depth - 1)) }  // not
            return writer.bytes
        }
        let body = ProtoWriter.body(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition") {
            $0.message(2) {  // spec
                $0.message(7) {  // versions
                    $0.string(1, "v1")
                    $0.message(4) { $0.bytes(1, schema(KubeProtobuf.maxNestingDepth)) }
                }
            }
        }
        #expect(throws: KubeProtobufError.self) { try KubeProtobuf.decode(body) }
        let shallow = ProtoWriter.body(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition") {
            $0.message(2) { $0.message(7) { $0.message(4) { $0.bytes(1, schema(2)) } } }
        }
        let versions = try? KubeProtobuf.decode(shallow).value(at: ["spec", "versions"])
        #expect(versions?[0]?["schema"]?.text == #"{"openAPIV3Schema":{"type":"object","not":{"type":"object","not":{"type":"object"}}}}"#)
    }
}
