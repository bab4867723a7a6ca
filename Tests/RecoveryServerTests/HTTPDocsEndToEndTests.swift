import Foundation
import Testing

/// docs/HTTP.md's examples, run: every `$ curl …` line of its console blocks
/// against a fresh daemon whose clock is stopped where the page says, its
/// output compared with the lines under it (`…` matches anything).
@Suite("docs/HTTP.md's examples", .tags(.processes))
struct HTTPDocsEndToEndTests {
    struct Example {
        var command: String
        var expected: [String]
    }

    static func examples(in text: String) -> [Example] {
        var examples: [Example] = []
        var inConsole = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") {
                inConsole = line == "```console"
                continue
            }
            guard inConsole else { continue }
            if line.hasPrefix("$ ") {
                examples.append(Example(command: String(line.dropFirst(2)), expected: []))
            } else if !examples.isEmpty {
                examples[examples.count - 1].expected.append(line)
            }
        }
        return examples
    }

    static func matches(_ line: String, _ pattern: String) -> Bool {
        let parts = pattern.components(separatedBy: "…").map(NSRegularExpression.escapedPattern(for:))
        guard let regex = try? NSRegularExpression(pattern: "^" + parts.joined(separator: ".*") + "$") else { return false }
        return regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
    }

    static func trimmed(_ lines: [String]) -> [String] {
        var lines = lines
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    @Test func everyCurlExampleGivesWhatThePageShows() throws {
        let text = try String(contentsOf: repositoryFile("docs/HTTP.md"), encoding: .utf8)
        let examples = Self.examples(in: text)
        #expect(examples.count >= 15, "the page's examples were found")
        let daemon = try HTTPDaemon(frozenAt: "2026-12-07 15:30:00")
        let environment = [
            "RECOVERYD_HTTP=http://127.0.0.1:\(daemon.httpPort)", "FRONTLINE_TOKEN=\(Daemon.tokens["frontline"]!)",
            "AUDITOR_TOKEN=\(Daemon.tokens["auditor"]!)", "FINANCE_TOKEN=\(Daemon.tokens["finance"]!)",
            "PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
        ]
        for (index, example) in examples.enumerated() {
            #expect(example.command.hasPrefix("curl "), "\(example.command)")
            let output = daemon.daemon.folder.appending(path: "example-\(index).out").path
            let (_, printed) = try Daemon.runTool(["-i"] + environment + ["/bin/sh", "-c", example.command], output: output)
            let got = Self.trimmed(printed.components(separatedBy: "\n"))
            let expected = Self.trimmed(example.expected)
            let same = got.count == expected.count && zip(got, expected).allSatisfy { Self.matches($0, $1) }
            #expect(same, "\(example.command)\n--- the page shows:\n\(expected.joined(separator: "\n"))\n--- it gave:\n\(got.joined(separator: "\n"))")
        }
    }
}
