import Foundation

/// `/openapi/v2` and `/openapi/v3`: the documents tools/gen-kube-openapi.py derives from
/// Kubernetes 1.32's definition (committed in `OpenAPI/`, shipped as the target's resources),
/// read once at start. kubectl reads the v3 index and a group-version's document to learn that
/// the server validates fields (and for `explain`); the Python dynamic client reads them too.
struct OpenAPIDocuments: Sendable {
    let v2: [UInt8]?
    let v3Index: [UInt8]?
    /// By served path without the leading slash: `api/v1`, `apis/apps/v1`.
    let v3: [String: [UInt8]]

    init() {
        func load(_ name: String, _ subdirectory: String?) -> [UInt8]? {
            guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: subdirectory) else { return nil }
            return (try? Data(contentsOf: url)).map { [UInt8]($0) }
        }
        v2 = load("v2", "OpenAPI")
        v3Index = load("index", "OpenAPI/v3")
        var docs: [String: [UInt8]] = [:]
        if let directory = Bundle.module.resourceURL?.appendingPathComponent("OpenAPI/v3"),
            let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        {
            for file in files where file.hasSuffix(".json") && file != "index.json" {
                let name = String(file.dropLast(5)).replacingOccurrences(of: "__", with: "/")
                if let data = try? Data(contentsOf: directory.appendingPathComponent(file)) { docs[name] = [UInt8](data) }
            }
        }
        v3 = docs
    }
}
