import ArgumentParser
import Foundation
import RecoveryWire
import RecoveryClient
import RecoveryDomain

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "The ledger's settings in force, and the events that set them; `settings set` changes one.",
        discussion: """
            Every setting that decides an answer is a ledger_setting event in the log (docs/EVENTS.md, \
            "Settings"); a change applies from the business day it is recorded on.
            """,
        subcommands: [Show.self, Set.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the settings in force, each with the position of the event that set it.")
        @Option(help: "Answer as the ledger stood right after this position.") var at: Int64?
        @Flag(help: "Print the server's JSON.") var json = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await reporting {
                let line = try await connection.connect().request("SETTINGS" + atArgument(at))
                let s = try Answer(line).decode(Reply.Settings.self)
                if json { return printJSON(line) }
                try printAsOf(line)
                print("settings in force on \(s.day)")
                let rows = SettingName.allCases.map { name -> [String] in
                    let value = s.values[name.rawValue].flatMap { $0 } ?? "none"
                    let shownValue = [.defaultAllowance, .supervisorAllowance, .customerDailyCap].contains(name)
                        ? (Int64(value).map { money($0, s.currency) } ?? "none") : value
                    return [name.rawValue, shownValue, s.positions[name.rawValue].map { $0.map { "position \($0)" } ?? "built in" } ?? "–"]
                }
                print(table(["setting", "value", "set by"], rows))
                print("supervisors: \(s.supervisors.isEmpty ? "none" : s.supervisors.map(shown).joined(separator: ", "))")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a setting from today on (an admin token): appends a ledger_setting event.",
            discussion: """
                NAME is one of \(SettingName.allCases.filter { !$0.isFixed }.map(\.rawValue).joined(separator: ", ")) \
                (currency and time_zone are fixed when the ledger is created). VALUE is an integer (amounts \
                in minor units), or `none` for no customer_daily_cap.
                """)
        @Argument(help: "The setting.") var name: String
        @Argument(help: "Its new value.") var value: String
        @Option(help: "The agent_id recorded as having made the change (default: the token's person, else $RECOVERYD_AGENT, else admin).")
        var agent: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            guard let setting = SettingName(rawValue: name) else {
                throw ValidationError("\(name) is not a setting; one of \(SettingName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let parsed = SettingValue(setting: setting, text: value) else {
                throw ValidationError("\(name) takes an integer\(setting == .customerDailyCap ? " or none" : ""), not \(value)")
            }
            let json: String
            switch parsed {
            case .integer(let number): json = String(number)
            case .text(let text): json = "\"\(text)\""
            case .none: json = "null"
            }
            try await reporting {
                let (server, hello) = try await connection.connectWithHello(writer: true)
                let who = agent ?? hello.agent ?? ProcessInfo.processInfo.environment["RECOVERYD_AGENT"] ?? "admin"
                let event = #"{"event_id":"\#(UUID().uuidString.lowercased())","type":"ledger_setting","agent_id":"\#(who)","name":"\#(setting.rawValue)","value":\#(json)}"#
                let receipt = try await server.call("APPEND " + event, as: Reply.Receipt.self)
                print("\(setting.rawValue) = \(parsed) from today on (position \(receipt.position), hash \(receipt.hash))")
            }
        }
    }
}

struct AllowanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allowance",
        abstract: "Set a person's daily allowance or role from today on (an admin token): appends an allowance event.",
        discussion: "Without --daily-limit the person follows their role's default allowance (default_allowance or supervisor_allowance).")
    @Argument(help: "The person's agent_id.") var agentID: String
    @Option(help: "Their own daily limit, in minor units.") var dailyLimit: Int64?
    @Option(help: "agent or supervisor (default: unchanged).") var role: String?
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard dailyLimit != nil || role != nil else { throw ValidationError("give --daily-limit, --role, or both") }
        if let role, StaffRole(rawValue: role) == nil { throw ValidationError("--role must be agent or supervisor") }
        guard Identifier.isValid(agentID) else { throw ValidationError("\(agentID) is not an agent_id") }
    }

    func run() async throws {
        var fields = #""event_id":"\#(UUID().uuidString.lowercased())","type":"allowance","agent_id":"\#(agentID)""#
        if let dailyLimit { fields += #","daily_limit":\#(dailyLimit)"# }
        if let role { fields += #","role":"\#(role)""# }
        try await reporting {
            let (server, _) = try await connection.connectWithHello(writer: true)
            let receipt = try await server.call("APPEND {" + fields + "}", as: Reply.Receipt.self)
            print("\(shown(agentID)): \(dailyLimit.map { "daily limit \($0)" } ?? "the role's default allowance")\(role.map { ", role \($0)" } ?? "") from today on (position \(receipt.position))")
        }
    }
}
