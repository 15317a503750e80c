// Kubernetes' path-segment name rule and generated names (apimachinery's validation and
// names packages); the DNS name rules are ValidationRules.swift's `Rules`.

/// Names: the path-segment rule (problems as Kubernetes words them; empty: valid) and `generateName`.
package enum Names {
    /// A name usable as a path segment: not `.` or `..`, without `/` or `%`.
    package static func pathSegmentProblems(_ name: String) -> [String] {
        if name == "." || name == ".." { return ["may not be '\(name)'"] }
        for bad in ["/", "%"] where name.contains(bad) { return ["may not contain '\(bad)'"] }
        return []
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
