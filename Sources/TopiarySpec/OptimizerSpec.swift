import TopiaryNN
import TopiaryOptim

/// `optimizer:` — which update rule and its hyper-parameters.
public struct OptimizerSpec: Codable, Sendable, Equatable {
    public enum Name: String, Codable, Sendable, CaseIterable { case sgd, adam, adamw }

    public var name: Name
    public var learningRate: Float
    /// sgd only.
    public var momentum: Float?
    public var nesterov: Bool?
    /// adam/adamw only.
    public var beta1: Float?
    public var beta2: Float?
    public var epsilon: Float?
    /// Coupled (L2) for sgd and adam, decoupled for adamw. adamw's default is 0.01 (PyTorch's).
    public var weightDecay: Float?
    /// adam/adamw: which parameters weight decay applies to — every one (PyTorch's default), or
    /// `matrices` only (weights of two or more dimensions and embeddings, not biases or norm
    /// gains: how GPT-2 is trained).
    public var decayParameters: DecayParameters?
    public enum DecayParameters: String, Codable, Sendable, CaseIterable { case all, matrices }
    /// Before each step, scale every gradient so their global L2 norm is at most this
    /// (PyTorch's clip_grad_norm_); nil: no clipping.
    public var gradientClip: Float?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, learningRate = "learning_rate", momentum, nesterov, beta1, beta2, epsilon
        case weightDecay = "weight_decay", decayParameters = "decay_parameters", gradientClip = "gradient_clip"
    }

    public init(name: Name, learningRate: Float) {
        self.name = name
        self.learningRate = learningRate
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeEnum(Name.self, forKey: .name, decoder: decoder)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum)
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov)
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1)
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2)
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon)
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay)
        if c.contains(.decayParameters) {
            guard name != .sgd else { throw decoder.problem(CodingKeys.decayParameters, "applies to adam and adamw only, not sgd.") }
            decayParameters = try c.decodeEnum(DecayParameters.self, forKey: .decayParameters, decoder: decoder)
        }
        gradientClip = try c.decodeIfPresent(Float.self, forKey: .gradientClip)
        if let gradientClip, !(gradientClip > 0 && gradientClip.isFinite) {
            throw decoder.problem(CodingKeys.gradientClip, "must be a positive number (the largest global gradient norm), got \(gradientClip).")
        }

        guard learningRate > 0, learningRate.isFinite else {
            throw decoder.problem(CodingKeys.learningRate, "must be a positive number, got \(learningRate).")
        }
        if name == .sgd {
            for (key, value) in [(CodingKeys.beta1, beta1), (.beta2, beta2), (.epsilon, epsilon)] where value != nil {
                throw decoder.problem(key, "applies to adam and adamw only, not sgd.")
            }
            if let momentum, !(0..<1).contains(momentum) {
                throw decoder.problem(CodingKeys.momentum, "must lie in [0, 1), got \(momentum).")
            }
            if nesterov == true, (momentum ?? 0) == 0 {
                throw decoder.problem(CodingKeys.nesterov, "needs momentum > 0.")
            }
        } else {
            for (key, present) in [(CodingKeys.momentum, momentum != nil), (.nesterov, nesterov != nil)] where present {
                throw decoder.problem(key, "applies to sgd only, not \(name.rawValue).")
            }
            for (key, value) in [(CodingKeys.beta1, beta1), (.beta2, beta2)] {
                if let value, !(0..<1).contains(value) { throw decoder.problem(key, "must lie in [0, 1), got \(value).") }
            }
            if let epsilon, epsilon <= 0 { throw decoder.problem(CodingKeys.epsilon, "must be > 0, got \(epsilon).") }
        }
        if let weightDecay, weightDecay < 0 || !weightDecay.isFinite {
            throw decoder.problem(CodingKeys.weightDecay, "must be >= 0, got \(weightDecay).")
        }
    }

    /// The same spec with every default written out (what report.json records).
    public var resolved: OptimizerSpec {
        var r = self
        switch name {
        case .sgd:
            r.momentum = momentum ?? 0
            r.nesterov = nesterov ?? false
            r.weightDecay = weightDecay ?? 0
        case .adam, .adamw:
            r.beta1 = beta1 ?? 0.9
            r.beta2 = beta2 ?? 0.999
            r.epsilon = epsilon ?? 1e-8
            r.weightDecay = weightDecay ?? (name == .adamw ? 0.01 : 0)
            r.decayParameters = decayParameters ?? .all
        }
        return r
    }

    /// The parameters weight decay applies to.
    var decays: (Parameter) -> Bool { decayParameters == .matrices ? { $0.isMatrix } : { _ in true } }

    public func makeOptimizer(for store: ParameterStore) -> any Optimizer {
        let r = resolved
        switch name {
        case .sgd:
            return SGD(store: store, momentum: r.momentum!, nesterov: r.nesterov!, weightDecay: r.weightDecay!)
        case .adam:
            return Adam(store: store, beta1: r.beta1!, beta2: r.beta2!, epsilon: r.epsilon!,
                        weightDecay: r.weightDecay! == 0 ? .none : .coupled(r.weightDecay!), decays: r.decays)
        case .adamw:
            return Adam(store: store, beta1: r.beta1!, beta2: r.beta2!, epsilon: r.epsilon!,
                        weightDecay: .decoupled(r.weightDecay!), decays: r.decays)
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes a string enum, with an error listing the allowed values.
    func decodeEnum<T: RawRepresentable & CaseIterable>(_ type: T.Type, forKey key: Key,
                                                        decoder: any Decoder) throws -> T where T.RawValue == String {
        let raw = try decode(String.self, forKey: key)
        guard let value = T(rawValue: raw) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw decoder.problem(key, "unknown value '\(raw)'. Allowed: \(allowed).")
        }
        return value
    }
}
