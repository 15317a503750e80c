// Service validation of Kubernetes 1.32 (ValidateService in pkg/apis/core/validation), without
// the IP checks that belong to allocation.

/// Checks of Services: type, ports, selector, session affinity, external name.
enum ServiceValidation {
    static let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    static let affinities = ["ClientIP", "None"]

    static func service(_ svc: JSON, old: JSON?) -> [FieldError] {
        let spec = svc["spec"] ?? [:]
        let type = spec.text("type")
        let headless = spec.text("clusterIP") == "None"
        let ports = spec.list("ports")
        var errors: [FieldError] = []
        if ports.isEmpty, !headless, type != "ExternalName" { errors.append(.required("spec.ports")) }
        if type == "ExternalName" {
            let name = spec.text("externalName")
            if name.isEmpty { errors.append(.required("spec.externalName")) }
        }
        var names: Set<String> = []
        for (i, port) in ports.enumerated() {
            errors += servicePort(port, requireName: ports.count > 1, names: &names, path: "spec.ports[\(i)]")
        }
        if !spec.isUnset("selector") { errors += Validation.labels(spec["selector"]?.object, path: "spec.selector") }
        errors += PodValidation.policy(spec, "sessionAffinity", affinities, path: "spec")
        if type.isEmpty {
            errors.append(.required("spec.type"))
        } else if !types.contains(type) {
            errors.append(.notSupported("spec.type", type, types))
        }
        if type == "ClusterIP" {
            for (i, port) in ports.enumerated() where (port["nodePort"]?.int64 ?? 0) != 0 {
                errors.append(.forbidden("spec.ports[\(i)].nodePort", "may not be used when `type` is 'ClusterIP'"))
            }
        }
        var seenNodePorts: Set<String> = []
        for (i, port) in ports.enumerated() {
            guard let nodePort = port["nodePort"]?.int64, nodePort != 0 else { continue }
            errors += Rules.portNumber(nodePort).map { .invalid("spec.ports[\(i)].nodePort", String(nodePort), $0) }
            let key = "\(nodePort)/\(port.text("protocol"))"
            if seenNodePorts.contains(key) { errors.append(.duplicate("spec.ports[\(i)].nodePort", String(nodePort))) }
            seenNodePorts.insert(key)
        }
        return errors
    }

    /// validateServicePort: a DNS-label name (required when several), unique; port in range;
    /// protocol; targetPort a port number or an IANA name.
    private static func servicePort(_ port: JSON, requireName: Bool, names: inout Set<String>, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        let name = port.text("name")
        if requireName, name.isEmpty {
            errors.append(.required("\(path).name"))
        } else if !name.isEmpty {
            errors += Rules.dns1123Label(name).map { .invalid("\(path).name", GoValue.quote(name), $0) }
            if names.contains(name) { errors.append(.duplicate("\(path).name", GoValue.quote(name))) } else { names.insert(name) }
        }
        let number = port["port"]?.int64 ?? 0
        errors += Rules.portNumber(number).map { .invalid("\(path).port", String(number), $0) }
        errors += PodValidation.policy(port, "protocol", PodValidation.protocols, path: path)
        switch port["targetPort"] {
        case .number(let n)?:
            let value = n.int64 ?? 0
            errors += Rules.portNumber(value).map { .invalid("\(path).targetPort", String(value), $0) }
        case .string(let s)?:
            errors += Rules.portName(s).map { .invalid("\(path).targetPort", GoValue.quote(s), $0) }
        default: break
        }
        return errors
    }
}
