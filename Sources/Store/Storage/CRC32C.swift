import CCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): with the CPU's CRC-32C instruction
/// where it has one (x86-64 SSE4.2), else with slicing-by-8 tables (eight bytes per step).
public enum CRC32C {
    /// Whether the hardware instruction is used.
    public static let usesHardware = capstan_crc32c_hardware_available() == 1

    /// The CRC of `bytes`, continuing from `crc` (the CRC of what came before; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard usesHardware, let base = bytes.baseAddress else { return software(bytes, continuing: crc) }
        return capstan_crc32c_hardware(crc, base, bytes.count)
    }

    /// `tables[k * 256 + b]` is the CRC of byte `b` followed by `k` zero bytes (k = 0..<8).
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[byte] = crc
        }
        for k in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The table-driven CRC, for CPUs without the instruction (and to check it in tests).
    public static func software(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var state = ~crc
        let count = bytes.count
        var i = 0
        tables.withUnsafeBufferPointer { t in
            while i + 8 <= count {
                let low = state ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian
                let high = bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                state =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                i += 8
            }
            while i < count {
                state = (state >> 8) ^ t[Int((state ^ UInt32(bytes[i])) & 0xFF)]
                i += 1
            }
        }
        return ~state
    }

    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }
}
