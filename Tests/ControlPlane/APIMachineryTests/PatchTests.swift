import APIMachinery
import Testing

/// The three patch formats kube-apiserver takes. Merge patch cases are RFC 7386's examples, JSON
/// patch RFC 6902's operations, and strategic merge the behaviour of apimachinery's strategicpatch
/// package at 1.32 (merge keys from the schema, its directives, and the order it leaves lists in).
@Suite struct PatchTests {
    private func json(_ text: String) throws -> JSON { try JSON.parse(Array(text.utf8)) }

    private func smp(_ target: String, _ patch: String, _ definition: String = "io.k8s.api.apps.v1.Deployment") throws -> String {
        try Patch.strategicMerge(try json(target), with: try json(patch), definition: definition).text
    }

    private func names(_ text: String, at path: [String]) throws -> [String] {
        let list = try #require(try json(text).value(at: path)?.array)
        return list.compactMap { $0["name"]?.string ?? $0.string }
    }

    // MARK: Merge patch

    @Test func mergePatchFollowsRFC7386() throws {
        let cases: [(String, String, String)] = [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
            (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
            (#"{"a":"foo"}"#, #"null"#, #"null"#),
            (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#)
        ]
        for (target, patch, expected) in cases {
            #expect(Patch.mergePatch(try json(target), with: try json(patch)).text == expected, "\(target) + \(patch)")
        }
    }

    // MARK: JSON patch

    @Test func jsonPatchOperations() throws {
        let doc = try json(#"{"metadata":{"labels":{"a":"1"}},"list":[1,2,3]}"#)
        func apply(_ ops: String) throws -> String { try Patch.jsonPatch(doc, with: try json(ops)).text }
        #expect(
            try apply(#"[{"op":"add","path":"/metadata/labels/b","value":"2"}]"#)
                == #"{"metadata":{"labels":{"a":"1","b":"2"}},"list":[1,2,3]}"#)
        #expect(try apply(#"[{"op":"add","path":"/list/1","value":9}]"#).hasSuffix(#""list":[1,9,2,3]}"#))
        #expect(try apply(#"[{"op":"add","path":"/list/-","value":9}]"#).hasSuffix(#""list":[1,2,3,9]}"#))
        #expect(try apply(#"[{"op":"remove","path":"/list/0"}]"#).hasSuffix(#""list":[2,3]}"#))
        #expect(try apply(#"[{"op":"replace","path":"/metadata/labels/a","value":"x"}]"#).hasPrefix(#"{"metadata":{"labels":{"a":"x"}}"#))
        #expect(
            try apply(#"[{"op":"move","from":"/metadata/labels/a","path":"/metadata/labels/z"}]"#).hasPrefix(
                #"{"metadata":{"labels":{"z":"1"}}"#))
        #expect(try apply(#"[{"op":"copy","from":"/list/2","path":"/list/0"}]"#).hasSuffix(#""list":[3,1,2,3]}"#))
        #expect(
            try apply(#"[{"op":"test","path":"/list/1","value":2},{"op":"remove","path":"/list"}]"#)
                == #"{"metadata":{"labels":{"a":"1"}}}"#)
        // ~1 is "/" and ~0 is "~" in a pointer token (the usual way to patch an annotation key).
        #expect(
            try apply(#"[{"op":"add","path":"/metadata/labels/app.kubernetes.io~1name","value":"w"}]"#).contains(
                #""app.kubernetes.io/name":"w""#))
        #expect(try apply(#"[{"op":"add","path":"/metadata/labels/a~0b","value":"w"}]"#).contains(#""a~b":"w""#))
    }

    @Test func jsonPatchFailuresAreNamed() throws {
        let doc = try json(#"{"a":{"b":1},"list":[1]}"#)
        func failure(_ ops: String) throws -> PatchError? {
            let ops = try json(ops)
            do {
                _ = try Patch.jsonPatch(doc, with: ops)
                return nil
            } catch {
                return error
            }
        }
        #expect(try failure(#"[{"op":"test","path":"/a/b","value":2}]"#)?.message == "testing value /a/b failed: test failed")
        #expect(try failure(#"[{"op":"remove","path":"/missing"}]"#)?.malformed == false)
        #expect(try failure(#"[{"op":"add","path":"/list/5","value":1}]"#) != nil)
        #expect(try failure(#"[{"op":"explode","path":"/a"}]"#)?.message == "Unexpected kind: explode")
        #expect(try failure(#"[{"op":"add","path":"/a"}]"#)?.message == "missing value for add operation")
        #expect(try failure(#"{"op":"add"}"#)?.message == "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        #expect(try failure(#"[{"op":"add","path":"a","value":1}]"#)?.malformed == true)
        let tooMany =
            "["
            + Array(repeating: #"{"op":"test","path":"/a/b","value":1}"#, count: Patch.maxJSONPatchOperations + 1).joined(separator: ",")
            + "]"
        #expect(try failure(tooMany)?.message == "The allowed maximum operations in a JSON patch is 10000, got 10001")
    }

    // MARK: Strategic merge patch

    private let deployment = #"""
        {"metadata":{"name":"web","finalizers":["x"]},"spec":{"replicas":1,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
        {"name":"a","image":"nginx:1","ports":[{"containerPort":80,"protocol":"TCP"}],"args":["x","y"],"resources":{"limits":{"cpu":"1"}}},
        {"name":"b","image":"redis:1"}]}}}}
        """#
    private let containers = ["spec", "template", "spec", "containers"]

    @Test func listsMergeByTheirKeys() throws {
        // An element with a known key merges into it; the others keep their place.
        let changed = try smp(deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"redis:2"}]}}}}"#)
        #expect(try names(changed, at: containers) == ["a", "b"])
        #expect(try json(changed).value(at: containers)?[1]?["image"] == "redis:2")
        #expect(try json(changed).value(at: containers)?[0]?["image"] == "nginx:1")
        // Nested merge keys: ports by containerPort.
        let ports = try smp(
            deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"a","ports":[{"containerPort":443,"protocol":"TCP"}]}]}}}}"#)
        let merged = try #require(try json(ports).value(at: containers)?[0]?["ports"]?.array)
        #expect(merged.compactMap { $0["containerPort"]?.int64 } == [443, 80])
    }

    @Test func newElementsGoFirstUnlessAnOrderIsGiven() throws {
        // strategicpatch's ordering: an element the live list lacks sorts before the server-only ones.
        let added = try smp(deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}"#)
        #expect(try names(added, at: containers) == ["c", "a", "b"])
        // kubectl apply sends $setElementOrder: that order wins.
        let ordered = try smp(
            deployment,
            #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"},{"name":"c"}],"containers":[{"name":"c","image":"busybox"}]}}}}"#
        )
        #expect(try names(ordered, at: containers) == ["a", "b", "c"])
        // An order alone reorders the live list.
        let swapped = try smp(deployment, #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}}}}"#)
        #expect(try names(swapped, at: containers) == ["b", "a"])
    }

    @Test func listDirectives() throws {
        let deleted = try smp(deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}}}"#)
        #expect(try names(deleted, at: containers) == ["b"])
        let replaced = try smp(
            deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"z","image":"i"},{"$patch":"replace"}]}}}}"#)
        #expect(try names(replaced, at: containers) == ["z"])
        // Sets of primitives (finalizers) merge as a union, the patch's new values first.
        #expect(try names(try smp(deployment, #"{"metadata":{"finalizers":["y"]}}"#), at: ["metadata", "finalizers"]) == ["y", "x"])
        #expect(try names(try smp(deployment, #"{"metadata":{"finalizers":["x"]}}"#), at: ["metadata", "finalizers"]) == ["x"])
        let removed = try smp(#"{"metadata":{"finalizers":["x","y"]}}"#, #"{"metadata":{"$deleteFromPrimitiveList/finalizers":["x"]}}"#)
        #expect(try names(removed, at: ["metadata", "finalizers"]) == ["y"])
        // Atomic lists (args) are replaced whole.
        let args = try smp(deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"a","args":["z"]}]}}}}"#)
        #expect(try json(args).value(at: containers)?[0]?["args"] == ["z"])
    }

    @Test func objectDirectivesAndValues() throws {
        let replaced = try smp(deployment, #"{"spec":{"template":{"metadata":{"$patch":"replace","annotations":{"k":"v"}}}}}"#)
        #expect(try json(replaced).value(at: ["spec", "template", "metadata"])?.text == #"{"annotations":{"k":"v"}}"#)
        let deleted = try smp(deployment, #"{"spec":{"template":{"metadata":{"$patch":"delete"}}}}"#)
        #expect(try json(deleted).value(at: ["spec", "template", "metadata"])?.text == "{}")
        // $retainKeys: a deployment's strategy drops rollingUpdate when switching to Recreate.
        let recreate = try smp(deployment, #"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#)
        #expect(try json(recreate).value(at: ["spec", "strategy"])?.text == #"{"type":"Recreate"}"#)
        // null removes a field; maps (resources.limits) merge key by key.
        let nulled = try smp(deployment, #"{"spec":{"replicas":null}}"#)
        #expect(try json(nulled).value(at: ["spec", "replicas"]) == nil)
        let limits = try smp(
            deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"a","resources":{"limits":{"memory":"1Gi"}}}]}}}}"#)
        #expect(try json(limits).value(at: containers)?[0]?["resources"]?["limits"]?.text == #"{"cpu":"1","memory":"1Gi"}"#)
        // Without a schema a list is replaced.
        #expect(try smp(#"{"l":[1,2]}"#, #"{"l":[3]}"#, "io.k8s.unknown") == #"{"l":[3]}"#)
    }

    @Test func badStrategicPatchesAreRefused() throws {
        func failure(_ patch: String) throws -> PatchError? {
            let target = try json(deployment)
            let patch = try json(patch)
            do {
                _ = try Patch.strategicMerge(target, with: patch, definition: "io.k8s.api.apps.v1.Deployment")
                return nil
            } catch {
                return error
            }
        }
        #expect(
            try failure(#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#)?.message
                == #"map: {"image":"x"} does not contain declared merge key: name"#)
        #expect(try failure(#"{"spec":{"$patch":"explode"}}"#)?.message.hasPrefix("Unknown patch type: explode") == true)
        #expect(
            try failure(#"["not","an","object"]"#)?.message == "json: cannot unmarshal array into Go value of type map[string]interface {}")
    }
}

/// The path-segment name rule and generated names (apimachinery's validation messages).
@Suite struct NamesTests {
    @Test func dnsNames() {
        #expect(Rules.dns1123Subdomain("web-1.example").isEmpty)
        #expect(Rules.dns1123Subdomain("Web").count == 1)
        #expect(Rules.dns1123Subdomain("").count == 1)
        #expect(Rules.dns1123Subdomain("a..b").count == 1)
        #expect(Rules.dns1123Subdomain(String(repeating: "a", count: 254)).first == "must be no more than 253 characters")
        // 1.32's IsDNS1123Label: a valid subdomain that is no label has dots.
        #expect(Rules.dns1123Label("a.b") == ["must not contain dots"])
        #expect(Rules.dns1123Label("123-abc").isEmpty)
        #expect(Rules.dns1123Label(String(repeating: "a", count: 64)).first == "must be no more than 63 characters")
        #expect(Rules.dns1035Label("123-abc").count == 1)
        #expect(Rules.dns1035Label("abc-123").isEmpty)
        #expect(Rules.dns1035Label("abc-").first?.hasPrefix("a DNS-1035 label must consist of") == true)
    }

    @Test func pathSegments() {
        #expect(Names.pathSegmentProblems("..") == ["may not be '..'"])
        #expect(Names.pathSegmentProblems("a/b") == ["may not contain '/'"])
        #expect(Names.pathSegmentProblems("a%b") == ["may not contain '%'"])
        #expect(Names.pathSegmentProblems("system:node").isEmpty)
    }

    @Test func generatedNamesFitALabel() {
        var n = 0
        let name = Names.generate(from: "web-") {
            n += 1
            return n
        }
        #expect(name == "web-cdfgh")
        let long = Names.generate(from: String(repeating: "p", count: 80)) { 0 }
        #expect(long.count == 63 && long.hasSuffix("bbbbb"))
    }
}
