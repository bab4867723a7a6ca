#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file only its owner may read, born that way: opened with `O_EXCL` and
/// mode 0600 in one call, so there is no moment in which it exists with a
/// wider mode, and an existing file (or a link planted in its place) is never
/// written through.
public enum SecretFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates `url` with `contents`, written and synced; fails if it exists.
    public static func create(_ url: URL, contents: String) throws(Failure) {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var bytes = Array(contents.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let reason = String(cString: strerror(errno))
                unlink(url.path)
                throw Failure(description: "cannot write \(url.path): \(reason)")
            }
            bytes = bytes.dropFirst(written)
        }
        guard fsync(descriptor) == 0 else {
            throw Failure(description: "cannot sync \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
