import APIMachinery
import Testing

// Expected values follow kube-apiserver 1.32's decode path: handlers/create.go (strict
// serializer for Warn and Strict, transformDecodeError's `<Kind> in version "<v>" cannot be
// handled as a <Kind>: <err>`), apimachinery runtime/error.go (`strict decoding error: ` + errors
// joined by ", "), sigs.k8s.io/json (strict paths `spec.containers[0].bar`, `unknown field "…"`,
// `duplicate field "…"`, deduplicated), Go encoding/json's UnmarshalTypeError (`json: cannot
// unmarshal <kind> into Go struct field <Struct>.<json path> of type <reflect type>`) and the
// UnmarshalJSON of metav1.Time, resource.Quantity and intstr.IntOrString.

@Suite struct GoJSONTests {
    private func normalize(
        _ body: String, _ apiVersion: String = "apps/v1", _ kind: String = "Deployment", _ mode: FieldValidation = .warn
    ) throws(GoDecodeError) -> (object: String, warnings: [String]) {
        let (object, warnings) = try GoJSONDecoder.normalize(bytes: Array(body.utf8), apiVersion: apiVersion, kind: kind, validation: mode)
        return (object.text, warnings)
    }

    /// The message normalize fails with.
    private func failure(_ body: String, _ apiVersion: String = "apps/v1", _ kind: String = "Deployment", _ mode: FieldValidation = .warn)
        -> String?
    {
        do throws(GoDecodeError) {
            _ = try normalize(body, apiVersion, kind, mode)
            return nil
        } catch {
            return error.message
        }
    }

    private static let deploymentPrefix = #"Deployment in version "v1" cannot be handled as a Deployment: "#
    private static let podPrefix = #"Pod in version "v1" cannot be handled as a Pod: "#

