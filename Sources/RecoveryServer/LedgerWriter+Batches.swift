import Foundation
import LedgerStore
import LineProtocol
import Logging
import RecoveryDomain

/// The writer thread's batch pipeline: decide and send, receive and answer,
/// and what a failure does to the batches behind it.
extension LedgerWriter {
    /// Decides `batch` over the committed state and the batches in flight, and
    /// sends it behind them. Look-ups the filters cannot rule out wait for the
    /// batches in flight first (their results come before any query's).
    func send(_ batch: [Pending]) {
        guard let log else { return }
        // Never before the last batch: positions and business days move forward together.
        let now = max(Timestamp(Date()), Timestamp(microseconds: lastRecordedAt.microseconds + 1))
        lastRecordedAt = now
        let today = state.settingsHistory.businessDay(of: now)
        let clock = ContinuousClock()
        let started = clock.now
        var existing: [EventID: ExistingEvent] = [:]
        do {
            if needsLookups(batch, recordedAt: now) {
                drainInFlight()
                guard self.log != nil else { return answerUnavailable(batch) }
                existing = try log.existing(Set(batch.map(\.event.eventID)))
                try loadMissing(for: batch.map(\.event), connection: log.connection)
            } else if !inFlight.isEmpty {
                existing = inFlightRecords(for: batch)
            }
            if stateDay != today && inFlight.isEmpty {
                state.evictSettled(before: today)
                stateDay = today
                view.evict(before: today)
            }
            let decision = Ledger.decide(
                batch: batch.map { Submission(event: $0.event, contentDigest: $0.digest, content: $0.content, authority: $0.authority) },
                existing: existing, state: state, pending: inFlight.map(\.decision.delta), at: now)
            let recordedAtText = now.description
            let rows = decision.records.indices.map {
                EventRow(
                    decision.records[$0], contentDigest: decision.digests[$0], content: decision.contents[$0],
                    recordedAtText: recordedAtText)
            }
            let sent = try log.send(rows, projections: try Projections.statements(for: decision.delta))
            for record in decision.records {
                known.events.insert(record.event.eventID.text)
                if case .complaint(let complaint) = record.event.body, let caseID = record.event.caseID {
                    known.cases.insert(caseID)
                    known.customers.insert(complaint.customerID)
                }
            }
            inFlight.append(InFlight(batch: batch, decision: decision, rows: rows, sent: sent, started: started))
        } catch {
            // The batches sent before this one stand on their own: receive them.
            drainInFlight()
            if let log = self.log { fail(error, batches: [batch], committedTo: log) } else { answerUnavailable(batch) }
        }
    }

    /// Waits for the oldest batch in flight to commit and answers it.
    func receiveOldest() {
        guard let log, !inFlight.isEmpty else { return }
        let flight = inFlight.removeFirst()
        do {
            try log.receive(flight.sent)
        } catch {
            let failed = [flight] + inFlight
            inFlight = []
            fail(error, batches: failed.map(\.batch), committedTo: log)
            return
        }
        // Committed: only now does the state move.
        state.apply(flight.decision.delta)
        precondition(log.head.position == state.lastPosition, "the log and the state moved together")
        view.commit(flight.decision.delta, head: log.head)
        metrics.committed(appends: flight.batch.count, took: ContinuousClock.now - flight.started)
        let receipts = flight.sent.receipts
        for (pending, outcome) in zip(flight.batch, flight.decision.outcomes) {
            switch outcome {
            case .recorded(let row):
                pending.complete(
                    .recorded(position: receipts[row].position, hash: receipts[row].hash, duplicate: false, spending: flight.decision.spending[row]))
            case .repeated(let row):
                pending.complete(.recorded(position: receipts[row].position, hash: receipts[row].hash, duplicate: true))
            case .duplicate(let prior):
                pending.complete(.recorded(position: prior.position, hash: prior.hash, duplicate: true))
            case .refused(let rejection):
                pending.complete(.refused(ProtocolError(rejection)))
            }
        }
        hub.publish(zip(flight.rows, receipts).map { StoredEvent(position: $1.position, payload: $0.payload, hash: $1.hash) })
        logger.debug(
            "batch committed",
            metadata: [
                "appends": "\(flight.batch.count)", "recorded": "\(flight.rows.count)",
                "took": "\(ContinuousClock.now - flight.started)", "in_flight": "\(inFlight.count)",
            ])
    }

    /// Receives every batch in flight.
    func drainInFlight() {
        while !inFlight.isEmpty && log != nil { receiveOldest() }
    }

    /// Whether deciding `batch` needs PostgreSQL first: an id the filters
    /// cannot rule out (and no batch in flight holds), a case not in memory
    /// that may exist, or a customer's earlier complaints.
    private func needsLookups(_ batch: [Pending], recordedAt: Timestamp) -> Bool {
        let pending = inFlight.map(\.decision.delta)
        let view = LedgerView(base: state, pending: pending)
        var inFlightIDs: Set<EventID>?
        for item in batch {
            let event = item.event
            if !filtersReady || known.events.mightContain(event.eventID.text) {
                if inFlightIDs == nil { inFlightIDs = Set(inFlight.flatMap { $0.decision.records.map(\.event.eventID) }) }
                if !inFlightIDs!.contains(event.eventID) { return true }
            }
            // A complaint needs its customer's earlier complaints (repeat or first).
            if case .complaint(let complaint) = event.body, view.complaintDays(ofCustomer: complaint.customerID) == nil,
                !filtersReady || known.customers.mightContain(complaint.customerID)
            {
                return true
            }
            guard let caseID = event.caseID else { continue }
            if view.caseState(caseID) == nil && (!filtersReady || known.cases.mightContain(caseID)) { return true }
        }
        return false
    }

