import Foundation
import LineProtocol
import Metrics

/// What the daemon measures as it works (swift-metrics; exported by
/// swift-prometheus at `/metrics`, see ``MetricsEndpoint``). Every handle is
/// made once, here: the append path only increments and records. Without
/// `--metrics-listen` no backend is bootstrapped and each call does nothing.
///
/// Figures that are states rather than events (connections, queue depth,
/// position, today's spending) are read when scraped (``MetricsEndpoint``).
final class ServerMetrics: Sendable {
    /// `recoveryd_appends_total{result=…}`: `recorded`, `duplicate`, or the `ERR` code.
    private let appends: [String: Counter]
    private let appendsOther: Counter
    /// From the request reaching the writer's queue to its answer.
    let appendSeconds = Metrics.Timer(label: "recoveryd_append_seconds")
    /// Appends per commit, and the time from deciding a batch to its commit.
    let batchSize = Recorder(label: "recoveryd_batch_size", aggregate: true)
    let commitSeconds = Metrics.Timer(label: "recoveryd_commit_seconds")
    /// Events read from the log for `REPLAY` and for subscriptions' catch-up.
    let replayEvents = Counter(label: "recoveryd_replay_events_total", dimensions: [("stream", "replay")])
    let catchUpEvents = Counter(label: "recoveryd_replay_events_total", dimensions: [("stream", "catch_up")])
    /// Subscribers and streams cut off with `ERR slow_consumer`.
    let slowConsumers = Counter(label: "recoveryd_slow_consumer_closes_total")

    init() {
        var appends: [String: Counter] = [:]
        // Every answer an append can get; anything else counts as `other`.
        let refusals: [ErrorCode] = [
            .badRequest, .forbidden, .invalid, .notFound, .conflict, .budgetExceeded, .caseClosed, .unavailable, .readOnly, .internalError,
        ]
        for result in ["recorded", "duplicate"] + refusals.map(\.rawValue) {
            appends[result] = Counter(label: "recoveryd_appends_total", dimensions: [("result", result)])
        }
        self.appends = appends
        appendsOther = Counter(label: "recoveryd_appends_total", dimensions: [("result", "other")])
    }

    /// Counts an append's answer and its latency from `started` (nanoseconds of `DispatchTime`).
    func answered(_ answer: AppendAnswer, since started: UInt64) {
        let result: String
        switch answer {
        case .recorded(_, _, let duplicate, _): result = duplicate ? "duplicate" : "recorded"
        case .refused(let error): result = error.code.rawValue
        }
        (appends[result] ?? appendsOther).increment()
        appendSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- started))
    }

    /// A committed batch: how many appends, and how long from deciding it.
    func committed(appends: Int, took: Duration) {
        batchSize.record(appends)
        commitSeconds.recordNanoseconds(took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000)
    }
}
