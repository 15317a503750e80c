import Foundation

/// Loopback ports for the servers a test starts as processes of their own.
///
/// A port found by binding to port 0 and closing again comes from the kernel's ephemeral range, and
/// so does every port another test binds to port 0 or an outgoing connection takes as its local
/// end; between the choice and the member's own bind, one of those can take it ("Address already in
/// use"). These ports come from below the ephemeral range instead, where the kernel hands out
/// nothing by itself, and every process that asks records what it took in one ledger file, under an
/// exclusive lock, so two test processes never get the same port within `ledgerLifetime`.
public enum TestPorts {
    /// Where the ledger lives: one line per port handed out, `port seconds-since-1970`.
    public static let ledgerPath = (NSTemporaryDirectory() as NSString).appendingPathComponent("capstan-test-ports")
    /// How long a port handed out stays reserved (longer than any one test keeps a server).
    public static let ledgerLifetime: Double = 3600
    /// The lowest port handed out; the highest is just below the kernel's ephemeral range.
    public static let lowestPort = 20_000

    /// `n` distinct ports that nothing listens on now and that no test process was given within
    /// `ledgerLifetime`. Falls back to the kernel's choice (bound to port 0, then released) when
    /// the range below the ephemeral ports is too small or the ledger cannot be opened.
    public static func reserve(_ n: Int) -> [Int] {
        let highest = ephemeralRangeStart() - 1
        guard highest - lowestPort >= 10 * n else { return kernelChosen(n) }
        let fd = open(ledgerPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { return kernelChosen(n) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { return kernelChosen(n) }
        defer { flock(fd, LOCK_UN) }

        let now = Date().timeIntervalSince1970
        var ledger = readLedger(fd).filter { now - $0.value < ledgerLifetime }
        let span = highest - lowestPort + 1
        let start = Int.random(in: 0..<span)
        var chosen: [Int] = []
        for step in 0..<span where chosen.count < n {
            let port = lowestPort + (start + step) % span
            if ledger[port] == nil && isFree(port) { chosen.append(port) }
        }
        guard chosen.count == n else { return kernelChosen(n) }
        for port in chosen { ledger[port] = now }
        writeLedger(fd, ledger)
        return chosen
    }

    /// The first port of the kernel's ephemeral range (32768 when it cannot be read).
    static func ephemeralRangeStart() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
            let first = text.split(whereSeparator: \.isWhitespace).first, let low = Int(first)
        else { return 32768 }
        return low
    }

    static func readLedger(_ fd: Int32) -> [Int: TimeInterval] {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        lseek(fd, 0, SEEK_SET)
        while true {
            let got = read(fd, &buffer, buffer.count)
            if got <= 0 { break }
            data.append(contentsOf: buffer[0..<got])
        }
        var ledger: [Int: TimeInterval] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let port = Int(fields[0]), let when = TimeInterval(fields[1]) { ledger[port] = when }
        }
        return ledger
    }

    static func writeLedger(_ fd: Int32, _ ledger: [Int: TimeInterval]) {
        let text = ledger.sorted { $0.key < $1.key }.map { "\($0.key) \(Int($0.value))\n" }.joined()
        let bytes = Array(text.utf8)
        lseek(fd, 0, SEEK_SET)
        _ = ftruncate(fd, 0)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            written += n
        }
    }

    /// Whether a listener can bind 127.0.0.1:`port` now (tried without SO_REUSEADDR, so a port
    /// still in TIME_WAIT counts as taken).
    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = loopback(port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Ports the kernel says are free right now (bound to port 0, then released).
    static func kernelChosen(_ n: Int) -> [Int] {
        var fds: [Int32] = []
        var ports: [Int] = []
        for _ in 0..<n {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = loopback(0)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
            fds.append(fd)
        }
        for fd in fds { close(fd) }
        return ports
    }

    static func loopback(_ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return addr
    }
}
