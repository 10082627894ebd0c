import TopiaryInference
import TopiaryNN
import TopiaryTensor

/// Latency and bytes of a model under every inference engine, whole model and per layer, at
/// the given batch sizes: what each stage row and `topiary bench-model` report.
public struct EngineMeasurement: Sendable {
    public struct Whole: Sendable {
        public let engine: String          // an InferenceEngine's name, or "auto"
        public let batchSize: Int
        public let statistics: LatencyStatistics
    }

    public struct PerLayer: Sendable {
        public let layer: String
        public let engine: InferenceEngine
        public let batchSize: Int
        public let statistics: LatencyStatistics
        public let bytes: Int
    }

    public var whole: [Whole] = []
    public var perLayer: [PerLayer] = []
    /// Bytes of the whole model per engine.
    public var bytes: [String: Int] = [:]
    /// The whole-model engines as prepared for timing, by name: accuracy figures reuse them
    /// instead of building (quantizing, compressing) the model again.
    public var prepared: [String: InferenceModel] = [:]
    /// The auto mode's choice per batch size, one engine per layer (a uniform list when one
    /// engine for the whole model measured fastest; compact is whole-model only).
    public var autoEngines: [Int: [InferenceEngine]] = [:]
    /// The auto mode's model per batch size, as timed (generation reuses it).
    public var preparedAuto: [Int: InferenceModel] = [:]

    /// Engines measured per layer (compact transforms the whole model, so it is measured
    /// whole only); `auto` chooses among the exact ones.
    public static let perLayerEngines: [InferenceEngine] = [.dense, .csr, .sell, .nm, .int8, .int8CSR]
    public static let wholeEngines: [InferenceEngine] = [.dense, .csr, .sell, .nm, .compact, .int8, .int8CSR]

