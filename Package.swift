// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Osprey",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "osprey", targets: ["osprey"]),
        .library(name: "OspreyModel", targets: ["OspreyModel"]),
        .library(name: "OspreyFeatures", targets: ["OspreyFeatures"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
    ],
    targets: [
        .target(
            name: "OspreyRandom"
        ),
        .target(
            name: "OspreyJSON"
        ),
        .target(
            name: "CPrefetch"
        ),
        .target(
            name: "CKafka",
            linkerSettings: [.linkedLibrary("rdkafka")]
        ),
        .target(
            name: "OspreyKafka",
            dependencies: ["CKafka"]
        ),
        .target(
            name: "OspreyModel",
            dependencies: ["OspreyJSON"]
        ),
        .target(
            name: "OspreyFeatures",
            dependencies: [
                "OspreyJSON",
                "CPrefetch",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "OspreyCore",
            dependencies: ["OspreyFeatures", "OspreyModel", "OspreyKafka", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "OspreyHTTP",
            dependencies: [
                "OspreyCore", "OspreyFeatures", "OspreyModel", "OspreyJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "osprey",
            dependencies: [
                "OspreyModel",
                "OspreyFeatures",
                "OspreyKafka",
                "OspreyCore",
                "OspreyHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "osprey-feature-bench",
            dependencies: ["OspreyFeatures", "OspreyRandom"],
            path: "Benchmarks/FeatureBenchmark"
        ),
        .testTarget(
            name: "OspreyModelTests",
            dependencies: ["OspreyModel", "OspreyJSON", "OspreyFeatures", "OspreyRandom"]
        ),
        .testTarget(
            name: "OspreyKafkaTests",
            dependencies: ["OspreyKafka", "OspreyJSON", "OspreyModel"]
        ),
        .testTarget(
            name: "OspreyCoreTests",
            dependencies: ["OspreyCore", "OspreyFeatures", "OspreyModel"]
        ),
        .testTarget(
            name: "OspreyFeaturesTests",
            dependencies: ["OspreyFeatures", "OspreyRandom"]
        ),
        .testTarget(
            name: "OspreyHTTPTests",
            dependencies: [
                "OspreyHTTP", "OspreyCore", "OspreyRandom",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DeployTests",
            dependencies: ["OspreyCore", "OspreyHTTP", "OspreyFeatures", .product(name: "Yams", package: "Yams")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
