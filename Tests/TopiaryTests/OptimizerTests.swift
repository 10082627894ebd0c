import Testing
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiaryTensor

extension AllTests {
@Suite struct OptimizerTests {
    /// A store of a few odd-sized parameters (so sweeps have SIMD tails and, past 2^16
    /// floats, two workers), with random values, gradients and a random mask.
    func makeStore(_ g: inout SeededGenerator, big: Bool) -> ParameterStore {
        var layout = ParameterStore.Layout()
        layout.add(layer: "a", role: .weight, shape: big ? [300, 241] : [7, 5])
        layout.add(layer: "a", role: .bias, shape: [big ? 300 : 7])
        layout.add(layer: "b", role: .weight, shape: [3, 11])
        let store = ParameterStore(layout)
        for p in store.parameters {
            for i in 0..<p.count {
                p.value[i] = g.nextFloat(in: -1, 1)
                if p.role == .weight && g.nextUnitFloat() < 0.4 { p.mask[i] = 0 }
            }
        }
        store.applyMasks()
        return store
    }

    func fillGradients(_ store: ParameterStore, _ g: inout SeededGenerator) {
        for p in store.parameters { for i in 0..<p.count { p.grad[i] = g.nextFloat(in: -1, 1) * 1e-2 } }
    }

    func twins(_ seed: UInt64, big: Bool) -> (ParameterStore, ParameterStore) {
        var a = SeededGenerator(seed: seed), b = SeededGenerator(seed: seed)
        return (makeStore(&a, big: big), makeStore(&b, big: big))
    }

    /// The C sweeps (AVX-512/AVX2/baseline clone, split over cores) equal the scalar Swift
    /// reference bit for bit over many steps: contraction is off, so they do the same IEEE ops.
    @Test(arguments: [false, true])
    func adamVariantsMatchScalarReferenceExactly(big: Bool) {
        for decay in [Adam.WeightDecay.none, .coupled(0.01), .decoupled(0.1)] {
            let (fastStore, slowStore) = twins(31, big: big)
            let fast = Adam(store: fastStore, weightDecay: decay), slow = Adam(store: slowStore, weightDecay: decay)
            var g1 = SeededGenerator(seed: 32), g2 = SeededGenerator(seed: 32)
            for step in 0..<20 {
                fillGradients(fastStore, &g1)
                fillGradients(slowStore, &g2)
                fast.step(learningRate: 1e-3 * Float(step + 1))
                slow.referenceStep(learningRate: 1e-3 * Float(step + 1))
            }
            #expect(fastStore.values.toArray() == slowStore.values.toArray(), "\(decay)")
            #expect(fast.secondMoment.toArray() == slow.secondMoment.toArray(), "\(decay)")
            #expect(fast.firstMoment.toArray() == slow.firstMoment.toArray(), "\(decay)")
        }
    }

    /// µP's per-parameter learning rates: a parameter whose scale is s moves s times as far in
    /// its first step (Adam's first step is lr·sign(g), nearly), the C sweep still equals the
    /// reference, and scales split the groups.
    @Test func adamScalesEachParametersLearningRate() {
        let (scaledStore, plainStore) = twins(38, big: false)
        let referenceStore = twins(38, big: false).0
        scaledStore.parameters[0].flags.learningRateScale = 0.25
        referenceStore.parameters[0].flags.learningRateScale = 0.25
        let scaled = Adam(store: scaledStore), plain = Adam(store: plainStore), reference = Adam(store: referenceStore)
        #expect(scaled.groups.map(\.learningRateScale) == [0.25, 1])
        let before = scaledStore.parameters[0].value.toArray()
        var g1 = SeededGenerator(seed: 39), g2 = SeededGenerator(seed: 39), g3 = SeededGenerator(seed: 39)
        fillGradients(scaledStore, &g1)
        fillGradients(plainStore, &g2)
        fillGradients(referenceStore, &g3)
        scaled.step(learningRate: 1e-2)
        plain.step(learningRate: 1e-2)
        reference.referenceStep(learningRate: 1e-2)
        #expect(scaledStore.values.toArray() == referenceStore.values.toArray())
        let first = scaledStore.parameters[0], other = scaledStore.parameters[1]
        for i in 0..<first.count where first.mask[i] != 0 {
            let moved = first.value[i] - before[i], unscaled = plainStore.parameters[0].value[i] - before[i]
            #expect(abs(moved - 0.25 * unscaled) <= 1e-6 * max(1, abs(unscaled)))
        }
        #expect(other.value.toArray() == plainStore.parameters[1].value.toArray())
    }

