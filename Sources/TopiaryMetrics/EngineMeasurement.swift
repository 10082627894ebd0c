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

    /// Engines measured per layer (compact transforms the whole model, so it is measured
    /// whole only); `auto` chooses among the exact ones.
    public static let perLayerEngines: [InferenceEngine] = [.dense, .csr, .sell, .nm, .int8, .int8CSR]
    public static let wholeEngines: [InferenceEngine] = [.dense, .csr, .sell, .nm, .compact, .int8, .int8CSR]

    /// - Parameters:
    ///   - inputs: real input rows (B, features) to time on; rows repeat when B exceeds them.
    ///   - repetitions: timed calls at batch 1; larger batches use a tenth (at least 5).
    /// - Parameter nOfM: the N:M shape of the masks, when they are N:M (enables nm).
    public static func measure(_ model: Sequential, inputs: Tensor, batchSizes: [Int], repetitions: Int, warmup: Int,
                               threads: Int, nOfM: (n: Int, m: Int)? = nil) -> EngineMeasurement {
        var result = EngineMeasurement()
        let stack = LinearStack(model)
        let prepared = wholeEngines.compactMap { engine in
            InferenceModel.build(model, engine: engine, threads: threads, nOfM: nOfM).map { (engine, $0) }
        }
        for (engine, model) in prepared {
            result.bytes[engine.rawValue] = model.bytes
            result.prepared[engine.rawValue] = model
        }
        // Each layer's kernel per engine, built (compressed, quantized) once for every batch size.
        let layerKernels = stack.layers.map { layer in
            perLayerEngines.compactMap { engine in InferenceModel.makeKernel(layer, engine, nOfM: nOfM).map { (engine, $0) } }
        }
        for batch in batchSizes {
            let x = rows(inputs, batch)
            let reps = batch == 1 ? repetitions : max(5, repetitions / 10)
            // Per layer: each layer timed alone on its real input (the dense model's
            // activations), in the layout the engine uses at this batch size, its engines in turns.
            var activation = x
            let layerInputs: [Tensor] = stack.layers.map { layer in
                let input = activation.copy()
                let kernel = DenseKernel(weight: layer.weight, bias: layer.bias, relu: layer.relu)
                let output = Tensor(zeros: [batch, layer.weight.rows])
                kernel.apply(batchMajor: activation, into: output)
                activation = output
                return input
            }
            var chosen: [InferenceEngine] = []
            for (index, (layer, input)) in zip(stack.layers, layerInputs).enumerated() {
                let kernels = layerKernels[index]
                let timings = timeInTurns(kernels.map(\.1), input: input, repetitions: reps, warmup: warmup, threads: threads)
                var best: (InferenceEngine, Double)?
                for ((engine, kernel), statistics) in zip(kernels, timings) {
                    result.perLayer.append(PerLayer(layer: layer.name, engine: engine, batchSize: batch,
                                                    statistics: statistics, bytes: kernel.bytes))
                    // sell and nm have no features-major path: above batch 1 they cannot sit beside csr.
                    let eligible = engine.isExact && (batch == 1 || engine.hasBatchKernel)
                    if eligible, best == nil || statistics.medianMicroseconds < best!.1 {
                        best = (engine, statistics.medianMicroseconds)
                    }
                }
                chosen.append(best!.0)
            }
            // Whole models in turns, the per-layer mix among them: per-layer times miss the
            // cost of switching layouts between layers, so auto is the fastest measured whole
            // model, the mix or a uniform exact engine.
            let mixed = InferenceModel.build(model, engines: chosen, threads: threads, nOfM: nOfM)
            let contenders = prepared.map(\.1) + (mixed.map { [$0] } ?? [])
            let timings = LatencyHarness.measureInTurns(warmup: warmup, repetitions: reps, contenders.map { model in { _ = model.predict(x) } })
            for ((engine, _), statistics) in zip(prepared, timings) {
                result.whole.append(Whole(engine: engine.rawValue, batchSize: batch, statistics: statistics))
            }
            var auto: (engines: [InferenceEngine], statistics: LatencyStatistics)? = mixed.map { _ in (chosen, timings.last!) }
            for whole in result.whole where whole.batchSize == batch {
                guard let engine = InferenceEngine(rawValue: whole.engine), engine.isExact,
                      auto == nil || whole.statistics.medianMicroseconds < auto!.statistics.medianMicroseconds else { continue }
                auto = (Array(repeating: engine, count: stack.layers.count), whole.statistics)
            }
            if let auto {
                result.autoEngines[batch] = auto.engines
                result.whole.append(Whole(engine: "auto", batchSize: batch, statistics: auto.statistics))
            }
        }
        return result
    }

    /// Layers' kernels timed in turns on one input: vector at batch 1, batch-major when the
    /// engine has it, else features-major (the transpose is not part of a layer's time).
    static func timeInTurns(_ kernels: [any LayerKernel], input: Tensor, repetitions: Int, warmup: Int, threads: Int) -> [LatencyStatistics] {
        let batch = input.rows
        let calls: [() -> Void] = kernels.map { kernel in
            if batch == 1 {
                let x = input.reshaped([kernel.inFeatures]), y = Tensor(zeros: [kernel.outFeatures])
                return { kernel.apply(vector: x, into: y) }
            }
            if kernel.supportsBatchMajor {
                let y = Tensor(zeros: [batch, kernel.outFeatures])
                return { kernel.apply(batchMajor: input, into: y) }
            }
            let xt = Tensor(zeros: [kernel.inFeatures, batch]), yt = Tensor(zeros: [kernel.outFeatures, batch])
            transpose(input, into: xt)
            return { kernel.apply(featureMajor: xt, into: yt, threads: threads) }
        }
        return LatencyHarness.measureInTurns(warmup: warmup, repetitions: repetitions, calls)
    }

    /// `batch` rows of `inputs`, repeating them when there are fewer.
    static func rows(_ inputs: Tensor, _ batch: Int) -> Tensor {
        let x = Tensor(zeros: [batch, inputs.columns])
        let d = inputs.columns
        for r in 0..<batch { (x.pointer + r * d).update(from: inputs.pointer + (r % inputs.rows) * d, count: d) }
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
