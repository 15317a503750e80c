// Kubernetes' name rules (apimachinery's validation package): RFC 1123 subdomains and labels,
// RFC 1035 labels, path segments, with the messages kube-apiserver gives for each.

/// Checks of object names; each returns the problems as Kubernetes words them (empty: valid).
package enum Names {
    /// A lowercase RFC 1123 subdomain: at most 253 characters of `[a-z0-9.-]`, each dot-separated
    /// part starting and ending with an alphanumeric character.
    package static func subdomainProblems(_ name: String) -> [String] {
        var problems: [String] = []
        if name.utf8.count > 253 { problems.append("must be no more than 253 characters") }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if name.isEmpty || !labels.allSatisfy({ isLabel($0.utf8, firstMayBeDigit: true) }) {
            problems.append(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
                    + "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                    + "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        }
        return problems
    }

    /// A lowercase RFC 1123 label: at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends.
    package static func labelProblems(_ name: String) -> [String] {
        var problems: [String] = []
        if name.utf8.count > 63 { problems.append("must be no more than 63 characters") }
        if !isLabel(name.utf8, firstMayBeDigit: true) {
            problems.append(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with "
                    + "an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                    + "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
        }
        return problems
    }

    /// An RFC 1035 label: as an RFC 1123 label, but starting with a letter.
    package static func label1035Problems(_ name: String) -> [String] {
        var problems: [String] = []
        if name.utf8.count > 63 { problems.append("must be no more than 63 characters") }
        if !isLabel(name.utf8, firstMayBeDigit: false) {
            problems.append(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, "
                    + "and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                    + "'[a-z]([-a-z0-9]*[a-z0-9])?')")
        }
        return problems
    }

    /// A name usable as a path segment: not `.` or `..`, without `/` or `%`.
    package static func pathSegmentProblems(_ name: String) -> [String] {
        if name == "." || name == ".." { return ["may not be '\(name)'"] }
        for bad in ["/", "%"] where name.contains(bad) { return ["may not contain '\(bad)'"] }
        return []
    }

    private static func isLabel(_ bytes: some BidirectionalCollection<UInt8>, firstMayBeDigit: Bool) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard firstMayBeDigit ? alnum(first) : (first >= 0x61 && first <= 0x7A), alnum(last) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 0x2D }
    }

    /// The characters kube appends to a `generateName` (no vowels, no look-alikes), and how many.
    package static let generatedSuffixAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")
    package static let generatedSuffixLength = 5
    /// A generated name is at most 63 characters: the prefix is cut to leave room for the suffix.
    package static let maxGeneratedPrefixLength = 63 - generatedSuffixLength

    /// `generateName` plus a random suffix, as kube's SimpleNameGenerator makes it.
    package static func generate(from prefix: String, using random: () -> Int) -> String {
        let base = prefix.count > maxGeneratedPrefixLength ? String(prefix.prefix(maxGeneratedPrefixLength)) : prefix
        var suffix = ""
        for _ in 0..<generatedSuffixLength {
            suffix.append(generatedSuffixAlphabet[random() % generatedSuffixAlphabet.count])
        }
        return base + suffix
    }
}