    /// GPT-2's AdamW: decoupled decay on matrices only. The C sweep over decay groups equals
    /// the scalar reference, biases are never shrunk, and a matrix is shrunk by exactly 1 − ηλ
    /// when its gradient is 0.
    @Test(arguments: [false, true])
    func adamWDecaysOnlyTheParametersItIsToldTo(big: Bool) {
        let (fastStore, slowStore) = twins(35, big: big)
        let fast = Adam(store: fastStore, weightDecay: .decoupled(0.1), decays: \.isMatrix)
        let slow = Adam(store: slowStore, weightDecay: .decoupled(0.1), decays: \.isMatrix)
        #expect(fast.groups.map(\.decays) == [true, false, true])
        var g1 = SeededGenerator(seed: 36), g2 = SeededGenerator(seed: 36)
        for _ in 0..<10 {
            fillGradients(fastStore, &g1)
            fillGradients(slowStore, &g2)
            fast.step(learningRate: 1e-2)
            slow.referenceStep(learningRate: 1e-2)
        }
        #expect(fastStore.values.toArray() == slowStore.values.toArray())
        // One more step with zero gradients: moments still move the weights, so compare
        // against an undecayed twin to isolate the decay.
        let (decayed, undecayed) = twins(37, big: big)
        let withDecay = Adam(store: decayed, weightDecay: .decoupled(0.5), decays: \.isMatrix)
        let without = Adam(store: undecayed)
        withDecay.step(learningRate: 0.1)
        without.step(learningRate: 0.1)
        for (a, b) in zip(decayed.parameters, undecayed.parameters) {
            for i in 0..<a.count {
                #expect(a.value[i] == (a.isMatrix ? b.value[i] * (1 - 0.05) : b.value[i]), "\(a.name)[\(i)]")
            }
        }
    }

