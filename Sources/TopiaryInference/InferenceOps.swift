import CTopiaryKernels
import Foundation
import TopiaryNN
import TopiaryTensor

/// The steps between matrices, for inference: the same arithmetic as the training layers'
/// forward in evaluation mode (tested against them), on batch-first tensors.
enum InferenceOps {
    /// y = x·scale[c] + shift[c] along the channel axis: axis 1 of (B, C, …), or the rows of a
    /// features-major (C, B).
    static func channelAffine(_ x: Tensor, _ scale: [Float], _ shift: [Float], featureMajor: Bool, _ y: Tensor) -> Tensor {
        let channels = scale.count
        if featureMajor {
            let b = x.columns
            for c in 0..<channels {
                let (s, t) = (scale[c], shift[c])
                simdMap(b, x.pointer + c * b, y.pointer + c * b, { $0 * s + t }, { $0 * s + t })
            }
            return y
        }
        let spatial = x.shape.dropFirst(2).reduce(1, *)
        for plane in 0..<(x.count / spatial) {
            let (s, t) = (scale[plane % channels], shift[plane % channels])
            simdMap(spatial, x.pointer + plane * spatial, y.pointer + plane * spatial, { $0 * s + t }, { $0 * s + t })
        }
        return y
    }

    /// Max or average over each window of (B, C, spatial…); max pooling splits the planes
    /// over `threads`.
    static func pool(_ x: Tensor, _ g: PoolGeometry, maximum: Bool, into y: Tensor, threads: Int) -> Tensor {
        let two = g.kernel.count == 2
        let (h, w) = two ? (g.inputSize[0], g.inputSize[1]) : (1, g.inputSize[0])
        let (oh, ow) = two ? (g.outputSize[0], g.outputSize[1]) : (1, g.outputSize[0])
        let (kh, kw) = two ? (g.kernel[0], g.kernel[1]) : (1, g.kernel[0])
        let (sh, sw) = two ? (g.stride[0], g.stride[1]) : (1, g.stride[0])
        if maximum {
            splitOverCores(x.count / (h * w), minimumPerPart: max(1, (1 << 15) / (h * w)), alignment: 1, threads: threads) { planes in
                topiary_max_pool(x.pointer + planes.lowerBound * h * w, planes.count, h, w, kh, kw, sh, sw, oh, ow,
                                 y.pointer + planes.lowerBound * oh * ow, nil)
            }
            return y
        }
        let scale = 1 / Float(kh * kw)
        for plane in 0..<(x.count / (h * w)) {
            let source = x.pointer + plane * h * w, target = y.pointer + plane * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var value: Float = maximum ? -.infinity : 0
                    for ky in 0..<kh {
                        let row = source + (oy * sh + ky) * w + ox * sw
                        for kx in 0..<kw { value = maximum ? max(value, row[kx]) : value + row[kx] }
                    }
                    target[oy * ow + ox] = maximum ? value : value * scale
                }
            }
        }
        return y
    }

    /// (B, C, spatial…) → (B, C): the mean of each plane.
    static func globalAverage(_ x: Tensor, into y: Tensor) -> Tensor {
        let spatial = x.shape.dropFirst(2).reduce(1, *)
        for plane in 0..<y.count {
            var sum: Float = 0
            for i in 0..<spatial { sum += x.pointer[plane * spatial + i] }
            y[plane] = sum / Float(spatial)
        }
        return y
    }

    /// Over the last axis: (x − μ)/√(σ² + ε)·gain + shift.
    static func layerNorm(_ x: Tensor, _ gain: [Float], _ shift: [Float], _ epsilon: Float, into y: Tensor) -> Tensor {
        gain.withUnsafeBufferPointer { gain in
            shift.withUnsafeBufferPointer { shift in
                LayerNorm.normalize(rows: x.count / gain.count, features: gain.count, x.pointer, gain: gain.baseAddress!,
                                    shift: shift.baseAddress!, epsilon: epsilon, into: y.pointer)
            }
        }
        return y
    }
}
