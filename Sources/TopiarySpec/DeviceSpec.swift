/// `device:` — after every stage, export the model as C, compile it for a microcontroller,
/// run it on an emulated one and on this machine, and report flash, RAM and whether it fits.
///
///     device:
///       target: cortex-m4      # or cortex-m7 (QEMU's MPS2 boards)
///       precision: int8        # weights of the exported C: int8 (per-row scales) or float32
///       flash_kb: 256          # the device budget the stage must fit
///       ram_kb: 64
///       rows: 500              # test rows run on the emulated device (the host build runs all)
///       tolerance: 1.0         # how far below stage 0 the exported model's metric may fall and
///                              # still count as fitting: accuracy points, or a fraction for
///                              # loss-like metrics
///
/// Both precisions' flash and RAM are reported; the check itself (host C on the whole test
/// set, the device on `rows`, instructions per inference) runs for `precision`.
public struct DeviceSpec: Codable, Sendable, Equatable {
    public enum Target: String, Codable, CaseIterable, Sendable {
        case cortexM4 = "cortex-m4", cortexM7 = "cortex-m7"
    }
    public enum Precision: String, Codable, CaseIterable, Sendable {
        case int8, float32
    }

    public var target: Target = .cortexM4
    public var precision: Precision = .int8
    public var flashKB: Int
    public var ramKB: Int
    public var rows: Int = 500
    public var tolerance: Double = 1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case target, precision, flashKB = "flash_kb", ramKB = "ram_kb", rows, tolerance
    }

    public init(target: Target = .cortexM4, precision: Precision = .int8, flashKB: Int, ramKB: Int, rows: Int = 500, tolerance: Double = 1) {
        self.target = target
        self.precision = precision
        self.flashKB = flashKB
        self.ramKB = ramKB
        self.rows = rows
        self.tolerance = tolerance
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.target) { target = try c.decodeEnum(Target.self, forKey: .target, decoder: decoder) }
        if c.contains(.precision) { precision = try c.decodeEnum(Precision.self, forKey: .precision, decoder: decoder) }
        flashKB = try c.decode(Int.self, forKey: .flashKB)
        ramKB = try c.decode(Int.self, forKey: .ramKB)
        rows = try c.decodeIfPresent(Int.self, forKey: .rows) ?? 500
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? 1
        if flashKB < 1 { throw decoder.problem(CodingKeys.flashKB, "must be >= 1 (KiB of flash), got \(flashKB).") }
        if ramKB < 1 { throw decoder.problem(CodingKeys.ramKB, "must be >= 1 (KiB of RAM), got \(ramKB).") }
        if !(1...100_000).contains(rows) { throw decoder.problem(CodingKeys.rows, "must be 1 to 100000 test rows, got \(rows).") }
        if !(tolerance >= 0 && tolerance.isFinite) { throw decoder.problem(CodingKeys.tolerance, "must be >= 0, got \(tolerance).") }
    }

    /// Bytes of the budget (1 KB = 1,024 bytes).
    public var flashBytes: Int { flashKB * 1024 }
    public var ramBytes: Int { ramKB * 1024 }
}
