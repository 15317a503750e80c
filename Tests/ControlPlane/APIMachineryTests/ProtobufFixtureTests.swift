import APIMachinery
import Foundation
import Testing

/// Kubernetes' own round-trip fixtures (k8s.io/api `testdata/HEAD/<group>.<version>.<Kind>.pb`
/// with the matching `.json`, every field filled), decoded and compared with the JSON Go wrote.
/// The fixtures are not part of this repository: the suite runs when KUBE_PROTOBUF_TESTDATA
/// names a folder holding them (extract `git archive v0.32.x testdata/HEAD` of kubernetes/api,
/// and apiextensions-apiserver's pkg/apis/testdata/HEAD, into one folder).
@Suite struct ProtobufFixtureTests {
    static let folder = ProcessInfo.processInfo.environment["KUBE_PROTOBUF_TESTDATA"]

    /// `group.version.Kind` of every served kind (and subresource kind) that has a fixture name.
    static var served: [String] {
        var names: [String] = []
        for resource in BuiltinResources.all {
            let kinds = [(resource.group, resource.version, resource.kind)] + resource.subresources.map { ($0.group, $0.version, $0.kind) }
            for (group, version, kind) in kinds {
                let name = "\(group.isEmpty ? "core" : group).\(version).\(kind)"
                if !names.contains(name) { names.append(name) }
            }
        }
        return names + ["core.v1.DeleteOptions"]
    }

    @Test(.enabled(if: folder != nil))
    func fixturesDecodeToTheirJSON() throws {
        let folder = try #require(Self.folder)
        var exact: [String] = []
        var equalOnly: [String] = []
        var missing: [String] = []
        for name in Self.served {
            let pbURL = URL(fileURLWithPath: folder).appendingPathComponent(name + ".pb")
            let jsonURL = URL(fileURLWithPath: folder).appendingPathComponent(name + ".json")
            guard let pb = try? Data(contentsOf: pbURL), let expectedText = try? Data(contentsOf: jsonURL) else {
                missing.append(name)
                continue
            }
            let decoded: JSON
            do { decoded = try KubeProtobuf.decode([UInt8](pb)) } catch {
                Issue.record("\(name): \(error.message)")
                continue
            }
            let expected = try JSON.parse([UInt8](expectedText))
            #expect(decoded == expected, "\(name) differs")
            if decoded != expected { continue }
            let text = String(decoding: decoded.serialized(indent: "  "), as: UTF8.self)
            let wanted = String(decoding: expectedText, as: UTF8.self).trimmingCharacters(in: .newlines)
            if text == wanted { exact.append(name) } else { equalOnly.append(name) }
        }
        print("protobuf fixtures: \(exact.count) byte for byte, \(equalOnly.count) JSON-equal only \(equalOnly), missing \(missing)")
        #expect(equalOnly.isEmpty)
    }
}
