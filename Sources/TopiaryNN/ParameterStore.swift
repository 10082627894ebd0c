import TopiaryTensor

/// One allocation each for every parameter's values, gradients and masks (as llm.c does):
/// parameters are views at fixed offsets, so the optimizer step, gradient zeroing and mask
/// application are single loops over contiguous memory.
public final class ParameterStore: @unchecked Sendable {
    public let values: Tensor
    public let grads: Tensor
    public let masks: Tensor
    public let parameters: [Parameter]

    /// What a layer asks to be allocated: a tensor name within the layer, its shape and role.
    public struct Declaration: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let role: ParameterRole
        public init(_ name: String, _ shape: [Int], role: ParameterRole) {
            self.name = name
            self.shape = shape
            self.role = role
        }
    }

    /// Declares parameters in order; `ParameterStore(layout)` then allocates them.
    public struct Layout: Sendable {
        public struct Entry: Sendable {
            public let name: String
            public let layerName: String
            public let role: ParameterRole
            public let shape: [Int]
        }
        public private(set) var entries: [Entry] = []
        public init() {}

        /// Adds `layerName.name`; returns its index in `ParameterStore.parameters`.
        @discardableResult
        public mutating func add(layer layerName: String, name: String, role: ParameterRole, shape: [Int]) -> Int {
            entries.append(Entry(name: "\(layerName).\(name)", layerName: layerName, role: role, shape: shape))
            return entries.count - 1
        }

        /// Adds a parameter named after its role (`fc1.weight`, `fc1.bias`).
        @discardableResult
        public mutating func add(layer layerName: String, role: ParameterRole, shape: [Int]) -> Int {
            add(layer: layerName, name: role.rawValue, role: role, shape: shape)
        }
    }

    public init(_ layout: Layout) {
        // Each parameter starts on a 64-byte boundary so SIMD loads in per-parameter kernels
        // are aligned and no two parameters share a cache line.
        var offsets: [Int] = []
        var total = 0
        for entry in layout.entries {
            offsets.append(total)
            total += (Tensor.elementCount(entry.shape) + 15) / 16 * 16
        }
        let (values, grads, masks) = (Tensor(zeros: [total]), Tensor(zeros: [total]), Tensor(zeros: [total]))
        (self.values, self.grads, self.masks) = (values, grads, masks)
        parameters = zip(layout.entries, offsets).map { entry, offset in
            Parameter(name: entry.name, layerName: entry.layerName, role: entry.role,
                      value: Tensor(storage: values.storage, offset: offset, shape: entry.shape),
                      grad: Tensor(storage: grads.storage, offset: offset, shape: entry.shape),
                      mask: Tensor(storage: masks.storage, offset: offset, shape: entry.shape),
                      offset: offset, flags: ParameterFlags(trainable: entry.role != .buffer))
        }
        for parameter in parameters { parameter.mask.fill(1) }
    }

    /// Total floats in each flat buffer (parameters plus alignment padding, which stays 0).
    public var flatCount: Int { values.count }
    /// Number of parameter elements (no padding).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
    /// Elements of trainable parameters.
    public var trainableCount: Int { parameters.filter(\.trainable).reduce(0) { $0 + $1.count } }

    /// The flat ranges optimizers sweep: each trainable parameter's elements and its padding,
    /// neighbours merged, with the offset each range starts at in a compact buffer that holds
    /// only these ranges (optimizer moments are allocated for trainable parameters only).
    public var trainableRanges: [(flat: Range<Int>, compactStart: Int)] {
        var ranges: [Range<Int>] = []
        for (index, parameter) in parameters.enumerated() where parameter.trainable {
            let end = index + 1 < parameters.count ? parameters[index + 1].offset : flatCount
            if let last = ranges.last, last.upperBound == parameter.offset {
                ranges[ranges.count - 1] = last.lowerBound..<end
            } else {
                ranges.append(parameter.offset..<end)
            }
        }
        var compact = 0
        return ranges.map { range in
            defer { compact += range.count }
            return (range, compact)
        }
    }

    /// Floats of the compact buffer of `trainableRanges`.
    public var trainableFlatCount: Int { trainableRanges.reduce(0) { $0 + $1.flat.count } }

    public func zeroGrads() { grads.fill(0) }

    /// value *= mask and grad *= mask over every parameter: after pruning, and as a guard.
    public func applyMasks() {
        multiply(values, masks, into: values)
        multiply(grads, masks, into: grads)
    }

    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    /// PyTorch's `clip_grad_norm_`: the L2 norm of every trainable gradient together, and when
    /// it exceeds `maximum`, every gradient scaled by maximum / (norm + 1e-6). Returns the norm
    /// before clipping. Masked entries stay 0 (they are scaled, not set).
    @discardableResult
    public func clipGradientNorm(to maximum: Float) -> Float {
        require(maximum > 0 && maximum.isFinite, "the gradient norm limit must be finite and > 0, but got \(maximum)")
        let views = trainableRanges.map { Tensor(storage: grads.storage, offset: grads.offset + $0.flat.lowerBound, shape: [$0.flat.count]) }
        var sumOfSquares = 0.0
        for g in views { for i in 0..<g.count { sumOfSquares += Double(g[i]) * Double(g[i]) } }
        let norm = Float(sumOfSquares.squareRoot())
        let coefficient = maximum / (norm + 1e-6)
        if coefficient < 1 { for g in views { scaleInPlace(g, by: coefficient) } }
        return norm
    }

    /// The first parameter holding a NaN or infinite value, and the index of that value.
    public func firstNonFiniteValue() -> (Parameter, Int)? {
        guard firstNonFinite(values) != nil else { return nil }
        for parameter in parameters { if let index = firstNonFinite(parameter.value) { return (parameter, index) } }
        return nil
    }
}
