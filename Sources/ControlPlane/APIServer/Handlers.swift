package import APIMachinery
import EtcdClient
package import Foundation

// The verbs over the generic registry: what kube-apiserver's handlers and strategies do before
// and after storage (metadata the server owns, name rules, namespace lifecycle, status kept apart
// from the rest, generation, finalizers and graceful deletion, dryRun).

/// An answer: the HTTP code and the object (or list, or Status) to write.
package struct Answer: Sendable {
    package var code: Int
    package var body: JSON
    /// Texts for `Warning` headers (unknown fields under fieldValidation=Warn).
    package var warnings: [String] = []
    package init(_ code: Int, _ body: JSON, warnings: [String] = []) {
        self.code = code
        self.body = body
        self.warnings = warnings
    }
}

/// Handles resource requests of every kind.
package struct Handlers: Sendable {
    package let registry: Registry
    package let clock: @Sendable () -> Date
    /// Services' cluster IPs and node ports (nil: services get none, as in unit tests without ranges).
    package let services: ServiceAllocator?

    package init(registry: Registry, services: ServiceAllocator? = nil, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.registry = registry
        self.services = services
        self.clock = clock
    }

    static func timestamp(_ date: Date) -> String {
        // RFC 3339 to the second in UTC, as metav1.Time writes it.
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).ISO8601Format()
    }

    var namespaces: ResourceInfo { BuiltinResources.resource(group: "", version: "v1", name: "namespaces")! }

    // MARK: - Decoding a body

    /// The object in a request body, checked against the endpoint's kind: a JSON object, with
    /// kind and apiVersion those of the endpoint (filled when absent).
    func decodeObject(_ body: [UInt8], kind: String, group: String, version: String) throws(APIStatus) -> JSON {
        let parsed: JSON
        do {
            parsed = try JSON.parse(body)
        } catch {
            throw .badRequest("couldn't get version/kind; json parse error: \(error.message)")
        }
        guard case .object(var object) = parsed else {
            throw .badRequest(
                "couldn't get version/kind; json parse error: json: cannot unmarshal \(parsed.kindName) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }"
            )
        }
        let groupVersion = group.isEmpty ? version : "\(group)/\(version)"
        switch object["apiVersion"] {
        case nil, .string("")?: object["apiVersion"] = .string(groupVersion)
        case .string(let v)? where v == groupVersion: break
        case .string(let v)?:
            throw .badRequest("the API version in the data (\(v)) does not match the expected API version (\(groupVersion))")
        default: throw .badRequest("apiVersion must be a string")
        }
        switch object["kind"] {
        case nil, .string("")?: object["kind"] = .string(kind)
        case .string(let k)? where k == kind: break
        case .string(let k)?:
            throw .badRequest("the kind in the data (\(k)) does not match the expected kind (\(kind))")
        default: throw .badRequest("kind must be a string")
        }
        switch object["metadata"] {
        case nil: object["metadata"] = .object(JSONObject())
        case .object?: break
        default:
            throw .badRequest("metadata must be an object")
        }
        return .object(object)
    }

    // MARK: - Create

    package func create(
        _ resource: ResourceInfo, namespace: String?, body: [UInt8], dryRun: Bool, fieldValidation: FieldValidation = .strict
    ) async throws(APIStatus) -> Answer {
        let strategy = Strategy.of(resource)
        _ = try decodeObject(body, kind: resource.kind, group: resource.group, version: resource.version)
        var (object, warnings) = try Self.goDecode(body, resource: resource, validation: fieldValidation)
        try checkNamespace(&object, resource: resource, namespace: namespace)
        if resource.namespaced, let namespace { try await admitIntoNamespace(namespace) }
        try checkMetaTypes(object)
        try await prepareForCreate(&object, resource: resource, strategy: strategy)
        let meta = object["metadata"]?.object ?? JSONObject()
        let generateName = meta["generateName"]?.string ?? ""
        let fixedName = meta["name"]?.string ?? ""
        let attempts = fixedName.isEmpty && !generateName.isEmpty ? Registry.maxGenerateNameAttempts : 1
        var taken: [String] = []
        if let services, resource.group.isEmpty && resource.name == "services" {
            try validate(object, resource: resource, old: nil)
            taken = try await services.allocate(&object, dryRun: dryRun)
        }
        for attempt in 1...attempts {
            if fixedName.isEmpty && !generateName.isEmpty {
                object.set(.string(Names.generate(from: generateName) { Int.random(in: 0..<Int.max) }), at: ["metadata", "name"])
            }
            try validate(object, resource: resource, old: nil)
            let made = await APIServer.capture { () throws(APIStatus) in
                try await registry.create(resource, namespace: namespace, object: object, dryRun: dryRun)
            }
            switch made {
            case .success(let stored): return Answer(201, stored, warnings: warnings)
            case .failure(let status) where status.reason == .alreadyExists && attempt < attempts: continue
            case .failure(let status):
                await services?.release(taken: taken)
                throw status
            }
        }
        throw APIStatus(code: 500, reason: .internalError, message: "no free name for generateName \(generateName)")
    }

    /// Checks the object's namespace against the path's: filled when absent, refused when it
    /// differs; cleared for cluster-scoped resources.
    func checkNamespace(_ object: inout JSON, resource: ResourceInfo, namespace: String?) throws(APIStatus) {
        let given = object["metadata"]?["namespace"]?.string ?? ""
        if resource.namespaced {
            guard let namespace else { throw .badRequest("the namespace of the object must be given in the request path") }
            if !given.isEmpty && given != namespace {
                throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            object.set(.string(namespace), at: ["metadata", "namespace"])
        } else {
            object.set(nil, at: ["metadata", "namespace"])
        }
    }

    /// No new object goes into a missing namespace or one being deleted (kube's NamespaceLifecycle).
    func admitIntoNamespace(_ namespace: String) async throws(APIStatus) {
        guard let (ns, _) = try await registry.read(namespaces, nil, namespace) else {
            throw .notFound(resource: "namespaces", group: "", name: namespace)
        }
        if ns["status"]?["phase"]?.string == "Terminating" || ns["metadata"]?["deletionTimestamp"] != nil {
            throw APIStatus(
                code: 403, reason: .forbidden,
                message: "unable to create new content in namespace \(namespace) because it is being terminated",
                details: .init(
                    name: namespace, kind: "namespaces",
                    causes: [
                        .init(
                            reason: "NamespaceTerminating", message: "namespace \(namespace) is being terminated",
                            field: "metadata.namespace")
                    ]))
        }
    }

    /// What a new object gets before validation, in kube's order: the defaults of its type, the
    /// metadata the server owns (uid, creationTimestamp, generation), the mutating admission plugins
    /// (service account, default tolerations, priority), and the registry strategy's preparation
    /// (a pod's Pending status, a namespace's finalizer, a job's selector).
    func prepareForCreate(_ object: inout JSON, resource: ResourceInfo, strategy: Strategy) async throws(APIStatus) {
        Defaults.apply(to: &object, resource: resource)
        var meta = object["metadata"]?.object ?? JSONObject()
        meta["uid"] = .string(UUID().uuidString.lowercased())
        meta["creationTimestamp"] = .string(Self.timestamp(clock()))
        meta["resourceVersion"] = nil
        meta["deletionTimestamp"] = nil
        meta["deletionGracePeriodSeconds"] = nil
        if strategy.tracksGeneration { meta["generation"] = 1 } else { meta["generation"] = nil }
        object["metadata"] = .object(meta)
        let classes = resource.group.isEmpty && resource.name == "pods" ? try await priorityClasses() : []
        try Admission.apply(to: &object, resource: resource, priorityClasses: classes)
        CreateStrategy.prepare(&object, resource: resource)
    }

    /// The stored PriorityClasses, as the Priority admission plugin reads them.
    func priorityClasses() async throws(APIStatus) -> [Admission.PriorityClassInfo] {
        guard let resource = BuiltinResources.resource(group: "scheduling.k8s.io", version: "v1", name: "priorityclasses") else {
            return []
        }
        let page = try await registry.list(resource, namespace: nil, Registry.ListOptions(), strategy: Strategy.of(resource))
        return page.items.compactMap { item in
            guard let name = item["metadata"]?["name"]?.string, let value = item["value"]?.int64 else { return nil }
            return Admission.PriorityClassInfo(
                name: name, value: value, globalDefault: item["globalDefault"]?.bool ?? false,
                preemptionPolicy: item["preemptionPolicy"]?.string ?? "PreemptLowerPriority")
        }
    }

    /// Metadata members whose type is wrong are a 400, as kube's decoder refuses them.
    func checkMetaTypes(_ object: JSON) throws(APIStatus) {
        if let labels = object["metadata"]?["labels"], !labels.isNull {
            guard case .object(let map) = labels, map.allSatisfy({ $0.value.string != nil || $0.value.isNull }) else {
                throw .badRequest("metadata.labels must be a map of strings")
            }
        }
    }

    /// Kubernetes' validation of the object's kind (a 422 with the field errors); `old` is the
    /// stored object on an update.
    func validate(_ object: JSON, resource: ResourceInfo, old: JSON?) throws(APIStatus) {
        let errors = Validation.validate(object, resource: resource, old: old)
        if !errors.isEmpty {
            throw .invalid(kind: resource.kind, group: resource.group, name: object["metadata"]?["name"]?.string ?? "", errors: errors)
        }
    }

    static func quoted(_ s: String) -> String {
        var out = ""
        GoJSON.appendString(s, to: &out)
        return out
    }

    // MARK: - Get and list

    package func get(_ resource: ResourceInfo, namespace: String?, name: String, subresource: String?) async throws(APIStatus) -> Answer {
        let object = try await registry.get(resource, namespace: namespace, name: name)
        return Answer(200, object)
    }

    package func list(_ resource: ResourceInfo, namespace: String?, options: Registry.ListOptions) async throws(APIStatus) -> Answer {
        let strategy = Strategy.of(resource)
        if let bad = options.fields.unsupported(in: strategy.supportedFields, resource: resource.name) { throw bad }
        let page = try await registry.list(resource, namespace: namespace, options, strategy: strategy)
        var meta = JSONObject()
        meta["resourceVersion"] = .string(String(page.revision))
        if let token = page.continueToken { meta["continue"] = .string(token) }
        if let remaining = page.remaining { meta["remainingItemCount"] = .number(JSONNumber(remaining)) }
        return Answer(200, Self.listObject(resource, items: page.items, metadata: meta))
    }

    /// A built-in kind's list (`PodList`...): its items carry no kind or apiVersion of their own
    /// (the list says them), as kube's typed lists are written.
    static func listObject(_ resource: ResourceInfo, items: [JSON], metadata: JSONObject) -> JSON {
        let bare: [JSON] = items.map { item in
            var item = item
            item["kind"] = nil
            item["apiVersion"] = nil
            return item
        }
        return .object(
            JSONObject([
                ("kind", .string(resource.kind + "List")), ("apiVersion", .string(resource.groupVersion)), ("metadata", .object(metadata)),
                ("items", .array(bare))
            ]))
    }

    // MARK: - Update

    package func update(
        _ resource: ResourceInfo, namespace: String?, name: String, subresource: String?, body: [UInt8], dryRun: Bool,
        fieldValidation: FieldValidation = .strict
    ) async throws(APIStatus) -> Answer {
        let strategy = Strategy.of(resource)
        let kind = subresource.flatMap { resource.subresource($0) }?.kind ?? resource.kind
        guard kind == resource.kind else {
            throw APIStatus(
                code: 405, reason: .methodNotAllowed, message: "the server does not allow this method on the requested resource")
        }
        _ = try decodeObject(body, kind: resource.kind, group: resource.group, version: resource.version)
        var (sent, warnings) = try Self.goDecode(body, resource: resource, validation: fieldValidation)
        let sentName = sent["metadata"]?["name"]?.string ?? ""
        if sentName.isEmpty {
            sent.set(.string(name), at: ["metadata", "name"])
        } else if sentName != name {
            throw .badRequest("the name of the object (\(sentName)) does not match the name on the URL (\(name))")
        }
        try checkNamespace(&sent, resource: resource, namespace: namespace)
        try checkMetaTypes(sent)
        Defaults.apply(to: &sent, resource: resource)
        let sentVersion = sent["metadata"]?["resourceVersion"]?.string ?? ""
        let sentObject = sent
        let result = try await registry.update(resource, namespace: namespace, name: name, dryRun: dryRun) {
            (current) throws(APIStatus) -> Registry.Change in
            guard let current else {
                guard strategy.allowsCreateOnUpdate, subresource == nil else {
                    throw .notFound(resource: resource.name, group: resource.group, name: name)
                }
                if resource.namespaced, let namespace { try await admitIntoNamespace(namespace) }
                var created = sentObject
                try await prepareForCreate(&created, resource: resource, strategy: strategy)
                try validate(created, resource: resource, old: nil)
                return .write(created)
            }
            let currentVersion = current["metadata"]?["resourceVersion"]?.string ?? ""
            if !sentVersion.isEmpty && sentVersion != currentVersion {
                throw .conflict(resource: resource.name, group: resource.group, name: name)
            }
            let next = try Self.merge(sent: sentObject, onto: current, resource: resource, subresource: subresource, strategy: strategy)
            try validate(next, resource: resource, old: current)
            if next["metadata"]?["deletionTimestamp"] != nil && (next["metadata"]?["finalizers"]?.array ?? []).isEmpty {
                return .delete(next)
            }
            return .write(next)
        }
        return Answer(result.created ? 201 : 200, result.object, warnings: warnings)
    }

    /// A create or update body decoded as kube's Go decoder reads it into the kind's struct and
    /// marshalled back as kube stores it: unknown fields dropped (and, under `validation`, warned
    /// about or refused), wrong types a 400 in kube's words, quantities and times canonical.
    static func goDecode(_ body: [UInt8], resource: ResourceInfo, validation: FieldValidation) throws(APIStatus)
        -> (object: JSON, warnings: [String])
    {
        do {
            return try GoJSONDecoder.normalize(bytes: body, apiVersion: resource.groupVersion, kind: resource.kind, validation: validation)
        } catch {
            throw error.status
        }
    }

    /// The object an update stores: what the client sent, with the fields the server owns taken
    /// from the current object; status from the current object on the main resource, and only
    /// status (everything else current) on the status subresource; generation bumped when
    /// anything outside metadata and status changed.
    static func merge(sent: JSON, onto current: JSON, resource: ResourceInfo, subresource: String?, strategy: Strategy) throws(APIStatus)
        -> JSON
    {
        let currentMeta = current["metadata"]?.object ?? JSONObject()
        let sentUID = sent["metadata"]?["uid"]?.string ?? ""
        let currentUID = currentMeta["uid"]?.string ?? ""
        if !sentUID.isEmpty && sentUID != currentUID {
            throw APIStatus(
                code: 409, reason: .conflict,
                message: "Precondition failed: UID in precondition: \(currentUID), UID in object meta: \(sentUID)",
                details: .init(name: currentMeta["name"]?.string, group: resource.group.isEmpty ? nil : resource.group, kind: resource.name)
            )
        }
        var next: JSON
        if subresource == "status" {
            next = current
            next["status"] = sent["status"]
        } else {
            next = sent
            if resource.subresource("status") != nil || resource.name == "namespaces" { next["status"] = current["status"] }
            if resource.name == "namespaces" {
                // spec.finalizers changes only through the finalize subresource.
                if subresource == "finalize" {
                    next = current
                    next.set(sent.value(at: ["spec", "finalizers"]), at: ["spec", "finalizers"])
                } else {
                    next.set(current.value(at: ["spec", "finalizers"]), at: ["spec", "finalizers"])
                }
            }
        }
        var meta = next["metadata"]?.object ?? JSONObject()
        for owned in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            meta[owned] = currentMeta[owned]
        }
        if subresource == "status" {
            // The status subresource changes status only (kube's ResetObjectMetaForStatus).
            meta = currentMeta
        } else if currentMeta["deletionTimestamp"] != nil {
            // An object being deleted takes no new finalizers (it may drop them).
            let had = Set((currentMeta["finalizers"]?.array ?? []).compactMap(\.string))
            let now = (meta["finalizers"]?.array ?? []).filter { had.contains($0.string ?? "") }
            meta["finalizers"] = now.isEmpty ? nil : .array(now)
        }
        meta["resourceVersion"] = currentMeta["resourceVersion"]
        next["metadata"] = .object(meta)
        if strategy.tracksGeneration && subresource == nil {
            var a = next
            var b = current
            a["metadata"] = nil
            a["status"] = nil
            b["metadata"] = nil
            b["status"] = nil
            if a != b {
                let generation = currentMeta["generation"]?.int64 ?? 0
                next.set(.number(JSONNumber(generation + 1)), at: ["metadata", "generation"])
            }
        }
        return next
    }

    // MARK: - Delete

    /// DeleteOptions as a body or query parameters give them.
    package struct DeleteOptions: Sendable {
        package var gracePeriodSeconds: Int64?
        package var propagationPolicy: String?
        package var orphanDependents: Bool?
        package var preconditionUID: String?
        package var preconditionResourceVersion: String?
        package var dryRun = false
        package init() {}

        /// Reads a DeleteOptions body (kind DeleteOptions, meta/v1 or the resource's group).
        package mutating func read(_ body: [UInt8]) throws(APIStatus) {
            guard !body.isEmpty else { return }
            let parsed: JSON
            do {
                parsed = try JSON.parse(body)
            } catch {
                throw .badRequest("couldn't get version/kind; json parse error: \(error.message)")
            }
            guard case .object = parsed else { throw .badRequest("DeleteOptions must be an object") }
            if let g = parsed["gracePeriodSeconds"], !g.isNull {
                guard let v = g.int64 else { throw .badRequest("gracePeriodSeconds must be an integer") }
                gracePeriodSeconds = v
            }
            if let p = parsed["propagationPolicy"]?.string { propagationPolicy = p }
            if let o = parsed["orphanDependents"]?.bool { orphanDependents = o }
            if let u = parsed["preconditions"]?["uid"]?.string { preconditionUID = u }
            if let r = parsed["preconditions"]?["resourceVersion"]?.string { preconditionResourceVersion = r }
            if let d = parsed["dryRun"]?.array, d.contains(.string("All")) { dryRun = true }
        }
    }

    package func delete(_ resource: ResourceInfo, namespace: String?, name: String, options: DeleteOptions) async throws(APIStatus)
        -> Answer
    {
        let strategy = Strategy.of(resource)
        if let policy = options.propagationPolicy, !["Foreground", "Background", "Orphan"].contains(policy) {
            throw .invalid(
                kind: "DeleteOptions", group: "", name: "",
                errors: [
                    FieldError(
                        .notSupported, field: "propagationPolicy", value: Self.quoted(policy),
                        detail: "supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")
                ])
        }
        if options.orphanDependents != nil && options.propagationPolicy != nil {
            throw .invalid(
                kind: "DeleteOptions", group: "", name: "",
                errors: [
                    FieldError(
                        .invalid, field: "propagationPolicy", value: Self.quoted(options.propagationPolicy!),
                        detail: "orphanDependents and deletionPropagation cannot be both set")
                ])
        }
        for _ in 0..<Registry.maxWriteAttempts {
            guard let (current, stored) = try await registry.read(resource, namespace, name) else {
                throw .notFound(resource: resource.name, group: resource.group, name: name)
            }
            var meta = current["metadata"]?.object ?? JSONObject()
            if let uid = options.preconditionUID, uid != meta["uid"]?.string ?? "" {
                throw APIStatus(
                    code: 409, reason: .conflict,
                    message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(meta["uid"]?.string ?? "")",
                    details: .init(name: name, group: resource.group.isEmpty ? nil : resource.group, kind: resource.name))
            }
            if let rv = options.preconditionResourceVersion, rv != meta["resourceVersion"]?.string ?? "" {
                throw APIStatus(
                    code: 409, reason: .conflict,
                    message:
                        "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(meta["resourceVersion"]?.string ?? "")",
                    details: .init(name: name, group: resource.group.isEmpty ? nil : resource.group, kind: resource.name))
            }
            var finalizers = (meta["finalizers"]?.array ?? []).compactMap(\.string)
            switch options.propagationPolicy ?? (options.orphanDependents == true ? "Orphan" : nil) {
            case "Foreground"?: if !finalizers.contains("foregroundDeletion") { finalizers.append("foregroundDeletion") }
            case "Orphan"?: if !finalizers.contains("orphan") { finalizers.append("orphan") }
            default: break
            }
            let graceSeconds = gracefulSeconds(resource, current, options)
            // Deleting a namespace with spec.finalizers marks it Terminating; its controller empties and finalizes it.
            let pendingSpec = resource.name == "namespaces" && !(current.value(at: ["spec", "finalizers"])?.array ?? []).isEmpty
            if !finalizers.isEmpty || graceSeconds > 0 || pendingSpec {
                // Deletion is pending: mark the object (once) and answer with it: 200, or 202 when the
                // client asked for orphanDependents=false (kube keeps that for old clients only).
                let pending = options.orphanDependents == false ? 202 : 200
                var next = current
                if meta["deletionTimestamp"] == nil {
                    meta["deletionTimestamp"] = .string(Self.timestamp(clock().addingTimeInterval(Double(graceSeconds))))
                    meta["deletionGracePeriodSeconds"] = .number(JSONNumber(graceSeconds))
                } else if let existing = meta["deletionGracePeriodSeconds"]?.int64, graceSeconds < existing {
                    // A shorter grace period may replace a longer one (kubelet's final grace-0 delete).
                    meta["deletionTimestamp"] = .string(Self.timestamp(clock().addingTimeInterval(Double(graceSeconds))))
                    meta["deletionGracePeriodSeconds"] = .number(JSONNumber(graceSeconds))
                }
                meta["finalizers"] = finalizers.isEmpty ? nil : .array(finalizers.map { .string($0) })
                next["metadata"] = .object(meta)
                if resource.name == "namespaces" { next.set("Terminating", at: ["status", "phase"]) }
                if options.dryRun { return Answer(pending, next) }
                if next == current { return Answer(pending, current) }
                let outcome: ConditionalOutcome
                do {
                    outcome = try await registry.store.update(
                        registry.key(resource, namespace, name), value: registry.encodeForStorage(next), ifModRevision: stored.modRevision)
                } catch {
                    throw Registry.storeFailure(error)
                }
                guard case .written(let revision) = outcome else { continue }
                next.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
                return Answer(pending, next)
            }
            if !options.dryRun {
                guard try await registry.delete(resource, namespace, name, ifModRevision: stored.modRevision) else { continue }
                if resource.group.isEmpty && resource.name == "services" { await services?.release(current) }
            }
            if strategy.returnsDeletedObject { return Answer(200, current) }
            return Answer(200, Self.successStatus(resource: resource, name: name, uid: meta["uid"]?.string ?? ""))
        }
        throw .conflict(resource: resource.name, group: resource.group, name: name)
    }

    /// The grace period a delete waits: pods bound to a node wait for their node agent (the
    /// request's gracePeriodSeconds, else the pod's terminationGracePeriodSeconds, else 30 s); all
    /// else goes at once.
    func gracefulSeconds(_ resource: ResourceInfo, _ object: JSON, _ options: DeleteOptions) -> Int64 {
        guard resource.name == "pods", resource.group.isEmpty else { return 0 }
        guard let node = object["spec"]?["nodeName"]?.string, !node.isEmpty else { return 0 }
        // A pod that has finished (or never started) needs no grace.
        if let phase = object["status"]?["phase"]?.string, phase == "Succeeded" || phase == "Failed" { return 0 }
        let requested = options.gracePeriodSeconds ?? object["spec"]?["terminationGracePeriodSeconds"]?.int64 ?? 30
        return max(requested, 0)
    }

    /// The Status a delete answers with for resources that do not return the object.
    static func successStatus(resource: ResourceInfo, name: String, uid: String) -> JSON {
        var details = JSONObject()
        details["name"] = .string(name)
        if !resource.group.isEmpty { details["group"] = .string(resource.group) }
        details["kind"] = .string(resource.name)
        details["uid"] = .string(uid)
        return .object(
            JSONObject([
                ("kind", "Status"), ("apiVersion", "v1"), ("metadata", .object(JSONObject())), ("status", "Success"),
                ("details", .object(details))
            ]))
    }

    // MARK: - Delete collection

    package func deleteCollection(_ resource: ResourceInfo, namespace: String?, listOptions: Registry.ListOptions, options: DeleteOptions)
        async throws(APIStatus) -> Answer
    {
        var all = listOptions
        all.limit = 0
        let page = try await registry.list(resource, namespace: namespace, all, strategy: Strategy.of(resource))
        var deleted: [JSON] = []
        for item in page.items {
            let name = item["metadata"]?["name"]?.string ?? ""
            let itemNamespace = item["metadata"]?["namespace"]?.string
            let outcome = await APIServer.capture { () throws(APIStatus) in
                try await delete(resource, namespace: itemNamespace, name: name, options: options)
            }
            switch outcome {
            case .success(let answer): deleted.append(answer.body["kind"]?.string == "Status" ? item : answer.body)
            case .failure(let status) where status.code == 404: continue  // gone meanwhile
            case .failure(let status): throw status
            }
        }
        return Answer(
            200, Self.listObject(resource, items: deleted, metadata: JSONObject([("resourceVersion", .string(String(page.revision)))])))
    }
}

