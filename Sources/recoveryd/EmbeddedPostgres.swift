import LedgerStore
import Logging
import ServiceLifecycle

/// The embedded PostgreSQL as a member of the daemon's `ServiceGroup`. The
/// cluster is started before the group runs (the server needs its conninfo);
/// being first in the group, this service is shut down last, after the
/// server has answered what was in flight and the writer has stopped.
final class EmbeddedPostgres: Service, Sendable {
    let cluster: LocalCluster
    private let logger: Logger

    init(cluster: LocalCluster, logger: Logger) {
        self.cluster = cluster
        self.logger = logger
    }

    func run() async throws {
        try? await gracefulShutdown()
        guard cluster.startedHere else {
            // Found running at start (an earlier recoveryd crashed and left it): not ours to stop.
            logger.info("leaving the embedded PostgreSQL running: this daemon did not start it")
            return
        }
        logger.info("stopping the embedded PostgreSQL")
        try cluster.stop()
    }
}
