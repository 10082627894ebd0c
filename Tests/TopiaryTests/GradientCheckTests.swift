import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryTensor

/// Central finite differences against each backward pass. The scalar probed is
/// L = Σ r ⊙ y for a fixed random r, so dL/dy = r feeds backward.
extension AllTests {
@Suite struct GradientCheckTests {
    func probe(_ y: Tensor, _ r: Tensor) -> Double {
        var sum = 0.0
        for i in 0..<y.count { sum += Double(y[i]) * Double(r[i]) }
        return sum
    }

    /// Compares analytic gradients with (L(x+ε) − L(x−ε)) / 2ε for every element of `x`.
    func expectGradient(of x: Tensor, analytic: Tensor, epsilon: Float, tolerance: Double,
                        _ loss: () -> Double, _ label: String) {
        for i in 0..<x.count {
            let saved = x[i]
            x[i] = saved + epsilon
            let plus = loss()
            x[i] = saved - epsilon
            let minus = loss()
            x[i] = saved
            let numeric = (plus - minus) / (2 * Double(epsilon))
            let error = abs(numeric - Double(analytic[i])) / max(1, abs(numeric))
            #expect(error < tolerance, "\(label)[\(i)]: numeric \(numeric), analytic \(analytic[i])")
        }
    }

    /// `layers` as a model for `inputShape`; checks the input gradient and every trainable
    /// parameter's gradient of L = Σ r ⊙ f(x) on a batch of `batch`.
    func check(_ layers: [any Layer], inputShape: [Int], batch: Int = 3, seed: UInt64, epsilon: Float = 1e-2, tolerance: Double = 2e-3,
               input: ((inout SeededGenerator) -> Tensor)? = nil, training: Bool = true, inputGradient: Bool = true) throws {
        var g = SeededGenerator(seed: seed)
        let model = try Sequential(inputShape: inputShape, layers: layers, generator: &g)
        model.setTraining(training)
        // Parameters away from their initial symmetric values (BatchNorm's γ = 1, β = 0).
        for parameter in model.parameters where parameter.trainable { for i in 0..<parameter.count { parameter.value[i] += g.nextFloat(in: -0.3, 0.3) } }
        let x = input?(&g) ?? randomTensor([batch] + inputShape, &g)
        let y = model.forward(x)
        let r = randomTensor(y.shape, &g)
        model.store.zeroGrads()
        let dx = model.chain.backward(r, needsInputGradient: inputGradient)?.copy()
        let analytic = model.store.grads.copy()
        let running = model.parameters.filter { $0.role == .buffer }.map { $0.value.copy() }
        let loss = {
            let value = self.probe(model.forward(x), r)
            // Training BatchNorm moves its running statistics on every forward: put them back.
            for (parameter, saved) in zip(model.parameters.filter { $0.role == .buffer }, running) { parameter.value.assign(from: saved) }
            return value
        }
        if let dx { expectGradient(of: x, analytic: dx, epsilon: epsilon, tolerance: tolerance, loss, "dx") }
        for parameter in model.parameters where parameter.trainable {
            let slice = Tensor(storage: analytic.storage, offset: parameter.offset, shape: parameter.shape)
            expectGradient(of: parameter.value, analytic: slice, epsilon: epsilon, tolerance: tolerance, loss, parameter.name)
        }
    }

    /// A whole model's every parameter gradient of L = Σ r ⊙ model(x) against finite differences.
    func checkParameterGradients(of model: Sequential, input x: Tensor, probe r: Tensor, tolerance: Double = 3e-3) {
        model.store.zeroGrads()
        _ = model.forward(x)
        model.backward(r)
        let analytic = model.store.grads.copy()
        let loss = { self.probe(model.forward(x), r) }
        for parameter in model.parameters {
            let slice = Tensor(storage: analytic.storage, offset: parameter.offset, shape: parameter.shape)
            expectGradient(of: parameter.value, analytic: slice, epsilon: 1e-2, tolerance: tolerance, loss, parameter.name)
        }
    }

    /// Inputs whose values are all at least `gap` apart (a shuffled grid): max pooling's
    /// winner and ReLU's side never change under ±ε.
    func separated(_ shape: [Int], gap: Float = 0.02) -> (inout SeededGenerator) -> Tensor {
        { g in
            let x = Tensor(zeros: shape)
            let order = g.permutation(x.count)
            // Off the grid by 0.3 gap, so no value is 0 (the ReLU kink) for any count.
            for (i, k) in order.enumerated() { x[i] = (Float(k) - Float(x.count / 2)) * gap + 0.3 * gap }
            return x
        }
    }

