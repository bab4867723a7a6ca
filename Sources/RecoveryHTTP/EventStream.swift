import Foundation
import LineProtocol
import NIOCore
import OpenAPIRuntime
import RecoveryDomain
import RecoveryServer
import RecoveryWire
import Synchronization

/// The open event streams, so a shutdown can end each with a resumable error.
final class EventStreams: Sendable {
    private let feeds = Mutex<[ObjectIdentifier: EventFeed]>([:])

    func add(_ feed: EventFeed) { feeds.withLock { $0[ObjectIdentifier(feed)] = feed } }
    func remove(_ feed: EventFeed) { _ = feeds.withLock { $0.removeValue(forKey: ObjectIdentifier(feed)) } }

    func endAll(_ error: ProtocolError) {
        for feed in feeds.withLock({ Array($0.values) }) { feed.end(error) }
    }
}

/// One `GET /v1/events/stream`: SUBSCRIBE's rules over Server-Sent Events.
/// It joins the live feed first, then reads the table from its position; a
/// live batch is sent once the table has brought the stream up to it, and any
/// hole between the two is read from the table, so positions go out strictly
/// one after another. While catching up, live events past
/// `subscriber_buffer` are dropped (the table has them); once live, a client
/// with more than `subscriber_buffer` events waiting, or that has read
/// nothing for `write_timeout` seconds while events wait, is sent
/// `event: error` with `slow_consumer` and the last position sent, and its
/// connection is closed. Others are not held up: each stream waits on its
/// own client only.
final class EventFeed: Sendable {
    private struct State {
        /// Live events not sent yet, in commit order.
        var live: [StoredEvent] = []
        /// The next position to send.
        var next: Int64
        /// True once a read of the table came back empty: the stream is live.
        var caughtUp = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Why the stream ends (sent as its last event), once it does.
        var ending: ProtocolError?
        var endingSent = false
        /// When the client last took an event.
        var lastTaken = ContinuousClock.now
    }

    private let state: Mutex<State>
    private let backend: any RequestBackend
    private let channel: any NIOCore.Channel
    private let streams: EventStreams
    private let buffer: Int
    private let maxOutput: Int
    private let writeTimeout: Duration

    init(backend: any RequestBackend, channel: any NIOCore.Channel, after: Int64, streams: EventStreams) {
        self.backend = backend
        self.channel = channel
        self.streams = streams
        state = Mutex(State(next: after + 1))
        buffer = backend.limits.subscriberBuffer
        maxOutput = backend.limits.maxOutput
        writeTimeout = .seconds(backend.limits.writeTimeout)
    }

    /// Starts the feed; the body ends when the stream does.
    func body() -> HTTPBody {
        streams.add(self)
        backend.join(ObjectIdentifier(self)) { [weak self] events in self?.committed(events) }
        channel.closeFuture.whenComplete { [weak self] _ in self?.closed() }
        let sequence = AsyncThrowingStream<ArraySlice<UInt8>, any Error>(unfolding: { [self] in try await self.nextChunk() })
        return HTTPBody(sequence, length: .unknown, iterationBehavior: .single)
    }

    private func closed() {
        end(ProtocolError(.unavailable, "the connection closed"))
        backend.leave(ObjectIdentifier(self))
        streams.remove(self)
    }

