// swift-tools-version:6.1
// A package that depends on Strata the way an application does: by URL and
// version, using the StrataClient product. `Scripts/examples.sh` builds it
// against a tagged clone of this repository (STRATA_PACKAGE_URL points there);
// an application names the repository it takes Strata from.
import PackageDescription

let strataURL = Context.environment["STRATA_PACKAGE_URL"] ?? "https://github.com/strata-kv/strata"

let package = Package(
    name: "StrataExamples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: strataURL, from: "0.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "StrataExample",
            dependencies: [
                .product(name: "StrataClient", package: "strata"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
