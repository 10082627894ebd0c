import Testing
@testable import TopiaryInference
@testable import TopiaryNN
@testable import TopiaryTensor

/// The convolution and pooling kernels against the index arithmetic written out, on random
/// shapes (strides, paddings, kernels larger than the padding, 1-D and 2-D).
extension AllTests {
@Suite struct ConvolutionKernelTests {
    func randomShape(_ g: inout SeededGenerator) -> UnrollShape {
        let kernelHeight = 1 + g.nextInt(below: 4), kernelWidth = 1 + g.nextInt(below: 4)
        return UnrollShape(channels: 1 + g.nextInt(below: 3), height: kernelHeight + g.nextInt(below: 6), width: kernelWidth + g.nextInt(below: 7),
                           kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: 1 + g.nextInt(below: 3),
                           strideWidth: 1 + g.nextInt(below: 3), padHeight: g.nextInt(below: kernelHeight), padWidth: g.nextInt(below: kernelWidth))
    }

    @Test func im2colAndCol2imMatchTheirNaiveReferences() {
        var g = SeededGenerator(seed: 301)
        for _ in 0..<200 {
            let shape = randomShape(&g)
            let image = randomTensor([shape.imageSize], &g)
            let columns = Tensor(zeros: [shape.patchSize, shape.positions])
            im2col(image.pointer, shape, into: columns.pointer, columnStride: shape.positions)
            #expect(columns.toArray() == NaiveUnroll.im2col(image.toArray(), shape), "\(shape)")
            let back = Tensor(zeros: [shape.imageSize])
            col2imAdd(columns.pointer, columnStride: shape.positions, shape, into: back.pointer)
            let expected = NaiveUnroll.col2im(columns.toArray(), shape)
            #expect(zip(back.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-5 }, "\(shape)")
        }
    }

    /// y[b, o, y, x] = bias[o] + Σ_c Σ_ky Σ_kx w[o, c, ky, kx] · in[b, c, y·s + ky − p, x·s + kx − p].
    @Test func convolutionForwardMatchesTheDirectSum() throws {
        var g = SeededGenerator(seed: 302)
        var checked = 0
        for trial in 0..<40 {
            // Square kernels, strides and paddings: what the layer takes.
            let k = 1 + g.nextInt(below: 4), s = 1 + g.nextInt(below: 3)
            let shape = UnrollShape(channels: 1 + g.nextInt(below: 3), height: k + g.nextInt(below: 6), width: k + g.nextInt(below: 7),
                                    kernelHeight: k, kernelWidth: k, strideHeight: s, strideWidth: s, padHeight: g.nextInt(below: k), padWidth: 0)
            let padded = UnrollShape(channels: shape.channels, height: shape.height, width: shape.width, kernelHeight: k, kernelWidth: k,
                                     strideHeight: s, strideWidth: s, padHeight: shape.padHeight, padWidth: shape.padHeight)
            let outChannels = 1 + g.nextInt(below: 4), batch = 1 + g.nextInt(below: 5)
            var init_ = SeededGenerator(seed: UInt64(trial))
            let conv = Convolution.conv2d("conv", shape.channels, outChannels, kernel: k, stride: s, padding: padded.padHeight)
            let model = try Sequential(inputShape: [shape.channels, shape.height, shape.width], layers: [conv], generator: &init_)
            let x = randomTensor([batch, shape.channels, shape.height, shape.width], &g)
            let y = model.forward(x)
            let (oh, ow) = (padded.outputHeight, padded.outputWidth)
            #expect(y.shape == [batch, outChannels, oh, ow])
            checked += 1
            for b in 0..<batch { for o in 0..<outChannels { for oy in 0..<oh { for ox in 0..<ow {
                var sum = Double(conv.bias!.value[o])
                for c in 0..<shape.channels { for ky in 0..<k { for kx in 0..<k {
                    let iy = oy * s + ky - padded.padHeight, ix = ox * s + kx - padded.padWidth
                    guard iy >= 0, iy < shape.height, ix >= 0, ix < shape.width else { continue }
                    sum += Double(conv.weight.value[((o * shape.channels + c) * k + ky) * k + kx])
                        * Double(x[((b * shape.channels + c) * shape.height + iy) * shape.width + ix])
                } } }
                let got = y[((b * outChannels + o) * oh + oy) * ow + ox]
                #expect(abs(Double(got) - sum) < 1e-4 * max(1, abs(sum)))
            } } } }
        }
        #expect(checked == 40)
    }

