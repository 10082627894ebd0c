import Foundation

/// What an exported model occupies on a microcontroller, from the cross-compiler: the model's
/// object file alone (the driver and the C library are the firmware's, not the model's).
public struct DeviceFootprint: Codable, Sendable, Equatable {
    /// Code and `const` data (`size`'s text, which holds .rodata).
    public let text: Int
    public let data: Int
    /// Zero-initialised RAM: the arena.
    public let bss: Int
    /// The deepest call chain's frames from `-fstack-usage`: entry point, forward pass and the
    /// largest kernel frame.
    public let stack: Int
    public var flashBytes: Int { text + data }
    public var ramBytes: Int { data + bss + stack }
}

/// Compiles an exported model with a small driver and runs it: on this machine with the host
/// C compiler, and on an emulated Cortex-M. The driver reads rows of Float32 inputs from
/// inputs.bin and writes each row's outputs to outputs.bin (raw little-endian floats), on the
/// device through semihosting; both builds use -O2 -ffp-contract=off, so equal bits are
/// expected.
public struct CModelCheck {
    public let export: CModelExport
    /// A scratch folder, removed by `close()`.
    public let workDirectory: String

    public init(_ export: CModelExport) throws {
        self.export = export
        workDirectory = NSTemporaryDirectory() + "topiary-c-\(getpid())-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
            try Data(export.header.utf8).write(to: URL(fileURLWithPath: workDirectory + "/model.h"))
            try Data(export.source.utf8).write(to: URL(fileURLWithPath: workDirectory + "/model.c"))
            try Data(CModelCheck.driver.utf8).write(to: URL(fileURLWithPath: workDirectory + "/driver.c"))
            try Data(CortexMTarget.startup.utf8).write(to: URL(fileURLWithPath: workDirectory + "/startup.c"))
            try Data(CortexMTarget.linkerScript.utf8).write(to: URL(fileURLWithPath: workDirectory + "/link.ld"))
        } catch {
            throw ExportError.cannotWrite(path: workDirectory, reason: error.localizedDescription)
        }
    }

    public func close() { try? FileManager.default.removeItem(atPath: workDirectory) }

    /// The first tool a full check needs that is not on PATH, with its Debian package.
    public static var missingTool: (tool: String, package: String)? {
        ["cc", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm", "valgrind"].first { !ToolRun.isInstalled($0) }
            .map { ($0, ToolRun.packages[$0] ?? $0) }
    }

    static let driver = """
    #include <stdio.h>
    #include "model.h"
    static float input[TOPIARY_INPUT_FLOATS], output[TOPIARY_OUTPUT_FLOATS];
    int main(void) {
        FILE *in = fopen("inputs.bin", "rb"), *out = fopen("outputs.bin", "wb");
        if (!in || !out) { fprintf(stderr, "cannot open inputs.bin or outputs.bin\\n"); return 2; }
        long rows = 0;
        while (fread(input, sizeof input, 1, in) == 1) {
            topiary_predict(input, output);
            if (fwrite(output, sizeof output, 1, out) != 1) return 3;
            rows++;
        }
        fclose(in);
        if (fclose(out) != 0) return 3;
        printf("%ld rows\\n", rows);
        return 0;
    }

    """

    static let portableFlags = ["-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"]

    /// Outputs (rows × outputCount) of the host build for `inputs` (rows × inputCount).
    public func runOnHost(_ inputs: [Float]) throws -> [Float] {
        try buildHost()
        return try run(inputs) { try ToolRun.run("./host", [], in: workDirectory) }
    }

    /// The host build (with symbols, for valgrind), compiled once per check folder.
    private func buildHost() throws {
        guard !FileManager.default.fileExists(atPath: workDirectory + "/host") else { return }
        try ToolRun.run("cc", CModelCheck.portableFlags + ["-g", "-o", "host", "model.c", "driver.c", "-lm"], in: workDirectory)
    }

    /// Outputs of the model cross-compiled for `target` and run under QEMU.
    public func runOnCortexM(_ inputs: [Float], target: CortexMTarget, timeout: Double = 600) throws -> [Float] {
        try ToolRun.run("arm-none-eabi-gcc", CModelCheck.portableFlags + target.compilerFlags
                        + ["--specs=rdimon.specs", "-T", "link.ld", "-o", "device.elf", "startup.c", "driver.c", "model.c", "-lm"], in: workDirectory)
        return try run(inputs) {
            try ToolRun.run("qemu-system-arm", ["-machine", target.machine, "-nographic", "-monitor", "none", "-serial", "none",
                                                "-semihosting-config", "enable=on,target=native", "-kernel", "device.elf"],
                            in: workDirectory, timeout: timeout)
        }
    }

    /// Flash and RAM of the model's object file for `target`.
    public func footprint(target: CortexMTarget) throws -> DeviceFootprint {
        try ToolRun.run("arm-none-eabi-gcc", CModelCheck.portableFlags + target.compilerFlags + ["-fstack-usage", "-c", "-o", "model.o", "model.c"],
                        in: workDirectory)
        let sizes = try ToolRun.run("arm-none-eabi-size", ["model.o"], in: workDirectory)
        // "   text    data     bss     dec     hex filename" then one line of numbers.
        let numbers = sizes.split(separator: "\n").dropFirst().first?.split(separator: " ", omittingEmptySubsequences: true)
            .prefix(3).compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? []
        guard numbers.count == 3 else { throw ExportError.unreadableOutput(path: "arm-none-eabi-size model.o", detail: sizes) }
        let usage = (try? String(contentsOfFile: workDirectory + "/model.su", encoding: .utf8)) ?? ""
        return DeviceFootprint(text: numbers[0], data: numbers[1], bss: numbers[2], stack: CModelCheck.stackEstimate(usage))
    }

    /// The frames of the entry point and the forward pass plus the largest other frame
    /// (kernels call nothing): the deepest chain, since the model has no recursion.
    static func stackEstimate(_ usage: String) -> Int {
        var entry = 0, forward = 0, largestOther = 0
        for line in usage.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count >= 2, let bytes = Int(fields[1]) else { continue }
            let function = fields[0].split(separator: ":").last.map(String.init) ?? ""
            switch function {
            case "topiary_predict", "topiary_predict_q8": entry = max(entry, bytes)
            case "topiary_forward": forward = bytes
            default: largestOther = max(largestOther, bytes)
            }
        }
        return entry + forward + largestOther
    }

    /// x86-64 instructions per `topiary_predict` call of the host build under valgrind's
    /// callgrind (counted only inside the entry point; the same count on every run).
    public func instructionsPerInference(_ inputs: [Float]) throws -> Double {
        try buildHost()
        let rows = inputs.count / export.inputCount
        _ = try run(inputs) {
            try ToolRun.run("valgrind", ["--tool=callgrind", "--callgrind-out-file=callgrind.out", "--toggle-collect=topiary_predict",
                                         "./host"], in: workDirectory)
        }
        let profile = try String(contentsOfFile: workDirectory + "/callgrind.out", encoding: .utf8)
        guard let line = profile.split(separator: "\n").last(where: { $0.hasPrefix("totals:") || $0.hasPrefix("summary:") }),
              let total = Double(line.split(separator: " ").last ?? "") else {
            throw ExportError.unreadableOutput(path: workDirectory + "/callgrind.out", detail: "no totals line")
        }
        return total / Double(max(rows, 1))
    }

    /// Writes the inputs, runs `program`, and reads back rows × outputCount floats.
    private func run(_ inputs: [Float], _ program: () throws -> String) throws -> [Float] {
        precondition(inputs.count % export.inputCount == 0, "\(inputs.count) inputs are not rows of \(export.inputCount)")
        let rows = inputs.count / export.inputCount
        let outputPath = workDirectory + "/outputs.bin"
        try? FileManager.default.removeItem(atPath: outputPath)
        try inputs.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: workDirectory + "/inputs.bin")) }
        _ = try program()
        guard let data = FileManager.default.contents(atPath: outputPath), data.count == rows * export.outputCount * 4 else {
            throw ExportError.unreadableOutput(path: outputPath, detail: "expected \(rows) rows of \(export.outputCount) floats")
        }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
