/// An ordered map from key to the newest version of that key (which may be a tombstone), as a
/// B+tree whose nodes are shared copy-on-write. A copy of the tree is O(1); the apply loop
/// copies only the path it changes, and only when a reader still holds the old nodes. A read
/// view is therefore a plain copy of the tree value, never locked and never blocking a writer.
struct KeyTree: @unchecked Sendable {
    final class Node {
        /// Leaf: the entries, in key order.
        var items: [KeyVersion]
        /// Inner: the children; `separators[i]` is the smallest key of `children[i + 1]`.
        var children: [Node]
        var separators: [[UInt8]]
        let isLeaf: Bool

        init(leaf items: [KeyVersion]) {
            self.items = items
            self.children = []
            self.separators = []
            self.isLeaf = true
        }
        init(children: [Node], separators: [[UInt8]]) {
            self.items = []
            self.children = children
            self.separators = separators
            self.isLeaf = false
        }
        func copy() -> Node {
            isLeaf ? Node(leaf: items) : Node(children: children, separators: separators)
        }
        var width: Int { isLeaf ? items.count : children.count }

        /// Index of the first item whose key is >= `key`, and whether it is equal.
        func leafLowerBound(_ key: UnsafeRawBufferPointer) -> (Int, Bool) {
            var lo = 0
            var hi = items.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                let c = items[mid].withKey { compareBytes($0, key) }
                if c < 0 { lo = mid + 1 } else if c > 0 { hi = mid } else { return (mid, true) }
            }
            return (lo, false)
        }
        /// The child that holds `key`: the number of separators <= key.
        func childIndex(_ key: UnsafeRawBufferPointer) -> Int {
            var lo = 0
            var hi = separators.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if separators[mid].withUnsafeBytes({ compareBytes($0, key) }) <= 0 { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    static let maxWidth = 64
    static let minWidth = 16

    private(set) var root = Node(leaf: [])
    private(set) var count = 0

    func get(_ key: UnsafeRawBufferPointer) -> KeyVersion? {
        var node = root
        while !node.isLeaf { node = node.children[node.childIndex(key)] }
        let (i, found) = node.leafLowerBound(key)
        return found ? node.items[i] : nil
    }
    func get(_ key: [UInt8]) -> KeyVersion? { key.withUnsafeBytes { get($0) } }

    /// Sets the newest version of the key `head` belongs to, inserting the key if new.
    mutating func set(_ head: KeyVersion) {
        head.withKey { key in _ = update(key) { _ in head } }
    }

    /// Replaces the newest version of `key` with `make(current)` (current: nil if the key is
    /// new), in one descent; returns the version made.
    mutating func update(_ key: UnsafeRawBufferPointer, _ make: (KeyVersion?) -> KeyVersion) -> KeyVersion {
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
        let (split, inserted, made) = Self.set(&root, key: key, make: make)
        if inserted { count += 1 }
        if let (separator, right) = split {
            root = Node(children: [root, right], separators: [separator])
        }
        return made
    }

    private static func set(_ node: inout Node, key: UnsafeRawBufferPointer, make: (KeyVersion?) -> KeyVersion)
        -> (split: ([UInt8], Node)?, inserted: Bool, made: KeyVersion)
    {
        if node.isLeaf {
            let (i, found) = node.leafLowerBound(key)
            if found {
                let head = make(node.items[i])
                node.items[i] = head
                return (nil, false, head)
            }
            let head = make(nil)
            node.items.insert(head, at: i)
            guard node.items.count > maxWidth else { return (nil, true, head) }
            let mid = node.items.count / 2
            let right = Node(leaf: Array(node.items[mid...]))
            node.items.removeSubrange(mid...)
            return ((right.items[0].key, right), true, head)
        }
        let i = node.childIndex(key)
        if !isKnownUniquelyReferenced(&node.children[i]) { node.children[i] = node.children[i].copy() }
        let (split, inserted, made) = set(&node.children[i], key: key, make: make)
        guard let (separator, newChild) = split else { return (nil, inserted, made) }
        node.separators.insert(separator, at: i)
        node.children.insert(newChild, at: i + 1)
        guard node.children.count > maxWidth else { return (nil, inserted, made) }
        let mid = node.children.count / 2
        let promoted = node.separators[mid - 1]
        let right = Node(children: Array(node.children[mid...]), separators: Array(node.separators[mid...]))
        node.children.removeSubrange(mid...)
        node.separators.removeSubrange((mid - 1)...)
        return ((promoted, right), inserted, made)
    }

    /// Removes the key; returns whether it was present.
    @discardableResult
    mutating func remove(_ key: [UInt8]) -> Bool {
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
        let removed = key.withUnsafeBytes { Self.remove(&root, key: $0) }
        if removed { count -= 1 }
        while !root.isLeaf && root.children.count == 1 { root = root.children[0] }
        return removed
    }

    private static func remove(_ node: inout Node, key: UnsafeRawBufferPointer) -> Bool {
        if node.isLeaf {
            let (i, found) = node.leafLowerBound(key)
            if found { node.items.remove(at: i) }
            return found
        }
        let i = node.childIndex(key)
        if !isKnownUniquelyReferenced(&node.children[i]) { node.children[i] = node.children[i].copy() }
        guard remove(&node.children[i], key: key) else { return false }
        if node.children[i].width < minWidth { rebalance(&node, at: i) }
        return true
    }

    /// Merges an underfull child with a neighbour when the two fit in one node; drops it when empty.
    private static func rebalance(_ node: inout Node, at i: Int) {
        if node.children[i].width == 0 {
            node.children.remove(at: i)
            node.separators.remove(at: i == 0 ? 0 : i - 1)
            return
        }
        guard node.children.count > 1 else { return }
        let left = i > 0 ? i - 1 : i
        let right = left + 1
        guard node.children[left].width + node.children[right].width <= maxWidth else { return }
        if !isKnownUniquelyReferenced(&node.children[left]) { node.children[left] = node.children[left].copy() }
        let r = node.children[right]
        let l = node.children[left]
        if l.isLeaf {
            l.items.append(contentsOf: r.items)
        } else {
            l.separators.append(node.separators[left])
            l.separators.append(contentsOf: r.separators)
            l.children.append(contentsOf: r.children)
        }
        node.children.remove(at: right)
        node.separators.remove(at: left)
    }

    /// Visits entries with key >= `from`, in key order, until `body` returns false.
    func forEach(from key: [UInt8], _ body: (KeyVersion) -> Bool) {
        _ = key.withUnsafeBytes { Self.visit(root, from: $0, body) }
    }

    private static func visit(_ node: Node, from key: UnsafeRawBufferPointer, _ body: (KeyVersion) -> Bool) -> Bool {
        if node.isLeaf {
            var i = node.leafLowerBound(key).0
            while i < node.items.count {
                if !body(node.items[i]) { return false }
                i += 1
            }
            return true
        }
        var i = node.childIndex(key)
        if !visit(node.children[i], from: key, body) { return false }
        i += 1
        while i < node.children.count {
            if !visitAll(node.children[i], body) { return false }
            i += 1
        }
        return true
    }

    private static func visitAll(_ node: Node, _ body: (KeyVersion) -> Bool) -> Bool {
        if node.isLeaf {
            for item in node.items where !body(item) { return false }
            return true
        }
        for child in node.children where !visitAll(child, body) { return false }
        return true
    }

    /// Checks the tree's invariants (tests): order, separators, widths, count.
    func validate() -> String? {
        var seen = 0
        var last: [UInt8]? = nil
        var problem: String? = nil
        func walk(_ node: Node, low: [UInt8]?, high: [UInt8]?, depth: Int, leafDepth: inout Int?) {
            if node.isLeaf {
                if let d = leafDepth, d != depth { problem = "leaves at depths \(d) and \(depth)" }
                leafDepth = depth
                for item in node.items {
                    let k = item.key
                    if let l = last, !bytesLess(l, k) { problem = "keys out of order" }
                    if let lo = low, bytesLess(k, lo) { problem = "key below its separator" }
                    if let hi = high, !bytesLess(k, hi) { problem = "key at or above the next separator" }
                    last = k
                    seen += 1
                }
                return
            }
            if node.separators.count != node.children.count - 1 { problem = "separator count" }
            for (i, child) in node.children.enumerated() {
                walk(
                    child, low: i == 0 ? low : node.separators[i - 1],
                    high: i == node.separators.count ? high : node.separators[i], depth: depth + 1, leafDepth: &leafDepth)
            }
        }
        var leafDepth: Int? = nil
        walk(root, low: nil, high: nil, depth: 0, leafDepth: &leafDepth)
        if seen != count { problem = "count \(count) but \(seen) entries" }
        return problem
    }
}
