import Foundation
import TopiaryNN
import TopiarySpec

/// Refuses, before anything is allocated, a spec whose model or measurement cannot fit in
/// this machine's memory: a hidden size of 10⁸ used to end in the allocator's crash.
///
/// The model is planned (shapes only, nothing allocated) to count its parameters and the
/// activations of one sample. The estimate is deliberately coarse and on the generous side of
/// what a run holds at once: every parameter ×12 (values, gradients, masks, two optimizer
/// moments, a rewind snapshot, the last accepted state and a checkpoint's encoding of it),
/// the training activations (three buffers per layer output at the larger batch size) and
/// the measurement's (each engine's output per layer at the largest latency batch, about
/// eight of them).
enum MemoryBudget {
    static let copiesPerParameter = 12
    static let trainingBuffersPerActivation = 3
    static let measurementBuffersPerActivation = 8

    /// Throws `SpecProblem` at the key whose size dominates when the estimate passes the
    /// machine's physical memory.
    static func check(_ spec: ResolvedSpec, dataShape: [Int], outputs: Int,
                      physicalMemory: UInt64 = ProcessInfo.processInfo.physicalMemory) throws {
        guard let (parameters, activations) = try ModelFactory.footprint(spec.model, dataShape: dataShape, outputs: outputs) else { return }
        let batch = max(spec.training.batchSize, spec.pruning.retraining?.batchSize ?? 0)
        let terms: [(key: String, bytes: Int)] = [
            ("model", saturatingProduct([4, copiesPerParameter, parameters])),
            ("training.batch_size", saturatingProduct([4, trainingBuffersPerActivation, batch, activations])),
            ("measurement.latency_batch_sizes", saturatingProduct([4, measurementBuffersPerActivation, spec.measurement.latencyBatchSizes.max() ?? 1, activations])),
        ]
        let total = saturatingSum(terms.map(\.bytes))
        guard total > Int(clamping: physicalMemory) else { return }
        let largest = terms.max { $0.bytes < $1.bytes }!
        throw SpecProblem(keyPath: largest.key == "model" ? (spec.model.architecture == "mlp" ? "model.hidden_sizes" : "model") : largest.key,
                          problem: "the run would need about \(gibibytes(total)) of memory (this part alone \(gibibytes(largest.bytes))), "
                              + "more than this machine's \(gibibytes(Int(clamping: physicalMemory))). Choose smaller sizes.")
    }

    static func gibibytes(_ bytes: Int) -> String {
        bytes == .max ? "more than 2^63 bytes" : String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }
}

/// Products and sums that stop at Int.max instead of trapping: absurd sizes are refused,
/// not crashed on.
func saturatingProduct(_ values: [Int]) -> Int {
    values.reduce(1) { acc, value in let (p, o) = acc.multipliedReportingOverflow(by: value); return o ? .max : p }
}

func saturatingSum(_ values: [Int]) -> Int {
    values.reduce(0) { acc, value in let (s, o) = acc.addingReportingOverflow(value); return o ? .max : s }
}

extension ModelFactory {
    /// Parameters and per-sample activation floats of the spec's model, from its plan alone
    /// (nothing allocated); nil for a registered model, which builds itself.
    static func footprint(_ spec: ModelSpec, dataShape: [Int], outputs: Int) throws -> (parameters: Int, activations: Int)? {
        guard spec.isBuiltIn else { return nil }
        if spec.isLlama, let source = spec.initFrom, let context = spec.blockSize {
            // Layer outputs per sample and block: two norms, q/k/v, the heads' (T, T) weights,
            // the mixed heads, o, two residual sums (≈ 7 (T, C) + q/k/v), gate, up, silu and
            // their product (4 (T, I)), down; and the (T, V) logits.
            let c = try llamaConfiguration(source, context: context)
            let (C, T, I) = (c.channels, c.context, c.intermediate)
            let perBlock = saturatingSum([saturatingProduct([8, T, C]), saturatingProduct([2, T, c.keyValueHeads * c.headSize]),
                                          saturatingProduct([4, T, I]), saturatingProduct([c.heads, T, T])])
            return (c.parameterCount, saturatingSum([saturatingProduct([c.layers, perBlock]), saturatingProduct([T, c.vocabulary])]))
        }
        if let c = spec.gptConfiguration {
            // Per block: 12C² weights + 13C biases and gains; per sample and block about 18 (T, C)
            // activations (norms, qkv, heads, MLP ×4 twice, residuals) and the heads' (T, T) weights.
            let (C, T, L) = (c.channels, c.context, c.layers)
            let parameters = saturatingSum([saturatingProduct([c.vocabulary, C]), saturatingProduct([T, C]),
                                            saturatingProduct([L, saturatingSum([saturatingProduct([12, C, C]), 13 * C])]), 2 * C])
            let perBlock = saturatingSum([saturatingProduct([18, T, C]), saturatingProduct([c.heads, T, T])])
            return (parameters, saturatingSum([saturatingProduct([L, perBlock]), saturatingProduct([3, T, C]), saturatingProduct([T, c.vocabulary])]))
        }
        let inputShape = try self.inputShape(spec, dataShape: dataShape)
        let chain = LayerChain(try layers(spec, inputShape: inputShape, outputs: outputs))
        let plan: LayerPlan
        do { plan = try chain.plan(inputShape: inputShape) } catch let error as ModelError {
            throw SpecProblem(keyPath: "model", problem: "\(error). The data's samples have shape \(dataShape).")
        }
        let parameters = saturatingSum(plan.parameters.map { saturatingProduct($0.shape) })
        let activations = saturatingSum((chain.inputShapes.dropFirst() + [plan.outputShape]).map(saturatingProduct))
        return (parameters, activations)
    }
}