    /// `kubectl create deployment web --image=nginx --dry-run=client -o json`, compacted.
    static let kubectlDeployment = #"""
        {"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},\#
        "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,\#
        "labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}]}},"strategy":{}},"status":{}}
        """#

    @Test func kubectlDeploymentIsStoredInGoOrder() throws {
        // Same members in another order, without apiVersion/kind and status: json.Marshal puts
        // TypeMeta first, struct fields in declaration order, and writes non-pointer structs
        // (`strategy`, `resources`, `status`) even when empty, and metav1.Time zero as null.
        let body = #"""
            {"spec":{"template":{"spec":{"containers":[{"resources":{},"image":"nginx","name":"nginx"}]},"metadata":\#
            {"labels":{"app":"web"}}},"strategy":{},"selector":{"matchLabels":{"app":"web"}},"replicas":1},\#
            "metadata":{"labels":{"app":"web"},"name":"web"}}
            """#
        let result = try normalize(body)
        #expect(result.object == Self.kubectlDeployment)
        #expect(result.warnings.isEmpty)
        #expect(try normalize(Self.kubectlDeployment).object == Self.kubectlDeployment)
    }

    @Test func unknownFieldsInEachMode() throws {
        let body = #"""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"foo":1,"selector":{},\#
            "template":{"spec":{"containers":[{"name":"a"},{"name":"b","bar":true}]}}}}
            """#
        let stored =
            #"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null},"spec":{"selector":{},"#
            + #""template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"a","resources":{}},"#
            + #"{"name":"b","resources":{}}]}},"strategy":{}},"status":{}}"#
        let warned = try normalize(body, "apps/v1", "Deployment", .warn)
        #expect(warned.object == stored)
        #expect(warned.warnings == [#"unknown field "spec.foo""#, #"unknown field "spec.template.spec.containers[1].bar""#])
        let ignored = try normalize(body, "apps/v1", "Deployment", .ignore)
        #expect(ignored.object == stored)
        #expect(ignored.warnings.isEmpty)
        #expect(
            failure(body, "apps/v1", "Deployment", .strict)
                == Self.deploymentPrefix
                + #"strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[1].bar""#)
    }

    @Test func unknownTopLevelFieldAndMapOfStrictErrorsDeduplicated() throws {
        let body = #"{"metadata":{"name":"p"},"extra":{"a":1},"spec":{"containers":[]}}"#
        #expect(try normalize(body, "v1", "Pod").warnings == [#"unknown field "extra""#])
    }

    @Test func duplicateFields() throws {
        // Repeated struct fields and map keys are reported; the last value is kept. Repeats
        // inside a RawExtension or an unknown field are not looked at by the typed decoder.
        let body = #"""
            {"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},"data":{"k":1,"k":2},"revision":1,\#
            "junk":{"q":1,"q":2}}
            """#
        let result = try normalize(body, "apps/v1", "ControllerRevision")
        #expect(result.warnings == [#"duplicate field "metadata.name""#, #"duplicate field "metadata.labels.x""#, #"unknown field "junk""#])
        #expect(
            result.object
                == #"{"kind":"ControllerRevision","apiVersion":"apps/v1","metadata":{"name":"b","creationTimestamp":null,"#
                + #""labels":{"x":"2"}},"data":{"k":2},"revision":1}"#)
        #expect(
            failure(body, "apps/v1", "ControllerRevision", .strict)
                == #"ControllerRevision in version "v1" cannot be handled as a ControllerRevision: strict decoding error: "#
                + #"duplicate field "metadata.name", duplicate field "metadata.labels.x", unknown field "junk""#)
        #expect(try normalize(body, "apps/v1", "ControllerRevision", .ignore).warnings.isEmpty)
    }

    @Test func typeErrors() {
        let p = Self.deploymentPrefix
        #expect(
            failure(#"{"spec":{"replicas":"3"}}"#)
                == p + "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
        #expect(
            failure(#"{"spec":{"replicas":3000000000}}"#)
                == p + "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32")
        #expect(
            failure(#"{"spec":{"replicas":1.5}}"#)
                == p + "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32")
        #expect(
            failure(#"{"metadata":{"name":{}}}"#)
                == p + "json: cannot unmarshal object into Go struct field ObjectMeta.metadata.name of type string")
        #expect(
            failure(#"{"metadata":{"labels":["a"]}}"#)
                == p + "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string")
        #expect(
            failure(#"{"metadata":{"labels":{"a":1}}}"#)
                == p + "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string")
        #expect(
            failure(#"{"spec":{"template":{"spec":{"containers":[{"name":"a","ports":[{"containerPort":"80"}]}]}}}}"#)
                == p + "json: cannot unmarshal string into Go struct field "
                + "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32")
        #expect(
            failure(#"{"spec":{"template":{"spec":{"containers":{}}}}}"#)
                == p + "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container")
        #expect(
            failure(#"{"spec":{"template":{"spec":{"containers":["x"]}}}}"#)
                == p + "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type v1.Container")
        #expect(failure(#"{"kind":5}"#) == p + "json: cannot unmarshal number into Go struct field Deployment.kind of type string")
        #expect(
            failure(#"{"spec":{"paused":"yes"}}"#) == p
                + "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool")
        // The first type error is the one reported; strict errors are not reported with it.
        #expect(
            failure(#"{"foo":1,"spec":{"replicas":"1","paused":"x"}}"#, "apps/v1", "Deployment", .strict)
                == p + "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
    }

    @Test func timesAreParsedAndNormalised() throws {
        let body = #"{"metadata":{"name":"p","creationTimestamp":"2024-02-29T13:04:05.999+02:00"},"spec":{"containers":[]}}"#
        #expect(
            try normalize(body, "v1", "Pod").object
                == #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","creationTimestamp":"2024-02-29T11:04:05Z"},"#
                + #""spec":{"containers":[]},"status":{}}"#)
        // time.Parse errors, returned by metav1.Time's UnmarshalJSON as they are.
        #expect(
            failure(#"{"metadata":{"creationTimestamp":"yesterday"}}"#, "v1", "Pod")
                == Self.podPrefix + #"parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006""#)
        #expect(
            failure(#"{"metadata":{"creationTimestamp":"2024-01-01 00:00:00Z"}}"#, "v1", "Pod")
                == Self.podPrefix
                + #"parsing time "2024-01-01 00:00:00Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 00:00:00Z" as "T""#)
        #expect(
            failure(#"{"metadata":{"creationTimestamp":"2024-13-01T00:00:00Z"}}"#, "v1", "Pod")
                == Self.podPrefix + #"parsing time "2024-13-01T00:00:00Z": month out of range"#)
        #expect(
            failure(#"{"metadata":{"creationTimestamp":"2023-02-29T00:00:00Z"}}"#, "v1", "Pod")
                == Self.podPrefix + #"parsing time "2023-02-29T00:00:00Z": day out of range"#)
        #expect(
            failure(#"{"metadata":{"creationTimestamp":"2024-01-01T00:00:00Zjunk"}}"#, "v1", "Pod")
                == Self.podPrefix + #"parsing time "2024-01-01T00:00:00Zjunk": extra text: "junk""#)
        // A non-string goes through json.Unmarshal into a string: a type error in the field's context.
        #expect(
            failure(#"{"metadata":{"creationTimestamp":5}}"#, "v1", "Pod")
                == Self.podPrefix
                + "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string")
    }

    @Test func quantitiesAreCanonical() throws {
        let body = #"""
            {"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1000m","memory":"1024Mi"},\#
            "requests":{"cpu":0.5,"memory":" 128974848 "}}}]}}
            """#
        #expect(
            try normalize(body, "v1", "Pod").object
                == #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","creationTimestamp":null},"spec":{"containers":"#
                + #"[{"name":"c","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m","memory":"128974848"}}}]},"#
                + #""status":{}}"#)
        #expect(
            failure(#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"lots"}}}]}}"#, "v1", "Pod")
                == Self.podPrefix + "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        #expect(
            failure(#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1Q"}}}]}}"#, "v1", "Pod")
                == Self.podPrefix + "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        #expect(
            failure(#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1Mk"}}}]}}"#, "v1", "Pod")
                == Self.podPrefix + "unable to parse quantity's suffix")
    }

    @Test func nullsLeaveZeroValues() throws {
        // null into a pointer, slice or map: nil (omitted or null); into a string or struct: zero;
        // as a map value: the value type's zero.
        let body = #"""
            {"metadata":{"name":null,"labels":{"a":null},"annotations":null,"finalizers":null},\#
            "spec":{"replicas":null,"selector":null,"template":null,"strategy":null,"paused":null},"status":null}
            """#
        #expect(
            try normalize(body).object
                == #"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"creationTimestamp":null,"labels":{"a":""}},"#
                + #""spec":{"selector":null,"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}},"#
                + #""strategy":{}},"status":{}}"#)
    }

    @Test func rawExtensionPassesThrough() throws {
        let body = #"{"metadata":{"name":"r"},"data":{"spec":{"anything":[1,2.50,{"x":null}]},"unknown":true},"revision":2}"#
        let result = try normalize(body, "apps/v1", "ControllerRevision", .strict)
        #expect(
            result.object
                == #"{"kind":"ControllerRevision","apiVersion":"apps/v1","metadata":{"name":"r","creationTimestamp":null},"#
                + #""data":{"spec":{"anything":[1,2.50,{"x":null}]},"unknown":true},"revision":2}"#)
        #expect(result.warnings.isEmpty)
    }

    @Test func secretDataIsBase64() throws {
        let body = #"{"metadata":{"name":"s"},"data":{"b":"aGk=","a":"aGVs\nbG8=","e":""},"type":"Opaque"}"#
        #expect(
            try normalize(body, "v1", "Secret").object
                == #"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","creationTimestamp":null},"#
                + #""data":{"a":"aGVsbG8=","b":"aGk=","e":""},"type":"Opaque"}"#)
        let prefix = #"Secret in version "v1" cannot be handled as a Secret: "#
        #expect(failure(#"{"data":{"a":"not base64"}}"#, "v1", "Secret") == prefix + "illegal base64 data at input byte 3")
        #expect(failure(#"{"data":{"a":"aGk"}}"#, "v1", "Secret") == prefix + "illegal base64 data at input byte 0")
        #expect(failure(#"{"data":{"a":"aGk=x"}}"#, "v1", "Secret") == prefix + "illegal base64 data at input byte 4")
        #expect(
            failure(#"{"data":{"a":5}}"#, "v1", "Secret")
                == prefix + "json: cannot unmarshal number into Go struct field Secret.data of type []uint8")
        #expect(
            failure(#"{"stringData":{"a":5}}"#, "v1", "Secret")
                == prefix + "json: cannot unmarshal number into Go struct field Secret.stringData of type string")
    }

    @Test func intOrStringBothWays() throws {
        let body = #"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":1}}}}"#
        let object = try normalize(body).object
        #expect(object.contains(#""strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":1}}"#))
        #expect(
            failure(#"{"spec":{"strategy":{"rollingUpdate":{"maxSurge":1.5}}}}"#)
                == Self.deploymentPrefix
                + "json: cannot unmarshal number 1.5 into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32"
        )
        #expect(
            failure(#"{"spec":{"strategy":{"rollingUpdate":{"maxSurge":true}}}}"#)
                == Self.deploymentPrefix
                + "json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32"
        )
    }

    @Test func fieldValidationQueryValues() throws {
        #expect(try FieldValidation(query: nil, optionsKind: "CreateOptions") == .warn)
        #expect(try FieldValidation(query: "", optionsKind: "CreateOptions") == .warn)
        #expect(try FieldValidation(query: "Strict", optionsKind: "CreateOptions") == .strict)
        #expect(try FieldValidation(query: "Ignore", optionsKind: "PatchOptions") == .ignore)
        // ValidateFieldValidation: field.NotSupported over the sorted allowed set, via errors.NewInvalid.
        do throws(APIStatus) {
            _ = try FieldValidation(query: "strict", optionsKind: "UpdateOptions")
            Issue.record("accepted a lower-case value")
        } catch {
            #expect(error.code == 422)
            #expect(
                error.message
                    == #"UpdateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": "#
                    + #"supported values: "", "Ignore", "Strict", "Warn""#)
        }
    }

    @Test func durationsAndMicroTimes() throws {
        // GoTime/Duration parsers directly: Go's texts.
        #expect(try GoDurationParser.parse("1h30m") == 5_400_000_000_000)
        #expect(try GoDurationParser.parse("1.5s") == 1_500_000_000)
        #expect(throws: GoDurationParser.ParseError(message: #"time: invalid duration "x""#)) { try GoDurationParser.parse("x") }
        #expect(throws: GoDurationParser.ParseError(message: #"time: missing unit in duration "1""#)) { try GoDurationParser.parse("1") }
        #expect(throws: GoDurationParser.ParseError(message: #"time: unknown unit "d" in duration "1d""#)) {
            try GoDurationParser.parse("1d")
        }
        let micro = try GoTimeLayout.rfc3339Micro.parse("2024-01-02T03:04:05.123456Z")
        #expect(micro.nanos == 123_456_000)
        #expect(
            throws: GoTimeLayout.ParseError(
                message: #"parsing time "2024-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000""#)
        ) { try GoTimeLayout.rfc3339Micro.parse("2024-01-02T03:04:05Z") }
    }

    @Test func treeEntryAndUnknownKinds() throws {
        let object: JSON = ["metadata": ["name": "x", "bogus": 1], "spec": ["replicas": 2]]
        let result = try GoJSONDecoder.normalize(object, apiVersion: "apps/v1", kind: "Deployment", validation: .warn)
        #expect(result.warnings == [#"unknown field "metadata.bogus""#])
        #expect(result.object["spec"]?["replicas"] == 2)
        // A kind with no Go struct (a custom resource) is unstructured: kept as sent.
        let custom: JSON = ["apiVersion": "example.com/v1", "kind": "Widget", "spec": ["x": 1]]
        #expect(try GoJSONDecoder.normalize(custom, apiVersion: "example.com/v1", kind: "Widget", validation: .strict).object == custom)
    }

    @Test func canonicalQuantityShortcutAgreesWithTheParser() throws {
        // The shortcut may only say yes where parsing and printing gives the text back.
        let samples = [
            "1", "100", "1000", "12345", "128974848", "250m", "1000m", "1500m", "0", "0m", "01", "1500n", "1000n", "999u",
            "1k", "1000k", "1500P", "1E", "128Mi", "1024Mi", "1536Ki", "1Ki", "512Ki", "1Ei", "2048Gi", "1.5", "-1", "+1", "1e3",
            "999999999999999", "1000000000000000", "7Ti", "3Pi"
        ]
        for text in samples where Quantity.isCanonical(text) {
            #expect(try Quantity(parsing: text).description == text, "\(text)")
        }
        #expect(Quantity.isCanonical("250m") && Quantity.isCanonical("128Mi") && !Quantity.isCanonical("1024Mi"))
        #expect(!Quantity.isCanonical("1000m") && !Quantity.isCanonical("0") && !Quantity.isCanonical("1.5"))
    }

    @Test func crdSchemaWrappersDecodeNonStrictly() throws {
        // JSONSchemaPropsOrBool/OrArray decode their content with the non-strict decoder
        // (apiextensions v1 marshal.go): unknown fields inside `items` are not reported, those of
        // the schema itself are; an error inside is reported in the outer field's context.
        func crd(_ items: String) -> String {
            #"{"metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com","names":{"plural":"widgets","kind":"Widget"},"#
                + #""scope":"Namespaced","versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":"#
                + #"{"type":"object","bogus":1,"properties":{"spec":{"type":"object","additionalProperties":true,"items":"#
                + items + "}}}}}]}}"
        }
        let (object, warnings) = try normalize(
            crd(#"{"type":"string","alsoBogus":2}"#), "apiextensions.k8s.io/v1", "CustomResourceDefinition")
        #expect(warnings == [#"unknown field "spec.versions[0].schema.openAPIV3Schema.bogus""#])
        #expect(object.contains(#""properties":{"spec":{"type":"object","items":{"type":"string"},"additionalProperties":true}}"#))
        #expect(
            failure(crd(#"{"type":5}"#), "apiextensions.k8s.io/v1", "CustomResourceDefinition")
                == #"CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: "#
                + "json: cannot unmarshal number into Go struct field JSONSchemaProps.spec.versions.schema.openAPIV3Schema.properties.items "
                + "of type string")
    }
}
