import CTopiaryKernels
import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryTensor

/// The kernels the transformer added, against naive references: the polynomial GELU against
/// libm's erf and exp in Double, and strided GEMMs on blocks of larger buffers against the
/// triple loop.
extension AllTests {
@Suite struct TransformerKernelTests {
    @Test func geluKernelsMatchTheExactFunction() {
        var g = SeededGenerator(seed: 600)
        let grid = stride(from: -12.0, through: 12.0, by: 0.001).map { Float($0) }
        let x = grid + (0..<20_000).map { _ in g.nextFloat(in: -6, 6) } + [0, -0.0, 1e-30, -1e-30, 100, -100]
        let dy = x.map { _ in g.nextFloat(in: -2, 2) }
        var y = [Float](repeating: 0, count: x.count), dx = y
        topiary_gelu_forward(x.count, x, &y)
        topiary_gelu_backward(x.count, x, dy, &dx)
        var worstForward = 0.0, worstBackward = 0.0
        for i in x.indices {
            let v = Double(x[i])
            let cdf = 0.5 * (1 + erf(v / 2.0.squareRoot()))
            let exactY = v * cdf
            let exactDX = Double(dy[i]) * (cdf + v * exp(-0.5 * v * v) / (2 * Double.pi).squareRoot())
            worstForward = max(worstForward, abs(Double(y[i]) - exactY) / max(1, abs(v)))
            worstBackward = max(worstBackward, abs(Double(dx[i]) - exactDX) / max(1, abs(Double(dy[i])) * max(1, abs(v))))
        }
        #expect(worstForward < 4e-7, "forward error \(worstForward)")
        #expect(worstBackward < 6e-7, "backward error \(worstBackward)")
        #expect(y[x.count - 6] == 0 && y[x.count - 2] == 100 && y[x.count - 1] == 0)   // GELU(0) = 0 exactly; saturation
    }

