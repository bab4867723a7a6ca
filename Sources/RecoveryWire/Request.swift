import RecoveryDomain

/// One request of the line protocol (docs/PROTOCOL.md), parsed. Verbs are
/// case-insensitive; arguments are separated by single spaces; `APPEND`'s
/// argument is the rest of the line.
public enum Request: Sendable, Equatable {
    case hello(token: String)
    case ping
    case quit
    case append(json: [UInt8])
    /// `at`, here and in the next three: answer as the ledger stood right
    /// after that position (nil: now).
    case caseQuery(caseID: String, at: Int64? = nil)
    case budget(agentID: String, day: BusinessDay?, at: Int64? = nil)
    /// `day`: nil for today (in the ledger's time zone).
    case budgets(day: BusinessDay?, at: Int64? = nil)
    case outcomes(by: OutcomeDimension?, from: BusinessDay?, to: BusinessDay?, at: Int64? = nil)
    case replay(from: Int64, to: Int64?)
    case subscribe(from: Int64)
    case unsubscribe
    case verify(from: Int64?, to: Int64?)
    /// The current head of the chain, signed.
    case head
    /// Cases matching a filter, newest first, a page at a time.
    case cases(CaseSearch)
    /// Everyone with an allowance setting or a charge: role and allowance.
    case people
    /// Open cases whose first follow-up is due by the end of today (of one owner, or all).
    case due(agentID: String?)
    /// The daemon's state for operators: mode, position, database, lag, connections, uptime.
    case status
    /// Compensation over a range of business days, grouped by `by` (none: one total).
    case spending(from: BusinessDay, to: BusinessDay, by: [SpendingDimension], at: Int64? = nil)
    /// The ledger's settings in force, with the position of the event that set each.
    case settings(at: Int64? = nil)

    /// The verb as written in docs, for messages.
    public var verb: String {
        switch self {
        case .hello: "HELLO"
        case .ping: "PING"
        case .quit: "QUIT"
        case .append: "APPEND"
        case .caseQuery: "CASE"
        case .budget: "BUDGET"
        case .budgets: "BUDGETS"
        case .outcomes: "OUTCOMES"
        case .replay: "REPLAY"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .verify: "VERIFY"
        case .head: "HEAD"
        case .cases: "CASES"
        case .people: "PEOPLE"
        case .due: "DUE"
        case .status: "STATUS"
        case .spending: "SPENDING"
        case .settings: "SETTINGS"
        }
    }

    /// Parses one line (without its line ending).
    public static func parse(_ line: [UInt8]) -> Result<Request, ProtocolError> {
        Result { () throws(ProtocolError) -> Request in try parseLine(line) }
    }