    /// What the batches in flight record under the ids of `batch`.
    private func inFlightRecords(for batch: [Pending]) -> [EventID: ExistingEvent] {
        var found: [EventID: ExistingEvent] = [:]
        let ids = Set(batch.map(\.event.eventID))
        for flight in inFlight {
            for (index, record) in flight.decision.records.enumerated() where ids.contains(record.event.eventID) {
                let receipt = flight.sent.receipts[index]
                found[record.event.eventID] = ExistingEvent(
                    position: receipt.position, hash: receipt.hash, contentDigest: flight.decision.digests[index])
            }
        }
        return found
    }

    /// Loads what deciding the batch needs and memory lacks: cases named, and
    /// customers' earlier complaints. Today's budget and customer rows are all
    /// in memory, and no event changes an earlier day's (a day once over is
    /// closed). Runs with no batch in flight, so the tables match the state.
    private func loadMissing(for events: [Event], connection: PGConnection) throws {
        let projections = Projections(connection: connection)
        let missingCases = Set(events.compactMap(\.caseID)).filter {
            state.cases[$0] == nil && (!filtersReady || known.cases.mightContain($0))
        }
        if !missingCases.isEmpty {
            state.cases.merge(try projections.cases(missingCases)) { current, _ in current }
        }
        let customers = Set(events.compactMap { event -> String? in
            if case .complaint(let complaint) = event.body { complaint.customerID } else { nil }
        }).filter { state.customerComplaints[$0] == nil && (!filtersReady || known.customers.mightContain($0)) }
        if !customers.isEmpty {
            state.customerComplaints.merge(try projections.complaintDays(of: customers)) { current, _ in current }
        }
    }

    /// After a batch failed: answers it and every batch sent behind it, and
    /// makes the state and the connection good again. A data error (SQLSTATE
    /// class 22 or 23) is PostgreSQL refusing a value, so the failed batches'
    /// appends are tried one by one: only the offending one is refused, and
    /// its message carries no other client's data.
    func fail(_ error: Error, batches: [[Pending]], committedTo log: EventLog) {
        let storeError = error as? StoreError
        // Batches sent behind the failed one fail at their checkpoint step
        // (it expects the failed one's head): read their results off.
        while log.connection.pipelinedGroups > 0 && log.connection.isConnected { try? log.connection.receivePipeline() }
        let unreadable = storeError?.code == .corrupt
        if let storeError, storeError.isDataError || unreadable, log.connection.isConnected {
            let appends = batches.flatMap { $0 }
            if appends.count > 1 {
                logger.warning(
                    unreadable
                        ? "a projection row the batch needs cannot be read; appending its events one by one"
                        : "PostgreSQL refused a batch for a data error; appending its events one by one",
                    metadata: ["error": "\(storeError)", "appends": "\(appends.count)"])
                for pending in appends {
                    send([pending])
                    drainInFlight()
                }
                return
            }
            if unreadable {
                // The row is this append's own case: the message names it and
                // says how to repair the tables; nothing else is refused.
                logger.error("a projection row cannot be read", metadata: ["error": "\(storeError)"])
                appends.first?.complete(.refused(ProtocolError(.internalError, "\(storeError.message); nothing was recorded")))
                return
            }
            logger.warning("PostgreSQL refused an append's values", metadata: ["error": "\(storeError)"])
            appends.first?.complete(
                .refused(
                    ProtocolError(
                        .invalid, "PostgreSQL refused this event's values (SQLSTATE \(storeError.sqlState ?? "?")); nothing was recorded")))
            return
        }
        let unknown = storeError.map { $0.code == .commitUnknown || $0.code == .timeout } ?? false
        let message = unknown
            ? "the outcome of the commit is unknown (\(error)); retry with the same event_id: it is idempotent, and answers the original receipt if the event was recorded"
            : "the batch was not committed (\(error)); retry with the same event_id, which is idempotent"
        logger.error(
            unknown ? "append batch outcome unknown; reconnecting and reloading from the tables" : "append batch failed",
            metadata: [
                "error": "\(error)", "appends": "\(batches.reduce(0) { $0 + $1.count })", "server": "\(log.connection.server)",
            ])
        if unknown { suspectServer = log.connection.server }
        if !log.connection.isConnected {
            self.log = nil
            view.disconnected()
            lastConnectError = "\(error)"
            nextAttempt = Date()
        } else if (try? log.resynchronize()) == nil || log.head.position != state.lastPosition {
            // The commit's outcome is unknown: start again from the tables.
            self.log = nil
            view.disconnected()
            nextAttempt = Date()
        }
        let answer = AppendAnswer.refused(ProtocolError(.unavailable, message))
        for batch in batches { batch.forEach { $0.complete(answer) } }
    }

    func answerUnavailable(_ batch: [Pending]) {
        let answer = AppendAnswer.refused(
            ProtocolError(.unavailable, "the database is unavailable (\(lastConnectError)); nothing was recorded, retry later"))
        batch.forEach { $0.complete(answer) }
    }
}
