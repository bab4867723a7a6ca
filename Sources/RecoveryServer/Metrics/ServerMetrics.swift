import Foundation
import LineProtocol
import RecoveryWire
import Metrics
import Prometheus

/// What the daemon measures as it works (swift-metrics; exported by
/// swift-prometheus at `/metrics`, see ``MetricsEndpoint``). Every handle is
/// made once, here: the append path only increments and records. Without
/// `--metrics-listen` no backend is bootstrapped and each call does nothing.
///
/// Figures that are states rather than events (connections, queue depth,
/// position, today's spending) are read when scraped (``MetricsEndpoint``).
public final class ServerMetrics: Sendable {
    /// `recoveryd_appends_total{result=…}`: `recorded`, `duplicate`, or the `ERR` code.
    private let appends: [String: Metrics.Counter]
    private let appendsOther: Metrics.Counter
    /// From the request reaching the writer's queue to its answer.
    let appendSeconds = Metrics.Timer(label: "recoveryd_append_seconds")
    /// Appends per commit, and the time from deciding a batch to its commit.
    let batchSize = Metrics.Recorder(label: "recoveryd_batch_size", aggregate: true)
    let commitSeconds = Metrics.Timer(label: "recoveryd_commit_seconds")
    /// Events read from the log for `REPLAY` and for subscriptions' catch-up.
    let replayEvents = Metrics.Counter(label: "recoveryd_replay_events_total", dimensions: [("stream", "replay")])
    let catchUpEvents = Metrics.Counter(label: "recoveryd_replay_events_total", dimensions: [("stream", "catch_up")])
    /// Subscribers and streams cut off with `ERR slow_consumer`.
    let slowConsumers = Metrics.Counter(label: "recoveryd_slow_consumer_closes_total")

    public init() {
        var appends: [String: Metrics.Counter] = [:]
        // Every answer an append can get; anything else counts as `other`.
        let refusals: [ErrorCode] = [
            .badRequest, .forbidden, .invalid, .notFound, .conflict, .budgetExceeded, .caseClosed, .unavailable, .readOnly, .internalError,
        ]
        for result in ["recorded", "duplicate"] + refusals.map(\.rawValue) {
            appends[result] = Metrics.Counter(label: "recoveryd_appends_total", dimensions: [("result", result)])
        }
        self.appends = appends
        appendsOther = Metrics.Counter(label: "recoveryd_appends_total", dimensions: [("result", "other")])
    }

    /// Counts an append's answer and its latency from `started` (nanoseconds of `DispatchTime`).
    func answered(_ answer: AppendAnswer, since started: UInt64) {
        switch answer {
        case .recorded(_, _, let duplicate, _): answered(result: duplicate ? "duplicate" : "recorded", since: started)
        case .refused(let error): answered(result: error.code.rawValue, since: started)
        }
    }

    /// Counts an answer by its result (`recorded`, `duplicate` or an `ERR`
    /// code) and its latency from `started` (`DispatchTime` nanoseconds).
    public func answered(result: String, since started: UInt64) {
        (appends[result] ?? appendsOther).increment()
        appendSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- started))
    }

    /// Makes swift-prometheus the process's swift-metrics backend (once per
    /// process, before any ``ServerMetrics`` is made), with buckets that fit
    /// the daemon: appends take milliseconds, batches hold up to `max_batch`.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2), .seconds(5),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// A committed batch: how many appends, and how long from deciding it.
    public func committed(appends: Int, took: Duration) {
        batchSize.record(appends)
        commitSeconds.recordNanoseconds(took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000)
    }
}
