// swift-tools-version:6.0
import PackageDescription

// Module layout and one-way dependencies: ../shared/DESIGN.md §6.
//   executables → LedgerStore → RecoveryDomain
//   LedgerStore → CLibPQ (system libpq)
let package = Package(
    name: "recoveryd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RecoveryDomain", targets: ["RecoveryDomain"]),
        .library(name: "LedgerStore", targets: ["LedgerStore"]),
        .executable(name: "recovery-bench", targets: ["recovery-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(name: "RecoveryDomain"),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .executableTarget(name: "embed-schema"),
        .plugin(
            name: "EmbedSchemaPlugin",
            capability: .buildTool(),
            dependencies: ["embed-schema"],
            path: "Sources/EmbedSchemaPlugin"
        ),
        .target(
            name: "LedgerStore",
            dependencies: [
                "CLibPQ",
                "RecoveryDomain",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            plugins: [.plugin(name: "EmbedSchemaPlugin")]
        ),
        .target(
            name: "PostgresTestSupport",
            dependencies: ["LedgerStore"],
            path: "Tests/PostgresTestSupport"
        ),
        .executableTarget(
            name: "recovery-bench",
            dependencies: [
                "LedgerStore",
                "RecoveryDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "RecoveryDomainTests", dependencies: ["RecoveryDomain"]),
        .testTarget(
            name: "LedgerStoreTests",
            dependencies: ["LedgerStore", "RecoveryDomain", "PostgresTestSupport"]
        ),
    ]
)
