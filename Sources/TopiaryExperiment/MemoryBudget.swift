import Foundation

/// Refuses, before anything is allocated, a spec whose model or measurement cannot fit in
/// this machine's memory: a hidden size of 10⁸ used to end in the allocator's crash.
///
/// The estimate is deliberately coarse and on the generous side of what a run holds at once:
/// every parameter ×12 (values, gradients, masks, two optimizer moments, a rewind snapshot,
/// the last accepted state and a checkpoint's encoding of it), the training activations
/// (three buffers per layer output at the larger batch size) and the measurement's (each
/// engine's output per layer at the largest latency batch, about eight of them).
enum MemoryBudget {
    static let copiesPerParameter = 12
    static let trainingBuffersPerActivation = 3
    static let measurementBuffersPerActivation = 8

    /// Throws `SpecProblem` at the key whose size dominates when the estimate passes the
    /// machine's physical memory.
    static func check(_ spec: ExperimentSpec, inputFeatures: Int, classes: Int,
                      physicalMemory: UInt64 = ProcessInfo.processInfo.physicalMemory) throws {
        let widths = [inputFeatures] + spec.model.hiddenSizes + [classes]
        // Products can overflow Int for absurd sizes: saturate instead (the result is refused anyway).
        func product(_ values: Int...) -> Int {
            values.reduce(1) { acc, value in let (p, o) = acc.multipliedReportingOverflow(by: value); return o ? .max : p }
        }
        func sum(_ values: [Int]) -> Int {
            values.reduce(0) { acc, value in let (s, o) = acc.addingReportingOverflow(value); return o ? .max : s }
        }
        let parameters = sum(zip(widths, widths.dropFirst()).map { product($0 + 1, $1) })
        let activations = sum(Array(widths.dropFirst()))
        let batch = max(spec.training.batchSize, spec.pruning.retraining?.batchSize ?? 0)
        let terms: [(key: String, bytes: Int)] = [
            ("model.hidden_sizes", product(4, copiesPerParameter, parameters)),
            ("training.batch_size", product(4, trainingBuffersPerActivation, batch, activations)),
            ("measurement.latency_batch_sizes", product(4, measurementBuffersPerActivation, spec.measurement.latencyBatchSizes.max() ?? 1, activations)),
        ]
        let total = sum(terms.map(\.bytes))
        guard total > Int(clamping: physicalMemory) else { return }
        let largest = terms.max { $0.bytes < $1.bytes }!
        throw SpecProblem(keyPath: largest.key,
                          problem: "the run would need about \(gibibytes(total)) of memory (this part alone \(gibibytes(largest.bytes))), "
                              + "more than this machine's \(gibibytes(Int(clamping: physicalMemory))). Choose smaller sizes.")
    }

    static func gibibytes(_ bytes: Int) -> String {
        bytes == .max ? "more than 2^63 bytes" : String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }
}