    /// Parses a request given as its verb and its arguments (the HTTP API's
    /// parameters) by the line's rules, so both are validated alike. An
    /// argument may not be empty or hold a space or a control character: it
    /// would read as two, or as another line.
    public static func parse(verb: String, arguments: [String]) -> Result<Request, ProtocolError> {
        for argument in arguments where argument.isEmpty || argument.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return .failure(ProtocolError(.badRequest, "a parameter may not be empty or hold a space or a control character: \"\(argument)\""))
        }
        return parse(Array(([verb] + arguments).joined(separator: " ").utf8))
    }

    private static func parseLine(_ line: [UInt8]) throws(ProtocolError) -> Request {
        guard String(validUTF8: line[...]) != nil else {
            throw ProtocolError(.badRequest, "the line is not valid UTF-8")
        }
        let space = line.firstIndex(of: 0x20)
        let verb = String(decoding: line[..<(space ?? line.endIndex)], as: UTF8.self).uppercased()
        let rest = space.map { Array(line[line.index(after: $0)...]) }
        guard !verb.isEmpty else { throw ProtocolError(.badRequest, "empty request line") }
        if verb == "APPEND" {
            guard let rest, !rest.isEmpty else { throw ProtocolError(.badRequest, "usage: APPEND <event json>") }
            return .append(json: rest)
        }
        var arguments: [String] = []
        if let rest {
            arguments = String(decoding: rest, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard !arguments.contains(where: \.isEmpty) else {
                throw ProtocolError(.badRequest, "arguments are separated by single spaces")
            }
        }
        func usage(_ text: String) -> ProtocolError { ProtocolError(.badRequest, "usage: \(text)") }
        // The point-in-time verbs take `at=<position>` as their last argument.
        var at: Int64?
        if ["CASE", "BUDGET", "BUDGETS", "OUTCOMES", "SPENDING", "SETTINGS"].contains(verb), let last = arguments.last,
            last.lowercased().hasPrefix("at=")
        {
            at = try position(String(last.dropFirst(3)), "at", from: 0)
            arguments.removeLast()
        }
        switch verb {
        case "HELLO":
            guard arguments.count == 1 else { throw usage("HELLO <token>") }
            return .hello(token: arguments[0])
        case "PING":
            guard arguments.isEmpty else { throw usage("PING") }
            return .ping
        case "QUIT":
            guard arguments.isEmpty else { throw usage("QUIT") }
            return .quit
        case "UNSUBSCRIBE":
            guard arguments.isEmpty else { throw usage("UNSUBSCRIBE") }
            return .unsubscribe
        case "HEAD":
            guard arguments.isEmpty else { throw usage("HEAD") }
            return .head
        case "PEOPLE":
            guard arguments.isEmpty else { throw usage("PEOPLE") }
            return .people
        case "STATUS":
            guard arguments.isEmpty else { throw usage("STATUS") }
            return .status
        case "SETTINGS":
            guard arguments.isEmpty else { throw usage("SETTINGS [at=<position>]") }
            return .settings(at: at)
        case "SPENDING":
            let form = "SPENDING from=<date> to=<date> [by=<dimension>[,<dimension>…]] [at=<position>]"
            var from: BusinessDay?
            var to: BusinessDay?
            var by: [SpendingDimension]?
            for argument in arguments {
                let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw usage(form) }
                switch parts[0].lowercased() {
                case "from" where from == nil: from = try day(parts[1])
                case "to" where to == nil: to = try day(parts[1])
                case "by" where by == nil:
                    let names = parts[1].lowercased().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    let dimensions = names.compactMap(SpendingDimension.init(rawValue:))
                    guard dimensions.count == names.count, Set(dimensions).count == dimensions.count else {
                        throw ProtocolError(
                            .badRequest, "by is a comma-separated list of \(SpendingDimension.allCases.map(\.rawValue).joined(separator: ", ")), each once")
                    }
                    by = dimensions
                default: throw usage(form)
                }
            }
            guard let from, let to else { throw usage(form) }
            if from > to { throw ProtocolError(.badRequest, "from \(from) is after to \(to)") }
            guard to.daysSinceEpoch - from.daysSinceEpoch < 366 else {
                throw ProtocolError(.badRequest, "the range is at most 366 days; ask for a year at a time")
            }
            return .spending(from: from, to: to, by: by ?? [], at: at)
        case "DUE":
            guard arguments.count <= 1 else { throw usage("DUE [<agent_id>]") }
            return .due(agentID: arguments.isEmpty ? nil : try identifier(arguments[0], "agent_id"))
        case "CASES":
            let form = "CASES [customer=<id>] [owner=<agent_id>] [status=open|closed|defected] [from=<date>] [to=<date>] [after=<case_id>] [limit=<1–\(CaseSearch.maximumLimit)>]"
            var search = CaseSearch()
            var seen: Set<String> = []
            for argument in arguments {
                let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw usage(form) }
                let key = parts[0].lowercased()
                guard seen.insert(key).inserted else { throw ProtocolError(.badRequest, "\(key) is given twice") }
                switch key {
                case "customer": search.customerID = try identifier(parts[1], "customer")
                case "owner": search.owner = try identifier(parts[1], "owner")
                case "status":
                    guard let status = CaseState.Status(rawValue: parts[1].lowercased()) else {
                        throw ProtocolError(.badRequest, "status must be one of open, closed, defected")
                    }
                    search.status = status
                case "from": search.from = try day(parts[1])
                case "to": search.to = try day(parts[1])
                case "after": search.after = try identifier(parts[1], "after")
                case "limit":
                    guard let limit = Int(parts[1]), (1...CaseSearch.maximumLimit).contains(limit) else {
                        throw ProtocolError(.badRequest, "limit must be an integer from 1 to \(CaseSearch.maximumLimit)")
                    }
                    search.limit = limit
                default: throw usage(form)
                }
            }
            if let from = search.from, let to = search.to, from > to { throw ProtocolError(.badRequest, "from \(from) is after to \(to)") }
            return .cases(search)
        case "CASE":
            guard arguments.count == 1 else { throw usage("CASE <case_id> [at=<position>]") }
            return .caseQuery(caseID: try identifier(arguments[0], "case_id"), at: at)
        case "BUDGET":
            guard (1...2).contains(arguments.count) else { throw usage("BUDGET <agent_id> [YYYY-MM-DD] [at=<position>]") }
            let day = arguments.count == 2 ? try day(arguments[1]) : nil
            return .budget(agentID: try identifier(arguments[0], "agent_id"), day: day, at: at)
        case "BUDGETS":
            guard arguments.count <= 1 else { throw usage("BUDGETS [YYYY-MM-DD] [at=<position>]") }
            return .budgets(day: arguments.isEmpty ? nil : try day(arguments[0]), at: at)
        case "OUTCOMES":
            var by: OutcomeDimension?
            var from: BusinessDay?
            var to: BusinessDay?
            for argument in arguments {
                let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw usage("OUTCOMES [by=<dimension>] [from=<date>] [to=<date>] [at=<position>]") }
                switch parts[0].lowercased() {
                case "by":
                    guard by == nil, let dimension = OutcomeDimension(rawValue: parts[1].lowercased()) else {
                        throw ProtocolError(.badRequest, "by must be one of \(OutcomeDimension.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    by = dimension
                case "from":
                    guard from == nil else { throw ProtocolError(.badRequest, "from is given twice") }
                    from = try day(parts[1])
                case "to":
                    guard to == nil else { throw ProtocolError(.badRequest, "to is given twice") }
                    to = try day(parts[1])
                default:
                    throw usage("OUTCOMES [by=<dimension>] [from=<date>] [to=<date>] [at=<position>]")
                }
            }
            if let from, let to, from > to { throw ProtocolError(.badRequest, "from \(from) is after to \(to)") }
            return .outcomes(by: by, from: from, to: to, at: at)
        case "REPLAY":
            guard (1...2).contains(arguments.count) else { throw usage("REPLAY <from> [<to>]") }
            let from = try position(arguments[0], "from")
            let to = try arguments.count == 2 ? position(arguments[1], "to") : nil
            if let to, to < from { throw ProtocolError(.badRequest, "to \(to) is before from \(from)") }
            return .replay(from: from, to: to)
        case "SUBSCRIBE":
            guard arguments.count == 1 else { throw usage("SUBSCRIBE <from>") }
            return .subscribe(from: try position(arguments[0], "from"))
        case "VERIFY":
            guard arguments.count <= 2 else { throw usage("VERIFY [<from> [<to>]]") }
            let from = arguments.isEmpty ? nil : try position(arguments[0], "from")
            let to = try arguments.count == 2 ? position(arguments[1], "to") : nil
            if let from, let to, to < from { throw ProtocolError(.badRequest, "to \(to) is before from \(from)") }
            return .verify(from: from, to: to)
        default:
            throw ProtocolError(
                .unknownCommand,
                "unknown command \(verb.prefix(32)); commands: HELLO PING QUIT APPEND CASE CASES DUE BUDGET BUDGETS PEOPLE SPENDING SETTINGS OUTCOMES REPLAY SUBSCRIBE UNSUBSCRIBE VERIFY HEAD STATUS"
            )
        }
    }

    private static func identifier(_ text: String, _ name: String) throws(ProtocolError) -> String {
        guard Identifier.isValid(text) else {
            throw ProtocolError(.badRequest, "\(name) must be 1–64 characters of A-Z a-z 0-9 . _ : @ -")
        }
        return text
    }

    private static func day(_ text: String) throws(ProtocolError) -> BusinessDay {
        guard let day = BusinessDay(text) else { throw ProtocolError(.badRequest, "\(text.prefix(32)) is not a date (YYYY-MM-DD)") }
        return day
    }

    private static func position(_ text: String, _ name: String, from minimum: Int64 = 1) throws(ProtocolError) -> Int64 {
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let value = Int64(text), value >= minimum else {
            throw ProtocolError(.badRequest, "\(name) must be a position (an integer from \(minimum))")
        }
        return value
    }
}

