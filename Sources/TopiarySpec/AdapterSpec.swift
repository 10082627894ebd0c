import TopiarySparsity

/// `adapters:` — each stage's retraining trains low-rank adapters on the pruned base instead
/// of the surviving weights themselves, then merges them:
///
///     adapters:
///       kind: lora
///       rank: 8               # r: A is (r, fan-in), B is (outputs, r)
///       alpha: 16             # the update is alpha / r · B·A (default: alpha = r)
///       targets: ["blocks.*.attn.*", "blocks.*.mlp.*"]   # layer names, * any run of characters
///                             # (default: every prunable layer not in pruning.exclude_layers)
///       merge: masked         # masked: W₀ + s·(B·A ⊙ M) — trained and merged so, exact and as
///                             # sparse as the base; unmasked: plain LoRA W₀ + s·B·A, whose
///                             # merge revives pruned weights (reported, then masked again)
///       dropout: 0.05         # PEFT's lora_dropout on the adapter's input, in training only
///                             # (linear targets; default 0)
///       save: true            # each stage's adapters in PEFT's layout under adapters/stageN
///       init_from: path       # the first stage's adapters start from a PEFT LoRA folder (its
///                             # r and lora_alpha must be rank and alpha); with that stage's
///                             # epochs 0, a masked merge of someone else's adapter
///
/// Without dropout the masked form is trained folded into the weight (three GEMMs per target,
/// as full fine-tuning); the unmasked form, and any form with dropout, run the adapter as its
/// own path beside the frozen base, whose weight gradient is then not computed.
public struct AdapterSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, CaseIterable, Sendable { case lora }

    public var kind: Kind = .lora
    public var rank: Int
    public var alpha: Double
    public var dropout: Double = 0
    public var targets: [String]?
    public var merge: LowRankAdapters.Form = .masked
    public var save: Bool = true
    /// A PEFT LoRA folder the first stage's adapters start from.
    public var initFrom: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, rank, alpha, dropout, targets, merge, save, initFrom = "init_from"
    }

    public init(rank: Int, alpha: Double? = nil, dropout: Double = 0, targets: [String]? = nil, merge: LowRankAdapters.Form = .masked,
                save: Bool = true) {
        self.rank = rank
        self.dropout = dropout
        self.alpha = alpha ?? Double(rank)
        self.targets = targets
        self.merge = merge
        self.save = save
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decodeEnum(Kind.self, forKey: .kind, decoder: decoder)
        rank = try c.decode(Int.self, forKey: .rank)
        if !(1...4096).contains(rank) { throw decoder.problem(CodingKeys.rank, "must be 1 to 4096, got \(rank).") }
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? Double(rank)
        if !(alpha > 0 && alpha.isFinite) { throw decoder.problem(CodingKeys.alpha, "must be > 0 (the update is alpha / rank · B·A), got \(alpha).") }
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
        if !(0..<1).contains(dropout) {
            throw decoder.problem(CodingKeys.dropout, "must lie in [0, 1) (the probability of zeroing an adapter input), got \(dropout).")
        }
        targets = try c.decodeIfPresent([String].self, forKey: .targets)
        if let targets, targets.isEmpty || targets.contains(where: \.isEmpty) {
            throw decoder.problem(CodingKeys.targets, "must list layer-name patterns (\"blocks.*.attn.*\"), or be left out to adapt every prunable layer.")
        }
        if c.contains(.merge) { merge = try c.decodeEnum(LowRankAdapters.Form.self, forKey: .merge, decoder: decoder) }
        save = try c.decodeIfPresent(Bool.self, forKey: .save) ?? true
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
        if let initFrom, initFrom.isEmpty { throw decoder.problem(CodingKeys.initFrom, "must name a PEFT adapter folder (adapter_config.json, adapter_model.safetensors).") }
    }

    /// Whether `layer` matches `pattern`: `*` stands for any run of characters, dots included.
    public static func matches(_ layer: String, pattern: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return layer == pattern }
        var rest = Substring(layer)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let found = rest.range(of: part) else { return false }
            rest = rest[found.upperBound...]
        }
        return rest.hasSuffix(parts.last!) && rest.count >= parts.last!.count
    }

    /// The prunable layers the adapters go on, in model order: those `targets` match, or
    /// every one not excluded from pruning. A pattern that matches nothing is a spec error.
    public func targetLayers(prunable: [String], excluded: [String]) throws -> [String] {
        guard let targets else { return prunable.filter { !excluded.contains($0) } }
        if let idle = targets.first(where: { pattern in !prunable.contains { Self.matches($0, pattern: pattern) } }) {
            throw SpecProblem(keyPath: "adapters.targets", problem: "'\(idle)' matches no prunable layer. This model's prunable layers: \(prunable.joined(separator: ", ")).")
        }
        return prunable.filter { layer in targets.contains { Self.matches(layer, pattern: $0) } }
    }
}
