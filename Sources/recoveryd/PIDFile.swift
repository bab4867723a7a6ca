import Foundation

/// `<data-dir>/recoveryd.pid`: the running daemon's process id, so that
/// `recoveryd token revoke` can signal it. Written at start, removed at exit.
struct PIDFile {
    let url: URL

    static func url(in dataDirectory: URL) -> URL { dataDirectory.appending(path: "recoveryd.pid") }

    init(in dataDirectory: URL) throws {
        try FileManager.default.createDirectory(
            at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        url = Self.url(in: dataDirectory)
        try "\(getpid())\n".write(to: url, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }

    /// The pid in the file, if a process with it is running.
    static func running(in dataDirectory: URL) -> pid_t? {
        guard let text = try? String(contentsOf: url(in: dataDirectory), encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0
        else { return nil }
        return pid
    }
}
