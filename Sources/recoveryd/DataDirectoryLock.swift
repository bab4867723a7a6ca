import ArgumentParser
import Foundation

/// One recoveryd process per data directory: an exclusive `flock` on
/// `<data-dir>/recoveryd.lock`, taken before anything in the directory (the
/// embedded PostgreSQL above all) is touched, and held until the process
/// exits. The file names the holder's pid, for the refusal's message.
final class DataDirectoryLock {
    private let descriptor: Int32
    let url: URL

    /// Takes the lock, or fails at once naming the process that holds it.
    init(_ dataDirectory: URL) throws {
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        url = dataDirectory.appending(path: "recoveryd.lock")
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ValidationError("cannot open \(url.path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            closeDescriptor(descriptor)
            throw ValidationError(
                "data dir \(dataDirectory.path) in use by recoveryd pid \(holder.isEmpty ? "?" : holder); one recoveryd per data directory (stop it first, or give this one another --data-dir)"
            )
        }
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit { closeDescriptor(descriptor) }

    /// The pid of the process holding the lock on `dataDirectory` now, or nil
    /// when none does. The lock ends with its process, so a pid read here
    /// cannot be a stale one the system has since given to another program.
    static func holder(of dataDirectory: URL) -> pid_t? {
        let url = dataDirectory.appending(path: "recoveryd.lock")
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { closeDescriptor(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            _ = flock(descriptor, LOCK_UN)
            return nil
        }
        guard errno == EWOULDBLOCK, let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { $0 > 0 ? $0 : nil }
    }
}

private func closeDescriptor(_ descriptor: Int32) { _ = close(descriptor) }
