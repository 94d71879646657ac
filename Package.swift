// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StrataStorage", targets: ["StrataStorage"]),
        .library(name: "StrataWire", targets: ["StrataWire"]),
        // The raw RocksDB C API, exported so the benchmark package can measure
        // the Swift wrapper against the same loop written directly in C calls.
        .library(name: "CRocksDB", targets: ["CRocksDB"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]
        ),
        .target(name: "StrataStorage", dependencies: ["CRocksDB"]),
        .target(name: "StrataWire", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        .executableTarget(
            name: "StorageCrashWriter",
            dependencies: ["StrataStorage"],
            path: "Tests/Helpers/StorageCrashWriter"
        ),
        .testTarget(name: "StrataStorageTests", dependencies: ["StrataStorage", "StorageCrashWriter"]),
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
