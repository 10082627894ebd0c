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
