import Foundation
import Logging

/// The process's file descriptors are shared by the line port, the metrics
/// port, PostgreSQL connections and files. The soft limit is raised to the
/// hard one at start, and a hard limit too low for every line connection plus
/// the metrics port's cap and a reserve is said aloud: the line port's
/// `max_connections` must never be starved by anything else.
enum DescriptorLimit {
    /// Descriptors kept for PostgreSQL connections, files and the listeners.
    static let reserve = 128

    static func raise(toServe lineConnections: Int, metricsConnections: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let needed = lineConnections + metricsConnections + reserve
        if Int(clamping: limit.rlim_cur) < needed {
            logger.warning(
                "the descriptor limit is below what max_connections needs: connections may be refused before that limit",
                metadata: ["limit": "\(limit.rlim_cur)", "needed": "\(needed)"])
        }
    }
}
