import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryFormats
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiarySparsity
@testable import TopiaryTensor
@testable import TopiaryTraining

/// LoRA on a sparse base: gradients of A and B through the layers' weight gradients, the
/// masked merge keeping exactly the base's zeros (and computing what was trained), the
/// frozen base, and PEFT's file layout written, read back and refused when malformed.
extension AllTests {
@Suite struct LowRankAdapterTests {
    /// A CNN with a k×k convolution, a 1×1 convolution and two linear layers (SiLU, smooth),
    /// a third of every matrix pruned.
    func prunedModel(seed: UInt64) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        let model = try Sequential(inputShape: [2, 5, 5], layers: [
            Convolution.conv2d("conv1", 2, 3, kernel: 3, padding: 1), ActivationLayer(name: "act1", .silu),
            Convolution.conv2d("conv2", 3, 4, kernel: 1), ActivationLayer(name: "act2", .silu), Flatten(name: "flatten"),
            Linear(name: "fc1", inFeatures: 100, outFeatures: 6), ActivationLayer(name: "act3", .silu),
            Linear(name: "fc2", inFeatures: 6, outFeatures: 3),
        ], generator: &g)
        for matrix in model.prunableMatrices {
            for i in 0..<matrix.count where g.nextInt(below: 3) == 0 { matrix.parameter.value[i] = 0; matrix.parameter.mask[i] = 0 }
        }
        return model
    }

    func probe(_ y: Tensor, _ r: Tensor) -> Double { (0..<y.count).reduce(0.0) { $0 + Double(y[$1]) * Double(r[$1]) } }

