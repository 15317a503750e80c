package import APIMachinery
package import EtcdClient
import Foundation

// Service cluster IPs and node ports, allocated as kube-apiserver 1.32 allocates them by default:
// a bitmap per range in the store (`<prefix>/ranges/serviceips`, `<prefix>/ranges/servicenodeports`,
// RangeAllocation objects whose `data` is the bitmap), changed only by compare-and-swap on the key's
// revision, so several apiservers sharing a store never hand out one address twice.

/// One bitmap range in the store.
package struct RangeAllocator: Sendable {
    /// What the range hands out: IPv4 addresses (offset 0 is the address after the network's) or ports.
    package enum Space: Sendable, Equatable {
        case ipv4(network: UInt32, size: Int)
        case ports(first: Int, size: Int)
    }

    package let store: EtcdClient
    package let key: [UInt8]
    package let space: Space
    /// The range as the RangeAllocation's `range` names it (`10.0.0.0/24`, `30000-32767`).
    package let rangeText: String
    /// How many compare-and-swap rounds a change may take when other writers race it.
    static let maxAttempts = 16

    /// The IPv4 range of `--service-cluster-ip-range`: its addresses but the network and broadcast ones.
    package static func serviceIPs(store: EtcdClient, prefix: String, range: String) throws -> RangeAllocator {
        let parts = range.split(separator: "/")
        guard parts.count == 2, let bits = Int(parts[1]), (1...30).contains(bits), let base = ipv4(String(parts[0])) else {
            throw APIServerError("--service-cluster-ip-range \(range): an IPv4 CIDR with a prefix of /30 or wider is needed")
        }
        let hostBits = 32 - bits
        let network = base & (UInt32.max << hostBits)
        // kube caps a range's bitmap; a /12 is the widest it takes.
        guard hostBits <= 20 else { throw APIServerError("--service-cluster-ip-range \(range): wider than /12") }
        return RangeAllocator(
            store: store, key: Array("\(prefix)/ranges/serviceips".utf8), space: .ipv4(network: network, size: (1 << hostBits) - 2),
            rangeText: "\(format(network))/\(bits)")
    }

    /// The port range of `--service-node-port-range` (`30000-32767`).
    package static func nodePorts(store: EtcdClient, prefix: String, range: String) throws -> RangeAllocator {
        let parts = range.split(separator: "-")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), 1 <= low, low <= high, high <= 65535 else {
            throw APIServerError("--service-node-port-range \(range): give FIRST-LAST, ports from 1 to 65535")
        }
        return RangeAllocator(
            store: store, key: Array("\(prefix)/ranges/servicenodeports".utf8), space: .ports(first: low, size: high - low + 1),
            rangeText: "\(low)-\(high)")
    }

    package var size: Int {
        switch space {
        case .ipv4(_, let size), .ports(_, let size): size
        }
    }

    /// The offset of an address or port in the range, nil when outside it.
    package func offset(of item: String) -> Int? {
        switch space {
        case .ipv4(let network, let size):
            guard let ip = Self.ipv4(item), ip > network else { return nil }
            let offset = Int(ip - network) - 1
            return offset < size ? offset : nil
        case .ports(let first, let size):
            guard let port = Int(item), port >= first, port < first + size else { return nil }
            return port - first
        }
    }

    /// The address or port at an offset.
    package func item(at offset: Int) -> String {
        switch space {
        case .ipv4(let network, _): Self.format(network + UInt32(offset) + 1)
        case .ports(let first, _): String(first + offset)
        }
    }

    /// Why an allocation failed, in kube's words (the field error's detail).
    package enum Failure: Error, Sendable {
        case notInRange
        case alreadyAllocated
        case full
        case store(APIStatus)
    }

    /// Takes `wanted` (nil: any free one, at random) and returns it; with `dryRun` nothing is written.
    package func allocate(_ wanted: String?, dryRun: Bool) async throws(Failure) -> String {
        var chosen = ""
        try await change { (bits) throws(Failure) in
            if let wanted {
                guard let offset = offset(of: wanted) else { throw .notInRange }
                guard !bits.isSet(offset) else { throw .alreadyAllocated }
                bits.set(offset)
                chosen = wanted
                return !dryRun
            }
            guard let offset = bits.randomClear(size: size) else { throw .full }
            bits.set(offset)
            chosen = item(at: offset)
            return !dryRun
        }
        return chosen
    }

    /// Gives back what `allocate` took (a deleted service's, or one whose create failed).
    package func release(_ items: [String]) async {
        let offsets = items.compactMap(offset(of:))
        guard !offsets.isEmpty else { return }
        _ = try? await change { (bits) throws(Failure) in
            for o in offsets { bits.clear(o) }
            return true
        }
    }

    /// Reads the bitmap, lets `body` change it (true: write it), and writes it back conditioned on
    /// the revision read, again from the top when another writer got there first.
    func change(_ body: (inout Bitmap) throws(Failure) -> Bool) async throws(Failure) {
        for _ in 0..<Self.maxAttempts {
            let current: StoredValue?
            do {
                current = try await store.range(from: key).values.first
            } catch {
                throw .store(Registry.storeFailure(error))
            }
            var bits = Bitmap(stored: current.flatMap { try? JSON.parse($0.value) })
            guard try body(&bits) else { return }
            let value = document(bits).serialized() + [0x0A]
            let outcome: ConditionalOutcome
            do {
                if let current {
                    outcome = try await store.update(key, value: value, ifModRevision: current.modRevision)
                } else {
                    outcome = try await store.create(key, value: value)
                }
            } catch {
                throw .store(Registry.storeFailure(error))
            }
            if case .written = outcome { return }
        }
        throw .store(APIStatus(code: 500, reason: .internalError, message: "the \(rangeText) allocation kept changing under this write"))
    }

    /// The RangeAllocation object stored for the bitmap.
    func document(_ bits: Bitmap) -> JSON {
        .object(
            JSONObject([
                ("kind", "RangeAllocation"), ("apiVersion", "v1"), ("metadata", .object(JSONObject([("creationTimestamp", .null)]))),
                ("range", .string(rangeText)), ("data", .string(Data(bits.bigEndianBytes).base64EncodedString()))
            ]))
    }

    /// An IPv4 address as a number (CertDir's parser), nil for anything else.
    static func ipv4(_ text: String) -> UInt32? {
        guard let bytes = IPAddress.parse(text), bytes.count == 4 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func format(_ ip: UInt32) -> String { IPAddress.format([24, 16, 8, 0].map { UInt8(truncatingIfNeeded: ip >> $0) }) }
}

