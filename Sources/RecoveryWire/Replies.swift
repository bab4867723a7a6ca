import Foundation

/// The `OK` answers of the line protocol (docs/PROTOCOL.md) as typed values.
/// Keys are snake_case on the wire; amounts are integer minor units; rates
/// and means are exact decimals as the server wrote them.
public enum Reply {
    /// What an answer given with `at=<position>` adds: the position it is as of
    /// and the chain's hash there (both absent from an answer about now).
    public struct AsOf: Decodable, Sendable {
        public var at: Int64?
        public var atHash: String?
    }

    public struct Hello: Decodable, Sendable {
        public var server: String
        public var version: String
        public var role: String
        public var position: Int64
        public var currency: String
        public var timeZone: String
        public var maxLine: Int
        /// The Ed25519 public key of signed heads, 64 hex.
        public var signingKey: String?
        /// `writer` or `standby` (absent from older servers: a writer).
        public var mode: String?
        /// A standby's writer, when known.
        public var writer: String?
        /// The person the token is bound to, if it is.
        public var agent: String?
    }

    /// `SETTINGS`: each setting's value in force (as text; `nil` for none)
    /// and the position of the event that set it (`nil`: built in).
    public struct Settings: Decodable, Sendable {
        public var day: String
        public var currency: String
        public var values: [String: String?]
        public var positions: [String: Int64?]
        public var supervisors: [String]

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            let object = try container.decode([String: SettingsValue].self)
            day = object["day"]?.text ?? ""
            currency = object["currency"]?.text ?? ""
            supervisors = object["supervisors"]?.list ?? []
            positions = object["positions"]?.positions ?? [:]
            var values: [String: String?] = [:]
            for (key, value) in object where !["day", "positions", "supervisors"].contains(key) { values[key] = value.text }
            self.values = values
        }

        /// A value of the answer's object: a string, an integer, null, a list or the positions.
        enum SettingsValue: Decodable {
            case value(String?)
            case list([String])
            case positions([String: Int64?])

            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if container.decodeNil() {
                    self = .value(nil)
                } else if let number = try? container.decode(Int64.self) {
                    self = .value(String(number))
                } else if let text = try? container.decode(String.self) {
                    self = .value(text)
                } else if let list = try? container.decode([String].self) {
                    self = .list(list)
                } else {
                    self = .positions(try container.decode([String: Int64?].self))
                }
            }

