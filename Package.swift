// swift-tools-version:6.0
import PackageDescription

// Module layout and one-way dependencies: docs/ARCHITECTURE.md, "Modules".
//   recoveryd → RecoveryServer → LedgerStore, LineProtocol, RecoveryWire → RecoveryDomain
//   LedgerStore → CLibPQ (system libpq); EmbedSchemaPlugin + embed-schema compile schema/*.sql into it
//   recoveryctl → RecoveryClient (the async client on SwiftNIO) → RecoveryWire
//   RecoveryTesting (in-process server, raw line client) → RecoveryServer; used by the tests and recovery-bench
let package = Package(
    name: "recoveryd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RecoveryDomain", targets: ["RecoveryDomain"]),
        .library(name: "LedgerStore", targets: ["LedgerStore"]),
        .library(name: "LineProtocol", targets: ["LineProtocol"]),
        .library(name: "RecoveryServer", targets: ["RecoveryServer"]),
        .executable(name: "recoveryd", targets: ["recoveryd"]),
        .executable(name: "recoveryctl", targets: ["recoveryctl"]),
        .library(name: "RecoveryClient", targets: ["RecoveryClient"]),
        .library(name: "RecoveryTesting", targets: ["RecoveryTesting"]),
        .executable(name: "recovery-bench", targets: ["recovery-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
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
            name: "RecoveryWire",
            dependencies: ["RecoveryDomain", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(name: "LineProtocol", dependencies: ["RecoveryDomain", "RecoveryWire"]),
        .target(
            name: "RecoveryServer",
            dependencies: [
                "LedgerStore",
                "LineProtocol",
                "RecoveryWire",
                "RecoveryDomain",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "RecoveryHTTP",
            dependencies: [
                "RecoveryServer",
                "RecoveryWire",
                "LineProtocol",
                "RecoveryDomain",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Generated/README.md"]
        ),
        .executableTarget(
            name: "recoveryd",
            dependencies: [
                "RecoveryHTTP",
                "RecoveryServer",
                "LedgerStore",
                "RecoveryDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "RecoveryClient",
            dependencies: [
                "RecoveryWire",
                "RecoveryDomain",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "recoveryctl",
            dependencies: [
                "RecoveryClient",
                "RecoveryWire",
                "RecoveryDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "RecoveryTesting",
            dependencies: [
                "RecoveryWire", "RecoveryServer", "LedgerStore", "LineProtocol", "RecoveryDomain",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PostgresTestSupport",
            dependencies: ["LedgerStore"],
            path: "Tests/PostgresTestSupport"
        ),
        .executableTarget(
            name: "recovery-bench",
            dependencies: [
                "RecoveryServer",
                "LedgerStore",
                "RecoveryWire",
                "RecoveryClient",
                "RecoveryTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                "RecoveryDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestRandomness", path: "Tests/TestRandomness"),
        .testTarget(name: "RecoveryDomainTests", dependencies: ["RecoveryDomain", "LineProtocol", "TestRandomness"]),
        .testTarget(name: "LineProtocolTests", dependencies: ["LineProtocol", "RecoveryWire", "RecoveryDomain", "TestRandomness"]),
        .testTarget(name: "RecoveryClientTests", dependencies: ["RecoveryClient", "RecoveryWire"]),
        .testTarget(name: "RecoveryWireTests", dependencies: ["RecoveryWire", "RecoveryDomain", "LineProtocol"]),
        .testTarget(
            name: "RecoveryServerTests",
            dependencies: [
                "recoveryd", "recoveryctl", "RecoveryClient", "RecoveryServer", "RecoveryWire", "RecoveryTesting", "LineProtocol", "LedgerStore",
                "RecoveryDomain",
                "PostgresTestSupport", "TestRandomness",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "LedgerStoreTests",
            dependencies: ["LedgerStore", "RecoveryDomain", "PostgresTestSupport"]
        ),
    ]
)
