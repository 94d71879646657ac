// swift-tools-version:6.1
import PackageDescription

/// The node's server path (connection core, node) skips the runtime's dynamic
/// exclusivity checks in release builds: they cost 6-15% of the node's CPU per
/// request (a thread-local access-set lookup on every class property access;
/// see docs/performance.md). The compiler's static checks still apply, and
/// debug builds and tests keep the dynamic ones. Only targets that no product
/// exports carry the flag: SwiftPM refuses `unsafeFlags` in any product a
/// package depending on Strata by version uses (Examples/ builds that way).
let serverPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StrataStorage", targets: ["StrataStorage"]),
        .library(name: "StrataWire", targets: ["StrataWire"]),
        .library(name: "StrataClient", targets: ["StrataClient"]),
        .library(name: "StrataCache", targets: ["StrataCache"]),
        .library(name: "StrataCluster", targets: ["StrataCluster"]),
        // The raw RocksDB C API, exported so the benchmark package can measure
        // the Swift wrapper against the same loop written directly in C calls.
        .library(name: "CRocksDB", targets: ["CRocksDB"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]
        ),
        .target(name: "StrataStorage", dependencies: ["CRocksDB"]),
        .target(name: "StrataWire", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        .target(name: "StrataCluster"),
        .target(
            name: "StrataClient",
            dependencies: [
                "StrataWire", "StrataCluster", "StrataCache",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "StrataBench",
            dependencies: [
                "StrataClient", "StrataCache", "StrataCluster",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "StrataGateway",
            dependencies: [
                "StrataCache", "StrataClient", "StrataCluster", "StrataWire", "StrataHTTP", "StrataServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "StrataCache"),
        .target(
            name: "StrataServer",
            dependencies: [
                "StrataWire", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: serverPathSettings
        ),
        .target(
            name: "StrataHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "StrataCoordinator",
            dependencies: [
                "StrataWire", "StrataCluster", "StrataHTTP", "StrataServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "StrataNode",
            dependencies: [
                "StrataStorage", "StrataWire", "StrataCluster", "StrataHTTP", "StrataServer", "StrataClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: serverPathSettings
        ),
        .executableTarget(
            name: "strata",
            dependencies: [
                "StrataNode", "StrataCoordinator", "StrataCluster", "StrataWire", "StrataClient", "StrataBench", "StrataCache", "StrataGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "StorageCrashWriter",
            dependencies: ["StrataStorage"],
            path: "Tests/Helpers/StorageCrashWriter"
        ),
        .testTarget(name: "StrataStorageTests", dependencies: ["StrataStorage", "StorageCrashWriter"]),
        .testTarget(name: "StrataClusterTests", dependencies: ["StrataCluster"]),
        .testTarget(name: "StrataClientTests", dependencies: ["StrataClient"]),
        .testTarget(name: "StrataCacheTests", dependencies: ["StrataCache"]),
        .testTarget(name: "StrataBenchTests", dependencies: ["StrataBench", "StrataCache"]),
        .testTarget(
            name: "StrataCoordinatorTests",
            dependencies: [
                "StrataCoordinator", "StrataCluster", "StrataServer", "StrataWire",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "StrataGatewayTests",
            dependencies: [
                "StrataGateway", "StrataServer", "StrataWire",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "StrataNodeTests",
            dependencies: [
                "StrataNode", "StrataStorage", "StrataWire", "StrataCluster", "StrataServer",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "strata", "StrataWire", "StrataCluster", "StrataClient",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "StrataServerTests",
            dependencies: [
                "StrataServer", "StrataWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "StrataWireTests",
            dependencies: [
                "StrataWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
