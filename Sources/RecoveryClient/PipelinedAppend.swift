import RecoveryWire
/// Sends `APPEND`s pipelined — up to `depth` in flight — and collects each
/// answer in order: the receipt of every accepted or duplicate line and the
/// refusal of every other, by its index in `events`.
public struct PipelinedAppend {
    public struct Summary: Sendable {
        /// One entry per event: its receipt, or the server's refusal.
        public var results: [Result<Reply.Receipt, ServerRefusal>]

        public init(results: [Result<Reply.Receipt, ServerRefusal>]) { self.results = results }

        public var accepted: Int { results.filter { (try? $0.get())?.duplicate == false }.count }
        public var duplicates: Int { results.filter { (try? $0.get())?.duplicate == true }.count }
        public var refusals: [(index: Int, refusal: ServerRefusal)] {
            results.enumerated().compactMap { index, result in
                if case .failure(let refusal) = result { (index, refusal) } else { nil }
            }
        }
    }

    public let connection: LineConnection
    public let depth: Int

    public init(connection: LineConnection, depth: Int = 256) {
        self.connection = connection
        self.depth = max(1, depth)
    }

    /// Appends every event (JSON text, one line each); `progress` gets the
    /// number answered so far.
    public func run(_ events: [String], progress: (Int) -> Void = { _ in }) async throws -> Summary {
        var results: [Result<Reply.Receipt, ServerRefusal>] = []
        results.reserveCapacity(events.count)
        var sent = 0
        while results.count < events.count {
            var batch = ""
            while sent < events.count && sent - results.count < depth {
                batch += "APPEND \(events[sent])\n"
                sent += 1
            }
            if !batch.isEmpty { try await connection.send(batch) }
            guard let line = try await connection.readLine() else { throw ClientError("the server closed the connection") }
            do {
                results.append(.success(try Answer(line).decode(Reply.Receipt.self)))
            } catch let refusal as ServerRefusal {
                results.append(.failure(refusal))
            }
            progress(results.count)
        }
        return Summary(results: results)
    }
}
