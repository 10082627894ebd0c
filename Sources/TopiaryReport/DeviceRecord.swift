/// One stage exported as C and checked on a microcontroller (`device:` in the spec): what the
/// model occupies, whether it fits the budget, and whether the device computes what Topiary
/// computes.
public struct DeviceRecord: Codable, Sendable, Equatable {
    /// Flash and RAM of the model's object file as the cross-compiler's `size` reports them.
    public struct Footprint: Codable, Sendable, Equatable {
        /// text (code and const weights) + data.
        public var flashBytes: Int
        /// data + bss (the arena) + the stack estimate.
        public var ramBytes: Int
        public var arenaBytes: Int
        public var stackBytes: Int
        enum CodingKeys: String, CodingKey {
            case flashBytes = "flash_bytes", ramBytes = "ram_bytes", arenaBytes = "arena_bytes", stackBytes = "stack_bytes"
        }
        public init(flashBytes: Int, ramBytes: Int, arenaBytes: Int, stackBytes: Int) {
            self.flashBytes = flashBytes
            self.ramBytes = ramBytes
            self.arenaBytes = arenaBytes
            self.stackBytes = stackBytes
        }
    }

    public var target: String
    /// The precision the check ran with (`device.precision`).
    public var precision: String
    /// Per precision (float32, int8).
    public var footprints: [String: Footprint]
    /// Whether `precision`'s footprint is within the spec's flash and RAM budget.
    public var fitsBudget: Bool
    /// The task's deciding metric of the host-compiled C on the whole test set.
    public var hostTestMetric: Double
    /// Test rows whose largest output is the same in the C build as in Topiary's engine of the
    /// same precision, as a fraction (outputs of width 1: rows within 1e-4).
    public var engineAgreement: Double
    /// Largest |C − engine| over every output of the test set.
    public var maxAbsDifference: Double
    /// Rows run on the emulated device (the first of the test set).
    public var deviceRows: Int
    /// The deciding metric of the emulated device on those rows, and of the engine on the same rows.
    public var deviceTestMetric: Double
    public var engineRowsTestMetric: Double
    /// Whether every device output equals the host build's, bit for bit.
    public var deviceMatchesHost: Bool
    /// x86-64 instructions per inference of the host build (valgrind), the cost proxy.
    public var instructionsPerInference: Double

    enum CodingKeys: String, CodingKey {
        case target, precision, footprints, fitsBudget = "fits_budget", hostTestMetric = "host_test_metric"
        case engineAgreement = "engine_agreement", maxAbsDifference = "max_abs_difference", deviceRows = "device_rows"
        case deviceTestMetric = "device_test_metric", engineRowsTestMetric = "engine_rows_test_metric"
        case deviceMatchesHost = "device_matches_host", instructionsPerInference = "instructions_per_inference"
    }

    public init(target: String, precision: String, footprints: [String: Footprint], fitsBudget: Bool, hostTestMetric: Double,
                engineAgreement: Double, maxAbsDifference: Double, deviceRows: Int, deviceTestMetric: Double,
                engineRowsTestMetric: Double, deviceMatchesHost: Bool, instructionsPerInference: Double) {
        self.target = target
        self.precision = precision
        self.footprints = footprints
        self.fitsBudget = fitsBudget
        self.hostTestMetric = hostTestMetric
        self.engineAgreement = engineAgreement
        self.maxAbsDifference = maxAbsDifference
        self.deviceRows = deviceRows
        self.deviceTestMetric = deviceTestMetric
        self.engineRowsTestMetric = engineRowsTestMetric
        self.deviceMatchesHost = deviceMatchesHost
        self.instructionsPerInference = instructionsPerInference
    }
}

/// The least-pruned accepted stage whose export fits the device budget with its metric within
/// `device.tolerance` of stage 0's test metric (report.json `device_fit`; nil when none does).
public struct DeviceFit: Codable, Sendable, Equatable {
    public var stage: Int
    public var sparsity: Double
    public var flashBytes: Int
    public var ramBytes: Int
    public var hostTestMetric: Double
    enum CodingKeys: String, CodingKey {
        case stage, sparsity, flashBytes = "flash_bytes", ramBytes = "ram_bytes", hostTestMetric = "host_test_metric"
    }

    /// `limit`: the worst metric still within the tolerance; `better`: the metric's direction.
    public static func find(in stages: [StageRecord], limit: Double, higherIsBetter: Bool) -> DeviceFit? {
        for stage in stages where stage.status == .accepted {
            guard let device = stage.device, device.fitsBudget, let footprint = device.footprints[device.precision] else { continue }
            let within = higherIsBetter ? device.hostTestMetric >= limit : device.hostTestMetric <= limit
            if within {
                return DeviceFit(stage: stage.stage, sparsity: stage.sparsity, flashBytes: footprint.flashBytes,
                                 ramBytes: footprint.ramBytes, hostTestMetric: device.hostTestMetric)
            }
        }
        return nil
    }
}
