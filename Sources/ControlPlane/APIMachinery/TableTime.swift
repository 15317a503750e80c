// Time for server-side tables: RFC 3339 timestamps read as Kubernetes' metav1.Time reads them,
// written as it writes them, and elapsed time shown as apimachinery's duration.HumanDuration
// shows it. APIMachinery has no Foundation; this is the small part of a calendar tables need.

/// An instant as seconds and nanoseconds since the Unix epoch (UTC), the nanoseconds always in
/// `0..<1_000_000_000`. Go's zero `time.Time` (0001-01-01T00:00:00Z) is `zero`: Kubernetes prints
/// it as `<unknown>`.
package struct TableInstant: Sendable, Hashable, Comparable {
    package var seconds: Int64
    package var nanoseconds: Int64

    /// Go's zero time, 0001-01-01T00:00:00Z: what a missing timestamp decodes to.
    package static let zero = TableInstant(seconds: -62_135_596_800, nanoseconds: 0)

    package init(seconds: Int64, nanoseconds: Int64 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The instant `unixSeconds` after the epoch, its fraction kept to the nanosecond.
    package init(unixSeconds: Double) {
        let whole = unixSeconds.rounded(.down)
        seconds = Int64(whole)
        nanoseconds = min(Int64(((unixSeconds - whole) * 1e9).rounded()), 999_999_999)
    }

    /// Whether this is Go's zero time (a timestamp that was never set).
    package var isZero: Bool { self == .zero }

    package static func < (lhs: TableInstant, rhs: TableInstant) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    /// `self - earlier` in nanoseconds, clamped to Int64 as Go's `Time.Sub` clamps a Duration.
    package func nanoseconds(since earlier: TableInstant) -> Int64 {
        let (secondDelta, overflow) = seconds.subtractingReportingOverflow(earlier.seconds)
        if overflow { return secondDelta < 0 ? Int64.max : Int64.min }
        let (scaled, scaleOverflow) = secondDelta.multipliedReportingOverflow(by: 1_000_000_000)
        if scaleOverflow { return secondDelta < 0 ? Int64.min : Int64.max }
        let (total, sumOverflow) = scaled.addingReportingOverflow(nanoseconds - earlier.nanoseconds)
        if sumOverflow { return scaled < 0 ? Int64.min : Int64.max }
        return total
    }
}

/// RFC 3339 reading and writing, and the human-readable ages of kubectl's tables.
package enum TableTime {
    private static let secondsPerDay: Int64 = 86_400
    private static let nanosecondsPerSecond: Int64 = 1_000_000_000

    /// Parses an RFC 3339 timestamp as Go's `time.Parse(time.RFC3339, …)` does for metav1.Time:
    /// `2024-01-02T03:04:05Z`, with an optional fraction of a second (`…05.123Z`, kept to the
    /// nanosecond) and a `Z` or `±hh:mm` offset. Nil when the text is not such a timestamp or a
    /// field is out of range (month 13, February 30, hour 24, second 60).
    package static func parse(_ text: String) -> TableInstant? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = digits(bytes, 0, 4), let month = digits(bytes, 5, 2), let day = digits(bytes, 8, 2),
            let hour = digits(bytes, 11, 2), let minute = digits(bytes, 14, 2), let second = digits(bytes, 17, 2),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 { index += 1 }
            guard index > start else { return nil }
            // Go keeps nine digits (nanoseconds) and drops the rest.
            let kept = min(index - start, 9)
            fraction = digits(bytes, start, kept) ?? 0
            for _ in 0..<(9 - kept) { fraction *= 10 }
        }
        guard let offset = offsetSeconds(bytes, from: index) else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let local = days * secondsPerDay + hour * 3600 + minute * 60 + second
        return TableInstant(seconds: local - offset, nanoseconds: fraction)
    }

    /// The instant as Go's metav1.Time writes it: UTC, whole seconds, `2024-01-02T03:04:05Z`.
    package static func format(_ instant: TableInstant) -> String {
        let days = floorDivide(instant.seconds, secondsPerDay)
        let secondOfDay = instant.seconds - days * secondsPerDay
        let (year, month, day) = civil(fromDays: days)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "Z"
    }

    /// The time between `instant` and `now`, as kubectl's AGE column shows it
    /// (printers' translateTimestampSince): `<unknown>` for Go's zero time, else `humanDuration`.
    package static func age(of instant: TableInstant, now: TableInstant) -> String {
        instant.isZero ? "<unknown>" : humanDuration(nanoseconds: now.nanoseconds(since: instant))
    }

    /// The age of the timestamp `text` (`<unknown>` when it is missing, empty or unreadable, as
    /// Go would leave such a field at its zero time).
    package static func age(of text: String?, now: TableInstant) -> String {
        age(of: text.flatMap(parse) ?? .zero, now: now)
    }

    /// apimachinery's duration.HumanDuration: about two or three significant figures — `45s`,
    /// `3m20s`, `15m`, `5h10m`, `20h`, `2d5h`, `30d`, `3y20d`, `10y` — `0s` for up to a second in
    /// the future (clock skew) and `<invalid>` for more.
    package static func humanDuration(nanoseconds d: Int64) -> String {
        let seconds = d / nanosecondsPerSecond
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 60 * 2 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let dayOfYear = hours / 24 % 365
            return dayOfYear == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(dayOfYear)d"
        }
        return "\(hours / 24 / 365)y"
    }

    // MARK: - Calendar

    /// The decimal number in `count` ASCII digits at `start`, or nil.
    private static func digits(_ bytes: [UInt8], _ start: Int, _ count: Int) -> Int64? {
        guard start + count <= bytes.count else { return nil }
        var value: Int64 = 0
        for byte in bytes[start..<(start + count)] {
            guard byte &- UInt8(ascii: "0") < 10 else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The zone offset east of UTC in seconds that ends the text at `index` (`Z` or `±hh:mm`).
    private static func offsetSeconds(_ bytes: [UInt8], from index: Int) -> Int64? {
        if index == bytes.count - 1, bytes[index] == UInt8(ascii: "Z") { return 0 }
        guard index + 6 == bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"),
            bytes[index + 3] == UInt8(ascii: ":"), let hours = digits(bytes, index + 1, 2), let minutes = digits(bytes, index + 4, 2),
            hours < 24, minutes < 60
        else { return nil }
        let offset = hours * 3600 + minutes * 60
        return bytes[index] == UInt8(ascii: "-") ? -offset : offset
    }

    private static func isLeap(_ year: Int64) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (civil_from_days).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
