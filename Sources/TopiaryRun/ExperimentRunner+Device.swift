import Foundation
import TopiaryFormats
import TopiaryInference
import TopiaryMetrics
import TopiaryReport
import TopiarySpec
import TopiaryTensor

extension ExperimentRunner {
    /// With `device:`: the current model compacted, exported as C in both precisions, each
    /// cross-compiled for its footprint; for `device.precision` also run on this machine over
    /// the whole test set (against the engine of that precision), on the emulated device over
    /// its first `device.rows` rows (against the host's bits), and counted under valgrind.
    func measureDevice() throws -> DeviceRecord? {
        guard let device = spec.device else { return nil }
        guard let full = InferenceProgram(model) else {
            throw ExportError.unsupportedStep(format: "C", step: "a model without an inference plan", hint: "remove device: from the spec")
        }
        let program = full.compacted()
        let target = CortexMTarget(rawValue: device.target.rawValue)!
        let chosen = ExportPrecision(rawValue: device.precision.rawValue)!
        let test = data.test
        let inputs = test.inputs.toArray()
        var footprints: [String: DeviceRecord.Footprint] = [:]
        var record: DeviceRecord?
        for precision in ExportPrecision.allCases {
            let export = try CModelExport(program, precision: precision, modelName: spec.name)
            let check = try CModelCheck(export)
            defer { check.close() }
            let footprint = try check.footprint(target: target)
            footprints[precision.rawValue] = .init(flashBytes: footprint.flashBytes, ramBytes: footprint.ramBytes,
                                                   arenaBytes: export.arenaBytes, stackBytes: footprint.stack)
            guard precision == chosen else { continue }
            let outputShape = [test.count] + program.outputShape
            let host = Tensor(shape: outputShape, values: try check.runOnHost(inputs))
            let engine = InferenceModel.build(program, engine: precision == .int8 ? .int8 : .dense, threads: latencyThreads)!
            let reference = Evaluation.outputs(engine, inputs: test.inputs, inputShape: program.inputShape)
            let rows = min(device.rows, test.count)
            let onDevice = try check.runOnCortexM(Array(inputs.prefix(rows * export.inputCount)), target: target)
            let deciding = task.decidingMetric.name
            let deviceOutputs = Tensor(shape: [rows] + program.outputShape, values: onDevice)
            let rowTargets = test.targets.rowSlice(0, count: rows)
            record = DeviceRecord(
                target: target.rawValue, precision: precision.rawValue, footprints: [:],
                fitsBudget: footprint.flashBytes <= device.flashBytes && footprint.ramBytes <= device.ramBytes,
                hostTestMetric: Evaluation.measure(outputs: host, targets: test.targets, task: task)[deciding]!,
                engineAgreement: Evaluation.agreement(host, reference, width: export.outputCount),
                maxAbsDifference: Evaluation.maxAbsDifference(host, reference),
                deviceRows: rows,
                deviceTestMetric: Evaluation.measure(outputs: deviceOutputs, targets: rowTargets, task: task)[deciding]!,
                engineRowsTestMetric: Evaluation.measure(outputs: reference.rowSlice(0, count: rows), targets: rowTargets, task: task)[deciding]!,
                deviceMatchesHost: onDevice.map(\.bitPattern) == host.toArray().prefix(onDevice.count).map(\.bitPattern),
                instructionsPerInference: try check.instructionsPerInference(Array(inputs.prefix(min(rows, 20) * export.inputCount))))
        }
        record!.footprints = footprints
        let fit = record!.footprints[chosen.rawValue]!
        options.progress?("  device \(target.rawValue) \(chosen.rawValue): flash \(fit.flashBytes) B, RAM \(fit.ramBytes) B"
            + (record!.fitsBudget ? " (fits)" : " (over \(device.flashKB) KB / \(device.ramKB) KB)")
            + String(format: ", C test %@ %.4f, device %.4f on %d rows, bits equal host: %@, %.0f instructions/inference",
                     task.decidingMetric.name, record!.hostTestMetric, record!.deviceTestMetric, record!.deviceRows,
                     String(record!.deviceMatchesHost), record!.instructionsPerInference))
        return record
    }
}