/// A range's bitmap: bit `i` set when offset `i` is taken. Stored as kube stores it, the bytes of
/// the big integer with those bits, most significant first.
struct Bitmap {
    var words: [UInt8] = []

    init(stored: JSON?) {
        guard let text = stored?["data"]?.string, let data = Data(base64Encoded: text) else { return }
        words = Array(data.reversed())
    }

    func isSet(_ i: Int) -> Bool { i / 8 < words.count && words[i / 8] & (1 << (i % 8)) != 0 }

    mutating func set(_ i: Int) {
        while words.count <= i / 8 { words.append(0) }
        words[i / 8] |= 1 << (i % 8)
    }

    mutating func clear(_ i: Int) {
        guard i / 8 < words.count else { return }
        words[i / 8] &= ~(1 << (i % 8))
        while words.last == 0 { words.removeLast() }
    }

    /// A free offset below `size`, scanning from a random start (kube's random-scan strategy).
    func randomClear(size: Int) -> Int? {
        guard size > 0 else { return nil }
        let start = Int.random(in: 0..<size)
        for step in 0..<size {
            let i = (start + step) % size
            if !isSet(i) { return i }
        }
        return nil
    }

    var bigEndianBytes: [UInt8] { Array(words.reversed()) }
}

/// The cluster IP and node ports a Service gets on create, as kube's service REST assigns them.
package struct ServiceAllocator: Sendable {
    package let ips: RangeAllocator
    package let ports: RangeAllocator

    /// Fills `spec.clusterIP`/`clusterIPs` (unless headless `None` or ExternalName) and the
    /// `nodePort` of each port of a NodePort or LoadBalancer service; returns what it took, so a
    /// failed create can give it back. A taken or out-of-range request is kube's 422.
    package func allocate(_ service: inout JSON, dryRun: Bool) async throws(APIStatus) -> [String] {
        let name = service["metadata"]?["name"]?.string ?? ""
        let type = service["spec"]?["type"]?.string ?? "ClusterIP"
        var takenIPs: [String] = []
        var takenPorts: [String] = []
        func fail(_ field: String, _ value: String, shown: String, _ failure: RangeAllocator.Failure, what: String, range: RangeAllocator)
            async -> APIStatus
        {
            await ips.release(takenIPs)
            await ports.release(takenPorts)
            let detail: String
            switch failure {
            case .notInRange:
                detail =
                    what == "IP"
                    ? "failed to allocate IP \(value): provided IP is not in the valid range. The range of valid IPs is \(range.rangeText)"
                    : "provided port is not in the valid range. The range of valid ports is \(range.rangeText)"
            case .alreadyAllocated:
                detail =
                    what == "IP" ? "failed to allocate IP \(value): provided IP is already allocated" : "provided port is already allocated"
            case .full:
                detail = what == "IP" ? "failed to allocate a serviceIP: range is full" : "range is full"
            case .store(let status): return status
            }
            return .invalid(
                kind: "Service", group: "", name: name, errors: [FieldError(.invalid, field: field, value: shown, detail: detail)])
        }
        if type != "ExternalName" {
            let wanted = service["spec"]?["clusterIP"]?.string ?? ""
            if wanted != "None" {
                do {
                    let ip = try await ips.allocate(wanted.isEmpty ? nil : wanted, dryRun: dryRun)
                    if !dryRun { takenIPs.append(ip) }
                    service.set(.string(ip), at: ["spec", "clusterIP"])
                    service.set([.string(ip)], at: ["spec", "clusterIPs"])
                } catch {
                    throw await fail("spec.clusterIPs", wanted, shown: "[]string{\"\(wanted)\"}", error, what: "IP", range: ips)
                }
            } else {
                service.set(["None"], at: ["spec", "clusterIPs"])
            }
        }
        if type == "NodePort" || type == "LoadBalancer", var list = service["spec"]?["ports"]?.array {
            for i in list.indices {
                let wanted = list[i]["nodePort"]?.int64.map(String.init)
                do {
                    let port = try await ports.allocate(wanted == "0" ? nil : wanted, dryRun: dryRun)
                    if !dryRun { takenPorts.append(port) }
                    list[i]["nodePort"] = .number(JSONNumber(Int64(port)!))
                } catch {
                    throw await fail("spec.ports[\(i)].nodePort", wanted ?? "0", shown: wanted ?? "0", error, what: "port", range: ports)
                }
            }
            service.set(.array(list), at: ["spec", "ports"])
        }
        return takenIPs + takenPorts
    }

    /// Gives back a service's cluster IPs and node ports (on delete, or a failed create).
    package func release(_ service: JSON) async {
        let ipList = (service["spec"]?["clusterIPs"]?.array ?? []).compactMap(\.string).filter { $0 != "None" }
        await ips.release(ipList.isEmpty ? (service["spec"]?["clusterIP"]?.string).map { [$0] } ?? [] : ipList)
        let nodePorts = (service["spec"]?["ports"]?.array ?? []).compactMap { $0["nodePort"]?.int64.map(String.init) }
        await ports.release(nodePorts)
    }

    /// Gives back what `allocate` returned.
    package func release(taken: [String]) async {
        await ips.release(taken.filter { $0.contains(".") })
        await ports.release(taken.filter { !$0.contains(".") })
    }
}
