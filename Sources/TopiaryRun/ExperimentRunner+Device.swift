import Foundation
import TopiaryExport
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
            let reference = Tensor(zeros: outputShape)
            var start = 0
            while start < test.count {
                let n = min(1000, test.count - start)
                let batch = engine.predict(test.inputs.rowSlice(start, count: n))
                (reference.pointer + start * export.outputCount).update(from: batch.pointer, count: batch.count)
                start += n
            }
            let rows = min(device.rows, test.count)
            let onDevice = try check.runOnCortexM(Array(inputs.prefix(rows * export.inputCount)), target: target)
            let deciding = task.decidingMetric.name
            let deviceOutputs = Tensor(shape: [rows] + program.outputShape, values: onDevice)
            let rowTargets = test.targets.rowSlice(0, count: rows)
            record = DeviceRecord(
                target: target.rawValue, precision: precision.rawValue, footprints: [:],
                fitsBudget: footprint.flashBytes <= device.flashBytes && footprint.ramBytes <= device.ramBytes,
                hostTestMetric: Evaluation.measure(outputs: host, targets: test.targets, task: task)[deciding]!,
                engineAgreement: ExperimentRunner.agreement(host, reference, width: export.outputCount),
                maxAbsDifference: zip(host.toArray(), reference.toArray()).map { Double(abs($0 - $1)) }.max() ?? 0,
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

    /// Fraction of rows whose largest output is at the same index in `a` and `b` (rows of one
    /// output: within 1e-4 of each other).
    static func agreement(_ a: Tensor, _ b: Tensor, width: Int) -> Double {
        let rows = a.count / width
        guard rows > 0 else { return 1 }
        var same = 0
        for r in 0..<rows {
            let x = a.pointer + r * width, y = b.pointer + r * width
            if width == 1 {
                if abs(x[0] - y[0]) <= 1e-4 * max(1, abs(y[0])) { same += 1 }
                continue
            }
            var (ix, iy) = (0, 0)
            for j in 1..<width {
                if x[j] > x[ix] { ix = j }
                if y[j] > y[iy] { iy = j }
            }
            if ix == iy { same += 1 }
        }
        return Double(same) / Double(rows)
    }
}
