import APIMachinery
import Testing

/// Status objects byte for byte as kube-apiserver 1.32 writes them (COMPAT.md quotes them).
@Suite struct StatusTests {
    private func text(_ status: APIStatus) -> String { String(decoding: status.json, as: UTF8.self) }

    @Test func alreadyExistsIsKubeAPIServersBytes() {
        let status = APIStatus.alreadyExists(resource: "services", group: "", name: "mock-2")
        #expect(
            text(status)
                == #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"mock-2\" already exists","reason":"AlreadyExists","details":{"name":"mock-2","kind":"services"},"code":409}"#
                + "\n")
        #expect(status.code == 409 && status.reason == .alreadyExists)
    }

    @Test func notFoundAndConflictNameTheGroupOutsideTheCore() {
        #expect(APIStatus.notFound(resource: "pods", group: "", name: "x").message == #"pods "x" not found"#)
        let conflict = APIStatus.conflict(resource: "deployments", group: "apps", name: "web")
        #expect(
            conflict.message
                == #"Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again"#
        )
        #expect(text(conflict).contains(#""details":{"name":"web","group":"apps","kind":"deployments"},"code":409}"#))
    }

    @Test func invalidListsItsCauses() {
        let one = APIStatus.invalid(
            kind: "Deployment", group: "apps", name: "web",
            errors: [FieldError(.invalid, field: "spec.replicas", value: "-1", detail: "must be greater than or equal to 0")])
        #expect(one.message == #"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#)
        #expect(
            text(one).hasSuffix(
                #""reason":"Invalid","details":{"name":"web","group":"apps","kind":"Deployment","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"}]},"code":422}"#
                    + "\n"))
        let two = APIStatus.invalid(
            kind: "Pod", group: "", name: "p",
            errors: [
                FieldError(.required, field: "spec.containers", value: "null"),
                FieldError(
                    .notSupported, field: "spec.restartPolicy", value: #""Sometimes""#,
                    detail: #"supported values: "Always", "Never", "OnFailure""#)
            ])
        #expect(
            two.message
                == #"Pod "p" is invalid: [spec.containers: Required value, spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"]"#
        )
        #expect(two.details?.causes.map(\.reason) == ["FieldValueRequired", "FieldValueNotSupported"])
    }

    @Test func stringsAreEscapedAsGoWritesThem() {
        var out = ""
        GoJSON.appendString("a\"b\\c\n\t<x>&\u{01}\u{08}\u{0C}\u{2028}é", to: &out)
        #expect(out == #""a\"b\\c\n\t\u003cx\u003e\u0026\u0001\b\f\u2028é""#)
        // A name with a quote is %q-escaped in the message, then JSON-escaped in the body.
        let status = APIStatus.notFound(resource: "pods", group: "", name: "a\"<b")
        #expect(status.message == #"pods "a\"<b" not found"#)
        #expect(text(status).contains(#""message":"pods \"a\\\"\u003cb\" not found""#))
    }

    @Test func tooManyRequestsCarriesRetryAfter() {
        let status = APIStatus.tooManyRequests(retryAfterSeconds: 1)
        #expect(status.code == 429)
        #expect(text(status).contains(#""details":{"retryAfterSeconds":1},"code":429}"#))
        #expect(!text(APIStatus.badRequest("bad")).contains("details"))
    }
}
