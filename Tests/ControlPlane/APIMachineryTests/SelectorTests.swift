import APIMachinery
import Testing

/// Label and field selectors with the semantics kube-apiserver gives them.
@Suite struct SelectorTests {
    private let web: [String: String] = ["app": "web", "tier": "frontend", "replicas": "3", "app.kubernetes.io/name": "shop"]

    private func matches(_ selector: String, _ labels: [String: String]) throws -> Bool {
        try LabelSelector(parsing: selector).matches(labels)
    }

    @Test func equalityBased() throws {
        #expect(try matches("app=web", web) && matches("app==web", web) && matches("app = web , tier=frontend", web))
        #expect(try !matches("app=db", web) && !matches("app!=web", web))
        #expect(try matches("tier!=db", web) && matches("missing!=x", web))
        #expect(try matches("", web) && LabelSelector(parsing: "  ").isEverything)
        #expect(try matches("app.kubernetes.io/name=shop", web))
        #expect(try matches("empty=", ["empty": ""]) && !matches("empty=", web))
    }

    @Test func setBasedAndExistence() throws {
        #expect(try matches("app in (web, api)", web) && !matches("app in (api)", web))
        #expect(try matches("app notin (api,db)", web) && !matches("app notin (web)", web) && matches("nokey notin (a)", web))
        #expect(try matches("app", web) && !matches("nokey", web))
        #expect(try matches("!nokey", web) && !matches("!app", web))
        #expect(try matches("app,tier in (frontend),!canary", web))
        let parsed = try LabelSelector(parsing: "env in (a,b),!x")
        #expect(parsed.requirements.map(\.op) == [.in, .doesNotExist] && parsed.requirements[0].values == ["a", "b"])
    }

    @Test func numericComparisons() throws {
        #expect(try matches("replicas>2", web) && !matches("replicas>3", web) && matches("replicas<4", web))
        #expect(try !matches("app>1", web))
        #expect(throws: APIStatus.self) { try LabelSelector(parsing: "replicas>many") }
    }

    @Test func badSelectorsAreBadRequests() {
        for bad in [
            "app=web,", "app in ()", "app in (a", "!", "=web", "app=web=x", "app in a", "-bad=x", "app=-x", "a b", "app=web)", "in=x"
        ] {
            do {
                _ = try LabelSelector(parsing: bad)
                Issue.record("\(bad) parsed")
            } catch {
                #expect(error.code == 400 && error.reason == .badRequest, "\(bad)")
                #expect(error.message.hasPrefix("unable to parse requirement: "), "\(bad): \(error.message)")
            }
        }
        #expect(throws: APIStatus.self) { try LabelSelector(parsing: String(repeating: "a", count: 64) + "=x") }
        #expect(throws: APIStatus.self) { try LabelSelector(parsing: "Example.COM/app=x") }
    }

    @Test func fieldSelectors() throws {
        let pod = ["metadata.name": "web-1", "metadata.namespace": "default", "spec.nodeName": "n1", "status.phase": "Running"]
        #expect(try FieldSelector(parsing: "metadata.name=web-1").matches(pod))
        #expect(try FieldSelector(parsing: "spec.nodeName==n1,status.phase!=Pending").matches(pod))
        #expect(try !FieldSelector(parsing: "spec.nodeName=").matches(pod))
        #expect(try FieldSelector(parsing: "spec.nodeName=").matches(["spec.nodeName": ""]))
        #expect(try FieldSelector(parsing: "").isEverything)
        let escaped = try FieldSelector(parsing: #"metadata.name=a\,b\=c\\d"#)
        #expect(escaped.requirements == [.init(field: "metadata.name", equals: true, value: #"a,b=c\d"#)])
        #expect(try FieldSelector(parsing: "metadata.name=x").exactValue(of: "metadata.name") == "x")
        let unknown = try FieldSelector(parsing: "spec.bogus=1").unsupported(in: ["metadata.name"], resource: "pods")
        #expect(unknown?.code == 400 && unknown?.message == "field label not supported: spec.bogus")
        for bad in ["metadata.name", "=x", "a=b=c", #"a=b\"#, "a!x"] {
            #expect(throws: APIStatus.self, "\(bad)") { try FieldSelector(parsing: bad) }
        }
    }
}
