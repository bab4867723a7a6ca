import RecoveryWire
import ArgumentParser

/// The benchmark: reports throughput and latency (docs/BENCHMARKS.md).
struct RecoveryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery-bench",
        abstract: "Benchmarks for recoveryd.",
        subcommands: [FullBenchmark.self, HTTPBenchmark.self, SoakBenchmark.self, StoreBenchmark.self, ScaleBenchmark.self, CPUBenchmark.self],
        defaultSubcommand: FullBenchmark.self)
}

RecoveryBench.main()
