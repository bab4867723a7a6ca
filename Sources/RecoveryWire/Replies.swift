import Foundation
import RecoveryDomain

/// The `OK` answers of the line protocol (docs/PROTOCOL.md) as typed values,
/// each defined once: the server builds one and writes its ``WireReply/json``
/// (canonical JSON), a client reads the line back with ``WireReply/init(json:)``.
/// Keys are snake_case on the wire; amounts are integer minor units; rates
/// and means are exact decimals as the server wrote them (``WireDecimal``).
public enum Reply {
    /// What an answer given with `at=<position>` adds: the position it is as of
    /// and the chain's hash there (both absent from an answer about now).
    public struct AsOf: WireReply, Equatable {
        public var at: Int64?
        public var atHash: String?

        public init(at: Int64?, atHash: String?) {
            self.at = at
            self.atHash = atHash
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "as of")
            at = try fields.optionalInt64("at")
            atHash = try fields.optionalString("at_hash")
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = [:]
            if let at { object["at"] = .integer(at) }
            if let atHash { object["at_hash"] = .string(atHash) }
            return object
        }
    }

    /// `HELLO`: who the server is, who you are, the ledger's settings in
    /// force and every limit, by name.
    public struct Hello: WireReply, Equatable {
        public var server: String
        public var version: String
        public var protocolVersion: Int
        public var role: String
        public var position: Int64
        /// Each setting's value in force, by its name (`currency`, `time_zone`, …).
        public var settings: [String: JSONValue]
        /// Every limit by its name (`max_line`, …).
        public var limits: [String: Int]
        /// The Ed25519 public key of signed heads, 64 hex.
        public var signingKey: String?
        /// The person the token is bound to, if it is.
        public var agent: String?
        /// `writer`, `standby` or `follower` (absent from older servers: a writer).
        public var mode: String?
        /// A standby's writer, when known.
        public var writer: String?
        /// A follower's lag (both keys present, each null until measured).
        public var lag: Lag?

        public struct Lag: Sendable, Equatable {
            public var positions: Int64?
            public var seconds: String?
            public init(positions: Int64?, seconds: String?) {
                self.positions = positions
                self.seconds = seconds
            }
        }

        public init(
            server: String = "recoveryd", version: String, protocolVersion: Int = 1, role: String, position: Int64,
            settings: [String: JSONValue], limits: [String: Int], signingKey: String?, agent: String?, mode: String?, writer: String? = nil,
            lag: Lag? = nil
        ) {
            self.server = server
            self.version = version
            self.protocolVersion = protocolVersion
            self.role = role
            self.position = position
            self.settings = settings
            self.limits = limits
            self.signingKey = signingKey
            self.agent = agent
            self.mode = mode
            self.writer = writer
            self.lag = lag
        }

        public var currency: String { if case .string(let text) = settings[SettingName.currency.rawValue] { text } else { "" } }
        public var timeZone: String { if case .string(let text) = settings[SettingName.timeZone.rawValue] { text } else { "UTC" } }
        public var maxLine: Int { limits["max_line"] ?? Limits().maxLine }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "HELLO")
            server = try fields.string("server")
            version = try fields.string("version")
            protocolVersion = try fields.optionalInt("protocol") ?? 1
            role = try fields.string("role")
            position = try fields.int64("position")
            signingKey = try fields.optionalString("signing_key")
            agent = try fields.optionalString("agent")
            mode = try fields.optionalString("mode")
            writer = try fields.optionalString("writer")
            lag = fields.has("lag_positions") ? Lag(positions: try fields.optionalInt64("lag_positions"), seconds: try fields.optionalString("lag_seconds")) : nil
            var settings: [String: JSONValue] = [:]
            for name in SettingName.allCases { settings[name.rawValue] = json[name.rawValue] ?? .null }
            self.settings = settings
            var limits: [String: Int] = [:]
            for name in Limits().named.map(\.name) { if let value = try fields.optionalInt(name) { limits[name] = value } }
            self.limits = limits
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = [
                "server": .string(server), "version": .string(version), "protocol": .int(protocolVersion), "role": .string(role),
                "position": .integer(position),
            ]
            for (name, value) in settings { object[name] = value }
            for (name, value) in limits { object[name] = .int(value) }
            if let signingKey { object["signing_key"] = .string(signingKey) }
            if let agent { object["agent"] = .string(agent) }
            if let mode { object["mode"] = .string(mode) }
            if let writer { object["writer"] = .string(writer) }
            if let lag {
                object["lag_positions"] = .optional(lag.positions)
                object["lag_seconds"] = .optional(lag.seconds)
            }
            return object
        }
    }

    /// `SETTINGS`: each setting's value in force and the position of the
    /// event that set it (null: built in), and the supervisors.
    public struct Settings: WireReply, Equatable {
        public var day: String
        /// Each setting's value by name: an integer, a string or null.
        public var settings: [String: JSONValue]
        public var positions: [String: Int64?]
        public var supervisors: [String]
        public var asOf: AsOf?

        public init(day: String, settings: [String: JSONValue], positions: [String: Int64?], supervisors: [String], asOf: AsOf? = nil) {
            self.day = day
            self.settings = settings
            self.positions = positions
            self.supervisors = supervisors
            self.asOf = asOf
        }

        public var currency: String { if case .string(let text) = settings[SettingName.currency.rawValue] { text } else { "" } }

        /// Each value as text (`nil` for null), as a person reads it.
        public var values: [String: String?] {
            settings.mapValues { value -> String? in
                switch value {
                case .integer(let number): String(number)
                case .string(let text): text
                default: nil
                }
            }
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "SETTINGS")
            day = try fields.string("day")
            supervisors = try fields.strings("supervisors")
            var settings: [String: JSONValue] = [:]
            for name in SettingName.allCases { settings[name.rawValue] = json[name.rawValue] ?? .null }
            self.settings = settings
            var positions: [String: Int64?] = [:]
            for (name, value) in try fields.object("positions") {
                switch value {
                case .integer(let position): positions[name] = .some(position)
                case .null: positions[name] = .some(nil)
                default: throw WireError("SETTINGS: positions.\(name) is \(value.typeName), not an integer or null")
                }
            }
            self.positions = positions
            asOf = fields.has("at") ? try AsOf(json: json) : nil
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = ["day": .string(day), "supervisors": .array(supervisors.map(JSONValue.string))]
            for (name, value) in settings { object[name] = value }
            object["positions"] = .object(positions.mapValues { .optional($0) })
            return object.merging(asOf?.json ?? [:]) { $1 }
        }
    }

    /// A signed head (`HEAD`), as the server answers it and as
    /// `recoveryctl head` saves it (with the key that signed it).
    public struct Head: WireReply, Codable, Equatable {
        public var ledger: String
        public var position: Int64
        public var hash: String
        public var signedAt: String
        public var signature: String
        public var signingKey: String?

        public init(ledger: String, position: Int64, hash: String, signedAt: String, signature: String, signingKey: String? = nil) {
            self.ledger = ledger
            self.position = position
            self.hash = hash
            self.signedAt = signedAt
            self.signature = signature
            self.signingKey = signingKey
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "HEAD")
            ledger = try fields.string("ledger")
            position = try fields.int64("position")
            hash = try fields.string("hash")
            signedAt = try fields.string("signed_at")
            signature = try fields.string("signature")
            signingKey = try fields.optionalString("signing_key")
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = [
                "ledger": .string(ledger), "position": .integer(position), "hash": .string(hash), "signed_at": .string(signedAt),
                "signature": .string(signature),
            ]
            if let signingKey { object["signing_key"] = .string(signingKey) }
            return object
        }
    }

    /// `HEAD` on a standby or follower: the head of the log it reads, unsigned.
    public struct LogHead: WireReply, Equatable {
        public var ledger: String
        public var position: Int64
        public var hash: String
        public var mode: String

        public init(ledger: String, position: Int64, hash: String, mode: String) {
            self.ledger = ledger
            self.position = position
            self.hash = hash
            self.mode = mode
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "HEAD")
            ledger = try fields.string("ledger")
            position = try fields.int64("position")
            hash = try fields.string("hash")
            mode = try fields.string("mode")
        }

        public var json: [String: JSONValue] {
            ["ledger": .string(ledger), "position": .integer(position), "hash": .string(hash), "mode": .string(mode)]
        }
    }

    /// An `APPEND` receipt: the chain hash at `position` is a later replay's
    /// to match. A recorded compensation's also says what the person charged
    /// has left (`remaining`, `warning`). The server writes it without
    /// building an object (``Response/receipt(position:hash:duplicate:spending:)``).
    public struct Receipt: WireReply, Codable, Equatable {
        public var position: Int64
        public var hash: String
        public var duplicate: Bool
        public var remaining: Int64?
        public var warning: Bool?

        public init(position: Int64, hash: String, duplicate: Bool, remaining: Int64? = nil, warning: Bool? = nil) {
            self.position = position
            self.hash = hash
            self.duplicate = duplicate
            self.remaining = remaining
            self.warning = warning
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "APPEND")
            position = try fields.int64("position")
            hash = try fields.string("hash")
            duplicate = try fields.bool("duplicate")
            remaining = try fields.optionalInt64("remaining")
            warning = try fields.optionalBool("warning")
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = ["position": .integer(position), "hash": .string(hash), "duplicate": .bool(duplicate)]
            if let remaining { object["remaining"] = .integer(remaining) }
            if let warning { object["warning"] = .bool(warning) }
            return object
        }
    }

    /// `BUDGET`, and each row of `BUDGETS`.
    public struct Budget: WireReply, Equatable {
        public var agentId: String
        public var day: String
        public var allowance: Int64
        public var spent: Int64
        public var remaining: Int64
        public var currency: String
        public var compensations: Int
        public var reversals: Int
        /// Reversals recorded this day of earlier days' charges (their room is not given back).
        public var lateReversals: Int
        public var lateReversed: Int64
        public var asOf: AsOf?

        public init(
            agentId: String, day: String, allowance: Int64, spent: Int64, remaining: Int64, currency: String, compensations: Int, reversals: Int,
            lateReversals: Int, lateReversed: Int64, asOf: AsOf? = nil
        ) {
            self.agentId = agentId
            self.day = day
            self.allowance = allowance
            self.spent = spent
            self.remaining = remaining
            self.currency = currency
            self.compensations = compensations
            self.reversals = reversals
            self.lateReversals = lateReversals
            self.lateReversed = lateReversed
            self.asOf = asOf
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "BUDGET")
            agentId = try fields.string("agent_id")
            day = try fields.string("day")
            allowance = try fields.int64("allowance")
            spent = try fields.int64("spent")
            remaining = try fields.int64("remaining")
            currency = try fields.string("currency")
            compensations = try fields.int("compensations")
            reversals = try fields.int("reversals")
            lateReversals = try fields.optionalInt("late_reversals") ?? 0
            lateReversed = try fields.optionalInt64("late_reversed") ?? 0
            asOf = fields.has("at") ? try AsOf(json: json) : nil
        }

        public var json: [String: JSONValue] {
            let object: [String: JSONValue] = [
                "agent_id": .string(agentId), "day": .string(day), "allowance": .integer(allowance), "spent": .integer(spent),
                "remaining": .integer(remaining), "currency": .string(currency), "compensations": .int(compensations),
                "reversals": .int(reversals), "late_reversals": .int(lateReversals), "late_reversed": .integer(lateReversed),
            ]
            return object.merging(asOf?.json ?? [:]) { $1 }
        }
    }

    /// `BUDGETS`: a day's rows of everyone it covers, and the day's totals.
    public struct Budgets: WireReply, Equatable {
        public var day: String
        public var currency: String
        public var agents: [Budget]
        /// Who the rows and totals cover.
        public var covers: String
        public var totalAllowance: Int64
        public var totalSpent: Int64
        public var compensations: Int
        public var reversals: Int
        public var lateReversals: Int
        public var lateReversed: Int64
        public var asOf: AsOf?

        public init(
            day: String, currency: String, agents: [Budget], covers: String, totalAllowance: Int64, totalSpent: Int64, compensations: Int,
            reversals: Int, lateReversals: Int, lateReversed: Int64, asOf: AsOf? = nil
        ) {
            self.day = day
            self.currency = currency
            self.agents = agents
            self.covers = covers
            self.totalAllowance = totalAllowance
            self.totalSpent = totalSpent
            self.compensations = compensations
            self.reversals = reversals
            self.lateReversals = lateReversals
            self.lateReversed = lateReversed
            self.asOf = asOf
        }

        /// The number of rows.
        public var people: Int { agents.count }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "BUDGETS")
            day = try fields.string("day")
            currency = try fields.string("currency")
            agents = try fields.list("agents", of: Budget.self)
            covers = try fields.optionalString("covers") ?? ""
            totalAllowance = try fields.int64("total_allowance")
            totalSpent = try fields.int64("total_spent")
            compensations = try fields.optionalInt("compensations") ?? 0
            reversals = try fields.optionalInt("reversals") ?? 0
            lateReversals = try fields.optionalInt("late_reversals") ?? 0
            lateReversed = try fields.optionalInt64("late_reversed") ?? 0
            asOf = fields.has("at") ? try AsOf(json: json) : nil
        }

        public var json: [String: JSONValue] {
            let object: [String: JSONValue] = [
                "day": .string(day), "currency": .string(currency), "agents": .array(agents.map { .object($0.json) }), "people": .int(people),
                "covers": .string(covers), "total_allowance": .integer(totalAllowance), "total_spent": .integer(totalSpent),
                "compensations": .int(compensations), "reversals": .int(reversals), "late_reversals": .int(lateReversals),
                "late_reversed": .integer(lateReversed),
            ]
            return object.merging(asOf?.json ?? [:]) { $1 }
        }
    }

    /// `CASE`: a case's state and its events, as stored.
    public struct Case: WireReply, Equatable {
        /// One of the case's events: its stored payload, with the fields a
        /// person reads in a table.
        public struct Event: Sendable, Equatable {
            public var payload: [String: JSONValue]

            public init(payload: [String: JSONValue]) { self.payload = payload }

            private func text(_ key: String) -> String? { if case .string(let text) = payload[key] { text } else { nil } }
            private func integer(_ key: String) -> Int64? { if case .integer(let number) = payload[key] { number } else { nil } }

            public var position: Int64 { integer("position") ?? 0 }
            public var eventId: String { text("event_id") ?? "" }
            public var recordedAt: String { text("recorded_at") ?? "" }
            public var type: String { text("type") ?? "" }
            public var agentId: String { text("agent_id") ?? "" }
            public var amount: Int64? { integer("amount") }
            public var currency: String? { text("currency") }
            public var kind: String? { text("kind") }
            public var approvedBy: String? { text("approved_by") }
            public var overrideReason: String? { text("override_reason") }
            public var reverses: String? { text("reverses") }
            public var toAgentId: String? { text("to_agent_id") }
            public var reason: String? { text("reason") }
            public var satisfaction: Int? { integer("satisfaction").map { Int($0) } }
            public var wouldRecommend: Int? { integer("would_recommend").map { Int($0) } }
            public var resolved: Bool? { if case .bool(let value) = payload["resolved"] { value } else { nil } }
            public var customerId: String? { text("customer_id") }
            public var severity: Int? { integer("severity").map { Int($0) } }
            public var baseline: Int? { integer("baseline").map { Int($0) } }
        }

        public var caseId: String
        public var customerId: String
        public var channel: String
        public var category: String
        public var severity: Int
        public var owner: String
        public var openedAt: String
        public var openedDay: String
        public var status: String
        public var outcome: String
        public var steps: [String]
        public var mamaComplete: Bool
        public var compensationNet: Int64
        public var currency: String
        public var lastPosition: Int64
        public var baseline: Int?
        public var satisfaction: Int?
        public var wouldRecommend: Int?
        public var uplift: Int?
        public var isRepeat: Bool
        public var priorCases: Int
        public var followUpDue: String?
        public var followUpLate: Bool?
        public var secondsToApology: WireDecimal?
        public var secondsToResolution: WireDecimal?
        public var events: [Event]
        public var asOf: AsOf?

        public init(
            caseId: String, customerId: String, channel: String, category: String, severity: Int, owner: String, openedAt: String,
            openedDay: String, status: String, outcome: String, steps: [String], mamaComplete: Bool, compensationNet: Int64, currency: String,
            lastPosition: Int64, baseline: Int?, satisfaction: Int?, wouldRecommend: Int?, uplift: Int?, isRepeat: Bool, priorCases: Int,
            followUpDue: String?, followUpLate: Bool?, secondsToApology: WireDecimal?, secondsToResolution: WireDecimal?, events: [Event],
            asOf: AsOf? = nil
        ) {
            self.caseId = caseId
            self.customerId = customerId
            self.channel = channel
            self.category = category
            self.severity = severity
            self.owner = owner
            self.openedAt = openedAt
            self.openedDay = openedDay
            self.status = status
            self.outcome = outcome
            self.steps = steps
            self.mamaComplete = mamaComplete
            self.compensationNet = compensationNet
            self.currency = currency
            self.lastPosition = lastPosition
            self.baseline = baseline
            self.satisfaction = satisfaction
            self.wouldRecommend = wouldRecommend
            self.uplift = uplift
            self.isRepeat = isRepeat
            self.priorCases = priorCases
            self.followUpDue = followUpDue
            self.followUpLate = followUpLate
            self.secondsToApology = secondsToApology
            self.secondsToResolution = secondsToResolution
            self.events = events
            self.asOf = asOf
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "CASE")
            caseId = try fields.string("case_id")
            customerId = try fields.string("customer_id")
            channel = try fields.string("channel")
            category = try fields.string("category")
            severity = try fields.int("severity")
            owner = try fields.string("owner")
            openedAt = try fields.string("opened_at")
            openedDay = try fields.string("opened_day")
            status = try fields.string("status")
            outcome = try fields.string("outcome")
            steps = try fields.strings("steps")
            mamaComplete = try fields.bool("mama_complete")
            compensationNet = try fields.int64("compensation_net")
            currency = try fields.string("currency")
            lastPosition = try fields.int64("last_position")
            baseline = try fields.optionalInt("baseline")
            satisfaction = try fields.optionalInt("satisfaction")
            wouldRecommend = try fields.optionalInt("would_recommend")
            uplift = try fields.optionalInt("uplift")
            isRepeat = try fields.optionalBool("repeat") ?? false
            priorCases = try fields.optionalInt("prior_cases") ?? 0
            followUpDue = try fields.optionalString("follow_up_due")
            followUpLate = try fields.optionalBool("follow_up_late")
            secondsToApology = try fields.decimal("seconds_to_apology")
            secondsToResolution = try fields.decimal("seconds_to_resolution")
            events = try fields.objects("events").map(Event.init(payload:))
            asOf = fields.has("at") ? try AsOf(json: json) : nil
        }

        public var json: [String: JSONValue] {
            let object: [String: JSONValue] = [
                "case_id": .string(caseId), "customer_id": .string(customerId), "channel": .string(channel), "category": .string(category),
                "severity": .int(severity), "owner": .string(owner), "opened_at": .string(openedAt), "opened_day": .string(openedDay),
                "status": .string(status), "outcome": .string(outcome), "steps": .array(steps.map(JSONValue.string)),
                "mama_complete": .bool(mamaComplete), "compensation_net": .integer(compensationNet), "currency": .string(currency),
                "last_position": .integer(lastPosition), "baseline": .optional(baseline), "satisfaction": .optional(satisfaction),
                "would_recommend": .optional(wouldRecommend), "uplift": .optional(uplift), "repeat": .bool(isRepeat),
                "prior_cases": .int(priorCases), "follow_up_due": .optional(followUpDue), "follow_up_late": .optional(followUpLate),
                "seconds_to_apology": .optional(secondsToApology), "seconds_to_resolution": .optional(secondsToResolution),
                "events": .array(events.map { .object($0.payload) }),
            ]
            return object.merging(asOf?.json ?? [:]) { $1 }
        }
    }

    /// `OUTCOMES`: the total and, grouped by a dimension, each group's figures.
    public struct Outcomes: WireReply, Equatable {
        /// The figures of the total or of one group.
        public struct Summary: WireReply, Equatable {
            /// The group's key (absent from the total).
            public var key: String?
            public var cases: Int
            /// Cases per outcome (`open`, `paradox`, `restored`, `unrecovered`, `unmeasured`, `defected`).
            public var outcomes: [String: Int]
            public var paradoxRate: WireDecimal?
            public var meanUplift: WireDecimal?
            public var compensationTotal: Int64
            public var compensationClosed: Int64
            public var compensationPerParadox: Int64?
            public var promoters: Int
            public var passives: Int
            public var detractors: Int
            public var nps: WireDecimal?
            public var followUpOnTimeRate: WireDecimal?
            public var followedUp: Int
            public var followedUpOnTime: Int
            public var followUpsOverdue: Int
            /// In groups by agent: the compensation in the cases the agent owns.
            public var compensationOwned: Int64?

            public init(
                key: String? = nil, cases: Int, outcomes: [String: Int], paradoxRate: WireDecimal?, meanUplift: WireDecimal?,
                compensationTotal: Int64, compensationClosed: Int64, compensationPerParadox: Int64?, promoters: Int, passives: Int,
                detractors: Int, nps: WireDecimal?, followUpOnTimeRate: WireDecimal?, followedUp: Int, followedUpOnTime: Int,
                followUpsOverdue: Int, compensationOwned: Int64? = nil
            ) {
                self.key = key
                self.cases = cases
                self.outcomes = outcomes
                self.paradoxRate = paradoxRate
                self.meanUplift = meanUplift
                self.compensationTotal = compensationTotal
                self.compensationClosed = compensationClosed
                self.compensationPerParadox = compensationPerParadox
                self.promoters = promoters
                self.passives = passives
                self.detractors = detractors
                self.nps = nps
                self.followUpOnTimeRate = followUpOnTimeRate
                self.followedUp = followedUp
                self.followedUpOnTime = followedUpOnTime
                self.followUpsOverdue = followUpsOverdue
                self.compensationOwned = compensationOwned
            }

            public var open: Int { outcomes["open"] ?? 0 }
            public var paradox: Int { outcomes["paradox"] ?? 0 }
            public var restored: Int { outcomes["restored"] ?? 0 }
            public var unrecovered: Int { outcomes["unrecovered"] ?? 0 }
            public var unmeasured: Int { outcomes["unmeasured"] ?? 0 }
            public var defected: Int { outcomes["defected"] ?? 0 }

            public init(json: [String: JSONValue]) throws(WireError) {
                let fields = WireFields(json, "OUTCOMES")
                key = try fields.optionalString("key")
                cases = try fields.int("cases")
                var outcomes: [String: Int] = [:]
                for outcome in Outcome.allCases { outcomes[outcome.rawValue] = try fields.int(outcome.rawValue) }
                self.outcomes = outcomes
                paradoxRate = try fields.decimal("paradox_rate")
                meanUplift = try fields.decimal("mean_uplift")
                compensationTotal = try fields.int64("compensation_total")
                compensationClosed = try fields.optionalInt64("compensation_closed") ?? 0
                compensationPerParadox = try fields.optionalInt64("compensation_per_paradox")
                promoters = try fields.optionalInt("promoters") ?? 0
                passives = try fields.optionalInt("passives") ?? 0
                detractors = try fields.optionalInt("detractors") ?? 0
                nps = try fields.decimal("nps")
                followUpOnTimeRate = try fields.decimal("follow_up_on_time_rate")
                followedUp = try fields.optionalInt("followed_up") ?? 0
                followedUpOnTime = try fields.optionalInt("followed_up_on_time") ?? 0
                followUpsOverdue = try fields.optionalInt("follow_ups_overdue") ?? 0
                compensationOwned = try fields.optionalInt64("compensation_owned")
            }

            public var json: [String: JSONValue] {
                var object: [String: JSONValue] = [
                    "cases": .int(cases), "paradox_rate": .optional(paradoxRate), "mean_uplift": .optional(meanUplift),
                    "compensation_total": .integer(compensationTotal), "compensation_closed": .integer(compensationClosed),
                    "compensation_per_paradox": .optional(compensationPerParadox), "promoters": .int(promoters), "passives": .int(passives),
                    "detractors": .int(detractors), "nps": .optional(nps), "follow_up_on_time_rate": .optional(followUpOnTimeRate),
                    "followed_up": .int(followedUp), "followed_up_on_time": .int(followedUpOnTime), "follow_ups_overdue": .int(followUpsOverdue),
                ]
                for (outcome, count) in outcomes { object[outcome] = .int(count) }
                if let key { object["key"] = .string(key) }
                if let compensationOwned { object["compensation_owned"] = .integer(compensationOwned) }
                return object
            }
        }

        public var by: String?
        public var from: String?
        public var to: String?
        public var currency: String
        public var groups: [Summary]
        public var total: Summary
        public var asOf: AsOf?

        public init(by: String?, from: String?, to: String?, currency: String, groups: [Summary], total: Summary, asOf: AsOf? = nil) {
            self.by = by
            self.from = from
            self.to = to
            self.currency = currency
            self.groups = groups
            self.total = total
            self.asOf = asOf
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "OUTCOMES")
            by = try fields.optionalString("by")
            from = try fields.optionalString("from")
            to = try fields.optionalString("to")
            currency = try fields.string("currency")
            groups = try fields.list("groups", of: Summary.self)
            total = try Summary(json: json)
            asOf = fields.has("at") ? try AsOf(json: json) : nil
        }

        public var json: [String: JSONValue] {
            var object = total.json
            object["by"] = .optional(by)
            object["from"] = .optional(from)
            object["to"] = .optional(to)
            object["currency"] = .string(currency)
            object["groups"] = .array(groups.map { .object($0.json) })
            return object.merging(asOf?.json ?? [:]) { $1 }
        }
    }

    /// One line of `CASES` and `DUE`.
    public struct CaseSummary: WireReply, Equatable {
        public var caseId: String
        public var customerId: String
        public var owner: String
        public var status: String
        public var outcome: String
        public var channel: String
        public var category: String
        public var severity: Int
        public var openedAt: String
        public var openedDay: String
        public var compensationNet: Int64
        public var currency: String
        public var lastPosition: Int64
        public var isRepeat: Bool
        public var priorCases: Int
        /// `DUE` only: when its first follow-up is due, and whether that has passed.
        public var due: Due?

        public struct Due: Sendable, Equatable {
            public var followUpDue: String?
            public var overdue: Bool
            public init(followUpDue: String?, overdue: Bool) {
                self.followUpDue = followUpDue
                self.overdue = overdue
            }
        }

        public init(
            caseId: String, customerId: String, owner: String, status: String, outcome: String, channel: String, category: String, severity: Int,
            openedAt: String, openedDay: String, compensationNet: Int64, currency: String, lastPosition: Int64, isRepeat: Bool, priorCases: Int,
            due: Due? = nil
        ) {
            self.caseId = caseId
            self.customerId = customerId
            self.owner = owner
            self.status = status
            self.outcome = outcome
            self.channel = channel
            self.category = category
            self.severity = severity
            self.openedAt = openedAt
            self.openedDay = openedDay
            self.compensationNet = compensationNet
            self.currency = currency
            self.lastPosition = lastPosition
            self.isRepeat = isRepeat
            self.priorCases = priorCases
            self.due = due
        }

        public var followUpDue: String? { due?.followUpDue }
        public var overdue: Bool? { due?.overdue }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "CASES")
            caseId = try fields.string("case_id")
            customerId = try fields.string("customer_id")
            owner = try fields.string("owner")
            status = try fields.string("status")
            outcome = try fields.string("outcome")
            channel = try fields.string("channel")
            category = try fields.string("category")
            severity = try fields.int("severity")
            openedAt = try fields.string("opened_at")
            openedDay = try fields.string("opened_day")
            compensationNet = try fields.int64("compensation_net")
            currency = try fields.string("currency")
            lastPosition = try fields.int64("last_position")
            isRepeat = try fields.bool("repeat")
            priorCases = try fields.int("prior_cases")
            due = fields.has("overdue") ? Due(followUpDue: try fields.optionalString("follow_up_due"), overdue: try fields.bool("overdue")) : nil
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = [
                "case_id": .string(caseId), "customer_id": .string(customerId), "owner": .string(owner), "status": .string(status),
                "outcome": .string(outcome), "channel": .string(channel), "category": .string(category), "severity": .int(severity),
                "opened_at": .string(openedAt), "opened_day": .string(openedDay), "compensation_net": .integer(compensationNet),
                "currency": .string(currency), "last_position": .integer(lastPosition), "repeat": .bool(isRepeat), "prior_cases": .int(priorCases),
            ]
            if let due {
                object["follow_up_due"] = .optional(due.followUpDue)
                object["overdue"] = .bool(due.overdue)
            }
            return object
        }
    }

    /// `CASES`: a page of cases, newest first.
    public struct Cases: WireReply, Equatable {
        public var cases: [CaseSummary]
        /// The `after=` of the next page, if there is one.
        public var next: String?

        public init(cases: [CaseSummary], next: String?) {
            self.cases = cases
            self.next = next
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "CASES")
            cases = try fields.list("cases", of: CaseSummary.self)
            next = try fields.optionalString("next")
        }

        public var json: [String: JSONValue] { ["cases": .array(cases.map { .object($0.json) }), "next": .optional(next)] }
    }

    /// `DUE`: the open cases whose first follow-up is due by the end of `day`.
    public struct Due: WireReply, Equatable {
        public var day: String
        public var cases: [CaseSummary]

        public init(day: String, cases: [CaseSummary]) {
            self.day = day
            self.cases = cases
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "DUE")
            day = try fields.string("day")
            cases = try fields.list("cases", of: CaseSummary.self)
        }

        public var json: [String: JSONValue] { ["day": .string(day), "cases": .array(cases.map { .object($0.json) })] }
    }

    public struct Person: WireReply, Equatable {
        public var agentId: String
        public var role: String
        public var allowance: Int64

        public init(agentId: String, role: String, allowance: Int64) {
            self.agentId = agentId
            self.role = role
            self.allowance = allowance
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "PEOPLE")
            agentId = try fields.string("agent_id")
            role = try fields.string("role")
            allowance = try fields.int64("allowance")
        }

        public var json: [String: JSONValue] { ["agent_id": .string(agentId), "role": .string(role), "allowance": .integer(allowance)] }
    }

    /// `PEOPLE`: everyone with a budget row or an allowance setting, and today's role and allowance.
    public struct People: WireReply, Equatable {
        public var day: String
        public var currency: String
        public var people: [Person]

        public init(day: String, currency: String, people: [Person]) {
            self.day = day
            self.currency = currency
            self.people = people
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "PEOPLE")
            day = try fields.string("day")
            currency = try fields.string("currency")
            people = try fields.list("people", of: Person.self)
        }

        public var json: [String: JSONValue] {
            ["day": .string(day), "currency": .string(currency), "people": .array(people.map { .object($0.json) })]
        }
    }

    /// The final line of a `REPLAY`.
    public struct ReplaySummary: WireReply, Equatable {
        public var count: Int64
        public var last: Int64
        public var prevHash: String
        public var hash: String

        public init(count: Int64, last: Int64, prevHash: String, hash: String) {
            self.count = count
            self.last = last
            self.prevHash = prevHash
            self.hash = hash
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "REPLAY")
            count = try fields.int64("count")
            last = try fields.int64("last")
            prevHash = try fields.string("prev_hash")
            hash = try fields.string("hash")
        }

        public var json: [String: JSONValue] {
            ["count": .integer(count), "last": .integer(last), "prev_hash": .string(prevHash), "hash": .string(hash)]
        }
    }

    /// The final line of a subscription ended by `UNSUBSCRIBE`.
    public struct Unsubscribed: WireReply, Equatable {
        public var count: Int64
        public var last: Int64

        public init(count: Int64, last: Int64) {
            self.count = count
            self.last = last
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "UNSUBSCRIBE")
            count = try fields.int64("count")
            last = try fields.int64("last")
        }

        public var json: [String: JSONValue] { ["unsubscribed": .bool(true), "count": .integer(count), "last": .integer(last)] }
    }

    /// `VERIFY`: how many positions were checked, the last, and its hash.
    public struct Verified: WireReply, Equatable {
        public var verified: Int64
        public var last: Int64
        public var hash: String

        public init(verified: Int64, last: Int64, hash: String) {
            self.verified = verified
            self.last = last
            self.hash = hash
        }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "VERIFY")
            verified = try fields.int64("verified")
            last = try fields.int64("last")
            hash = try fields.string("hash")
        }

        public var json: [String: JSONValue] { ["verified": .integer(verified), "last": .integer(last), "hash": .string(hash)] }
    }

    /// Reads the JSON of an `OK {…}` line as `T`.
    public static func decode<T: WireReply>(_ type: T.Type, from json: String) throws -> T {
        let value: JSONValue
        do {
            value = try JSONParser.parse(json)
        } catch {
            throw ClientError("the server's answer is not JSON: \(error)")
        }
        guard case .object(let object) = value else { throw ClientError("the server's answer is not a JSON object") }
        do {
            return try T(json: object)
        } catch {
            throw ClientError("the server's answer is not a \(type): \(error)")
        }
    }
}

