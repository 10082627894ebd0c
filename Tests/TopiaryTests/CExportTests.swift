import Foundation
import Testing
@testable import TopiaryFormats
import TopiaryInference
import TopiaryNN
import TopiarySparsity
import TopiaryTensor

/// The C export computes what Topiary's engine computes for the same program: compiled with
/// the host C compiler, on MLPs and CNNs (1-D and 2-D, padding, BatchNorm, pooling, channel
/// pruning), Float32 and int8 weights, full and compacted.
extension AllTests {
@Suite struct CExportTests {
    /// A 2-D CNN with padding, BatchNorm away from (0, 1), max pooling, half its channels
    /// pruned and the rest of its weights 70 % unstructured-sparse.
    func prunedCNN2D(seed: UInt64) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        let model = try Sequential(inputShape: [2, 10, 10], layers: [
            Convolution.conv2d("conv1", 2, 6, kernel: 3, padding: 1), BatchNorm(name: "bn1", features: 6), ActivationLayer(name: "relu1", .relu),
            Pooling(name: "pool1", kind: .max, spatialDimensions: 2, kernel: 2), Convolution.conv2d("conv2", 6, 8, kernel: 3),
            ActivationLayer(name: "relu2", .relu), Pooling(name: "pool2", kind: .average, spatialDimensions: 2, kernel: 3),
            Flatten(name: "flatten"), Linear(name: "fc", inFeatures: 8, outFeatures: 3)], generator: &g)
        settleBatchNormStatistics(model, &g)
        let targets = model.prunableMatrices
        try ChannelPruner().prune(targets, scores: targets.map { randomTensor($0.shape, &g) },
                                  couplings: targets.map(model.channelCoupling), to: 0.5)
        for target in targets { for i in 0..<target.count where g.nextUnitFloat() < 0.7 { target.mask[i] = 0 } }
        model.store.applyMasks()
        return model
    }

