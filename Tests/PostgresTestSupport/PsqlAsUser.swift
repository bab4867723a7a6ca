import Foundation
import LedgerStore

extension LocalCluster {
    /// `psql` run as another OS user (which needs root) against this
    /// cluster's socket: whether it failed, and what it printed.
    public func psql(asOSUser osUser: String, role: String = "postgres", database: String = "postgres", sql: String = "SELECT 1") -> (
        failed: Bool, output: String
    ) {
        do {
            let output = try ChildProcess.run(
                "/usr/sbin/runuser",
                ["-u", osUser, "--", binDirectory.appending(path: "psql").path, "-X", "-h", directory.path, "-U", role, "-d", database, "-c", sql],
                currentDirectory: URL(fileURLWithPath: "/"))
            return (false, output)
        } catch {
            return (true, "\(error)")
        }
    }
}