// MARK: - Patch and scale

extension Handlers {
    /// The patch formats, by Content-Type.
    package enum PatchType: String, Sendable {
        case json = "application/json-patch+json"
        case merge = "application/merge-patch+json"
        case strategic = "application/strategic-merge-patch+json"

        package init(contentType: String?) throws(APIStatus) {
            let type = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard let known = PatchType(rawValue: type) else {
                throw APIStatus(
                    code: 415, reason: .unsupportedMediaType,
                    message:
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
                        + "application/merge-patch+json, application/strategic-merge-patch+json")
            }
            self = known
        }
    }

    /// Applies `patch` to `object` (whose schema is `definition`).
    static func apply(_ type: PatchType, _ body: [UInt8], to object: JSON, definition: String?) throws(APIStatus) -> JSON {
        let patch: JSON
        do {
            patch = try JSON.parse(body)
        } catch {
            throw .badRequest("error decoding patch: \(error.message)")
        }
        if type == .json, case .array(let operations) = patch, operations.count > Patch.maxJSONPatchOperations {
            throw .requestEntityTooLarge(
                "The allowed maximum operations in a JSON patch is \(Patch.maxJSONPatchOperations), got \(operations.count)")
        }
        do throws(PatchError) {
            switch type {
            case .json:
                do throws(PatchError) {
                    return try Patch.jsonPatch(object, with: patch)
                } catch {
                    // The patch's JSON shape is a 400; an operation that cannot apply is kube's generic 422,
                    // without the json-patch text (handlers/patch.go's NewGenericServerResponse).
                    if error.message.hasPrefix("json: cannot unmarshal") { throw error }
                    throw PatchError(Self.jsonPatchRejected)
                }
            case .merge:
                guard case .object = patch else {
                    throw PatchError(
                        "json: cannot unmarshal \(patch.kindName) into Go value of type map[string]interface {}", malformed: true)
                }
                return Patch.mergePatch(object, with: patch)
            case .strategic: return try Patch.strategicMerge(object, with: patch, definition: definition)
            }
        } catch {
            if error.malformed { throw .badRequest(error.message) }
            if error.message == Self.jsonPatchRejected {
                throw APIStatus(code: 422, reason: .invalid, message: error.message, details: .init())
            }
            throw APIStatus(code: 422, reason: .invalid, message: error.message)
        }
    }

