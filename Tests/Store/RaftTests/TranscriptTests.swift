import Foundation
import RaftSimulation
import Testing

/// Protocol behaviour as readable transcripts: each block in `testdata/*.txt` is a command,
/// `----`, and the output it must print. Run with `REWRITE=1` to regenerate the outputs
/// after a deliberate change, then read the diff.
struct TranscriptTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("testdata")

    static let files: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }()

    @Test func everyTranscriptIsFound() {
        #expect(Self.files.count >= 8, "transcripts in \(Self.directory.path): \(Self.files)")
    }

    @Test(arguments: files)
    func transcript(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        let driver = TranscriptDriver()
        var rewritten: [String] = []
        var lines = text.components(separatedBy: "\n")[...]
        while let line = lines.first {
            lines = lines.dropFirst()
            if line.isEmpty || line.hasPrefix("#") {
                rewritten.append(line)
                continue
            }
            guard lines.first == "----" else {
                Issue.record("\(name): command '\(line)' is not followed by ----")
                return
            }
            lines = lines.dropFirst()
            var expected: [String] = []
            while let next = lines.first, !next.isEmpty {
                expected.append(next)
                lines = lines.dropFirst()
            }
            let actual = driver.run(line)
            rewritten += [line, "----"] + (actual.isEmpty ? [] : [actual])
            if ProcessInfo.processInfo.environment["REWRITE"] == nil {
                #expect(actual == expected.joined(separator: "\n"), "\(name): \(line)")
            }
        }
        if ProcessInfo.processInfo.environment["REWRITE"] != nil {
            try rewritten.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        }
    }
}
