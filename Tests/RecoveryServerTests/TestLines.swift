import Foundation
@_exported import RecoveryTesting

// The tests speak raw lines to the daemon (RecoveryTesting's LineClient),
// independent of the client library recoveryctl uses; the TLS tests use that
// library (RecoveryClient's LineConnection), the one transport that speaks TLS.

/// Reads the JSON object of an `OK {…}` line.
func okObject(_ line: String) -> [String: Any]? {
    guard line.hasPrefix("OK {") else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8))) as? [String: Any]
}

func errorCode(_ line: String) -> String? {
    guard line.hasPrefix("ERR ") else { return nil }
    return line.split(separator: " ").dropFirst().first.map(String.init)
}

/// Event JSON for tests.
enum Events {
    static func id(_ n: Int, salt: Int = 0) -> String { String(format: "%08x-0000-4000-8000-%012x", salt, n) }

    static func complaint(_ n: Int, caseID: String, agent: String = "A-7", baseline: Int = 6, salt: Int = 0) -> String {
        #"{"event_id":"\#(id(n, salt: salt))","type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"C-\#(n)","channel":"phone","category":"late","severity":3,"baseline":\#(baseline)}"#
    }

    static func compensation(_ n: Int, caseID: String, amount: Int, agent: String = "A-7", approvedBy: String? = nil, salt: Int = 0) -> String {
        let approval = approvedBy.map { #","approved_by":"\#($0)""# } ?? ""
        return #"{"event_id":"\#(id(n, salt: salt))","type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(amount),"currency":"USD","kind":"refund"\#(approval)}"#
    }

    static func followUp(_ n: Int, caseID: String, satisfaction: Int, salt: Int = 0) -> String {
        #"{"event_id":"\#(id(n, salt: salt))","type":"follow_up","agent_id":"A-7","case_id":"\#(caseID)","satisfaction":\#(satisfaction)}"#
    }
}

import Synchronization
import Testing

/// A task executor on a thread of its own. The other tests block the shared
/// pool's few threads (one per core) while they wait on sockets and
/// processes; a test that times what the daemon does runs its tasks here, so
/// waiting for a free pool thread never counts as the daemon's latency.
final class DedicatedExecutor: TaskExecutor, Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let ready = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in
            while true {
                ready.wait()
                while let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                    job.runSynchronously(on: asUnownedTaskExecutor())
                }
            }
        }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        ready.signal()
    }

    /// One for the whole test run.
    static let shared = DedicatedExecutor(name: "test-timing-executor")
}

/// Runs an async test's body on a thread of its own (``DedicatedExecutor``):
/// the other tests block the shared pool's threads for seconds at a time,
/// and a test speaking to a daemon through the async client must not sit
/// connected but unscheduled until the daemon's HELLO timeout closes it.
func onOwnThread<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
    try await withTaskExecutorPreference(DedicatedExecutor(name: "test-own-thread")) { try await body() }
}

extension Tag {
    /// Needs no PostgreSQL, no daemon process and no outside tool.
    @Tag static var fast: Self
}

extension Tag {
    /// Starts the real daemon (or other programs) and a PostgreSQL cluster.
    @Tag static var processes: Self
}