/// A refusal from the server: its `ERR` code and message.
public struct ServerRefusal: Error, CustomStringConvertible, Equatable {
    public var code: String
    public var message: String
    public var description: String { "\(code) \(message)" }

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

extension Answer {
    /// The `OK` answer's JSON read as `T`; a refusal throws ``ServerRefusal``.
    public func decode<T: WireReply>(_ type: T.Type) throws -> T {
        switch self {
        case .ok(let json): return try Reply.decode(type, from: json.isEmpty ? "{}" : json)
        case .error(let code, let message): throw ServerRefusal(code: code, message: message)
        case .event: throw ClientError("an EVENT line where a final answer was expected")
        }
    }
}

extension Reply {
    /// `SPENDING`: compensation over a range of days, grouped.
    public struct Spending: WireReply, Equatable {
        public struct Row: WireReply, Equatable {
            public var agentId: String?
            public var day: String?
            public var kind: String?
            public var category: String?
            public var compensations: Int64
            public var reversals: Int64
            public var gross: Int64
            /// What the reversals recorded in the group took back (of any day's charges).
            public var reversed: Int64
            public var net: Int64
            public var overrides: Int64
            /// Charged less the reversals recorded the same day (what counted against allowances).
            public var spent: Int64
            /// By person: what was charged to the person (the approver when there was one).
            public var charged: Int64?
            public var allowance: Int64?