    /// - Parameters:
    ///   - inputs: real inputs (N, inputShape…) to time on; they repeat when a batch is larger.
    ///   - repetitions: timed calls at batch 1; larger batches use a tenth (at least 5).
    /// - Parameter nOfM: the N:M shape of the masks, when they are N:M (enables nm).
    /// - Parameter engines: which engines to measure (dense always is).
    /// A model without an inference program (`Model.inferencePlan` nil) is timed through its
    /// own forward only, as `dense`.
    public static func measure(_ model: any Model, inputs: Tensor, batchSizes: [Int], repetitions: Int, warmup: Int,
                               threads: Int, nOfM: (n: Int, m: Int)? = nil,
                               engines: [InferenceEngine] = InferenceEngine.allCases) -> EngineMeasurement {
        var result = EngineMeasurement()
        let measured = Set(engines + [.dense])
        guard let program = InferenceProgram(model) else {
            model.setTraining(false)
            defer { model.setTraining(true) }
            for batch in batchSizes {
                let x = rows(inputs, batch)
                let timing = LatencyHarness.measureInTurns(warmup: warmup, repetitions: batch == 1 ? repetitions : max(5, repetitions / 10),
                                                           [{ _ = model.forward(x) }])
                result.whole.append(Whole(engine: InferenceEngine.dense.rawValue, batchSize: batch, statistics: timing[0]))
            }
            result.bytes[InferenceEngine.dense.rawValue] = MemoryFootprint.denseBytes(model.parameters)
            return result
        }
        let prepared = wholeEngines.filter(measured.contains).compactMap { engine in
            InferenceModel.build(program, engine: engine, threads: threads, nOfM: nOfM).map { (engine, $0) }
        }
        for (engine, model) in prepared {
            result.bytes[engine.rawValue] = model.bytes
            result.prepared[engine.rawValue] = model
        }
        let dense = result.prepared[InferenceEngine.dense.rawValue]!
        // Each matrix's kernel per engine, built (compressed, quantized) once for every batch size.
        let matrixKernels = program.matrices.map { matrix in
            perLayerEngines.filter(measured.contains).compactMap { engine in InferenceModel.makeKernel(matrix, engine, nOfM: nOfM).map { (engine, $0) } }
        }
        for batch in batchSizes {
            let x = rows(inputs, batch)
            let reps = batch == 1 ? repetitions : max(5, repetitions / 10)
            // Per matrix: each timed alone on its real input (the dense model's activations),
            // as the whole model runs it at this batch size, its engines in turns.
            let matrixInputs = dense.matrixInputs(x)
            var chosen: [InferenceEngine] = []
            for (index, (matrix, input)) in zip(program.matrices, matrixInputs).enumerated() {
                let kernels = matrixKernels[index]
                let calls = kernels.map { dense.matrixCall(index, kernel: $0.1, input: input) }
                let timings = LatencyHarness.measureInTurns(warmup: warmup, repetitions: reps, calls)
                var best: (InferenceEngine, Double)?
                for ((engine, kernel), statistics) in zip(kernels, timings) {
                    result.perLayer.append(PerLayer(layer: matrix.name, engine: engine, batchSize: batch,
                                                    statistics: statistics, bytes: kernel.bytes))
                    // A Linear's sell and nm have no features-major path: above batch 1 they
                    // cannot sit beside csr in one features-major run.
                    let eligible = engine.isExact && (batch == 1 || engine.hasBatchKernel || matrix.geometry != nil)
                    if eligible, best == nil || statistics.medianMicroseconds < best!.1 {
                        best = (engine, statistics.medianMicroseconds)
                    }
                }
                chosen.append(best!.0)
            }
            // Whole models in turns, the per-matrix mix among them: per-matrix times miss the
            // cost of switching layouts between layers, so auto is the fastest measured whole
            // model, the mix or a uniform exact engine.
            let mixed = InferenceModel.build(program, engines: chosen, threads: threads, nOfM: nOfM)
            let contenders = prepared.map(\.1) + (mixed.map { [$0] } ?? [])
            let timings = LatencyHarness.measureInTurns(warmup: warmup, repetitions: reps, contenders.map { model in { _ = model.predict(x) } })
            for ((engine, _), statistics) in zip(prepared, timings) {
                result.whole.append(Whole(engine: engine.rawValue, batchSize: batch, statistics: statistics))
            }
            var auto: (engines: [InferenceEngine], statistics: LatencyStatistics, model: InferenceModel)? = mixed.map { (chosen, timings.last!, $0) }
            for whole in result.whole where whole.batchSize == batch {
                guard let engine = InferenceEngine(rawValue: whole.engine), engine.isExact,
                      auto == nil || whole.statistics.medianMicroseconds < auto!.statistics.medianMicroseconds else { continue }
                auto = (Array(repeating: engine, count: program.matrices.count), whole.statistics, result.prepared[whole.engine]!)
            }
            if let auto {
                result.autoEngines[batch] = auto.engines
                result.preparedAuto[batch] = auto.model
                result.whole.append(Whole(engine: "auto", batchSize: batch, statistics: auto.statistics))
            }
        }
        return result
    }

    /// `batch` samples of `inputs` (N, shape…), repeating them when there are fewer.
    static func rows(_ inputs: Tensor, _ batch: Int) -> Tensor {
        let d = inputs.sampleCount, n = inputs.shape[0]
        let x = Tensor(zeros: [batch] + Array(inputs.shape.dropFirst()))
        for r in 0..<batch { (x.pointer + r * d).update(from: inputs.pointer + (r % n) * d, count: d) }
        return x
    }

    public func latency(engine: String, batch: Int) -> LatencyStatistics? {
        whole.first { $0.engine == engine && $0.batchSize == batch }?.statistics
    }

    /// The engine with the lowest median whole-model latency at `batch`.
    public func bestEngine(batch: Int) -> String? {
        whole.filter { $0.batchSize == batch }.min { $0.statistics.medianMicroseconds < $1.statistics.medianMicroseconds }?.engine
    }
}
