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

    /// A standalone Linear layer with its own store, initialised as PyTorch does.
    func makeLinear(in inFeatures: Int, out outFeatures: Int, _ g: inout SeededGenerator) -> Linear {
        var layout = ParameterStore.Layout()
        let ids = Linear.declare("fc", in: inFeatures, out: outFeatures, layout: &layout)
        let store = ParameterStore(layout)
        let linear = Linear(name: "fc", weight: store.parameters[ids.weight], bias: store.parameters[ids.bias])
        linear.initialize(using: &g)
        return linear
    }

    @Test func linearBackward() {
        var g = SeededGenerator(seed: 21)
        let linear = makeLinear(in: 7, out: 5, &g)
        let x = randomTensor([4, 7], &g), r = randomTensor([4, 5], &g)
        _ = linear.forward(x)
        let dx = linear.backward(r, needsInputGradient: true)!.copy()
        let loss = { self.probe(linear.forward(x), r) }
        expectGradient(of: x, analytic: dx, epsilon: 1e-2, tolerance: 1e-3, loss, "dx")
        expectGradient(of: linear.weight.value, analytic: linear.weight.grad, epsilon: 1e-2, tolerance: 1e-3, loss, "dW")
        expectGradient(of: linear.bias.value, analytic: linear.bias.grad, epsilon: 1e-2, tolerance: 1e-3, loss, "db")
    }

    @Test func linearBackwardAccumulatesAndSkipsInputGradient() {
        var g = SeededGenerator(seed: 22)
        let linear = makeLinear(in: 3, out: 2, &g)
        let x = randomTensor([2, 3], &g), r = randomTensor([2, 2], &g)
        _ = linear.forward(x)
        #expect(linear.backward(r, needsInputGradient: false) == nil)
        let once = linear.weight.grad.toArray()
        _ = linear.backward(r, needsInputGradient: false)
        #expect(zip(linear.weight.grad.toArray(), once).allSatisfy { abs($0 - 2 * $1) < 1e-6 })
    }

    @Test func reluBackward() {
        var g = SeededGenerator(seed: 23)
        let relu = ReLU(name: "relu")
        // Inputs at least 0.05 from the kink, so ±ε never crosses it.
        let x = randomTensor([3, 9], &g)
        for i in 0..<x.count where abs(x[i]) < 0.05 { x[i] = x[i] < 0 ? -0.05 : 0.05 }
        let r = randomTensor([3, 9], &g)
        _ = relu.forward(x)
        let dx = relu.backward(r, needsInputGradient: true)!.copy()
        expectGradient(of: x, analytic: dx, epsilon: 1e-3, tolerance: 1e-3, { self.probe(relu.forward(x), r) }, "dx")
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
import Foundation
