// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Osprey",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "osprey", targets: ["osprey"]),
        .library(name: "OspreyModel", targets: ["OspreyModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "OspreyModel"
        ),
        .executableTarget(
            name: "osprey",
            dependencies: [
                "OspreyModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "OspreyModelTests",
            dependencies: ["OspreyModel"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