    /// kube's message for a JSON patch whose operations do not apply.
    static let jsonPatchRejected = "the server rejected our request due to an error in our request"

    /// Resources with a scale subresource, and where their replica counts and selector live.
    static func scaleSelector(_ object: JSON, resource: ResourceInfo) -> String {
        if resource.name == "replicationcontrollers" {
            let map = object["spec"]?["selector"]?.object ?? JSONObject()
            return map.map { "\($0.key)=\($0.value.string ?? "")" }.sorted().joined(separator: ",")
        }
        guard let selector = object["spec"]?["selector"] else { return "" }
        var parts: [String] = []
        for (k, v) in selector["matchLabels"]?.object ?? JSONObject() { parts.append("\(k)=\(v.string ?? "")") }
        parts.sort()
        for e in selector["matchExpressions"]?.array ?? [] {
            let key = e["key"]?.string ?? ""
            let values = (e["values"]?.array ?? []).compactMap(\.string).sorted().joined(separator: ",")
            switch e["operator"]?.string ?? "" {
            case "In": parts.append("\(key) in (\(values))")
            case "NotIn": parts.append("\(key) notin (\(values))")
            case "Exists": parts.append(key)
            case "DoesNotExist": parts.append("!\(key)")
            default: break
            }
        }
        return parts.joined(separator: ",")
    }

