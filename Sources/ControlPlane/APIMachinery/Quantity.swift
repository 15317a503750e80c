// Kubernetes resource quantities (apimachinery's pkg/api/resource): parsing with its grammar and
// error messages, the rounding it applies, and the canonical text kube-apiserver writes back.

/// A resource quantity such as `500m`, `1Gi` or `1e3`, kept exactly as a decimal (digits times a
/// power of ten) with the notation it was written in, so that it prints back the way
/// kube-apiserver prints it (`0.5` becomes `500m`, `1024Mi` becomes `1Gi`).
package struct Quantity: Sendable, Equatable, CustomStringConvertible {
    /// How the quantity is written out: SI suffixes (`k`, `M`, `m`), binary suffixes (`Ki`, `Mi`),
    /// or a decimal exponent (`1e3`).
    package enum Format: Sendable, Equatable {
        case decimalSI, binarySI, decimalExponent
    }

    /// A quantity that does not parse, with the message apimachinery gives.
    package struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        package var message: String
        package var description: String { message }

        package static let formatWrong = ParseError(
            message: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        package static let suffix = ParseError(message: "unable to parse quantity's suffix")
    }

    /// Whether the value is below zero.
    package private(set) var negative: Bool
    /// The magnitude's decimal digits, most significant first, without leading zeros (empty for zero).
    package private(set) var digits: [UInt8]
    /// The power of ten the digits are multiplied by.
    package private(set) var exponent: Int
    package private(set) var format: Format

    /// The scale parsing rounds to (nano), and the one ResourceList defaulting rounds to (milli).
    package static let nanoScale = -9
    package static let milliScale = -3
    /// Binary values are printed with a `Ki`..`Ei` suffix; below this they print as decimals.
    private static let binaryBase = 1024
    /// Above this power of ten a binary quantity is not expanded to an integer (it prints as decimal).
    private static let maxExpandedExponent = 40

    /// Parses `text` as ParseQuantity does (sign, digits, optional fraction, suffix), rounding
    /// non-zero values up to a nanounit.
    package init(parsing text: String) throws(ParseError) {
        guard !text.isEmpty else { throw .formatWrong }
        let parts = try Self.split(Array(text.utf8))
        guard let (base, power, format) = Self.interpret(suffix: parts.suffix) else { throw .suffix }
        negative = parts.negative
        digits = Self.trimmed(parts.whole + parts.fraction)
        exponent = -parts.fraction.count
        self.format = format
        if base == 10 {
            exponent += power
        } else {
            for _ in 0..<(power / 10) { digits = Self.multiply(digits, by: Self.binaryBase) }
        }
        round(toScale: Self.nanoScale)
        if format == .binarySI, isBelowOne { self.format = .decimalSI }
    }

    /// The quantity a JSON value holds: a string, or a number written as one.
    package init(json: JSON) throws(ParseError) {
        switch json {
        case .string(let s): try self.init(parsing: s)
        case .number(let n): try self.init(parsing: n.text)
        default: throw .formatWrong
        }
    }

    package var isZero: Bool { digits.isEmpty }

    /// Rounds the magnitude up (away from zero) so no digit is below 10^scale, as `RoundUp` does.
    package mutating func round(toScale scale: Int) {
        guard exponent < scale, !digits.isEmpty else { return }
        let drop = scale - exponent
        let lost: Bool
        if drop >= digits.count {
            lost = true
            digits = []
        } else {
            lost = digits.suffix(drop).contains { $0 != 0 }
            digits.removeLast(drop)
        }
        exponent = scale
        if lost { digits = Self.add(one: digits) }
        digits = Self.trimmed(digits)
    }

    /// The text kube-apiserver writes for the quantity (Quantity.CanonicalizeBytes).
    package var description: String {
        guard !digits.isEmpty else { return "0" }
        let sign = negative ? "-" : ""
        if format == .binarySI, !isBelow1024, let binary = binaryText { return sign + binary }
        var (mantissa, power) = Self.stripTrailingZeros(digits, exponent)
        while power % 3 != 0 {
            mantissa.append(0)
            power -= 1
        }
        let number = String(decoding: mantissa.map { $0 + 0x30 }, as: UTF8.self)
        if format == .decimalExponent { return sign + number + (power == 0 ? "" : "e\(power)") }
        return sign + number + (Self.decimalSuffixes.first { $0.power == power }?.suffix ?? "")
    }

    /// Compares magnitudes with signs: -1, 0 or 1.
    package func compare(_ other: Quantity) -> Int {
        if negative != other.negative, !(isZero && other.isZero) { return negative ? -1 : 1 }
        let magnitude = Self.compareMagnitudes(self, other)
        return negative ? -magnitude : magnitude
    }

    // MARK: - Parsing

    private struct Parts {
        var negative = false
        var whole: [UInt8] = []
        var fraction: [UInt8] = []
        var suffix = ""
    }

    /// Splits the text into sign, integer digits, fraction digits and suffix, failing as
    /// parseQuantityString does when the suffix's exponent is not all digits.
    private static func split(_ bytes: [UInt8]) throws(ParseError) -> Parts {
        var parts = Parts()
        var i = 0
        if let first = bytes.first, first == 0x2D || first == 0x2B {
            parts.negative = first == 0x2D
            i = 1
        }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        while i < bytes.count, isDigit(bytes[i]) {
            parts.whole.append(bytes[i] - 0x30)
            i += 1
        }
        if i < bytes.count, bytes[i] == 0x2E {
            i += 1
            while i < bytes.count, isDigit(bytes[i]) {
                parts.fraction.append(bytes[i] - 0x30)
                i += 1
            }
        }
        let suffixStart = i
        let letters = Set("eEinumkKMGTP".utf8)
        while i < bytes.count, letters.contains(bytes[i]) { i += 1 }
        if i < bytes.count, bytes[i] == 0x2D || bytes[i] == 0x2B { i += 1 }
        while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        guard i == bytes.count else { throw .formatWrong }
        parts.suffix = String(decoding: bytes[suffixStart...], as: UTF8.self)
        return parts
    }

    private static let decimalSuffixes: [(suffix: String, power: Int)] = [
        ("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)
    ]
    private static let binarySuffixes: [(suffix: String, power: Int)] = [
        ("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)
    ]

    /// The base, power and format a suffix stands for, or nil when it is none of them.
    private static func interpret(suffix: String) -> (Int, Int, Format)? {
        if let d = decimalSuffixes.first(where: { $0.suffix == suffix }) { return (10, d.power, .decimalSI) }
        if let b = binarySuffixes.first(where: { $0.suffix == suffix }) { return (2, b.power, .binarySI) }
        guard let first = suffix.first, first == "e" || first == "E", let power = Int(suffix.dropFirst()),
            abs(power) < Int(Int32.max)
        else { return nil }
        return (10, power, .decimalExponent)
    }

    // MARK: - Digits

    private static func trimmed(_ digits: [UInt8]) -> [UInt8] { Array(digits.drop { $0 == 0 }) }

    private static func stripTrailingZeros(_ digits: [UInt8], _ exponent: Int) -> ([UInt8], Int) {
        var digits = digits
        var exponent = exponent
        while digits.last == 0 {
            digits.removeLast()
            exponent += 1
        }
        return (digits, exponent)
    }

    private static func multiply(_ digits: [UInt8], by factor: Int) -> [UInt8] {
        var out: [UInt8] = []
        var carry = 0
        for d in digits.reversed() {
            let v = Int(d) * factor + carry
            out.append(UInt8(v % 10))
            carry = v / 10
        }
        while carry > 0 {
            out.append(UInt8(carry % 10))
            carry /= 10
        }
        return trimmed(out.reversed())
    }

    /// The quotient and remainder of dividing by a small number.
    private static func divide(_ digits: [UInt8], by divisor: Int) -> ([UInt8], Int) {
        var out: [UInt8] = []
        var remainder = 0
        for d in digits {
            let v = remainder * 10 + Int(d)
            out.append(UInt8(v / divisor))
            remainder = v % divisor
        }
        return (trimmed(out), remainder)
    }

    private static func add(one digits: [UInt8]) -> [UInt8] {
        var out = digits
        var i = out.count - 1
        while i >= 0 {
            if out[i] < 9 {
                out[i] += 1
                return out
            }
            out[i] = 0
            i -= 1
        }
        return [1] + out
    }

    private static func compareMagnitudes(_ a: Quantity, _ b: Quantity) -> Int {
        if a.isZero || b.isZero { return a.isZero ? (b.isZero ? 0 : -1) : 1 }
        let low = min(a.exponent, b.exponent)
        let x = trimmed(a.digits + Array(repeating: 0, count: a.exponent - low))
        let y = trimmed(b.digits + Array(repeating: 0, count: b.exponent - low))
        if x.count != y.count { return x.count < y.count ? -1 : 1 }
        for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
        return 0
    }

    private var isBelowOne: Bool { !isZero && digits.count + exponent <= 0 }
    private var isBelow1024: Bool { Self.compareMagnitudes(self, Quantity(integer: Self.binaryBase)) < 0 }

    private init(integer: Int) {
        negative = false
        digits = Array(String(integer).utf8).map { $0 - 0x30 }
        exponent = 0
        format = .decimalSI
    }

    /// The value with a binary suffix, when it is a whole number (else nil: it prints as decimal).
    private var binaryText: String? {
        let (mantissa, power) = Self.stripTrailingZeros(digits, exponent)
        guard power >= 0, power <= Self.maxExpandedExponent else { return nil }
        var value = mantissa + Array(repeating: 0, count: power)
        var steps = 0
        while steps < Self.binarySuffixes.count {
            let (quotient, remainder) = Self.divide(value, by: Self.binaryBase)
            guard remainder == 0 else { break }
            value = quotient
            steps += 1
        }
        let number = String(decoding: value.map { $0 + 0x30 }, as: UTF8.self)
        return number + (steps == 0 ? "" : Self.binarySuffixes[steps - 1].suffix)
    }
}