    /// The direct stride-1 kernels (wide rows, blocked over channels, taps and vectors) equal
    /// the im2col + BLAS path, forward and backward, on shapes that leave every block
    /// remainder (channels not a multiple of 6 or 4, taps not a multiple of 5, rows shorter
    /// and longer than a vector) and batches larger than a gradient group.
    @Test func directKernelsEqualTheUnrolledPath() throws {
        var g = SeededGenerator(seed: 304)
        for trial in 0..<30 {
            let dimensions = trial % 3 == 0 ? 1 : 2
            let k = 1 + g.nextInt(below: 7), pad = g.nextInt(below: k)
            let inChannels = 1 + g.nextInt(below: 8), outChannels = 1 + g.nextInt(below: 20)
            let batch = 1 + g.nextInt(below: 21)
            let spatial = dimensions == 2 ? [k + g.nextInt(below: 12), k + g.nextInt(below: 40)] : [k + g.nextInt(below: 70)]
            func build() throws -> (Sequential, Convolution) {
                var init_ = SeededGenerator(seed: UInt64(trial))
                let conv = dimensions == 2 ? Convolution.conv2d("conv", inChannels, outChannels, kernel: k, padding: pad)
                                           : Convolution.conv1d("conv", inChannels, outChannels, kernel: k, padding: pad)
                return (try Sequential(inputShape: [inChannels] + spatial, layers: [conv], generator: &init_), conv)
            }
            let (direct, directConv) = try build()
            let (unrolled, unrolledConv) = try build()
            unrolledConv.observer.onForward = { _, _ in }   // a listener forces the unrolled path
            unrolledConv.observer.onBackward = { _, _, _ in }
            let x = randomTensor([batch, inChannels] + spatial, &g)
            let y1 = direct.forward(x).copy(), y2 = unrolled.forward(x).copy()
            let dy = randomTensor(y1.shape, &g)
            direct.store.zeroGrads()
            unrolled.store.zeroGrads()
            let dx1 = directConv.backward(dy, needsInputGradient: true)!.copy()
            let dx2 = unrolledConv.backward(dy, needsInputGradient: true)!.copy()
            func close(_ a: Tensor, _ b: Tensor, _ what: String) {
                let worst = zip(a.toArray(), b.toArray()).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                #expect(a.shape == b.shape && worst < 1e-4, "\(what): trial \(trial), worst relative difference \(worst)")
            }
            close(y1, y2, "forward")
            close(dx1, dx2, "input gradient")
            close(directConv.weight.grad, unrolledConv.weight.grad, "weight gradient")
            close(directConv.bias!.grad, unrolledConv.bias!.grad, "bias gradient")
        }
    }

    /// A ReLU after a convolution is applied by the convolution (direct and unrolled paths)
    /// and passed through by the ReLU layer: outputs and gradients equal the unfused pair's.
    @Test func fusedRectifierEqualsTheSeparateLayers() throws {
        var g = SeededGenerator(seed: 305)
        for listening in [false, true] {
            var init1 = SeededGenerator(seed: 9), init2 = SeededGenerator(seed: 9)
            let conv = Convolution.conv2d("conv", 3, 7, kernel: 3, padding: 1)
            let fused = try Sequential(inputShape: [3, 9, 11], layers: [conv, ActivationLayer(name: "relu", .relu)], generator: &init1)
            let alone = Convolution.conv2d("conv", 3, 7, kernel: 3, padding: 1)
            let unfused = try Sequential(inputShape: [3, 9, 11], layers: [alone], generator: &init2)
            #expect(conv.rectifiesOutput && !alone.rectifiesOutput)
            if listening {   // both on the unrolled path
                for layer in [conv, alone] { layer.observer.onForward = { _, _ in }; layer.observer.onBackward = { _, _, _ in } }
            }
            let x = randomTensor([5, 3, 9, 11], &g)
            let y = fused.forward(x).copy()
            let pre = unfused.forward(x).copy()
            let rectified = y.toArray() == pre.toArray().map { $0 < 0 ? 0 : $0 }
            #expect(rectified, "listening: \(listening)")
            let dy = randomTensor(y.shape, &g)
            fused.store.zeroGrads()
            unfused.store.zeroGrads()
            fused.backward(dy)
            let masked = Tensor(shape: dy.shape, values: zip(dy.toArray(), pre.toArray()).map { $1 > 0 ? $0 : 0 })
            unfused.backward(masked)
            let sameGradients = conv.weight.grad.toArray() == alone.weight.grad.toArray() && conv.bias!.grad.toArray() == alone.bias!.grad.toArray()
            #expect(sameGradients, "listening: \(listening)")
        }
    }

    /// The inference engines' convolution (im2col, features-major kernels, chunks of
    /// samples) equals the training layer's forward, with every engine, at batch 1 and more.
    @Test func everyEngineRunsConvolutionsAsTraining() throws {
        var g = SeededGenerator(seed: 303)
        let model = try Sequential(inputShape: [2, 9, 9], layers: [
            Convolution.conv2d("conv1", 2, 5, kernel: 3, padding: 1), BatchNorm(name: "bn1", features: 5), ActivationLayer(name: "relu1", .relu),
            Pooling(name: "pool1", kind: .max, spatialDimensions: 2, kernel: 2), Convolution.conv2d("conv2", 5, 4, kernel: 2),
            ActivationLayer(name: "relu2", .relu), Flatten(name: "flatten"), Linear(name: "fc", inFeatures: 36, outFeatures: 3)], generator: &g)
        for matrix in model.prunableMatrices { for i in 0..<matrix.count where g.nextUnitFloat() < 0.6 { matrix.parameter.mask[i] = 0 } }
        model.store.applyMasks()
        model.setTraining(false)
        for batch in [1, 3, 70] {
            let x = randomTensor([batch, 2, 9, 9], &g)
            let expected = model.forward(x).copy()
            for engine in [InferenceEngine.dense, .csr, .sell, .compact] {
                let prepared = try #require(InferenceModel.build(model, engine: engine, threads: 2))
                #expect(maxRelativeError(prepared.predict(x), expected) < 2e-4, "\(engine.rawValue) batch \(batch)")
            }
        }
    }
}
}