            public init(
                agentId: String? = nil, day: String? = nil, kind: String? = nil, category: String? = nil, compensations: Int64, reversals: Int64,
                gross: Int64, reversed: Int64, net: Int64, overrides: Int64, spent: Int64, charged: Int64? = nil, allowance: Int64? = nil
            ) {
                self.agentId = agentId
                self.day = day
                self.kind = kind
                self.category = category
                self.compensations = compensations
                self.reversals = reversals
                self.gross = gross
                self.reversed = reversed
                self.net = net
                self.overrides = overrides
                self.spent = spent
                self.charged = charged
                self.allowance = allowance
            }

            public init(json: [String: JSONValue]) throws(WireError) {
                let fields = WireFields(json, "SPENDING")
                agentId = try fields.optionalString("agent_id")
                day = try fields.optionalString("day")
                kind = try fields.optionalString("kind")
                category = try fields.optionalString("category")
                compensations = try fields.int64("compensations")
                reversals = try fields.int64("reversals")
                gross = try fields.int64("gross")
                reversed = try fields.optionalInt64("reversed") ?? 0
                net = try fields.int64("net")
                overrides = try fields.optionalInt64("overrides") ?? 0
                spent = try fields.optionalInt64("spent") ?? 0
                charged = try fields.optionalInt64("charged")
                allowance = try fields.optionalInt64("allowance")
            }