    /// Ends the stream with `error` as its last event.
    func end(_ error: ProtocolError) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.ending == nil { state.ending = error }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// From the hub, on the writer's (or tailer's) thread.
    private func committed(_ events: [StoredEvent]) {
        var cutOff = false
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.ending == nil else { return nil }
            state.live.append(contentsOf: events.filter { $0.position >= state.next })
            if state.live.count > buffer || (!state.live.isEmpty && state.waiter == nil && ContinuousClock.now - state.lastTaken > writeTimeout) {
                if state.caughtUp {
                    state.ending = ProtocolError(.slowConsumer, "\(state.next - 1) more than \(buffer) events waiting, or none read for \(writeTimeout); resume with Last-Event-ID: \(state.next - 1)")
                    cutOff = true
                } else {
                    state.live.removeAll()  // still catching up: the table has them
                }
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
        if cutOff {
            backend.slowConsumerClosed()
            backend.logger.notice("closing an HTTP event stream that fell behind", metadata: ["peer": "\(channel.remoteAddress?.ipAddress ?? "?")"])
            // The final event goes out behind what the client has not read
            // yet; if it still has not read it all within write_timeout, the close does.
            channel.eventLoop.scheduleTask(in: .seconds(Int64(backend.limits.writeTimeout))) { [channel] in channel.close(promise: nil) }
        }
    }

    private enum Step {
        case send([StoredEvent])
        case readTable(from: Int64, through: Int64?)
        case wait
        case finish(ProtocolError, last: Int64)
        case done
    }

    /// The next piece of the body: events, the final error, or nil at the end.
    private func nextChunk() async throws -> ArraySlice<UInt8>? {
        while true {
            let step = state.withLock { state -> Step in
                state.lastTaken = .now
                if let ending = state.ending {
                    if state.endingSent { return .done }
                    state.endingSent = true
                    return .finish(ending, last: state.next - 1)
                }
                state.live.removeAll { $0.position < state.next }
                if let first = state.live.first, first.position == state.next {
                    // At most about max_output bytes at a time: what the client
                    // has not taken yet stays here, where it counts against
                    // subscriber_buffer (as a line subscriber's does).
                    var run: [StoredEvent] = []
                    var bytes = 0
                    for event in state.live {
                        guard event.position == state.next + Int64(run.count), run.isEmpty || bytes + event.payload.count <= maxOutput else { break }
                        run.append(event)
                        bytes += event.payload.count
                    }
                    state.live.removeFirst(run.count)
                    state.next += Int64(run.count)
                    return .send(run)
                }
                if state.caughtUp && state.live.isEmpty { return .wait }
                return .readTable(from: state.next, through: state.live.first.map { $0.position - 1 })
            }
            switch step {
            case .send(let events):
                return Self.encode(events)
            case .finish(let error, let last):
                backend.leave(ObjectIdentifier(self))
                streams.remove(self)
                let data: JSONValue = .object(["code": .string(error.code.rawValue), "detail": .string(error.message), "last": .integer(last)])
                return ArraySlice(Array("event: error\ndata: \(CanonicalJSON.encodeString(data))\n\n".utf8))
            case .done:
                return nil
            case .wait:
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state -> Bool in
                        if state.ending != nil || !state.live.isEmpty { return true }
                        state.waiter = waiter
                        return false
                    }
                    if ready { waiter.resume() }
                }
            case .readTable(let from, let through):
                let page: [StoredEvent]
                do {
                    page = try await backend.readPage(from: from, through: through, limit: SessionStateMachine.pageSize, on: channel.eventLoop).get()
                } catch {
                    end(ProtocolError.from(error))
                    continue
                }
                let sent = state.withLock { state -> [StoredEvent] in
                    let fresh = page.drop { $0.position < state.next }
                    var run: [StoredEvent] = []
                    for event in fresh {
                        guard event.position == state.next + Int64(run.count) else { break }
                        run.append(event)
                    }
                    state.next += Int64(run.count)
                    // Nothing more in the table before the live events (or at all): live from here.
                    if run.isEmpty { state.caughtUp = true }
                    return run
                }
                if !sent.isEmpty { return Self.encode(sent) }
                // A live event past a position the table does not show yet: its
                // commit is visible to the next read; wait a moment rather than spin.
                if state.withLock({ !$0.live.isEmpty }) { try? await Task.sleep(for: .milliseconds(5)) }
            }
        }
    }

    /// `id: <position>`, `event: event`, `data: <stored payload>` per event.
    static func encode(_ events: [StoredEvent]) -> ArraySlice<UInt8> {
        var out: [UInt8] = []
        out.reserveCapacity(events.reduce(0) { $0 + $1.payload.count + 40 })
        for event in events {
            out.append(contentsOf: "id: ".utf8)
            CanonicalJSON.writeInteger(event.position, into: &out)
            out.append(contentsOf: "\nevent: event\ndata: ".utf8)
            out.append(contentsOf: event.payload)
            out.append(contentsOf: "\n\n".utf8)
        }
        return out[...]
    }
}