    /// PyTorch's clip_grad_norm_: one norm over every gradient, scaled by max/(norm + 1e-6)
    /// only when above the limit; pruned entries stay exactly 0.
    @Test func gradientsClipByTheirGlobalNorm() {
        var g = SeededGenerator(seed: 38)
        let store = makeStore(&g, big: false)
        fillGradients(store, &g)
        store.applyMasks()
        let before = store.grads.toArray().map(Double.init)
        let norm = before.map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(abs(Double(store.clipGradientNorm(to: 10)) - norm) < 1e-6 && store.grads.toArray().map(Double.init) == before)
        let limit = Float(norm / 4)
        #expect(abs(Double(store.clipGradientNorm(to: limit)) - norm) < 1e-6)
        let after = store.grads.toArray().map(Double.init)
        let scale = Double(limit) / (norm + 1e-6)
        for (a, b) in zip(after, before) { #expect(abs(a - b * scale) < 1e-7) }
        #expect(abs(after.map { $0 * $0 }.reduce(0, +).squareRoot() - Double(limit)) < 1e-5)
        for i in 0..<store.flatCount where store.masks[i] == 0 { #expect(store.grads[i] == 0) }
    }

    @Test(arguments: [false, true])
    func sgdVariantsMatchScalarReferenceExactly(big: Bool) {
        for (momentum, nesterov, decay) in [(Float(0), false, Float(0)), (0.9, false, 1e-4), (0.9, true, 0)] {
            let (fastStore, slowStore) = twins(33, big: big)
            let fast = SGD(store: fastStore, momentum: momentum, nesterov: nesterov, weightDecay: decay)
            let slow = SGD(store: slowStore, momentum: momentum, nesterov: nesterov, weightDecay: decay)
            var g1 = SeededGenerator(seed: 34), g2 = SeededGenerator(seed: 34)
            for _ in 0..<15 {
                fillGradients(fastStore, &g1)
                fillGradients(slowStore, &g2)
                fast.step(learningRate: 0.1)
                slow.referenceStep(learningRate: 0.1)
            }
            #expect(fastStore.values.toArray() == slowStore.values.toArray())
            #expect(fast.momentumBuffer.toArray() == slow.momentumBuffer.toArray())
        }
    }

    /// Adam's first step moves every alive weight by about lr (m/√v = ±1 after bias correction).
    @Test func adamFirstStepMovesByLearningRate() {
        var layout = ParameterStore.Layout()
        layout.add(layer: "a", role: .weight, shape: [4])
        let store = ParameterStore(layout)
        let p = store.parameters[0]
        for (i, grad) in [Float(0.5), -2, 1e-3, 7].enumerated() { p.grad[i] = grad }
        Adam(store: store).step(learningRate: 0.01)
        for (i, sign) in [Float(-1), 1, -1, -1].enumerated() { #expect(abs(p.value[i] - sign * 0.01) < 1e-5) }
    }

    /// The mask invariant: after many steps with nonzero gradients everywhere, every pruned
    /// weight, its gradient and every optimizer moment are exactly 0.0.
    @Test func prunedEntriesStayExactlyZero() {
        for makeOptimizer in [{ (s: ParameterStore) -> any Optimizer in Adam(store: s) },
                              { Adam(store: $0, weightDecay: .decoupled(0.05)) },
                              { SGD(store: $0, momentum: 0.9, weightDecay: 1e-3) }] {
            var g = SeededGenerator(seed: 35)
            let store = makeStore(&g, big: true)
            let optimizer = makeOptimizer(store)
            let pruned = (0..<store.flatCount).filter { store.masks[$0] == 0 }
            #expect(pruned.count > 1000)
            for _ in 0..<200 {
                fillGradients(store, &g)
                optimizer.step(learningRate: 0.01)
            }
            for i in pruned {
                #expect(store.values[i] == 0 && store.grads[i] == 0)  // ±0.0: w·0 keeps w's sign bit
                for buffer in optimizer.stateBuffers.values { #expect(buffer[i] == 0) }
            }
        }
    }

    /// Pruning mid-training: moments built up before a weight was pruned are cleared.
    @Test func applyMasksClearsStaleMoments() {
        var g = SeededGenerator(seed: 36)
        let store = makeStore(&g, big: false)
        let adam = Adam(store: store)
        fillGradients(store, &g)
        adam.step(learningRate: 0.01)
        let victim = store.parameters[0]
        let i = (0..<victim.count).first { victim.mask[$0] == 1 }!
        #expect(adam.firstMoment[victim.offset + i] != 0)
        victim.mask[i] = 0
        store.applyMasks()
        adam.applyMasks()
        #expect(adam.firstMoment[victim.offset + i] == 0 && adam.secondMoment[victim.offset + i] == 0)
        #expect(victim.value[i] == 0)
    }
}

@Suite struct LearningRateScheduleTests {
    @Test func constant() {
        let s = LearningRateSchedule(baseRate: 0.1, totalSteps: 10)
        #expect([0, 5, 9, 50].map { s($0) } == [0.1, 0.1, 0.1, 0.1])
    }

    @Test func cosineWithWarmup() {
        // Steps 1…9 carry the cosine (span 8): step 5 is half way.
        let s = LearningRateSchedule(baseRate: 1, totalSteps: 10, shape: .cosine(warmupSteps: 1, finalFraction: 0))
        #expect(s(0) == 1)               // warm-up step 1 of 1 reaches the base rate
        #expect(abs(s(1) - 1) < 1e-6)    // cosine starts at the top
        #expect(abs(s(5) - 0.5) < 1e-6)  // half way: (1 + cos(π/2)) / 2
        #expect(abs(s(9)) < 1e-6)        // last step: final fraction 0
        let floor = LearningRateSchedule(baseRate: 2, totalSteps: 5, shape: .cosine(warmupSteps: 0, finalFraction: 0.1))
        #expect(abs(floor(4) - 0.2) < 1e-6)
    }

    @Test func warmupStableDecayLinear() {
        // 100 steps: warm-up 10, plateau to step 89, decay over the last 10 % to 0.
        let s = LearningRateSchedule(baseRate: 1, totalSteps: 100,
                                     shape: .warmupStableDecay(warmupSteps: 10, decayFraction: 0.1, decay: .linear, finalFraction: 0))
        #expect(abs(s(0) - 0.1) < 1e-6)
        #expect(abs(s(4) - 0.5) < 1e-6)
        #expect(s(9) == 1 && s(10) == 1 && s(89) == 1)
        #expect(abs(s(90) - 0.9) < 1e-6)
        #expect(abs(s(94) - 0.5) < 1e-6)
        #expect(abs(s(99)) < 1e-6)
    }

    @Test func warmupStableDecayExponential() {
        let s = LearningRateSchedule(baseRate: 1, totalSteps: 50,
                                     shape: .warmupStableDecay(warmupSteps: 0, decayFraction: 0.2, decay: .exponential, finalFraction: 0.01))
        #expect(s(0) == 1 && s(39) == 1)
        #expect(abs(s(44) - pow(0.01, 0.5)) < 1e-6)  // half way through the decay: √0.01
        #expect(abs(s(49) - 0.01) < 1e-7)
        // Monotone non-increasing through the decay.
        #expect((40..<49).allSatisfy { s($0) >= s($0 + 1) })
    }
}
}
import Foundation