    @Test func linearBackward() throws {
        try check([Linear(name: "fc", inFeatures: 7, outFeatures: 5)], inputShape: [7], batch: 4, seed: 21)
        try check([Linear(name: "fc", inFeatures: 4, outFeatures: 3, bias: false)], inputShape: [2, 4], batch: 2, seed: 20)  // (B, T, C)
    }

    @Test func linearBackwardAccumulatesAndSkipsInputGradient() throws {
        var g = SeededGenerator(seed: 22)
        let model = try Sequential(inputShape: [3], layers: [Linear(name: "fc", inFeatures: 3, outFeatures: 2)], generator: &g)
        let linear = model.linearLayers[0]
        let x = randomTensor([2, 3], &g), r = randomTensor([2, 2], &g)
        _ = linear.forward(x)
        #expect(linear.backward(r, needsInputGradient: false) == nil)
        let once = linear.weight.grad.toArray()
        _ = linear.backward(r, needsInputGradient: false)
        #expect(zip(linear.weight.grad.toArray(), once).allSatisfy { abs($0 - 2 * $1) < 1e-6 })
    }

    @Test func activationsBackward() throws {
        for (index, activation) in Activation.allCases.enumerated() {
            try check([ActivationLayer(name: "act", activation)], inputShape: [9], seed: 23 + UInt64(index), epsilon: 1e-3,
                      input: separated([3, 9], gap: 0.05))
        }
    }

    @Test func convolutionBackward() throws {
        try check([Convolution.conv2d("conv", 2, 3, kernel: 3, padding: 1)], inputShape: [2, 5, 6], batch: 2, seed: 30)
        try check([Convolution.conv2d("conv", 3, 2, kernel: 3, stride: 2)], inputShape: [3, 7, 7], batch: 2, seed: 31)
        try check([Convolution.conv2d("conv", 2, 2, kernel: 2, stride: 2, padding: 1, bias: false)], inputShape: [2, 5, 5], batch: 2, seed: 32)
        try check([Convolution.conv1d("conv", 3, 4, kernel: 5, padding: 2)], inputShape: [3, 11], batch: 2, seed: 33)
        try check([Convolution.conv1d("conv", 2, 3, kernel: 3, stride: 2)], inputShape: [2, 9], batch: 2, seed: 34)
    }

    @Test func poolingBackward() throws {
        try check([Pooling(name: "pool", kind: .max, spatialDimensions: 2, kernel: 2)], inputShape: [3, 6, 6], seed: 40, epsilon: 1e-3,
                  input: separated([2, 3, 6, 6]))
        try check([Pooling(name: "pool", kind: .max, spatialDimensions: 2, kernel: 3, stride: 2)], inputShape: [2, 7, 7], seed: 41, epsilon: 1e-3,
                  input: separated([2, 2, 7, 7]))
        try check([Pooling(name: "pool", kind: .max, spatialDimensions: 1, kernel: 2)], inputShape: [3, 10], seed: 42, epsilon: 1e-3,
                  input: separated([2, 3, 10]))
        try check([Pooling(name: "pool", kind: .average, spatialDimensions: 2, kernel: 2)], inputShape: [3, 6, 6], seed: 43)
        try check([Pooling(name: "pool", kind: .average, spatialDimensions: 1, kernel: 3, stride: 2)], inputShape: [2, 9], seed: 44)
        try check([GlobalAveragePooling(name: "gap")], inputShape: [3, 4, 5], seed: 45)
        try check([Flatten(name: "flatten"), Linear(name: "fc", inFeatures: 12, outFeatures: 2)], inputShape: [3, 2, 2], seed: 46)
    }

    @Test func normalisationBackward() throws {
        try check([BatchNorm(name: "bn", features: 3)], inputShape: [3, 3, 3], batch: 4, seed: 50)
        try check([BatchNorm(name: "bn", features: 3)], inputShape: [3, 5], batch: 4, seed: 51)
        try check([BatchNorm(name: "bn", features: 4)], inputShape: [4], batch: 5, seed: 52)
        try check([BatchNorm(name: "bn", features: 3)], inputShape: [3, 3, 3], batch: 4, seed: 53, training: false)
        try check([LayerNorm(name: "ln", features: 6)], inputShape: [3, 6], batch: 2, seed: 54)
    }

    @Test func embeddingBackward() throws {
        try check([Embedding(name: "wte", count: 10, features: 4)], inputShape: [3], batch: 2, seed: 60, input: { g in
            Tensor(shape: [2, 3], values: (0..<6).map { _ in Float(g.nextInt(below: 10)) })
        }, inputGradient: false)
    }

