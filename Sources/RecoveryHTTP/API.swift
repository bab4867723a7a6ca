import LineProtocol
import NIOCore
import OpenAPIRuntime
import RecoveryDomain
import RecoveryServer
import RecoveryWire
import Synchronization

/// The operations of docs/openapi.yaml. Each is a line-protocol verb: its
/// parameters become the verb's arguments and are parsed by the line's own
/// parser (``Request/parse(verb:arguments:)``), the role is checked by
/// ``Permissions``, and the work is the server's, through the same
/// ``SessionBackend`` calls a line session makes. The answer is the object the
/// line protocol's `OK` carries; an error is a problem with its code.
struct API: APIProtocol {
    let backend: any RequestBackend
    let streams: EventStreams

    // MARK: Queries

    func getHello(_ input: Operations.GetHello.Input) async throws -> Operations.GetHello.Output {
        let caller = try Self.caller()
        return .ok(.init(body: .json(JSONBridge.container(backend.helloAnswer(caller.token).json))))
    }

    func getCase(_ input: Operations.GetCase.Input) async throws -> Operations.GetCase.Output {
        return await answer("CASE", [input.path.caseId, at(input.query.at)], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func listCases(_ input: Operations.ListCases.Input) async throws -> Operations.ListCases.Output {
        let q = input.query
        let arguments = [
            q.customerId.map { "customer=\($0)" }, q.owner.map { "owner=\($0)" }, q.status.map { "status=\($0.rawValue)" },
            q.from.map { "from=\($0)" }, q.to.map { "to=\($0)" }, q.after.map { "after=\($0)" }, q.limit.map { "limit=\($0)" },
        ]
        return await answer("CASES", arguments, ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func listDue(_ input: Operations.ListDue.Input) async throws -> Operations.ListDue.Output {
        return await answer("DUE", [input.query.agentId], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func listPeople(_ input: Operations.ListPeople.Input) async throws -> Operations.ListPeople.Output {
        return await answer("PEOPLE", [], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func getBudget(_ input: Operations.GetBudget.Input) async throws -> Operations.GetBudget.Output {
        return await answer("BUDGET", [input.path.agentId, input.query.day, at(input.query.at)], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func listBudgets(_ input: Operations.ListBudgets.Input) async throws -> Operations.ListBudgets.Output {
        return await answer("BUDGETS", [input.query.day, at(input.query.at)], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func getOutcomes(_ input: Operations.GetOutcomes.Input) async throws -> Operations.GetOutcomes.Output {
        let q = input.query
        let arguments = [q.by.map { "by=\($0.rawValue)" }, q.from.map { "from=\($0)" }, q.to.map { "to=\($0)" }, at(q.at)]
        return await answer("OUTCOMES", arguments, ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func getSpending(_ input: Operations.GetSpending.Input) async throws -> Operations.GetSpending.Output {
        let q = input.query
        return await answer("SPENDING", ["from=\(q.from)", "to=\(q.to)", q.by.map { "by=\($0)" }, at(q.at)], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func getSettings(_ input: Operations.GetSettings.Input) async throws -> Operations.GetSettings.Output {
        return await answer("SETTINGS", [at(input.query.at)], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func getHead(_ input: Operations.GetHead.Input) async throws -> Operations.GetHead.Output {
        return await answer("HEAD", [], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func verifyChain(_ input: Operations.VerifyChain.Input) async throws -> Operations.VerifyChain.Output {
        // VERIFY's `to` comes after its `from`: a `to` alone verifies from the first position.
        let q = input.query
        let arguments = q.to == nil ? [q.from.map(String.init)] : [String(q.from ?? 1), q.to.map(String.init)]
        return await answer("VERIFY", arguments, ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    func getStatus(_ input: Operations.GetStatus.Input) async throws -> Operations.GetStatus.Output {
        return await answer("STATUS", [], ok: { .ok(.init(body: .json($0))) }, problem: { .default(statusCode: $0, $1) })
    }

    // MARK: The log

    func appendEvents(_ input: Operations.AppendEvents.Input) async throws -> Operations.AppendEvents.Output {
        let caller = try Self.caller()
        let limits = backend.limits
        if let refusal = Permissions.check(.append(json: []), by: caller.role) { return Self.problem(refusal) }
        // The body as bytes (AccessMiddleware has checked its type and size),
        // parsed by the daemon's own parser, as an APPEND line is.
        guard case .any(let body) = input.body else { return Self.problem(ProtocolError(.badRequest, "the body is JSON")) }
        let bytes = try await [UInt8](collecting: body, upTo: HTTPFrontDoor.bodyLimit(limits))
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            return Self.problem(ProtocolError(.badRequest, "the body is not JSON: \(error)"))
        }
        switch value {
        case .object:
            // One event: its bytes as they came, as APPEND takes its line.
            let answers = await append([bytes], limits: limits, as: caller)
            switch answers[0] {
            case .recorded(let position, let hash, let duplicate, let spending):
                return .ok(.init(body: .json(.Receipt(Self.receipt(position, hash, duplicate, spending)))))
            case .refused(let error):
                return Self.problem(error)
            }
        case .array(let events):
            guard !events.isEmpty else { return Self.problem(ProtocolError(.badRequest, "the batch is empty")) }
            guard events.count <= limits.maxBatch else {
                return Self.problem(ProtocolError(.tooLarge, "the batch holds \(events.count) events; at most max_batch \(limits.maxBatch)"))
            }
            let answers = await append(events.map { event in
                guard case .object = event else { return .failure(ProtocolError(.badRequest, "an event is a JSON object, not \(event.typeName)")) }
                return .success(CanonicalJSON.encode(event))
            }, limits: limits, as: caller)
            let results = answers.map { answer -> Components.Schemas.BatchResults.ResultsPayloadPayload in
                switch answer {
                case .recorded(let position, let hash, let duplicate, let spending):
                    .init(receipt: Self.receipt(position, hash, duplicate, spending))
                case .refused(let error):
                    .init(error: .init(code: Components.Schemas.ErrorCode(rawValue: error.code.rawValue) ?? ._internal, detail: error.message))
                }
            }
            return .ok(.init(body: .json(.BatchResults(.init(results: results)))))
        default:
            return Self.problem(ProtocolError(.badRequest, "the body is one event (a JSON object) or an array of them"))
        }
    }

    private static func problem(_ error: ProtocolError) -> Operations.AppendEvents.Output {
        .default(statusCode: error.status, error.response)
    }

    private static func receipt(_ position: Int64, _ hash: [UInt8], _ duplicate: Bool, _ spending: Spending?) -> Components.Schemas.Receipt {
        .init(position: position, hash: Hex.encode(hash), duplicate: duplicate, remaining: spending?.remaining, warning: spending?.warning)
    }

    private func append(_ events: [[UInt8]], limits: Limits, as caller: Caller) async -> [AppendAnswer] {
        await append(events.map { .success($0) }, limits: limits, as: caller)
    }

    /// Hands the events to the writer in order, as one connection's APPENDs
    /// (waiting, in order, while its queue is full), and waits for every answer.
    private func append(_ events: [Result<[UInt8], ProtocolError>], limits: Limits, as caller: Caller) async -> [AppendAnswer] {
        let answers = Answers(count: events.count)
        for (index, event) in events.enumerated() {
            let json: [UInt8]
            switch event {
            case .success(let bytes): json = bytes
            case .failure(let error):
                answers.set(index, .refused(error))
                continue
            }
            guard json.count <= limits.maxLine else {
                answers.set(index, .refused(ProtocolError(.tooLarge, "the event is \(json.count) bytes; at most max_line \(limits.maxLine)")))
                continue
            }
            while !backend.submitAppend(json: json, role: caller.role, agent: caller.agent, on: nil, answer: { answers.set(index, $0) }) {
                await withCheckedContinuation { (room: CheckedContinuation<Void, Never>) in backend.whenWriterHasRoom { room.resume() } }
            }
        }
        return await answers.all()
    }

    func listEvents(_ input: Operations.ListEvents.Input) async throws -> Operations.ListEvents.Output {
        let caller = try Self.caller()
        let after = input.query.after ?? 0
        let limit = input.query.limit ?? 100
        let loop = caller.channel.eventLoop
        do {
            guard after >= 0 else { throw ProtocolError(.badRequest, "after is a position from 0") }
            guard (1...SessionStateMachine.pageSize).contains(limit) else {
                throw ProtocolError(.badRequest, "limit must be an integer from 1 to \(SessionStateMachine.pageSize)")
            }
            if let refusal = Permissions.check(.replay(from: after + 1, to: nil), by: caller.role) { throw refusal }
            let window = try await backend.openReplay(from: after + 1, to: nil, on: loop).get()
            let events = window.last > after
                ? try await backend.readPage(from: after + 1, through: min(window.last, after + Int64(limit)), limit: limit, on: loop).get() : []
            let last = events.last?.position ?? after
            let page: [String: JSONValue] = [
                "events": .array(try events.map { try JSONParser.parse($0.payload) }),
                "count": .integer(Int64(events.count)),
                "prev_hash": .string(Hex.encode(window.previousHash)),
                "hash": .string(Hex.encode(events.last?.hash ?? window.previousHash)),
                "last": .integer(last),
                "next": last < window.last ? .integer(last) : .null,
            ]
            return .ok(.init(body: .json(JSONBridge.container(page))))
        } catch {
            let error = ProtocolError.from(error)
            return .default(statusCode: error.status, error.response)
        }
    }

    func streamEvents(_ input: Operations.StreamEvents.Input) async throws -> Operations.StreamEvents.Output {
        let caller = try Self.caller()
        do {
            var after = input.query.after ?? 0
            if let resume = input.headers.lastEventID {
                guard let position = Int64(resume.trimmingCharacters(in: .whitespaces)), position >= 0 else {
                    throw ProtocolError(.badRequest, "Last-Event-ID is the last position received, an integer from 0")
                }
                after = position
            }
            guard after >= 0 else { throw ProtocolError(.badRequest, "after is a position from 0") }
            if let refusal = Permissions.check(.subscribe(from: after + 1), by: caller.role) { throw refusal }
            // Refuses a position past the head, as SUBSCRIBE does.
            _ = try await backend.openReplay(from: after + 1, to: nil, on: caller.channel.eventLoop).get()
            let feed = EventFeed(backend: backend, channel: caller.channel, after: after, streams: streams)
            return .ok(.init(body: .textEventStream(feed.body())))
        } catch {
            let error = ProtocolError.from(error)
            return .default(statusCode: error.status, error.response)
        }
    }

    // MARK: Helpers

    private static func caller() throws -> Caller {
        guard let caller = Caller.current else { throw ProtocolError(.authRequired, "send the token as Authorization: Bearer <token>") }
        return caller
    }

    private func at(_ position: Int64?) -> String? { position.map { "at=\($0)" } }

    /// Runs a query verb and makes its answer the operation's output.
    private func answer<Output>(
        _ verb: String, _ arguments: [String?], ok: (OpenAPIValueContainer) -> Output, problem: (Int, Components.Responses.Problem) -> Output
    ) async -> Output {
        switch await query(verb, arguments) {
        case .success(let body): ok(body)
        case .failure(let error): problem(error.status, error.response)
        }
    }

    /// Runs a query verb with these arguments (nil ones left out) as the caller.
    private func query(_ verb: String, _ arguments: [String?]) async -> Result<OpenAPIValueContainer, ProtocolError> {
        guard let caller = Caller.current else { return .failure(ProtocolError(.authRequired, "no token")) }
        let request: Request
        switch Request.parse(verb: verb, arguments: arguments.compactMap { $0 }) {
        case .success(let parsed): request = parsed
        case .failure(let error): return .failure(error)
        }
        if let refusal = Permissions.check(request, by: caller.role) { return .failure(refusal) }
        do {
            switch try await backend.query(request, role: caller.role, on: caller.channel.eventLoop).get().first {
            case .ok(let object)?: return .success(JSONBridge.container(object ?? [:]))
            case .error(let error)?: return .failure(error)
            default: return .failure(ProtocolError(.internalError, "\(verb) gave no answer"))
            }
        } catch {
            return .failure(ProtocolError.from(error))
        }
    }
}

/// Collects a batch's answers, which the writer gives from its own thread.
private final class Answers: Sendable {
    private struct State {
        var answers: [AppendAnswer?]
        var missing: Int
        var waiter: CheckedContinuation<[AppendAnswer], Never>?
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(answers: Array(repeating: nil, count: count), missing: count)) }

    func set(_ index: Int, _ answer: AppendAnswer) {
        let done: (CheckedContinuation<[AppendAnswer], Never>, [AppendAnswer])? = state.withLock { state in
            guard state.answers[index] == nil else { return nil }
            state.answers[index] = answer
            state.missing -= 1
            guard state.missing == 0, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.answers.map { $0! })
        }
        if let (waiter, answers) = done { waiter.resume(returning: answers) }
    }

    func all() async -> [AppendAnswer] {
        await withCheckedContinuation { waiter in
            let ready: [AppendAnswer]? = state.withLock { state in
                if state.missing == 0 { return state.answers.map { $0! } }
                state.waiter = waiter
                return nil
            }
            if let ready { waiter.resume(returning: ready) }
        }
    }
}