            var text: String? { if case .value(let text) = self { text } else { nil } }
            var list: [String]? { if case .list(let list) = self { list } else { nil } }
            var positions: [String: Int64?]? { if case .positions(let positions) = self { positions } else { nil } }
        }
    }

    /// A signed head (`HEAD`), as the server answers it and as
    /// `recoveryctl head` saves it (with the key that signed it).
    public struct Head: Codable, Sendable, Equatable {
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
    }

    /// An `APPEND` receipt: the chain hash at `position` is a later replay's to match.
    public struct Receipt: Codable, Sendable, Equatable {
        public var position: Int64
        public var hash: String
        public var duplicate: Bool

        public init(position: Int64, hash: String, duplicate: Bool) {
            self.position = position
            self.hash = hash
            self.duplicate = duplicate
        }
    }

    public struct Budget: Decodable, Sendable {
        public var agentId: String
        public var day: String
        public var allowance: Int64
        public var spent: Int64
        public var remaining: Int64
        public var currency: String
        public var compensations: Int
        public var reversals: Int
        /// Reversals recorded this day of earlier days' charges (their room is not given back).
        public var lateReversals: Int?
        public var lateReversed: Int64?
    }

    public struct Budgets: Decodable, Sendable {
        public struct Row: Decodable, Sendable {
            public var agentId: String
            public var allowance: Int64
            public var spent: Int64
            public var remaining: Int64
            public var compensations: Int
            public var reversals: Int
            public var lateReversals: Int?
            public var lateReversed: Int64?
        }

        public var day: String
        public var currency: String
        public var agents: [Row]
        public var totalAllowance: Int64
        public var totalSpent: Int64
        /// Who the rows and totals cover.
        public var covers: String?
    }

    public struct Case: Decodable, Sendable {
        /// The fields of a case's stored events that a person reads in a table.
        public struct Event: Decodable, Sendable {
            public var position: Int64
            public var eventId: String
            public var recordedAt: String
            public var type: String
            public var agentId: String
            public var amount: Int64?
            public var currency: String?
            public var kind: String?
            public var approvedBy: String?
            public var overrideReason: String?
            public var reverses: String?
            public var toAgentId: String?
            public var reason: String?
            public var satisfaction: Int?
            public var wouldRecommend: Int?
            public var resolved: Bool?
            public var customerId: String?
            public var severity: Int?
            public var baseline: Int?
        }

        public var caseId: String
        public var customerId: String
        public var channel: String
        public var category: String
        public var severity: Int
        public var owner: String
        public var status: String
        public var outcome: String
        public var baseline: Int?
        public var satisfaction: Int?
        public var wouldRecommend: Int?
        public var uplift: Int?
        public var openedAt: String
        public var followUpDue: String?
        public var followUpLate: Bool?
        public var steps: [String]
        public var mamaComplete: Bool
        public var compensationNet: Int64
        public var currency: String
        public var events: [Event]
    }

    public struct Outcomes: Decodable, Sendable {
        public struct Summary: Decodable, Sendable {
            public var key: String?
            public var cases: Int
            public var open: Int
            public var paradox: Int
            public var restored: Int
            public var unrecovered: Int
            public var unmeasured: Int
            public var defected: Int
            public var paradoxRate: Decimal?
            public var meanUplift: Decimal?
            public var compensationTotal: Int64
            public var promoters: Int?
            public var passives: Int?
            public var detractors: Int?
            public var nps: Decimal?
            public var followUpOnTimeRate: Decimal?
            public var followUpsOverdue: Int?
            /// In groups by agent: the compensation in the cases the agent owns.
            public var compensationOwned: Int64?
        }

        public var currency: String
        public var groups: [Summary]
        public var total: Summary

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            currency = try container.decode(String.self, forKey: .currency)
            groups = try container.decode([Summary].self, forKey: .groups)
            total = try Summary(from: decoder)
        }

        enum CodingKeys: String, CodingKey {
            case currency, groups
        }
    }

    /// The final line of a `REPLAY`.
    /// One line of `CASES`.
    public struct CaseSummary: Decodable, Sendable {
        public var caseId: String
        public var customerId: String
        public var owner: String
        public var status: String
        public var outcome: String
        public var openedDay: String
        public var compensationNet: Int64
        public var currency: String
    }

    public struct Cases: Decodable, Sendable {
        public var cases: [CaseSummary]
        /// The `after=` of the next page, if there is one.
        public var next: String?
    }

    public struct Person: Decodable, Sendable {
        public var agentId: String
        public var role: String
        public var allowance: Int64
    }

    public struct People: Decodable, Sendable {
        public var day: String
        public var currency: String
        public var people: [Person]
    }

    public struct ReplaySummary: Decodable, Sendable {
        public var count: Int64
        public var last: Int64
        public var prevHash: String
        public var hash: String
    }

    public struct Verified: Decodable, Sendable {
        public var verified: Int64
        public var last: Int64
        public var hash: String
    }

    /// Decodes the JSON of an `OK {…}` line.
    public static func decode<T: Decodable>(_ type: T.Type, from json: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: Data(json.utf8))
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
    /// The `OK` answer's JSON decoded as `T`; a refusal throws ``ServerRefusal``.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch self {
        case .ok(let json): return try Reply.decode(type, from: json.isEmpty ? "{}" : json)
        case .error(let code, let message): throw ServerRefusal(code: code, message: message)
        case .event: throw ClientError("an EVENT line where a final answer was expected")
        }
    }
}


extension Reply {
    /// `SPENDING`: compensation over a range of days, grouped.
    public struct Spending: Decodable, Sendable {
        public struct Row: Decodable, Sendable {
            public var agentId: String?
            public var day: String?
            public var kind: String?
            public var category: String?
            public var compensations: Int64
            public var reversals: Int64
            public var gross: Int64
            /// What the reversals recorded in the group took back (of any day's charges).
            public var reversed: Int64?
            public var net: Int64
            public var overrides: Int64?
            /// Charged less the reversals recorded the same day (what counted against allowances).
            public var spent: Int64?
            public var allowance: Int64?
        }

        public var from: String
        public var to: String
        public var currency: String
        public var rows: [Row]
        public var totalNet: Int64
    }

    /// `STATUS`: what an operator checks first.
    public struct Status: Decodable, Sendable {
        public var server: String
        public var version: String
        public var mode: String
        public var position: Int64
        public var database: String
        public var writerConnected: Bool
        public var writer: String?
        public var lagPositions: Int64?
        public var lagSeconds: String?
        public var connections: Int
        public var unauthenticated: Int
        public var connectionsByRole: [String: Int]
        public var subscribers: Int
        public var queueDepth: Int
        public var uptimeSeconds: Int64
        public var startedAt: String
        public var ledger: String
    }
}