    /// A sensor-style 1-D CNN: same-padded convolutions, BatchNorm, ReLU, global average pooling.
    func sparseCNN1D(seed: UInt64) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        let model = try Sequential(inputShape: [3, 20], layers: [
            Convolution.conv1d("conv1", 3, 8, kernel: 5, padding: 2), BatchNorm(name: "bn1", features: 8), ActivationLayer(name: "relu1", .relu),
            Convolution.conv1d("conv2", 8, 6, kernel: 3, stride: 2), ActivationLayer(name: "tanh", .tanh),
            GlobalAveragePooling(name: "gap"), Linear(name: "fc", inFeatures: 6, outFeatures: 4)], generator: &g)
        settleBatchNormStatistics(model, &g)
        for target in model.prunableMatrices { for i in 0..<target.count where g.nextUnitFloat() < 0.6 { target.mask[i] = 0 } }
        model.store.applyMasks()
        return model
    }

    /// An MLP whose first layer reads only some inputs (a gather after compaction), with dead neurons.
    func sparseMLP(seed: UInt64) -> Sequential {
        var g = SeededGenerator(seed: seed)
        let model = Sequential.multilayerPerceptron(inputFeatures: 30, hiddenSizes: [24, 12], outputs: 5, generator: &g)
        for (index, target) in model.prunableMatrices.enumerated() {
            for i in 0..<target.count where g.nextUnitFloat() < 0.8 { target.mask[i] = 0 }
            if index == 0 { for row in 0..<target.rows { for column in 0..<6 { target.mask[row * target.fanIn + column] = 0 } } }
        }
        for parameter in model.parameters where parameter.role == .bias {
            for i in 0..<parameter.count { parameter.value[i] = g.nextFloat(in: -0.5, 0.5) }
        }
        model.store.applyMasks()
        return model
    }

    /// Host-compiled C against the engine on the same program, for both precisions and both layouts.
    func expectHostMatchesEngine(_ model: Sequential, compact: Bool, rows: Int, seed: UInt64,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws {
        var g = SeededGenerator(seed: seed)
        let full = try #require(InferenceProgram(model))
        let program = compact ? full.compacted() : full
        let x = randomTensor([rows] + model.inputShape, &g)
        for precision in ExportPrecision.allCases {
          for layout in [ExportLayout.dense, .sparse] {
            let export = try CModelExport(program, precision: precision, layout: layout, modelName: "test")
            let engine = try #require(InferenceModel.build(program, engine: precision == .int8 ? .int8 : .dense, threads: 1))
            let expected = engine.predict(x).copy()
            let check = try CModelCheck(export)
            defer { check.close() }
            let outputs = try check.runOnHost(x.toArray())
            let actual = Tensor(shape: expected.shape, values: outputs)
            #expect(maxRelativeError(actual, expected) < 1e-5, "\(precision.rawValue) \(layout.rawValue) compact \(compact)", sourceLocation: sourceLocation)
          }
        }
    }

    @Test(arguments: [false, true]) func cnn2DMatchesTheEngine(compact: Bool) throws {
        let model = try prunedCNN2D(seed: 1)
        try expectHostMatchesEngine(model, compact: compact, rows: 12, seed: 2)
        if !compact {
            // The largest step is conv1: its 2×10×10 input, the 2×12×12 padded copy, the 6×10×10 output.
            let export = try CModelExport(try #require(InferenceProgram(model)), precision: .float32, modelName: "cnn")
            #expect(export.arenaBytes == 4 * (200 + 288 + 600))
        }
    }

    @Test(arguments: [false, true]) func cnn1DMatchesTheEngine(compact: Bool) throws {
        try expectHostMatchesEngine(try sparseCNN1D(seed: 3), compact: compact, rows: 12, seed: 4)
    }

    @Test(arguments: [false, true]) func mlpMatchesTheEngine(compact: Bool) throws {
        let model = sparseMLP(seed: 5)
        try expectHostMatchesEngine(model, compact: compact, rows: 12, seed: 6)
        // Compaction drops the six unread inputs through a gather, and dead neurons.
        let program = try #require(InferenceProgram(model))
        let export = try CModelExport(compact ? program.compacted() : program, precision: .float32, modelName: "mlp")
        #expect(export.source.contains("\n    topiary_gather(") == compact)
    }

    /// Cross-compiled for a Cortex-M4 and run under QEMU, the model gives the host build's
    /// bits (ReLU-only: no libm function whose last bit may differ between C libraries); the
    /// footprint comes from the toolchain and the instruction count from valgrind.
    @Test func cortexMGivesTheHostsBits() throws {
        let model = try prunedCNN2D(seed: 12)
        var g = SeededGenerator(seed: 13)
        let x = randomTensor([10] + model.inputShape, &g).toArray()
        let program = try #require(InferenceProgram(model)).compacted()
        for precision in ExportPrecision.allCases {
            let export = try CModelExport(program, precision: precision, modelName: "cnn")
            let check = try CModelCheck(export)
            defer { check.close() }
            let host = try check.runOnHost(x)
            let device = try check.runOnCortexM(x, target: .cortexM4, timeout: 60)
            #expect(host.map(\.bitPattern) == device.map(\.bitPattern), "\(precision.rawValue)")
            let footprint = try check.footprint(target: .cortexM4)
            #expect(footprint.bss == export.arenaBytes)
            #expect(footprint.text >= export.constantBytes && footprint.text < export.constantBytes + 8_192)
            #expect(footprint.stack > 0 && footprint.stack < 1_024)
            let instructions = try check.instructionsPerInference(Array(x.prefix(3 * export.inputCount)))
            // At least one instruction per multiply-add of the surviving weights, and not wildly more.
            let multiplyAdds = Double(program.flops.effective / 2)
            #expect(instructions > multiplyAdds && instructions < 40 * multiplyAdds + 50_000, "\(instructions) for \(multiplyAdds) multiply-adds")
        }
    }

    /// A convolution pruned away entirely: compaction removes it and what fed it, the compact
    /// engine emits the constant the rest computes from biases, and the C agrees.
    @Test func aConvolutionPrunedAwayEntirely() throws {
        let model = try prunedCNN2D(seed: 14)
        let conv2 = model.prunableMatrices[1]
        conv2.mask.fill(0)
        model.store.applyMasks()
        var g = SeededGenerator(seed: 15)
        let x = randomTensor([4] + model.inputShape, &g)
        let compact = try #require(InferenceModel.build(model, engine: .compact, threads: 1))
        #expect(maxRelativeError(compact.predict(x).copy(), model.forward(x).copy()) < 1e-5)
        try expectHostMatchesEngine(model, compact: true, rows: 4, seed: 16)
        let program = try #require(InferenceProgram(model)).compacted()
        #expect(throws: ExportError.self) { try ONNXModelExport(program, modelName: "empty") }
    }

    /// topiary_predict_q8 on int8 codes and a scale computes what topiary_predict computes on
    /// the dequantized inputs, bit for bit.
    @Test func quantizedInputEntryPointDequantizesFirst() throws {
        let export = try CModelExport(try #require(InferenceProgram(sparseMLP(seed: 17))), precision: .int8, modelName: "q8")
        let check = try CModelCheck(export)
        defer { check.close() }
        let driver = """
        #include <stdio.h>
        #include <string.h>
        #include "model.h"
        int main(void) {
            int8_t codes[TOPIARY_INPUT_FLOATS];
            float x[TOPIARY_INPUT_FLOATS], quantized[TOPIARY_OUTPUT_FLOATS], plain[TOPIARY_OUTPUT_FLOATS];
            for (int row = 0; row < 5; row++) {
                for (int i = 0; i < TOPIARY_INPUT_FLOATS; i++) {
                    codes[i] = (int8_t)((i * 37 + row * 11) % 255 - 127);
                    x[i] = 0.02f * (float)codes[i];
                }
                topiary_predict_q8(codes, 0.02f, quantized);
                topiary_predict(x, plain);
                if (memcmp(quantized, plain, sizeof plain) != 0) { printf("row %d differs\\n", row); return 1; }
            }
            printf("same\\n");
            return 0;
        }

        """
        try driver.write(toFile: check.workDirectory + "/q8.c", atomically: true, encoding: .utf8)
        try ToolRun.run("cc", CModelCheck.portableFlags + ["-o", "q8", "model.c", "q8.c", "-lm"], in: check.workDirectory)
        #expect(try ToolRun.run("./q8", [], in: check.workDirectory) == "same\n")
    }

    /// Each matrix takes the smaller of its two layouts, and the header states the arena.
    @Test func layoutsAreChosenBySizeAndStated() throws {
        let model = sparseMLP(seed: 7)
        let program = try #require(InferenceProgram(model))
        let export = try CModelExport(program, precision: .int8, modelName: "mlp")
        for matrix in export.matrices {
            #expect(matrix.bytes == min(matrix.denseBytes, matrix.sparseBytes))
            #expect(export.source.contains("\(matrix.name): \(matrix.rows) × \(matrix.fanIn)"))
        }
        #expect(export.matrices.contains { $0.sparse })   // 80 % zeros: CSR is smaller
        #expect(export.header.contains("#define TOPIARY_ARENA_BYTES \(export.arenaBytes)"))
        #expect(!export.source.contains("malloc") && !export.source.contains("immintrin"))
        let dense = try CModelExport(try #require(InferenceProgram(seededMLP([30, 24, 5], seed: 8))), precision: .float32, modelName: "dense")
        #expect(dense.matrices.allSatisfy { !$0.sparse })
        let expectedBytes = 4 * (30 * 24 + 24 + 24 * 5 + 5)
        #expect(dense.constantBytes == expectedBytes)
    }

    /// Hexadecimal literals are exact: every Float32 survives the round trip through C text.
    @Test func floatLiteralsAreExact() throws {
        var g = SeededGenerator(seed: 9)
        var values: [Float] = [1, -1, 0.5, 3, .leastNormalMagnitude, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -0.0, 0, 1e-20, 123456.789]
        for _ in 0..<200 { values.append(g.nextFloat(in: -4, 4) * Float(pow(10, Double(g.nextInt(below: 12)) - 6))) }
        let model = seededMLP([values.count, 1], seed: 10)
        let weight = model.prunableMatrices[0].value
        for (i, v) in values.enumerated() { weight[i] = v }
        for parameter in model.parameters where parameter.role == .bias { parameter.value.fill(0) }
        let export = try CModelExport(try #require(InferenceProgram(model)), precision: .float32, modelName: "literals")
        let check = try CModelCheck(export)
        defer { check.close() }
        // One-hot inputs read each weight back through the compiled model (bias 0).
        var inputs = [Float](repeating: 0, count: values.count * values.count)
        for i in 0..<values.count { inputs[i * values.count + i] = 1 }
        let read = try check.runOnHost(inputs)
        for (i, v) in values.enumerated() {
            let same = read[i].bitPattern == v.bitPattern || (v == 0 && read[i] == 0)
            #expect(same, "weight \(i): \(v) came back as \(read[i])")
        }
        #expect(CLiteral.hexadecimal(0.75) == "0x1.8p-1f")
        #expect(CLiteral.hexadecimal(-2) == "-0x1p1f")
    }

    /// The protobuf writer ONNX export stands on: varints (300 → AC 02, −1 as ten bytes),
    /// keys (field << 3 | wire type), length-delimited strings and nested messages.
    @Test func protobufWireFormat() {
        var writer = ProtobufWriter()
        writer.integer(1, 300)
        writer.integer(2, -1)
        writer.string(3, "hi")
        writer.message(4) { $0.integer(1, 5) }
        let expected: [UInt8] = [0x08, 0xAC, 0x02, 0x10] + Array(repeating: 0xFF, count: 9) + [0x01]
            + [0x1A, 0x02, 0x68, 0x69] + [0x22, 0x02, 0x08, 0x05]
        #expect(Array(writer.bytes) == expected)
    }

    /// A diverged stage (a NaN weight) is refused with an error naming the matrix, not a crash;
    /// a tool past its time limit is stopped and reported as such.
    @Test func nonFiniteWeightsAndHungToolsAreErrors() throws {
        let model = sparseMLP(seed: 18)
        model.prunableMatrices[1].value[3] = .nan
        let program = try #require(InferenceProgram(model))
        for export in [{ _ = try CModelExport(program, precision: .int8, modelName: "nan") }, { _ = try ONNXModelExport(program, modelName: "nan") }] {
            #expect { try export() } throws: { error in
                guard case ExportError.nonFinite(let tensor) = error else { return false }
                return tensor.contains("fc2") || tensor.contains("1")
            }
        }
        let start = Date()
        #expect { try ToolRun.run("sleep", ["30"], in: NSTemporaryDirectory(), timeout: 0.5) } throws: { error in
            (error as? ExportError)?.errorDescription?.contains("stopped after the limit of 0.5 s") == true
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    /// A transformer step is refused with a message naming it.
    @Test func transformersAreRefused() throws {
        var g = SeededGenerator(seed: 11)
        let gpt = try Sequential.gpt(GPTConfiguration(vocabulary: 16, context: 8, layers: 1, heads: 2, channels: 8), generator: &g)
        let program = try #require(InferenceProgram(gpt))
        #expect(throws: ExportError.self) { try CModelExport(program, precision: .float32, modelName: "gpt") }
        do { _ = try CModelExport(program, precision: .float32, modelName: "gpt") } catch {
            #expect(error.localizedDescription.contains("transformer") || error.localizedDescription.contains("LayerNorm"))
        }
    }
}
}
