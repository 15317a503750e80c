import Foundation

#if canImport(Glibc)
import Base
import Glibc
#endif

/// Gives the memory the allocator holds free back to the system after work that frees much at
/// once: a compaction drops history, and a snapshot's encoded image (the whole key space) is
/// freed once written. glibc returns only the top of a heap by itself; free pages in the middle
/// of its heaps stay resident until `malloc_trim` (measured, one member of a release build after
/// etcd's benchmark workloads, 1M keys of 256 B loaded and compacted: 517 MiB resident without,
/// 455 MiB with). Trims run on a thread of their own, one at a time, a second after they are
/// asked for; asks that come while one runs make one more run after it (it may have missed what
/// they freed), however many they are.
public final class MemoryTrimmer: Sendable {
    /// The process's trimmer: glibc's `malloc_trim(0)` (nothing where there is no glibc).
    public static let shared = MemoryTrimmer {
        #if canImport(Glibc)
        // <malloc.h> is not in Swift's Glibc module: found at run time.
        if let trim = mallocTrim { _ = trim(0) }
        #endif
    }

    #if canImport(Glibc)
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
    #endif

    private let trim: @Sendable () -> Void
    private let delay: Double
    private let state = Locked((running: false, again: false))

    /// `delay`: seconds between an ask and its trim (what a compaction frees goes once the
    /// views still holding the old versions are let go; asks within it share one trim).
    public init(delay: Double = 1, trim: @escaping @Sendable () -> Void) {
        self.delay = delay
        self.trim = trim
    }

    /// Asks for a trim; returns at once.
    public func trimSoon() {
        let start = state.withLock { s -> Bool in
            if s.running {
                s.again = true
                return false
            }
            s.running = true
            return true
        }
        guard start else { return }
        Thread.detachNewThread { [self] in
            while true {
                if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                trim()
                let more = state.withLock { s -> Bool in
                    if s.again {
                        s.again = false
                        return true
                    }
                    s.running = false
                    return false
                }
                if !more { return }
            }
        }
    }

    /// Whether a trim is running or due (for tests).
    public var isBusy: Bool { state.withLock { $0.running } }
}