            public var json: [String: JSONValue] {
                var object: [String: JSONValue] = [
                    "compensations": .integer(compensations), "gross": .integer(gross), "reversals": .integer(reversals),
                    "reversed": .integer(reversed), "net": .integer(net), "overrides": .integer(overrides), "spent": .integer(spent),
                ]
                if let agentId { object["agent_id"] = .string(agentId) }
                if let day { object["day"] = .string(day) }
                if let kind { object["kind"] = .string(kind) }
                if let category { object["category"] = .string(category) }
                if let charged { object["charged"] = .integer(charged) }
                if let allowance { object["allowance"] = .integer(allowance) }
                return object
            }
        }

        public var from: String
        public var to: String
        public var currency: String
        public var by: [String]
        public var rows: [Row]
        public var asOf: AsOf?

        public init(from: String, to: String, currency: String, by: [String], rows: [Row], asOf: AsOf? = nil) {
            self.from = from
            self.to = to
            self.currency = currency
            self.by = by
            self.rows = rows
            self.asOf = asOf
        }

        public var totalGross: Int64 { rows.reduce(0) { $0 + $1.gross } }
        public var totalReversed: Int64 { rows.reduce(0) { $0 + $1.reversed } }
        public var totalNet: Int64 { rows.reduce(0) { $0 + $1.net } }
        public var compensations: Int64 { rows.reduce(0) { $0 + $1.compensations } }
        public var reversals: Int64 { rows.reduce(0) { $0 + $1.reversals } }
        public var overrides: Int64 { rows.reduce(0) { $0 + $1.overrides } }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "SPENDING")
            from = try fields.string("from")
            to = try fields.string("to")
            currency = try fields.string("currency")
            by = fields.has("by") ? try fields.strings("by") : []
            rows = try fields.list("rows", of: Row.self)
            asOf = fields.has("at") ? try AsOf(json: json) : nil
        }

