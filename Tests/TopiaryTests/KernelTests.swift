import Testing
@testable import TopiaryTensor

extension AllTests {
@Suite struct KernelTests {
    /// sgemm (and the GEMV path at M = 1) against the naive triple loop, every transpose
    /// case, random shapes including 1-wide and empty ones, with alpha and beta.
    @Test(arguments: [false, true], [false, true])
    func matmulMatchesNaiveReference(transposeA: Bool, transposeB: Bool) {
        var g = SeededGenerator(seed: 11)
        var shapes = [(1, 1, 1), (1, 7, 5), (5, 7, 1), (3, 1, 4), (0, 3, 2), (2, 0, 3), (64, 33, 17)]
        for _ in 0..<12 { shapes.append((1 + g.nextInt(below: 70), 1 + g.nextInt(below: 90), 1 + g.nextInt(below: 50))) }
        for (m, k, n) in shapes {
            let a = randomTensor(transposeA ? [k, m] : [m, k], &g)
            let b = randomTensor(transposeB ? [n, k] : [k, n], &g)
            let initial = randomTensor([m, n], &g)
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
                let fast = initial.copy(), slow = initial.copy()
                matmul(a, transposeA: transposeA, b, transposeB: transposeB, into: fast, alpha: alpha, beta: beta)
                naiveMatmul(a, transposeA: transposeA, b, transposeB: transposeB, into: slow, alpha: alpha, beta: beta)
                #expect(maxRelativeError(fast, slow) < 1e-4, "m \(m) k \(k) n \(n) alpha \(alpha) beta \(beta)")
            }
        }
    }

    @Test func reluForwardAndBackwardMatchReferences() {
        var g = SeededGenerator(seed: 12)
        for count in [1, 15, 16, 17, 100, 1031] {
            let x = randomTensor([count], &g), dy = randomTensor([count], &g)
            let fast = Tensor(zeros: [count]), slow = Tensor(zeros: [count])
            reluForward(x, into: fast)
            naiveReluForward(x, into: slow)
            #expect(fast.toArray() == slow.toArray())
            let fastGrad = Tensor(zeros: [count]), slowGrad = Tensor(zeros: [count])
            reluBackward(outputGrad: dy, output: fast, into: fastGrad)
            naiveReluBackward(outputGrad: dy, output: slow, into: slowGrad)
            #expect(fastGrad.toArray() == slowGrad.toArray())
        }
    }

    @Test func columnSumsMatchReference() {
        var g = SeededGenerator(seed: 13)
        for (rows, columns) in [(1, 1), (3, 17), (128, 300), (7, 33), (300, 150), (2048, 512)] {
            let matrix = randomTensor([rows, columns], &g)
            let start = randomTensor([columns], &g)
            let fast = start.copy(), slow = start.copy()
            accumulateColumnSums(of: matrix, into: fast)
            naiveAccumulateColumnSums(of: matrix, into: slow)
            // Float sums down the rows against Double ones: the rounding grows with the rows.
            #expect(maxRelativeError(fast, slow) < 1e-5 * Float(max(1, rows / 256)), "\(rows) × \(columns)")
        }
    }

    @Test func absoluteProductAccumulationMatchesReference() {
        var g = SeededGenerator(seed: 14)
        for count in [1, 16, 47, 300] {
            let a = randomTensor([count], &g), b = randomTensor([count], &g)
            let fast = randomTensor([count], &g)
            let slow = fast.copy()
            accumulateAbsoluteProduct(a, b, into: fast)
            naiveAccumulateAbsoluteProduct(a, b, into: slow)
            #expect(fast.toArray() == slow.toArray())
        }
    }

    @Test func multiplyBroadcastScaleAndCount() {
        var g = SeededGenerator(seed: 15)
        let a = randomTensor([37], &g), b = randomTensor([37], &g), out = Tensor(zeros: [37])
        multiply(a, b, into: out)
        for i in 0..<37 { #expect(out[i] == a[i] * b[i]) }
        let row = randomTensor([5], &g), matrix = Tensor(zeros: [3, 5])
        broadcastRow(row, into: matrix)
        for r in 0..<3 { for j in 0..<5 { #expect(matrix[r * 5 + j] == row[j]) } }
        scaleInPlace(matrix, by: 2)
        #expect(matrix[7] == 2 * row[2])
        let sparse = Tensor(shape: [6], values: [0, 1, 0, -0.0, 3, 0])
        #expect(countNonzeros(sparse) == 2)
    }

    @Test func viewsShareStorage() {
        let t = Tensor(zeros: [4, 3])
        let rows = t.rowSlice(1, count: 2)
        rows[0] = 5
        #expect(t[3] == 5)
        #expect(t.leadingRows(2).shape == [2, 3])
        let copy = t.copy()
        copy[3] = 1
        #expect(t[3] == 5)
    }
}
}

extension AllTests {
@Suite struct FloatEnvironmentTests {
    /// Both outcomes of the probe on real OpenBLAS workers: a pool started without FTZ is
    /// caught, and `prepareForFloatWork` gives every worker FTZ/DAZ.
    @Test func blasWorkersInheritFlushToZeroOnlyAfterPreparation() {
        let threads = BLASRuntime.threadCount
        let saved = FloatEnvironment.mxcsr
        topiary_write_mxcsr(saved & ~0x8040)
        FloatEnvironment.restartBLASWorkers()
        BLASRuntime.setThreadCount(2)
        topiary_write_mxcsr(saved | 0x8040)
        #expect(FloatEnvironment.blasThreadsFlushSubnormals() == false)  // workers started without FTZ
        FloatEnvironment.prepareForFloatWork(blasThreads: 2)
        #expect(FloatEnvironment.blasThreadsFlushSubnormals())
        #expect(FloatEnvironment.flushToZeroEnabled)
        FloatEnvironment.prepareForFloatWork(blasThreads: threads)
    }

    /// Worker threads of Topiary's own sweeps set FTZ/DAZ themselves.
    @Test func parallelChunkWorkersFlushToZero() {
        let flags = Tensor(zeros: [4 * 4096])
        parallelChunks(count: flags.count, parts: 4) { range in
            let enabled: Float = FloatEnvironment.flushToZeroEnabled ? 1 : 0
            for i in range { flags[i] = enabled }
        }
        #expect(countNonzeros(flags) == flags.count)
    }
}
}
import CTopiaryRuntime
