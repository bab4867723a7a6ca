/// The `# HELP` line of every metric `/metrics` serves (docs/OPERATIONS.md,
/// "Metrics"): swift-metrics' API carries no help text, so the exposition is
/// annotated here, in one table, before it is served. `promtool check metrics`
/// accepts the result (a test runs it).
enum MetricHelp {
    static let texts: [String: String] = [
        "recoveryd_appends_total": "Appends answered, by result: recorded, duplicate, or the ERR code.",
        "recoveryd_append_seconds": "Time from an append reaching the writer's queue to its answer.",
        "recoveryd_batch_size": "Appends decided and committed per transaction.",
        "recoveryd_commit_seconds": "Time from deciding a batch to its commit.",
        "recoveryd_replay_events_total": "Events read from the log, for REPLAY (replay) and subscriptions' catch-up (catch_up).",
        "recoveryd_slow_consumer_closes_total": "Streams cut off with ERR slow_consumer.",
        "recoveryd_writer_queue_depth": "Appends waiting for the writer.",
        "recoveryd_connections": "Connections after HELLO, by role.",
        "recoveryd_unauthenticated_connections": "Connections that have not said a good HELLO yet.",
        "recoveryd_subscribers": "Live subscriptions.",
        "recoveryd_database_up": "1 when PostgreSQL answered the scrape's probe, else 0.",
        "recoveryd_writer_holds_lock": "1 when this daemon is the ledger's writer, else 0.",
        "recoveryd_chain_position": "The last recorded position.",
        "recoveryd_replication_lag_positions": "A follower's lag behind the writer in positions; 0 on the writer, -1 when not measured.",
        "recoveryd_replication_lag_seconds": "A follower's replay lag in seconds; 0 on the writer, -1 when not measured.",
        "recoveryd_compensation_today_minor_units": "Compensation charged today, net of same-day reversals, in minor units.",
        "recoveryd_people_over_80_percent_of_allowance": "People who have spent more than 80% of today's allowance.",
        "recoveryd_start_time_seconds": "When the process started, in Unix time.",
    ]

    /// `exposition` with a `# HELP` line before each `# TYPE` line of a metric in ``texts``.
    static func annotate(_ exposition: String) -> String {
        var out = ""
        out.reserveCapacity(exposition.utf8.count + texts.count * 80)
        for line in exposition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first, let text = texts[String(name)] {
                out += "# HELP \(name) \(text)\n"
            }
            out += line
            out += "\n"
        }
        if out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }
}
