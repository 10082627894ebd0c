import TopiaryNN
import TopiaryTensor

/// One target's adapter path beside its frozen base (`LowRankAdapters.Path.beside`):
/// y += s·B·A·drop(x) (unmasked) or ΔW·drop(x) with ΔW = s·(B·A ⊙ M) (masked). In the
/// legend below N is the layer's input vectors, r the rank; shapes are given for the `.rows`
/// layout, the `.columns` layout is their transpose.
final class AdapterBranch: FanInBranch {
    let a: Parameter            // (r, fanIn)
    let b: Parameter            // (rows, r)
    let mask: Tensor            // (rows, fanIn), the base's
    weak var owner: LowRankAdapters?
    /// ΔW (rows, fanIn) of the masked form, refreshed by `updateDelta` after each step.
    private var delta: Tensor?
    /// The last training forward's keep factors and dropped input (N, fanIn); nil without dropout.
    private var keep: Tensor?
    private var dropped: Tensor?
    private var keepBuffer = ActivationBuffer(), droppedBuffer = ActivationBuffer()
    private var hiddenBuffer = ActivationBuffer(), hiddenGradientBuffer = ActivationBuffer()
    private var droppedGradientBuffer = ActivationBuffer(), weightGradientBuffer = ActivationBuffer()
    /// h = drop(x)·Aᵀ (N, r) of the last unmasked `.rows` forward, which backward reuses. A
    /// convolution's forward runs in chunks that share one buffer, so `.columns` recomputes h.
    private var rowsHidden: Tensor?

    init(a: Parameter, b: Parameter, mask: Tensor) {
        self.a = a
        self.b = b
        self.mask = mask
    }

    /// ΔW = s·(B·A ⊙ M).
    func updateDelta(scale: Float) {
        let delta = self.delta ?? Tensor(zeros: mask.shape)
        matmul(b.value, a.value, into: delta, alpha: scale)
        multiply(delta, mask, into: delta)
        self.delta = delta
    }

    func forward(_ x: Tensor, addingTo y: Tensor, layout: FanInLayout, training: Bool) {
        guard let owner else { preconditionFailure("LoRA branch outlived its adapters") }
        var input = x
        (keep, rowsHidden) = (nil, nil)
        if training && owner.dropout > 0 {
            precondition(layout == .rows, "LoRA dropout is offered on linear targets only")
            let keep = keepBuffer.tensor(x.shape)
            drawInvertedDropout(into: keep, probability: owner.dropout, generator: &owner.dropoutGenerator)
            input = droppedBuffer.tensor(x.shape)
            multiply(x, keep, into: input)
            (self.keep, dropped) = (keep, input)
        }
        switch (owner.form, layout) {
        case (.masked, .rows): matmul(input, delta!, transposeB: true, into: y, beta: 1)
        case (.masked, .columns): matmul(delta!, input, into: y, beta: 1)
        case (.unmasked, .rows):
            let h = hiddenBuffer.rows(input.rows, columns: owner.rank)                 // (N, r) = x·Aᵀ
            matmul(input, a.value, transposeB: true, into: h)
            matmul(h, b.value, transposeB: true, into: y, alpha: owner.scale, beta: 1)
            rowsHidden = h
        case (.unmasked, .columns):
            let h = hiddenBuffer.rows(owner.rank, columns: input.columns)              // (r, N) = A·x
            matmul(a.value, input, into: h)
            matmul(b.value, h, into: y, alpha: owner.scale, beta: 1)
        }
    }

    func backward(_ x: Tensor, outputGradient dy: Tensor, addingTo dx: Tensor?, layout: FanInLayout) {
        guard let owner else { preconditionFailure("LoRA branch outlived its adapters") }
        let input = keep != nil ? dropped! : x
        let (s, r) = (owner.scale, owner.rank)
        let rows = layout == .rows
        // What reaches drop(x) is added into dx through the keep factors (or directly).
        let droppedGradient: Tensor? = dx.map { dx in keep == nil ? dx : droppedGradientBuffer.tensor(dx.shape) }
        let accumulate: Float = keep == nil ? 1 : 0
        switch owner.form {
        case .masked:
            // G = dyᵀ·x ⊙ M (rows, fanIn); ∂B += s·G·Aᵀ, ∂A += s·Bᵀ·G; ∂x = dy·ΔW.
            let g = weightGradientBuffer.tensor(mask.shape)
            if rows { matmul(dy, transposeA: true, input, into: g) } else { matmul(dy, input, transposeB: true, into: g) }
            multiply(g, mask, into: g)
            matmul(g, a.value, transposeB: true, into: b.grad, alpha: s, beta: 1)
            matmul(b.value, transposeA: true, g, into: a.grad, alpha: s, beta: 1)
            if let droppedGradient {
                if rows { matmul(dy, delta!, into: droppedGradient, beta: accumulate) }
                else { matmul(delta!, transposeA: true, dy, into: droppedGradient, beta: accumulate) }
            }
        case .unmasked:
            // h = x·Aᵀ (N, r) from the forward; ∂B += s·dyᵀ·h, dh = s·dy·B (N, r), ∂A += dhᵀ·x, ∂x = dh·A.
            if rows {
                guard let h = rowsHidden, h.rows == input.rows else { preconditionFailure("LoRA branch backward without its forward") }
                matmul(dy, transposeA: true, h, into: b.grad, alpha: s, beta: 1)
                let dh = hiddenGradientBuffer.rows(input.rows, columns: r)
                matmul(dy, b.value, into: dh, alpha: s)
                matmul(dh, transposeA: true, input, into: a.grad, beta: 1)
                if let droppedGradient { matmul(dh, a.value, into: droppedGradient, beta: accumulate) }
            } else {
                let h = hiddenBuffer.rows(r, columns: input.columns)
                matmul(a.value, input, into: h)
                matmul(dy, h, transposeB: true, into: b.grad, alpha: s, beta: 1)
                let dh = hiddenGradientBuffer.rows(r, columns: input.columns)
                matmul(b.value, transposeA: true, dy, into: dh, alpha: s)
                matmul(dh, input, transposeB: true, into: a.grad, beta: 1)
                if let droppedGradient { matmul(a.value, transposeA: true, dh, into: droppedGradient, beta: accumulate) }
            }
        }
        if let keep, let droppedGradient, let dx {
            multiply(droppedGradient, keep, into: droppedGradient)
            add(dx, droppedGradient, into: dx)
        }
    }
}
