import Foundation
import Logging
import Synchronization
import RecoveryDomain

/// How the daemon's log lines look (`--log-format`).
enum LogFormat: String, CaseIterable {
    /// swift-log's line: time, level, label, metadata, message.
    case text
    /// One JSON object per line, for log shippers: `time`, `level`, `label`,
    /// `message`, and each metadata entry under its own key.
    case json
}

/// The daemon's logger: swift-log to stderr at `level`, in `format`.
func makeLogger(_ level: String, format: LogFormat = .text) -> Logger {
    let threshold = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = threshold
            return handler
        case .json:
            return JSONLogHandler(label: label, logLevel: threshold)
        }
    }
    return Logger(label: "recoveryd")
}

/// Writes each entry as one canonical JSON object on its own line to stderr.
/// The core keys come first in meaning, not in order (keys are sorted);
/// metadata never replaces them.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    /// One line at a time: lines from two threads never interleave.
    private static let writing = Mutex(())

    init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: JSONValue] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            object[key] = .string("\(value)")
        }
        object["time"] = .string(Timestamp(Date()).description)
        object["level"] = .string(event.level.rawValue)
        object["label"] = .string(label)
        object["message"] = .string("\(event.message)")
        var line: [UInt8] = []
        CanonicalJSON.write(.object(object), into: &line)
        line.append(0x0A)
        Self.writing.withLock { _ in FileHandle.standardError.write(Data(line)) }
    }
}
