import NIOCore
import NIOEmbedded
import RecoveryDomain
@testable import RecoveryServer
import Synchronization
import Testing

@Suite("The writer's answers reach each connection's loop")
struct WriterAnswersTests {
    /// Appends of one batch from connections on two loops, and one submitted
    /// without a loop: each answer runs on its own connection's loop, in the
    /// batch's order, once that loop runs; the one without a loop at once.
    @Test func aBatchsAnswersRunOnTheirLoopsInOrder() throws {
        let (first, second) = (EmbeddedEventLoop(), EmbeddedEventLoop())
        let ran = Mutex<[Int]>([])
        let loops: [EmbeddedEventLoop?] = [first, second, first, nil, second, first]
        let answers = loops.enumerated().map { index, loop in
            let event = Event(
                eventID: EventID("00000000-0000-4000-8000-00000000000\(index)")!, agentID: "A-1", caseID: "K-1", body: .apology(Apology()))
            let pending = LedgerWriter.Pending(
                event: event, digest: [], authority: .daemon, loop: loop,
                complete: { answer in
                    if let loop { #expect(loop.inEventLoop) }
                    guard case .recorded(let position, _, _, _) = answer else { return }
                    ran.withLock { $0.append(Int(position)) }
                })
            return (pending, AppendAnswer.recorded(position: Int64(index), hash: [], duplicate: false))
        }
        LedgerWriter.answer(answers)
        #expect(ran.withLock { $0 } == [3])
        first.run()
        #expect(ran.withLock { $0 } == [3, 0, 2, 5])
        second.run()
        #expect(ran.withLock { $0 } == [3, 0, 2, 5, 1, 4])
        try first.syncShutdownGracefully()
        try second.syncShutdownGracefully()
    }
}
