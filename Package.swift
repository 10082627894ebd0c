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
        // Everything a study script needs, one import (`import Topiary`).
        .library(name: "Topiary", targets: ["Topiary"]),
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
                cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno", "-mprefer-vector-width=512"])]),

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
        // Layer 7: training loop and interruption.
        .target(name: "TopiaryTraining", dependencies: ["TopiaryNN", "TopiaryOptim", "TopiaryData", "TopiaryMetrics", "TopiaryTensor",
                                                        "CTopiaryRuntime"]),
        // Layer 8: spec types, strict decoding and resolution (the only user of Yams).
        .target(name: "TopiarySpec", dependencies: [
            "TopiaryNN", "TopiaryOptim", "TopiarySparsity", "TopiaryInference", "TopiaryData", "TopiaryTensor", "TopiaryTraining",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Layer 9: stage records, report columns, environment, charts, atomic files.
        .target(name: "TopiaryReport", dependencies: ["TopiarySpec", "TopiaryMetrics", "TopiarySparsity", "TopiaryInference", "TopiaryData",
                                                      "TopiaryNN", "TopiaryTensor", "TopiaryTraining"]),
        // Layer 9b: outside file formats — safetensors, exports of inference programs (C for
        // microcontrollers, ONNX) — and the toolchain checks that run exports (host compiler,
        // Cortex-M cross-compiler and emulator).
        .target(name: "TopiaryFormats", dependencies: ["TopiaryReport", "TopiaryInference", "TopiaryData", "TopiaryNN", "TopiaryTensor"]),
        // Layer 10: the runner: data and model from a spec, phases, checkpoints and resume.
        .target(name: "TopiaryRun", dependencies: [
            "TopiarySpec", "TopiaryReport", "TopiaryFormats", "TopiaryTraining", "TopiaryOptim", "TopiarySparsity", "TopiaryMetrics",
            "TopiaryInference", "TopiaryNN", "TopiaryData", "TopiaryTensor", "CZlib",
        ]),
        // Layer 11: studies over runs: sweeps, Slurm, comparisons, re-measurement, sensitivity.
        .target(name: "TopiaryStudy", dependencies: [
            "TopiaryRun", "TopiarySpec", "TopiaryReport", "TopiarySparsity", "TopiaryMetrics", "TopiaryInference",
            "TopiaryNN", "TopiaryData", "TopiaryTensor",
        ]),
        // One import for programs that script studies.
        .target(name: "Topiary", dependencies: [
            "TopiaryStudy", "TopiaryRun", "TopiaryReport", "TopiaryFormats", "TopiarySpec", "TopiaryTraining", "TopiarySparsity", "TopiaryMetrics",
            "TopiaryInference", "TopiaryOptim", "TopiaryNN", "TopiaryData", "TopiaryTensor",
        ]),
        // Layer 12: the command line (and the benchmarks it prints).
        .executableTarget(name: "topiary", dependencies: [
            "TopiaryStudy", "TopiaryRun", "TopiaryReport", "TopiaryFormats", "TopiarySpec", "TopiaryTraining",
            "TopiaryMetrics", "TopiaryInference", "TopiarySparsity", "TopiaryOptim", "TopiaryNN", "TopiaryData", "TopiaryTensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // A study script as a user writes one: its own scorer and model, a spec built in code.
        // It imports only the umbrella; the modules behind it are listed too because an incremental
        // build recompiles a target only when a module it depends on directly changes, and the
        // umbrella's own interface stays the same when a struct behind it gains a field.
        .executableTarget(name: "custom-scorer-study", dependencies: [
            "Topiary", "TopiaryStudy", "TopiaryRun", "TopiaryReport", "TopiaryFormats", "TopiarySpec", "TopiaryTraining", "TopiarySparsity",
            "TopiaryMetrics", "TopiaryInference", "TopiaryOptim", "TopiaryNN", "TopiaryData", "TopiaryTensor",
        ], path: "Examples/CustomScorerStudy"),

        .testTarget(name: "TopiaryTests", dependencies: ["TopiaryStudy", "TopiaryRun", "TopiaryReport", "TopiaryFormats", "TopiarySpec", "TopiaryTraining",
                                                  "TopiaryInference", "TopiaryMetrics", "TopiaryNN", "TopiaryOptim",
                                                  "TopiarySparsity", "TopiaryData", "TopiaryTensor", "CZlib", "CTopiaryRuntime", "CTopiaryKernels"],
                    exclude: ["../Fixtures"]),
    ]
)