    /// LayerNorm's rows and attention's (sample, head) pairs are split over cores: with two
    /// threads they give what one thread gives (attention bit for bit, LayerNorm's parameter
    /// gradients up to the order of the sums), and LayerNorm's gain gradient equals a Double loop.
    @Test func splittingOverCoresChangesNothing() throws {
        let threads = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(threads) }
        var g = SeededGenerator(seed: 602)
        let x = randomTensor([3, 100, 24], &g), dy = randomTensor([3, 100, 24], &g)
        let attentionInput = randomTensor([5, 20, 24], &g), attentionGradient = randomTensor([5, 20, 24], &g)
        var results: [[[Float]]] = []
        for count in [1, 2] {
            BLASRuntime.setThreadCount(count)
            var h = SeededGenerator(seed: 603)
            let norm = LayerNorm(name: "ln", features: 24)
            _ = try Sequential(inputShape: [100, 24], layers: [norm], generator: &h)
            h.fillNormal(norm.weight.value)
            let y = norm.forward(x).toArray()
            let dx = norm.backward(dy, needsInputGradient: true)!.toArray()
            if count == 2 {
                // dgain_i = Σ_rows dy · x̂, x̂ recomputed in Double.
                for i in 0..<24 {
                    var sum = 0.0
                    for r in 0..<300 {
                        let row = (0..<24).map { Double(x[r * 24 + $0]) }
                        let mean = row.reduce(0, +) / 24, variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 24
                        sum += Double(dy[r * 24 + i]) * (row[i] - mean) / (variance + 1e-5).squareRoot()
                    }
                    #expect(abs(Double(norm.weight.grad[i]) - sum) < 1e-3 * max(1, abs(sum)))
                }
            }
            let attention = CausalSelfAttention(name: "attn", channels: 24, heads: 3)
            _ = try Sequential(inputShape: [20, 24], layers: [attention], generator: &h)
            for parameter in attention.parameters { h.fillNormal(parameter.value, deviation: 0.3) }
            let out = attention.forward(attentionInput).toArray()
            let dIn = attention.backward(attentionGradient, needsInputGradient: true)!.toArray()
            results.append([y, dx, norm.weight.grad.toArray(), norm.bias.grad.toArray(), out, dIn] + attention.parameters.map { $0.grad.toArray() })
        }
        #expect(results[0][0] == results[1][0] && results[0][1] == results[1][1])
        for k in 2...3 { for (a, b) in zip(results[0][k], results[1][k]) { #expect(abs(a - b) < 1e-4 * max(1, abs(a))) } }
        for k in 4..<results[0].count { #expect(results[0][k] == results[1][k], "attention array \(k)") }
    }

    /// The C LayerNorm kernels (16-lane row sums) against the plain loops, on widths around
    /// the lane count, with and without the input gradient (and the forward without x̂ and 1/σ).
    @Test func layerNormKernelsMatchThePlainLoops() {
        var g = SeededGenerator(seed: 605)
        for n in [1, 7, 16, 24, 33, 128, 130] {
            let rows = 6
            let x = (0..<(rows * n)).map { _ in g.nextFloat(in: -3, 3) + 2 }
            let gain = (0..<n).map { _ in g.nextFloat(in: 0.5, 1.5) }, shift = (0..<n).map { _ in g.nextFloat(in: -1, 1) }
            let dy = (0..<(rows * n)).map { _ in g.nextFloat(in: -2, 2) }
            var (fastNormal, fastOut, fastInverse) = ([Float](repeating: 0, count: rows * n), [Float](repeating: 0, count: rows * n), [Float](repeating: 0, count: rows))
            var (plainNormal, plainOut, plainInverse) = (fastNormal, fastOut, fastInverse)
            topiary_layernorm_forward(rows, n, x, gain, shift, 1e-5, &fastNormal, &fastOut, &fastInverse)
            LayerNorm.referenceForward(rows: rows, n: n, x: x, gain: gain, shift: shift, epsilon: 1e-5, normal: &plainNormal, out: &plainOut, inverse: &plainInverse)
            for i in 0..<(rows * n) {
                #expect(abs(fastOut[i] - plainOut[i]) <= 2e-5 * max(1, abs(plainOut[i])), "n \(n) out[\(i)]")
            }
            for r in 0..<rows { #expect(abs(fastInverse[r] - plainInverse[r]) <= 1e-5 * plainInverse[r] + (n == 1 ? 1 : 0)) }
            // Inference's call writes the output alone, the same as the training forward's.
            var outOnly = [Float](repeating: 0, count: rows * n)
            topiary_layernorm_forward(rows, n, x, gain, shift, 1e-5, nil, &outOnly, nil)
            #expect(outOnly == fastOut, "n \(n)")
            for withInput in [true, false] {
                var fastDX = [Float](repeating: 9, count: rows * n), plainDX = fastDX
                var (fastGain, fastShift) = ([Float](repeating: 0.5, count: n), [Float](repeating: -0.5, count: n))
                var (plainGain, plainShift) = (fastGain, fastShift)
                fastDX.withUnsafeMutableBufferPointer { dx in
                    topiary_layernorm_backward(rows, n, dy, plainNormal, gain, plainInverse, withInput ? dx.baseAddress : nil, &fastGain, &fastShift)
                }
                plainDX.withUnsafeMutableBufferPointer { dx in
                    LayerNorm.referenceBackward(rows: rows, n: n, g: dy, normal: plainNormal, gain: gain, inverse: plainInverse,
                                                dx: withInput ? dx.baseAddress : nil, gainSum: &plainGain, shiftSum: &plainShift)
                }
                for i in 0..<n {
                    #expect(abs(fastGain[i] - plainGain[i]) <= 1e-5 * max(1, abs(plainGain[i])) && abs(fastShift[i] - plainShift[i]) <= 1e-5 * max(1, abs(plainShift[i])))
                }
                for i in 0..<(rows * n) { #expect(abs(fastDX[i] - plainDX[i]) <= 1e-4 * max(1, abs(plainDX[i])), "n \(n) dx[\(i)]") }
                if !withInput { #expect(fastDX.allSatisfy { $0 == 9 }) }
            }
        }
    }

    /// The softmax cross-entropy kernel (rows split over cores, polynomial exp) against the
    /// plain libm loop, and its log-sum-exp against Double, on class counts around 16 lanes.
    @Test func softmaxCrossEntropyKernelMatchesThePlainLoop() {
        var g = SeededGenerator(seed: 606)
        for c in [1, 10, 16, 17, 256, 300] {
            let rows = 257
            let logits = Tensor(shape: [rows, c], values: (0..<(rows * c)).map { _ in g.nextFloat(in: -30, 30) })
            let labels = (0..<rows).map { _ in Int32(g.nextInt(below: c)) }
            let (loss, gradient) = SoftmaxCrossEntropy().lossAndGradient(logits: logits, labels: labels)
            let plainGradient = Tensor(zeros: [rows, c])
            let plainLoss = SoftmaxCrossEntropy.referenceLossAndGradient(logits: logits, labels: labels, into: plainGradient)
            #expect(abs(loss - plainLoss) <= 1e-5 * max(1, abs(plainLoss)), "c \(c): \(loss) vs \(plainLoss)")
            for i in 0..<(rows * c) { #expect(abs(gradient[i] - plainGradient[i]) <= 1e-8 + 1e-5 * abs(plainGradient[i]), "c \(c) at \(i)") }
            for r in [0, rows / 2, rows - 1] {
                let row = (0..<c).map { Double(logits[r * c + $0]) }, top = row.max()!
                let exact = top + log(row.map { exp($0 - top) }.reduce(0, +))
                let fast = Double(SoftmaxCrossEntropy.logSumExp(logits.pointer + r * c, c))
                #expect(abs(fast - exact) <= 2e-6 * max(1, abs(exact)), "c \(c) row \(r): \(fast) vs \(exact)")
            }
        }
    }

    /// The C softmax row kernels against the plain loops, on rows of every live length.
    @Test func causalSoftmaxKernelsMatchThePlainLoops() {
        var g = SeededGenerator(seed: 604)
        for length in [1, 5, 16, 17, 40, 128] {
            for live in 1...length {
                let scores = (0..<length).map { _ in g.nextFloat(in: -20, 20) }
                var fast = scores, plain = scores
                fast.withUnsafeMutableBufferPointer { CausalSelfAttention.causalSoftmax($0.baseAddress!, live: live, length: length) }
                plain.withUnsafeMutableBufferPointer { CausalSelfAttention.referenceCausalSoftmax($0.baseAddress!, live: live, length: length) }
                for s in 0..<length { #expect(abs(fast[s] - plain[s]) <= 1e-6 * max(1, plain[s]) + 1e-7, "\(live)/\(length) at \(s)") }
                #expect(abs(fast.reduce(0, +) - 1) < 1e-5 && fast[live...].allSatisfy { $0 == 0 })
                let upstream = (0..<length).map { _ in g.nextFloat(in: -3, 3) }
                var fastGradient = upstream, plainGradient = upstream
                fastGradient.withUnsafeMutableBufferPointer { topiary_causal_softmax_backward_row(live, length, plain, $0.baseAddress!, 0.25) }
                plainGradient.withUnsafeMutableBufferPointer { CausalSelfAttention.referenceSoftmaxBackward(plain, $0.baseAddress!, live: live, length: length, scale: 0.25) }
                for s in 0..<length { #expect(abs(fastGradient[s] - plainGradient[s]) <= 1e-5 * max(1, abs(plainGradient[s])), "\(live)/\(length) at \(s)") }
            }
        }
    }

    @Test func stridedMatmulOnBlocksEqualsTheTripleLoop() {
        var g = SeededGenerator(seed: 601)
        for _ in 0..<50 {
            let (m, n, k) = (1 + g.nextInt(below: 9), 1 + g.nextInt(below: 9), 1 + g.nextInt(below: 9))
            let (transposeA, transposeB) = (g.nextInt(below: 2) == 1, g.nextInt(below: 2) == 1)
            // Blocks inside wider buffers, at an offset: the strides are larger than the rows.
            let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
            let (bRows, bColumns) = transposeB ? (n, k) : (k, n)
            let (lda, ldb, ldc) = (aColumns + g.nextInt(below: 4), bColumns + g.nextInt(below: 4), n + g.nextInt(below: 4))
            let a = randomTensor([aRows * lda + 3], &g), b = randomTensor([bRows * ldb + 3], &g), c = randomTensor([m * ldc + 3], &g)
            let before = c.copy()
            let (alpha, beta): (Float, Float) = (g.nextFloat(in: -2, 2), g.nextInt(below: 2) == 1 ? 0 : 0.5)
            stridedMatmul(m: m, n: n, k: k, alpha: alpha, a.pointer + 3, lda: lda, transposeA: transposeA,
                          b.pointer + 3, ldb: ldb, transposeB: transposeB, beta: beta, into: c.pointer + 3, ldc: ldc)
            for i in 0..<m {
                for j in 0..<ldc {
                    let index = 3 + i * ldc + j
                    guard j < n else { #expect(c[index] == before[index], "outside the block"); continue }
                    var sum = 0.0
                    for p in 0..<k {
                        let x = transposeA ? a[3 + p * lda + i] : a[3 + i * lda + p]
                        let y = transposeB ? b[3 + j * ldb + p] : b[3 + p * ldb + j]
                        sum += Double(x) * Double(y)
                    }
                    let expected = Double(alpha) * sum + Double(beta) * Double(before[index])
                    #expect(abs(Double(c[index]) - expected) < 1e-5, "[\(i), \(j)]")
                }
            }
            #expect((0..<3).allSatisfy { c[$0] == before[$0] })
        }
    }
}
}
