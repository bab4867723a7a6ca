import Foundation

import RecoveryClient

/// The tests speak to the daemon through the client library recoveryctl uses.
typealias LineClient = LineConnection

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
