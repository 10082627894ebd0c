import TopiaryTensor

/// GPT-2's language-model head: logits = x · Eᵀ with E the token embedding's (V, C) table
/// itself (weight tying), so it owns no parameter and its gradient dE += dYᵀ · x lands in
/// the embedding's. Input (B, T, C), output (B, T, V). Not a prunable matrix: pruning it
/// would prune the embedding.
public final class TiedEmbeddingHead: Layer {
    public var name: String
    public let embedding: Embedding
    private var cachedInput: Tensor?
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, tiedTo embedding: Embedding) {
        self.name = name
        self.embedding = embedding
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.last == embedding.features else {
            throw ModelError.shape(layer: name, expected: "(…, \(embedding.features))", got: inputShape)
        }
        return LayerPlan(outputShape: inputShape.dropLast() + [embedding.count])
    }

    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        let (channels, vocabulary) = (embedding.features, embedding.count)
        require(input.shape.last == channels, "\(name) expects (…, \(channels)), got \(input.shape)")
        let x = input.reshaped([input.count / channels, channels])
        cachedInput = x
        let y = output.rows(x.rows, columns: vocabulary)
        matmul(x, embedding.weight.value, transposeB: true, into: y)   // (N, C) · (V, C)ᵀ
        return y.reshaped(input.shape.dropLast() + [vocabulary])
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { fatalError("\(name).backward called before forward") }
        let (channels, vocabulary) = (embedding.features, embedding.count)
        let dy = outputGradient.reshaped([x.rows, vocabulary])
        let table = embedding.weight!
        if table.needsGradient { matmul(dy, transposeA: true, x, into: table.grad, beta: 1) }   // (V, C) += dYᵀ · X
        guard needsInputGradient else { return nil }
        let dx = inputGradient.rows(x.rows, columns: channels)
        matmul(dy, table.value, into: dx)                                                   // (N, C) = dY · E
        return dx.reshaped(outputGradient.shape.dropLast() + [channels])
    }
}
