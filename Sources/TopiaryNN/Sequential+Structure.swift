import TopiaryTensor

/// What a sequential model tells structured pruning and inference engines about itself.
extension Sequential {
    /// Follows matrix `matrix`'s outputs forward through its chain: layers that keep channels
    /// apart (activations, pooling, dropout, a BatchNorm whose gain and shift become
    /// companions, a flatten that turns channel r into a block of features) up to the next
    /// matrix, which reads channel r in its own columns. Stops (nil) at anything that mixes
    /// channels or at the end of the model or of a residual branch: the output layer, and a
    /// branch's last matrix feeding an addition, keep all their rows.
    public func channelCoupling(of matrix: PrunableMatrix) -> ChannelCoupling? {
        guard let (chain, index) = Sequential.locate(matrix, in: chain) else { return nil }
        let owner = chain.layers[index]
        if let attention = owner as? CausalSelfAttention {
            return matrix === attention.qkv.matrix ? attention.headCoupling : nil   // proj ends a residual branch
        }
        var companions = owner.parameters.filter { $0.role == .bias }
        var rowScale: (() -> [Float])?
        var block = 1   // features each channel occupies after a flatten
        for next in chain.layers[(index + 1)...] {
            switch next {
            case is ActivationLayer, is Dropout, is Pooling, is GlobalAveragePooling:
                if next is GlobalAveragePooling { block = 1 }
                continue
            case let norm as BatchNorm:
                companions += [norm.weight, norm.bias]
                rowScale = { norm.evaluationAffine.scale.map(abs) }
            case is Flatten:
                let position = chain.layers.firstIndex { $0 === next }!
                block = chain.inputShapes[position].dropFirst().reduce(1, *)
            case let linear as Linear:
                guard linear.inFeatures == matrix.rows * block else { return nil }
                let columns = (0..<matrix.rows).map { r in Array((r * block)..<((r + 1) * block)) }
                return ChannelCoupling(companions: companions, consumers: [(linear.matrix, columns)], rowScale: rowScale)
            case let convolution as Convolution:
                guard block == 1, convolution.inChannels == matrix.rows else { return nil }
                let span = convolution.kernel.reduce(1, *)
                let columns = (0..<matrix.rows).map { r in Array((r * span)..<((r + 1) * span)) }
                return ChannelCoupling(companions: companions, consumers: [(convolution.matrix, columns)], rowScale: rowScale)
            default:
                return nil
            }
        }
        return nil
    }

    /// The chain holding the layer that owns `matrix`, and that layer's index in it.
    static func locate(_ matrix: PrunableMatrix, in chain: LayerChain) -> (LayerChain, Int)? {
        for (index, layer) in chain.layers.enumerated() {
            if layer.prunableMatrices.contains(where: { $0 === matrix }), !(layer is Residual || layer is LayerChain) { return (chain, index) }
            if let residual = layer as? Residual {
                if let found = locate(matrix, in: residual.body) ?? locate(matrix, in: residual.shortcut) { return found }
            }
            if let nested = layer as? LayerChain, let found = locate(matrix, in: nested) { return found }
        }
        return nil
    }

    public var inferencePlan: [InferenceOperation]? { Sequential.operations(chain) }

    /// One block per top-level layer, consecutive layers of one name joined (a GPT's
    /// `blocks.i` attention and MLP residuals are one block).
    public var calibrationBlocks: [[PrunableMatrix]] {
        var blocks: [(name: String, matrices: [PrunableMatrix])] = []
        for layer in chain.layers where !layer.prunableMatrices.isEmpty {
            if blocks.last?.name == layer.name { blocks[blocks.count - 1].matrices += layer.prunableMatrices } else {
                blocks.append((layer.name, layer.prunableMatrices))
            }
        }
        return blocks.map(\.matrices)
    }

    static func operations(_ chain: LayerChain) -> [InferenceOperation]? {
        var result: [InferenceOperation] = []
        for layer in chain.layers {
            switch layer {
            case let linear as Linear: result.append(.matrix(linear.matrix, bias: linear.bias?.value))
            case let convolution as Convolution: result.append(.matrix(convolution.matrix, bias: convolution.bias?.value))
            case let norm as BatchNorm:
                let (scale, shift) = norm.evaluationAffine
                result.append(.channelAffine(scale: scale, shift: shift))
            case let activation as ActivationLayer: result.append(.activation(activation.activation))
            case let pooling as Pooling: result.append(pooling.kind == .max ? .maxPool(pooling.geometry) : .averagePool(pooling.geometry))
            case is GlobalAveragePooling: result.append(.globalAveragePool)
            case is Flatten: result.append(.flatten)
            case is Dropout: continue
            case let norm as LayerNorm: result.append(.layerNorm(gain: norm.weight.value, shift: norm.bias.value, epsilon: norm.epsilon))
            case let tokens as Embedding: result.append(.tokenEmbedding(table: tokens.weight.value))
            case let positions as PositionEmbedding: result.append(.positionEmbedding(table: positions.weight.value))
            case let attention as CausalSelfAttention:
                result.append(.causalAttention(qkv: attention.qkv.matrix, qkvBias: attention.qkv.bias?.value,
                                               proj: attention.proj.matrix, projBias: attention.proj.bias?.value, heads: attention.heads,
                                               queryScale: attention.scoreScale * Float(attention.channels / attention.heads).squareRoot()))
            case let norm as RMSNorm: result.append(.rmsNorm(gain: norm.weight.value, epsilon: norm.epsilon))
            case let attention as GroupedQueryAttention:
                result.append(.groupedAttention(query: attention.query.matrix, key: attention.key.matrix, value: attention.value.matrix,
                                                output: attention.output.matrix, heads: attention.heads,
                                                keyValueHeads: attention.keyValueHeads, rotary: attention.rotary))
            case let mlp as GatedMLP: result.append(.gatedMLP(gate: mlp.gate.matrix, up: mlp.up.matrix, down: mlp.down.matrix))
            case let scale as Scale: result.append(.scale(scale.factor))
            case let head as TiedEmbeddingHead: result.append(.tiedHead(table: head.embedding.weight.value))
            case let residual as Residual:
                guard let body = operations(residual.body), let shortcut = operations(residual.shortcut) else { return nil }
                result.append(.residual(body: body, shortcut: shortcut))
            case let nested as LayerChain:
                guard let inner = operations(nested) else { return nil }
                result += inner
            default:
                return nil
            }
        }
        return result
    }
}