    /// The autoscaling/v1 Scale of an object.
    static func scale(of object: JSON, resource: ResourceInfo) -> JSON {
        var meta = JSONObject()
        for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let v = object["metadata"]?[key] { meta[key] = v }
        }
        let specReplicas = object["spec"]?["replicas"]?.int64 ?? 1
        var status = JSONObject([("replicas", .number(JSONNumber(object["status"]?["replicas"]?.int64 ?? 0)))])
        let selector = scaleSelector(object, resource: resource)
        if !selector.isEmpty { status["selector"] = .string(selector) }
        return .object(
            JSONObject([
                ("kind", "Scale"), ("apiVersion", "autoscaling/v1"), ("metadata", .object(meta)),
                ("spec", .object(JSONObject([("replicas", .number(JSONNumber(specReplicas)))]))), ("status", .object(status))
            ]))
    }

    /// GET of a subresource that has its own kind (scale); other subresources read the object.
    package func getSubresource(_ resource: ResourceInfo, namespace: String?, name: String, subresource: String) async throws(APIStatus)
        -> Answer
    {
        let object = try await registry.get(resource, namespace: namespace, name: name)
        if subresource == "scale" { return Answer(200, Self.scale(of: object, resource: resource)) }
        return Answer(200, object)
    }

    /// PATCH of the object, its status, or its scale.
    package func patch(
        _ resource: ResourceInfo, namespace: String?, name: String, subresource: String?, type: PatchType, body: [UInt8], dryRun: Bool,
        fieldValidation: FieldValidation = .strict
    ) async throws(APIStatus) -> Answer {
        let strategy = Strategy.of(resource)
        var warned: [String] = []
        let result = try await registry.update(resource, namespace: namespace, name: name, dryRun: dryRun) {
            (current) throws(APIStatus) -> Registry.Change in
            guard let current else { throw .notFound(resource: resource.name, group: resource.group, name: name) }
            let next: JSON
            if subresource == "scale" {
                let patched = try Self.apply(
                    type, body, to: Self.scale(of: current, resource: resource), definition: "io.k8s.api.autoscaling.v1.Scale")
                next = try Self.applyScale(patched, to: current, resource: resource, strategy: strategy)
            } else {
                var patched = try Self.apply(type, body, to: current, definition: resource.definition)
                guard case .object = patched else { throw .badRequest("the patched object is not an object") }
                try Self.checkPatchedIdentity(&patched, current: current, resource: resource)
                try checkMetaTypes(patched)
                do throws(GoDecodeError) {
                    let decoded = try GoJSONDecoder.normalize(
                        patched, apiVersion: resource.groupVersion, kind: resource.kind, validation: fieldValidation)
                    patched = decoded.object
                    warned = decoded.warnings
                } catch {
                    throw error.status
                }
                Defaults.apply(to: &patched, resource: resource)
                next = try Self.merge(sent: patched, onto: current, resource: resource, subresource: subresource, strategy: strategy)
            }
            try validate(next, resource: resource, old: current)
            if next["metadata"]?["deletionTimestamp"] != nil && (next["metadata"]?["finalizers"]?.array ?? []).isEmpty {
                return .delete(next)
            }
            return .write(next)
        }
        if subresource == "scale" { return Answer(200, Self.scale(of: result.object, resource: resource)) }
        return Answer(200, result.object, warnings: warned)
    }

    /// PUT of a Scale: its spec.replicas onto the object.
    package func updateScale(_ resource: ResourceInfo, namespace: String?, name: String, body: [UInt8], dryRun: Bool)
        async throws(APIStatus)
        -> Answer
    {
        let strategy = Strategy.of(resource)
        let sent = try decodeObject(body, kind: "Scale", group: "autoscaling", version: "v1")
        let result = try await registry.update(resource, namespace: namespace, name: name, dryRun: dryRun) {
            (current) throws(APIStatus) -> Registry.Change in
            guard let current else { throw .notFound(resource: resource.name, group: resource.group, name: name) }
            return .write(try Self.applyScale(sent, to: current, resource: resource, strategy: strategy))
        }
        return Answer(200, Self.scale(of: result.object, resource: resource))
    }

    static func applyScale(_ scale: JSON, to current: JSON, resource: ResourceInfo, strategy: Strategy) throws(APIStatus) -> JSON {
        let sentVersion = scale["metadata"]?["resourceVersion"]?.string ?? ""
        if !sentVersion.isEmpty && sentVersion != current["metadata"]?["resourceVersion"]?.string {
            throw .conflict(resource: resource.name, group: resource.group, name: current["metadata"]?["name"]?.string ?? "")
        }
        let name = current["metadata"]?["name"]?.string ?? ""
        guard let replicas = scale["spec"]?["replicas"]?.int64 else {
            throw .invalid(
                kind: "Scale", group: "autoscaling", name: name,
                errors: [FieldError(.required, field: "spec.replicas", value: nil, detail: "")])
        }
        if replicas < 0 || replicas > Int64(Int32.max) {
            throw .invalid(
                kind: "Scale", group: "autoscaling", name: name,
                errors: [
                    FieldError(.invalid, field: "spec.replicas", value: String(replicas), detail: "must be greater than or equal to 0")
                ])
        }
        var next = current
        next.set(.number(JSONNumber(replicas)), at: ["spec", "replicas"])
        if strategy.tracksGeneration && next != current {
            let generation = current["metadata"]?["generation"]?.int64 ?? 0
            next.set(.number(JSONNumber(generation + 1)), at: ["metadata", "generation"])
        }
        return next
    }

    /// A patch may not change what identifies the object.
    static func checkPatchedIdentity(_ patched: inout JSON, current: JSON, resource: ResourceInfo) throws(APIStatus) {
        if patched["kind"] != current["kind"] || patched["apiVersion"] != current["apiVersion"] {
            throw .badRequest("the patch may not change the kind or apiVersion of the object")
        }
        let name = current["metadata"]?["name"]?.string ?? ""
        if patched["metadata"]?["name"]?.string != name {
            throw .badRequest(
                "the name of the object (\(patched["metadata"]?["name"]?.string ?? "")) does not match the name on the URL (\(name))")
        }
        if patched["metadata"]?["namespace"] != current["metadata"]?["namespace"] {
            throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        let sentVersion = patched["metadata"]?["resourceVersion"]?.string ?? ""
        let currentVersion = current["metadata"]?["resourceVersion"]?.string ?? ""
        if !sentVersion.isEmpty && sentVersion != currentVersion {
            throw .conflict(resource: resource.name, group: resource.group, name: name)
        }
    }
}
