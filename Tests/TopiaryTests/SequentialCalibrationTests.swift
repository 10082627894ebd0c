import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiarySparsity
@testable import TopiaryTensor

/// Sequential calibration on cached activations sees exactly what whole-model forwards see:
/// block by block, with the blocks before it already pruned.
extension AllTests {
@Suite struct SequentialCalibrationTests {
    func observedInputs(of block: [PrunableMatrix], _ run: () -> Void) -> [[Float]] {
        var seen = block.map { _ in [Float]() }
        for (index, matrix) in block.enumerated() { matrix.observer.onForward = { x, _ in seen[index] += x.toArray() } }
        defer { for matrix in block { matrix.observer.onForward = nil } }
        run()
        return seen
    }

    @Test func cachedSegmentsSeeWhatWholeForwardsSee() throws {
        var g = SeededGenerator(seed: 940)
        for model in [try Sequential.gpt(GPTConfiguration(vocabulary: 30, context: 6, layers: 3, heads: 2, channels: 8), generator: &g),
                      try Sequential.llama(LlamaConfiguration(vocabulary: 30, context: 6, layers: 3, heads: 2, keyValueHeads: 1, channels: 8,
                                                              intermediate: 12), generator: &g)] {
            let tokens = Tensor(shape: [10, 6], values: (0..<60).map { _ in Float(g.nextInt(below: 30)) })
            let data = Dataset(inputs: tokens, targets: tokens, classCount: 30)
            let context = ScoringContext(model: model, task: LanguageModelTask(), calibration: BatchIterator(dataset: data, batchSize: 4),
                                         calibrationBatches: 3, generator: g)
            #expect(model.calibrationBlocks.count == 3)
            for block in model.calibrationBlocks {
                let whole = observedInputs(of: block) { context.forEachCalibrationBatch { _ = model.forward($0.inputs) } }
                let cached = observedInputs(of: block) { context.forwardCalibration(reaching: block) }
                #expect(whole == cached && !whole[0].isEmpty)
                // Prune the block before the next one is calibrated: later blocks must see it.
                for matrix in block { for i in stride(from: 0, to: matrix.count, by: 2) { matrix.parameter.value[i] = 0 } }
            }
        }
    }
}
}