        public var json: [String: JSONValue] {
            let object: [String: JSONValue] = [
                "from": .string(from), "to": .string(to), "currency": .string(currency), "by": .array(by.map(JSONValue.string)),
                "rows": .array(rows.map { .object($0.json) }), "total_gross": .integer(totalGross), "total_reversed": .integer(totalReversed),
                "total_net": .integer(totalNet), "compensations": .integer(compensations), "reversals": .integer(reversals),
                "overrides": .integer(overrides),
            ]
            return object.merging(asOf?.json ?? [:]) { $1 }
        }
    }

    /// `STATUS`: what an operator checks first.
    public struct Status: WireReply, Equatable {
        public var server: String
        public var version: String
        public var mode: String
        public var position: Int64
        public var database: String
        public var writerConnected: Bool
        public var writer: String?
        /// A follower's lag (both keys present, each null until measured).
        public var lag: Hello.Lag?
        public var connections: Int
        public var unauthenticated: Int
        public var connectionsByRole: [String: Int]
        public var subscribers: Int
        public var queueDepth: Int
        public var uptimeSeconds: Int64
        public var startedAt: String
        public var ledger: String
        /// Why appends are refused, when the log no longer extends a head this daemon signed.
        public var appendsRefused: String?

        public init(
            server: String = "recoveryd", version: String, mode: String, position: Int64, database: String, writerConnected: Bool,
            writer: String? = nil, lag: Hello.Lag? = nil, connections: Int, unauthenticated: Int, connectionsByRole: [String: Int],
            subscribers: Int, queueDepth: Int, uptimeSeconds: Int64, startedAt: String, ledger: String, appendsRefused: String? = nil
        ) {
            self.server = server
            self.version = version
            self.mode = mode
            self.position = position
            self.database = database
            self.writerConnected = writerConnected
            self.writer = writer
            self.lag = lag
            self.connections = connections
            self.unauthenticated = unauthenticated
            self.connectionsByRole = connectionsByRole
            self.subscribers = subscribers
            self.queueDepth = queueDepth
            self.uptimeSeconds = uptimeSeconds
            self.startedAt = startedAt
            self.ledger = ledger
            self.appendsRefused = appendsRefused
        }

        public var lagPositions: Int64? { lag?.positions }
        public var lagSeconds: String? { lag?.seconds }

        public init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "STATUS")
            server = try fields.string("server")
            version = try fields.string("version")
            mode = try fields.string("mode")
            position = try fields.int64("position")
            database = try fields.string("database")
            writerConnected = try fields.bool("writer_connected")
            writer = try fields.optionalString("writer")
            lag = fields.has("lag_positions") ? Hello.Lag(positions: try fields.optionalInt64("lag_positions"), seconds: try fields.optionalString("lag_seconds")) : nil
            connections = try fields.int("connections")
            unauthenticated = try fields.int("unauthenticated")
            var byRole: [String: Int] = [:]
            for (role, count) in try fields.object("connections_by_role") {
                guard case .integer(let number) = count else { throw WireError("STATUS: connections_by_role.\(role) is not an integer") }
                byRole[role] = Int(number)
            }
            connectionsByRole = byRole
            subscribers = try fields.int("subscribers")
            queueDepth = try fields.int("queue_depth")
            uptimeSeconds = try fields.int64("uptime_seconds")
            startedAt = try fields.string("started_at")
            ledger = try fields.string("ledger")
            appendsRefused = try fields.optionalString("appends_refused")
        }

        public var json: [String: JSONValue] {
            var object: [String: JSONValue] = [
                "server": .string(server), "version": .string(version), "mode": .string(mode), "position": .integer(position),
                "database": .string(database), "writer_connected": .bool(writerConnected), "connections": .int(connections),
                "unauthenticated": .int(unauthenticated), "connections_by_role": .object(connectionsByRole.mapValues { .int($0) }),
                "subscribers": .int(subscribers), "queue_depth": .int(queueDepth), "uptime_seconds": .integer(uptimeSeconds),
                "started_at": .string(startedAt), "ledger": .string(ledger),
            ]
            if let writer { object["writer"] = .string(writer) }
            if let lag {
                object["lag_positions"] = .optional(lag.positions)
                object["lag_seconds"] = .optional(lag.seconds)
            }
            if let appendsRefused { object["appends_refused"] = .string(appendsRefused) }
            return object
        }
    }
}

extension Response {
    /// `OK` with a reply's JSON.
    public static func ok(_ reply: some WireReply) -> Response { .ok(reply.json) }
}
