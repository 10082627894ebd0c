// swift-tools-version:6.1
import PackageDescription

// Hot kernels (TopiaryTensor, TopiaryOptim) are built -Ounchecked in release: they work on
// unsafe buffers whose bounds are checked once per call with `precondition` in debug builds.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "Topiary",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "topiary", targets: ["topiary"]),
        .library(name: "TopiaryExperiment", targets: ["TopiaryExperiment"]),
        .library(name: "TopiaryInferenceLib", targets: ["TopiaryInference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Layer 0: C libraries and a tiny runtime shim (FTZ/DAZ, CPU features).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapack-dev", "liblapacke-dev"])]
        ),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CTopiaryRuntime"),
        // Optimizer sweeps, compiled per ISA (target_clones) with IEEE-exact contraction.
        .target(name: "CTopiaryKernels",
                cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno"])]),

        // Layer 1: tensors, BLAS wrappers, SIMD kernels and their naive references.
        .target(name: "TopiaryTensor", dependencies: ["COpenBLAS", "CTopiaryRuntime", "CTopiaryKernels"],
                swiftSettings: kernelSettings),
        // Layer 2: parameters, layers, losses, models.
        .target(name: "TopiaryNN", dependencies: ["TopiaryTensor", "CTopiaryKernels"], swiftSettings: kernelSettings),
        // Layer 3: optimizers and learning-rate schedules.
        .target(name: "TopiaryOptim", dependencies: ["TopiaryNN", "TopiaryTensor", "CTopiaryKernels"], swiftSettings: kernelSettings),
        // Layer 3b: inference engines for pruned and quantized models (dense, CSR, int8, compact).
        .target(name: "TopiaryInference", dependencies: ["TopiaryNN", "TopiaryTensor", "CTopiaryKernels"], swiftSettings: kernelSettings),
        // Layer 4: data sets (IDX), splits, seeded batching.
        .target(name: "TopiaryData", dependencies: ["TopiaryTensor", "CZlib"]),
        // Layer 5: importance scores, pruners, sparsity schedules.
        .target(name: "TopiarySparsity", dependencies: ["TopiaryNN", "TopiaryData", "TopiaryTensor", "COpenBLAS"],
                swiftSettings: kernelSettings),
        // Layer 6: accuracy, latency, memory.
        .target(name: "TopiaryMetrics", dependencies: ["TopiaryNN", "TopiaryData", "TopiaryInference", "TopiaryTensor"]),
        // Layer 7: specs, runner, reports.
        .target(name: "TopiaryExperiment", dependencies: [
            "TopiaryOptim", "TopiarySparsity", "TopiaryMetrics", "TopiaryInference", "TopiaryNN", "TopiaryData", "TopiaryTensor",
            "CZlib", "CTopiaryRuntime",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Layer 8: the command line.
        .executableTarget(name: "topiary", dependencies: [
            "TopiaryExperiment",
            "TopiaryMetrics",
            "TopiarySparsity",
            "TopiaryData",
            "TopiaryTensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "TopiaryTests", dependencies: ["TopiaryExperiment", "TopiaryInference", "TopiaryMetrics", "TopiaryNN", "TopiaryOptim",
                                                  "TopiarySparsity", "TopiaryData", "TopiaryTensor", "CZlib", "CTopiaryRuntime"],
                    exclude: ["../Fixtures"]),
    ]
)
