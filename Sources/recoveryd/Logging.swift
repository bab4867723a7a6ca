import Logging

/// The daemon's logger: swift-log to stderr at `level`.
func makeLogger(_ level: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = Logger.Level(rawValue: level) ?? .info
        return handler
    }
    return Logger(label: "recoveryd")
}

