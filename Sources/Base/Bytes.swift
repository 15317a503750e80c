/// Where a binary format could not be read, and what was expected there.
public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The byte offset from the start of what was being read.
    public var offset: Int
    public var what: String

    public init(offset: Int, what: String) {
        self.offset = offset
        self.what = what
    }

    /// A value that was read whole but is not one the format allows.
    public static func invalid(_ what: String, offset: Int) -> DecodeError { DecodeError(offset: offset, what: "invalid \(what)") }

    public var description: String { "\(what) at byte \(offset)" }
}

/// The one reader of the house's binary formats (the WAL's records, snapshot files, log entry
/// payloads, peer frames, state-machine images): little-endian integers, byte strings as a
/// u32 length and the bytes, booleans as one byte 0 or 1. Every read checks the length left, so a
/// damaged input throws with the offset where it went wrong, never reads past the end.
///
/// Every method is `@inlinable`: a generic read called from another module without its body runs
/// unspecialized, through witness tables (profiled under txn-put before it was: 2.5 % of the
/// members' CPU in `ByteReader.int` and as much again in `FixedWidthInteger`'s witnesses; see
/// benchmarks.md, "The house issue").
public struct ByteReader {
    @usableFromInline let bytes: ArraySlice<UInt8>
    @usableFromInline var position: Int

    @inlinable
    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    @inlinable
    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.init(bytes[...])
        position = offset
    }

    /// Bytes read so far, from the start of the input.
    @inlinable public var offset: Int { position - bytes.startIndex }
    /// Bytes left to read.
    @inlinable public var remaining: Int { bytes.endIndex - position }
    @inlinable public var isAtEnd: Bool { position == bytes.endIndex }

    @usableFromInline func truncated(_ what: String) -> DecodeError { DecodeError(offset: offset, what: "truncated \(what)") }

    /// The next `count` bytes.
    @inlinable
    public mutating func take(_ count: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw truncated("bytes (\(count) wanted, \(remaining) left)") }
        defer { position += count }
        return bytes[position..<position + count]
    }

    @inlinable
    public mutating func u8() throws(DecodeError) -> UInt8 {
        guard position < bytes.endIndex else { throw truncated("byte") }
        defer { position += 1 }
        return bytes[position]
    }

    /// One byte that must be 0 or 1.
    @inlinable
    public mutating func bool() throws(DecodeError) -> Bool {
        let at = offset
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw DecodeError(offset: at, what: "boolean")
        }
    }

    /// A little-endian integer of `T`'s width.
    @inlinable
    public mutating func int<T: FixedWidthInteger>(_: T.Type = T.self) throws(DecodeError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated("\(size)-byte integer") }
        var value: T = 0
        for i in 0..<size { value |= T(truncatingIfNeeded: bytes[position + i]) << (8 * i) }
        position += size
        return value
    }

    /// A byte string: u32 length, then the bytes.
    @inlinable
    public mutating func lengthPrefixed() throws(DecodeError) -> ArraySlice<UInt8> {
        let at = offset
        let count = Int(try int(UInt32.self))
        guard remaining >= count else { throw DecodeError(offset: at, what: "byte string of \(count)") }
        return try take(count)
    }

    /// A byte string (u32 length, then the bytes), copied out.
    @inlinable
    public mutating func byteString() throws(DecodeError) -> [UInt8] { Array(try lengthPrefixed()) }

    /// Everything not read yet.
    @inlinable
    public mutating func rest() -> ArraySlice<UInt8> {
        defer { position = bytes.endIndex }
        return bytes[position...]
    }
}

/// The writing side of `ByteReader`'s formats.
public struct ByteWriter {
    public var bytes: [UInt8]

    @inlinable
    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public mutating func u8(_ value: UInt8) { bytes.append(value) }
    @inlinable public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// A little-endian integer of `T`'s width.
    @inlinable
    public mutating func int<T: FixedWidthInteger>(_ value: T) { bytes.appendLittleEndian(value) }

    /// A byte string: u32 length, then the bytes.
    @inlinable
    public mutating func lengthPrefixed(_ value: some Collection<UInt8>) {
        precondition(value.count <= Int(UInt32.max), "a byte string over 4 GiB")
        int(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` little-endian, in its own width.
    @inlinable
    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
