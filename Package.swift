// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StrataStorage", targets: ["StrataStorage"]),
        // The raw RocksDB C API, exported so the benchmark package can measure
        // the Swift wrapper against the same loop written directly in C calls.
        .library(name: "CRocksDB", targets: ["CRocksDB"]),
    ],
    dependencies: [],
    targets: [
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]
        ),
        .target(name: "StrataStorage", dependencies: ["CRocksDB"]),
        .executableTarget(
            name: "StorageCrashWriter",
            dependencies: ["StrataStorage"],
            path: "Tests/Helpers/StorageCrashWriter"
        ),
        .testTarget(name: "StrataStorageTests", dependencies: ["StrataStorage", "StorageCrashWriter"]),
    ],
    swiftLanguageModes: [.v6]
)
