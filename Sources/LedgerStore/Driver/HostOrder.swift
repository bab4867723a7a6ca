/// Reorders a multi-host conninfo (`host=a,b port=p,q`) so that one host is
/// tried last. After a COMMIT on a host timed out, that host may be a primary
/// about to be demoted; libpq tries hosts in order, so without this the writer
/// would go straight back to it.
enum HostOrder {
    /// `parameters` with the entry `avoided` (`host:port`) of the host list —
    /// and the matching entries of `hostaddr` and `port` when they are lists
    /// of the same length — moved to the end. Unchanged when there is no such
    /// entry or only one host.
    static func moving(_ avoided: String, toTheEndOf parameters: [(key: String, value: String)]) -> [(key: String, value: String)] {
        func list(_ key: String) -> [String]? {
            parameters.first { $0.key == key }.map { $0.value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        }
        guard let hosts = list("host") ?? list("hostaddr"), hosts.count > 1 else { return parameters }
        let ports = list("port")
        let index = hosts.indices.first { index in
            let port = ports.map { $0.count == hosts.count ? $0[index] : $0[0] } ?? "5432"
            return "\(hosts[index]):\(port)" == avoided
        }
        guard let index, index < hosts.count - 1 else { return parameters }
        return parameters.map { parameter in
            guard ["host", "hostaddr", "port"].contains(parameter.key) else { return parameter }
            var entries = parameter.value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard entries.count == hosts.count else { return parameter }
            entries.append(entries.remove(at: index))
            return (parameter.key, entries.joined(separator: ","))
        }
    }
}
