import ArgumentParser

/// The benchmark: reports throughput and latency (docs/BENCHMARKS.md).
struct RecoveryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery-bench",
        abstract: "Benchmarks for recoveryd.",
        subcommands: [StoreBenchmark.self])
}

RecoveryBench.main()
