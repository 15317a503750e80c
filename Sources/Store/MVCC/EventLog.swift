/// Every version written at or after the compaction revision, in revision order: the history
/// watchers catch up from. Full chunks are immutable and shared between the apply loop and read
/// views; only the open tail is copied, at most once per published view.
struct EventLog: @unchecked Sendable {
    final class Chunk {
        let items: [KeyVersion]
        init(_ items: [KeyVersion]) { self.items = items }
    }
    static let chunkSize = 256

    private var chunks: [Chunk] = []
    /// Items of `chunks[0]` already dropped by compaction.
    private var firstOffset = 0
    private var tail: [KeyVersion] = []

    var count: Int { chunks.count * Self.chunkSize - firstOffset + tail.count }

    mutating func append(_ v: KeyVersion) {
        tail.append(v)
        if tail.count == Self.chunkSize {
            chunks.append(Chunk(tail))
            tail = []
            tail.reserveCapacity(Self.chunkSize)
        }
    }

    @inline(__always) private func item(_ i: Int) -> KeyVersion {
        let j = i + firstOffset
        let c = j / Self.chunkSize
        return c < chunks.count ? chunks[c].items[j % Self.chunkSize] : tail[j - chunks.count * Self.chunkSize]
    }

    /// Position of the first event with main revision >= `main`.
    func position(ofFirstAtOrAfter main: Int64) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if item(mid).modMain < main { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Visits events from main revision `main` on, in order, until `body` returns false.
    func forEach(from main: Int64, _ body: (KeyVersion) -> Bool) {
        var i = position(ofFirstAtOrAfter: main)
        let n = count
        while i < n {
            if !body(item(i)) { return }
            i += 1
        }
    }

    /// Drops events below main revision `main`.
    mutating func dropBefore(_ main: Int64) {
        let n = position(ofFirstAtOrAfter: main)
        guard n > 0 else { return }
        let total = firstOffset + n
        let whole = min(total / Self.chunkSize, chunks.count)
        chunks.removeFirst(whole)
        firstOffset = total - whole * Self.chunkSize
        if chunks.isEmpty && firstOffset > 0 {
            tail.removeFirst(firstOffset)
            firstOffset = 0
        }
    }
}