    @Test func residualBlockBackward() throws {
        let block = Residual(name: "block", body: [Convolution.conv2d("conv1", 2, 2, kernel: 3, padding: 1), BatchNorm(name: "bn1", features: 2),
                                                   ActivationLayer(name: "act", .tanh), Convolution.conv2d("conv2", 2, 2, kernel: 3, padding: 1)],
                             shortcut: [Convolution.conv2d("proj", 2, 2, kernel: 1)])
        try check([block, ActivationLayer(name: "out", .silu)], inputShape: [2, 4, 4], batch: 2, seed: 70)
        #expect(block.parameters.map(\.name).contains("block.conv1.weight") && block.parameters.map(\.name).contains("block.shortcut.proj.bias"))
    }

    /// Dropout draws its mask on each forward: its backward is that mask times 1/(1 − p), and
    /// evaluation mode is the identity.
    @Test func dropoutBackwardUsesItsMask() throws {
        var g = SeededGenerator(seed: 80)
        let model = try Sequential(inputShape: [50], layers: [Dropout(name: "drop", probability: 0.3)], generator: &g)
        let x = randomTensor([4, 50], &g)
        let y = model.forward(x).copy()
        let r = randomTensor([4, 50], &g)
        let dx = model.chain.backward(r, needsInputGradient: true)!
        var dropped = 0
        for i in 0..<x.count {
            let kept = y[i] != 0
            if !kept { dropped += 1 }
            #expect(abs(dx[i] - (kept ? r[i] / 0.7 : 0)) < 1e-6 && (!kept || abs(y[i] - x[i] / 0.7) < 1e-6))
        }
        #expect(dropped > 20 && dropped < 100)
        model.setTraining(false)
        #expect(model.forward(x).toArray() == x.toArray())
    }

    @Test func softmaxCrossEntropyBackward() {
        var g = SeededGenerator(seed: 24)
        let loss = SoftmaxCrossEntropy()
        let logits = randomTensor([5, 4], &g, scale: 3)
        let labels: [Int32] = [0, 3, 1, 2, 3]
        let analytic = loss.lossAndGradient(logits: logits, labels: labels).gradient.copy()
        expectGradient(of: logits, analytic: analytic, epsilon: 1e-2, tolerance: 1e-3,
                       { Double(SoftmaxCrossEntropy().lossAndGradient(logits: logits, labels: labels).loss) }, "dz")
    }

    @Test func regressionLossBackward() {
        var g = SeededGenerator(seed: 26)
        let task = RegressionTask()
        let output = randomTensor([5, 2], &g), targets = randomTensor([5, 2], &g)
        let analytic = task.lossAndGradient(output: output, targets: targets).gradient.copy()
        expectGradient(of: output, analytic: analytic, epsilon: 1e-2, tolerance: 1e-3,
                       { Double(RegressionTask().lossAndGradient(output: output, targets: targets).loss) }, "dy")
    }

    @Test func softmaxCrossEntropyValuesAndEvaluation() {
        let logits = Tensor(shape: [2, 3], values: [0, 0, 0, 1000, 0, -1000])
        let (value, _) = SoftmaxCrossEntropy().lossAndGradient(logits: logits, labels: [2, 0])
        // Row 1: log 3; row 2: ~0 (and no overflow at logit 1000).
        #expect(abs(Double(value) - log(3.0) / 2) < 1e-5)
        let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: [2, 0][...])
        #expect(result.correct == 1)  // row 1 ties → class 0, wrong; row 2 right
    }

    @Test func wholeModelBackward() {
        var g = SeededGenerator(seed: 25)
        let model = Sequential.multilayerPerceptron(inputFeatures: 6, hiddenSizes: [5, 4], outputs: 3, generator: &g)
        let x = randomTensor([8, 6], &g)
        let labels: [Int32] = [0, 1, 2, 0, 1, 2, 0, 1]
        let criterion = SoftmaxCrossEntropy()
        model.store.zeroGrads()
        model.backward(criterion.lossAndGradient(logits: model.forward(x), labels: labels).gradient)
        let analytic = model.store.grads.copy()
        let lossOf = { Double(SoftmaxCrossEntropy().lossAndGradient(logits: model.forward(x), labels: labels).loss) }
        for parameter in model.parameters {
            let slice = Tensor(storage: analytic.storage, offset: parameter.offset, shape: parameter.shape)
            expectGradient(of: parameter.value, analytic: slice, epsilon: 1e-3, tolerance: 5e-3, lossOf, parameter.name)
        }
    }
}
}
