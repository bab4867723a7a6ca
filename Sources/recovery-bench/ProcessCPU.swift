import RecoveryWire
import Foundation

/// CPU time (user + system) of processes, read from /proc: the daemon's, and
/// PostgreSQL's (the postmaster and every process it started).
enum ProcessCPU {
    /// Seconds of CPU `pid` has used, or nil once it is gone.
    static func seconds(of pid: pid_t) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is the 3rd field, utime the 14th, stime the 15th.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// CPU seconds per process of `root` and its children, by pid.
    static func tree(_ root: pid_t) -> [pid_t: Double] {
        var found: [pid_t: Double] = [:]
        if let own = seconds(of: root) { found[root] = own }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), parent(of: pid) == root, let used = seconds(of: pid) else { continue }
            found[pid] = used
        }
        return found
    }

    /// CPU seconds the processes used between two ``tree(_:)`` readings
    /// (a process that ended in between counts what it had at the first one).
    static func used(from before: [pid_t: Double], to after: [pid_t: Double]) -> Double {
        after.reduce(0) { total, entry in total + entry.value - (before[entry.key] ?? 0) }
    }
}