    /// ∂L/∂A and ∂L/∂B of L = Σ r ⊙ f(x) against central differences, both forms, every
    /// target kind (k×k and 1×1 convolution, linear): the masked form folded into the weights,
    /// the unmasked one as its own path in both layouts (rows, im2col columns), and with
    /// dropout (linear targets; the draws replayed for every evaluation), whose input gradient
    /// reaches fc1's adapters through fc2's path.
    @Test(arguments: [(LowRankAdapters.Form.masked, Float(0)), (.unmasked, 0), (.masked, 0.3), (.unmasked, 0.3)])
    func adapterGradientsMatchFiniteDifferences(form: LowRankAdapters.Form, dropout: Float) throws {
        let model = try prunedModel(seed: 1)
        var g = SeededGenerator(seed: 2)
        let matrices = model.prunableMatrices.filter { dropout == 0 || $0.operation == .linear }
        let adapters = LowRankAdapters(matrices: matrices, rank: 2, alpha: 3, form: form, dropout: dropout, generator: &g)
        #expect(adapters.path == (form == .masked && dropout == 0 ? .folded : .beside))
        // B away from 0, so ∂L/∂A is not trivially 0.
        for target in adapters.targets { for i in 0..<target.b.count { target.b.value[i] = g.nextFloat(in: -0.5, 0.5) } }
        adapters.materialize()
        let x = randomTensor([2, 2, 5, 5], &g)
        let r = randomTensor([2, 3], &g)
        let replayDropout = { adapters.dropoutGenerator = SeededGenerator(seed: 11, stream: "replayed draws") }
        model.setTraining(true)
        model.store.zeroGrads()
        adapters.store.zeroGrads()
        replayDropout()
        _ = model.forward(x)
        model.backward(r)
        adapters.backpropagate()
        // The base gets no optimizer state; it keeps its gradient only when folded (the chain
        // rule needs it), and beside it none is computed.
        #expect(matrices.allSatisfy { !$0.parameter.trainable && $0.parameter.needsGradient == (adapters.path == .folded) })
        if adapters.path == .beside { #expect(matrices.allSatisfy { countNonzeros($0.grad) == 0 }) }
        let analytic = adapters.store.grads.copy()
        let loss = { () -> Double in
            adapters.materialize()
            replayDropout()
            return self.probe(model.forward(x), r)
        }
        for parameter in adapters.store.parameters {
            for i in 0..<parameter.count {
                let saved = parameter.value[i]
                parameter.value[i] = saved + 1e-2
                let plus = loss()
                parameter.value[i] = saved - 1e-2
                let minus = loss()
                parameter.value[i] = saved
                let numeric = (plus - minus) / 2e-2
                let exact = Double(analytic[parameter.offset + i])
                #expect(abs(numeric - exact) / max(1, abs(numeric)) < 3e-3, "\(form) p \(dropout) \(parameter.name)[\(i)]: numeric \(numeric), analytic \(exact)")
            }
        }
    }

    /// Dropout draws in training only: evaluation computes W₀·x + the whole adapter path (the
    /// same as without dropout), training differs from call to call and matches the
    /// expectation only on average.
    @Test func adapterDropoutActsInTrainingOnly() throws {
        for form in LowRankAdapters.Form.allCases {
            let (withDropout, without) = (try prunedModel(seed: 7), try prunedModel(seed: 7))
            var g = SeededGenerator(seed: 8), h = SeededGenerator(seed: 8)
            let linear = { (model: Sequential) in model.prunableMatrices.filter { $0.operation == .linear } }
            let dropped = LowRankAdapters(matrices: linear(withDropout), rank: 2, alpha: 4, form: form, dropout: 0.5, generator: &g)
            let plain = LowRankAdapters(matrices: linear(without), rank: 2, alpha: 4, form: form, generator: &h)
            for (one, other) in zip(dropped.targets, plain.targets) {
                for i in 0..<one.b.count { one.b.value[i] = Float(i % 5) * 0.1 - 0.2; other.b.value[i] = one.b.value[i] }
            }
            dropped.materialize()
            plain.materialize()
            let x = randomTensor([4, 2, 5, 5], &g)
            withDropout.setTraining(false)
            without.setTraining(false)
            let evaluated = withDropout.forward(x).toArray()
            #expect(evaluated == withDropout.forward(x).toArray())
            let reference = without.forward(x).toArray()
            #expect(zip(evaluated, reference).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(form): evaluation is not the undropped model")
            withDropout.setTraining(true)
            let first = withDropout.forward(x).toArray(), second = withDropout.forward(x).toArray()
            #expect(first != second && first != evaluated, "\(form): training draws no dropout")
        }
    }

    /// Dropout needs linear targets: a convolution's would drop unrolled patch entries, not
    /// PEFT's input pixels.
    @Test func adapterDropoutOnAConvolutionIsRefusedBySpec() throws {
        let model = try prunedModel(seed: 9)
        var spec = AdapterSpec(rank: 2, dropout: 0.1)
        #expect(throws: SpecProblem.self) { try ExperimentRunner.checkAdapters(spec, model: model, excluded: []) }
        spec.targets = ["fc*"]
        try ExperimentRunner.checkAdapters(spec, model: model, excluded: [])
    }

    /// Training through masked adapters: the merged model has exactly the base's nonzeros,
    /// computes what the trained model computed, and nothing but the targets changed. The
    /// unmasked form's plain merge loses the sparsity; its masked merge keeps it.
    @Test func maskedMergeKeepsTheBasesSparsityAndTheTrainedFunction() throws {
        for form in LowRankAdapters.Form.allCases {
            let model = try prunedModel(seed: 3)
            var g = SeededGenerator(seed: 4)
            let rows = 64
            let inputs = randomTensor([rows, 2, 5, 5], &g)
            let dataset = Dataset(inputs: inputs, labels: (0..<rows).map { _ in Int32(g.nextInt(below: 3)) }, classCount: 3)
            let nonzerosBefore = model.prunableMatrices.map { countNonzeros($0.parameter.value) }
            let untouched = model.parameters.filter { $0.role != .weight || $0.shape.count < 2 }.map { ($0, $0.value.copy()) }
            let adapters = LowRankAdapters(matrices: model.prunableMatrices, rank: 2, alpha: 4, form: form, generator: &g)
            let optimizer = Adam(store: adapters.store)
            #expect(optimizer.store === adapters.store && optimizer.firstMoment.count == adapters.store.trainableFlatCount)
            let trainer = Trainer(model: model, task: ClassificationTask(), optimizer: optimizer, schedule: LearningRateSchedule(baseRate: 0.02, totalSteps: 12),
                                  batches: BatchIterator(dataset: dataset, batchSize: 16))
            trainer.reparametrization = adapters
            trainer.gradientClip = 1
            for _ in 0..<3 { _ = try trainer.runEpoch(generator: &g) }
            model.setTraining(false)
            let trained = model.forward(inputs).toArray()
            let plainZeros = adapters.withUnmaskedMerge { model.prunableMatrices.map { $0.count - countNonzeros($0.parameter.value) } }
            adapters.merge()
            let merged = model.forward(inputs).toArray()
            let nonzerosAfter = model.prunableMatrices.map { countNonzeros($0.parameter.value) }
            #expect(model.prunableMatrices.allSatisfy { $0.parameter.trainable && !$0.parameter.flags.gradientForReparametrization })
            for matrix in model.prunableMatrices {
                #expect((0..<matrix.count).allSatisfy { matrix.parameter.mask[$0] != 0 || matrix.parameter.value[$0] == 0 }, "\(matrix.name)")
            }
            for (parameter, value) in untouched { #expect(parameter.value.toArray() == value.toArray(), "\(parameter.name) changed") }
            let report = adapters.unmaskedMergeZeros()
            #expect(report.map(\.unmasked) == plainZeros)
            if form == .masked {
                // Masked adapters are folded into the weights (no dropout): the trained weights are the merge.
                #expect(adapters.path == .folded)
                #expect(nonzerosAfter == nonzerosBefore, "masked merge changed the nonzeros")
                #expect(merged == trained, "the masked merge computes something else than the trained model")
            } else {
                #expect(zip(nonzerosAfter, nonzerosBefore).allSatisfy { $0 <= $1 })
                #expect(merged != trained, "masking a plainly trained adapter should change the function")
            }
            // A plain merge revives pruned weights in every matrix (in all but a few where B·A
            // has zero rows or columns), so it is never as sparse as the base.
            #expect(zip(plainZeros, report.map(\.masked)).allSatisfy { $0 < $1 }, "\(form): \(plainZeros) vs \(report.map(\.masked))")
            #expect(plainZeros.reduce(0, +) * 5 < report.map(\.masked).reduce(0, +))
        }
    }

    /// PEFT's layout: written, read back into new adapters to identical weights; conv factors
    /// in PEFT's k×k / 1×1 shapes; what does not fit refused by name.
    @Test func peftFoldersRoundTripAndRefuseWhatDoesNotFit() throws {
        let model = try prunedModel(seed: 5)
        var g = SeededGenerator(seed: 6)
        let adapters = LowRankAdapters(matrices: model.prunableMatrices, rank: 2, alpha: 4, form: .masked, generator: &g)
        for target in adapters.targets { for i in 0..<target.b.count { target.b.value[i] = g.nextFloat(in: -0.5, 0.5) } }
        adapters.materialize()
        let folder = temporaryDirectory("peft") + "/adapter"
        let written = PEFTAdapterFolder(rank: 2, alpha: 4, delta: "masked", baseModel: "test",
                                        factors: adapters.peftFactors().mapValues { .init(a: $0.a, b: $0.b) })
        try written.write(to: folder)
        let read = try PEFTAdapterFolder.read(folder: folder)
        #expect(read == written)
        #expect(read.factors["conv1"]!.a.shape == [2, 2, 3, 3] && read.factors["conv1"]!.b.shape == [3, 2, 1, 1])
        #expect(read.factors["fc1"]!.a.shape == [2, 100] && read.factors["fc1"]!.b.shape == [6, 2])
        let file = try SafetensorsFile.read(path: folder + "/adapter_model.safetensors")
        #expect(file.entries.map(\.name).contains("base_model.model.conv2.lora_B.weight"))
        let expected = model.prunableMatrices.map { $0.value.toArray() }
        // Loaded onto a fresh copy of the base: the same weights.
        let fresh = try prunedModel(seed: 5)
        var h = SeededGenerator(seed: 7)
        let loaded = LowRankAdapters(matrices: fresh.prunableMatrices, rank: 2, alpha: 4, form: .masked, generator: &h)
        #expect(loaded.assign(peft: read.factors.mapValues { ($0.a, $0.b) }) == nil)
        #expect(fresh.prunableMatrices.map { $0.value.toArray() } == expected)
        var missing = read.factors
        missing["fc2"] = nil
        #expect(loaded.assign(peft: missing.mapValues { ($0.a, $0.b) })?.contains("fc2") == true)
        // Configs Topiary cannot apply.
        let config = folder + "/adapter_config.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: config))
        for (edit, says) in [("\"use_rslora\" : true", "use_rslora"), ("\"peft_type\" : \"IA3\"", "peft_type"), ("\"r\" : 0", "r 0")] {
            let key = String(edit.split(separator: ":")[0])
            var text = String(decoding: original, as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.contains(key) }!
            text = text.replacingOccurrences(of: String(line), with: "  " + edit + ",")
            try Data(text.utf8).write(to: URL(fileURLWithPath: config))
            #expect { try PEFTAdapterFolder.read(folder: folder) } throws: { ($0 as? PEFTAdapterError)?.problem.contains(says) == true }
        }
        try original.write(to: URL(fileURLWithPath: config))
        // Mutated configs and weights: read or refused, never another error or a crash.
        let weights = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/adapter_model.safetensors")))
        var mutator = TextMutator(seed: 8, tokens: ["\"", "{", "}", "[", "]", ",", ":", "true", "null", "0", "-1", "1e308", "\"LORA\""],
                                  lines: ["", "{", "\"r\": 2,"])
        var bytes = ByteMutator(seed: 9)
        var (accepted, refused) = (0, 0)
        for iteration in 0..<fuzzIterations {
            let configFuzz = iteration % 2 == 0
            if configFuzz {
                try Data(mutator.mutate([UInt8](original))).write(to: URL(fileURLWithPath: config))
            } else {
                try Data(bytes.mutate(weights)).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
            }
            do {
                let adapter = try PEFTAdapterFolder.read(folder: folder)
                _ = loaded.assign(peft: adapter.factors.mapValues { ($0.a, $0.b) })
                accepted += 1
            } catch is PEFTAdapterError {
                refused += 1
            }
            try original.write(to: URL(fileURLWithPath: config))
            try Data(weights).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
        }
        #expect(accepted > 0 && refused > fuzzIterations / 4, "accepted \(accepted), refused \(refused)")
        print("PEFT adapter fuzz: \(accepted) read, \(refused) refused")
    }
}
}
