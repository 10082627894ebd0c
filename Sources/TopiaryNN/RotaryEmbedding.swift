import Foundation
import TopiaryTensor

/// Rotary position embeddings (RoFormer; Llama) in Hugging Face's layout: a head vector of
/// size hs is split in halves, and pair (i, i + hs/2) at position p turns by the angle
/// p · θ^(−2i/hs). (llama.cpp's GGUF files store q and k rows permuted so the pairs are
/// adjacent instead; `LlamaTensorNames` undoes that on load.)
public struct RotaryEmbedding: Sendable {
    public let headSize: Int
    public let theta: Float
    /// cos and sin per (position, i < hs/2), for positions 0 ..< count.
    private var cosines: [Float] = []
    private var sines: [Float] = []

    public init(headSize: Int, theta: Float) {
        precondition(headSize >= 2 && headSize % 2 == 0, "rotary head size must be even, got \(headSize)")
        self.headSize = headSize
        self.theta = theta
    }

    /// Positions the tables hold.
    public var preparedPositions: Int { cosines.count / (headSize / 2) }

    /// Tables for positions 0 ..< count (grown, never shrunk). As Hugging Face computes them:
    /// the frequency and the angle p·frequency rounded to Float, cos and sin of that angle.
    public mutating func prepare(positions count: Int) {
        let half = headSize / 2
        guard cosines.count < count * half else { return }
        cosines = [Float](repeating: 0, count: count * half)
        sines = cosines
        for p in 0..<count {
            for i in 0..<half {
                let frequency = Float(1 / pow(Double(theta), Double(2 * i) / Double(headSize)))
                let angle = Double(Float(p) * frequency)
                cosines[p * half + i] = Float(cos(angle))
                sines[p * half + i] = Float(sin(angle))
            }
        }
    }

    /// Rotates `heads` head vectors of one position in place (forward), or by the opposite
    /// angle (`inverse`: the backward of a rotation is its transpose).
    /// - Parameter vectors: heads × hs floats, head h at h·hs.
    public func rotate(_ vectors: UnsafeMutablePointer<Float>, heads: Int, position p: Int, inverse: Bool = false) {
        let half = headSize / 2
        precondition(cosines.count >= (p + 1) * half, "rotary tables prepared for fewer than \(p + 1) positions")
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                let c = cosines.baseAddress! + p * half, s = sines.baseAddress! + p * half
                let sign: Float = inverse ? -1 : 1
                for h in 0..<heads {
                    let low = vectors + h * headSize, high = low + half
                    for i in 0..<half {
                        let (a, b, sine) = (low[i], high[i], sign * s[i])
                        low[i] = a * c[i] - b * sine
                        high[i] = b * c[i] + a * sine
                    }
                }
            }
        }
    }
}
