import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

/// Users' own data through the whole pipeline: IDX pairs by path, CSV tables (classification
/// and regression), `.ts` sensor series; models beyond the MLP (LeNet-5, the 1-D CNN) run,
/// prune and checkpoint; malformed files stop a run before anything is written.
extension AllTests {
@Suite struct UserDataTests {
    static let digits = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"

    func spec(data: String, model: String, task: String = "", stages: String = "    - { sparsity: 0.5, epochs: 1 }",
              epochs: Int = 2, batch: Int = 16, extra: String = "") throws -> ExperimentSpec {
        try ExperimentSpec.decode(yaml: """
        name: user-data
        seed: 0
        \(task)
        data:
        \(data)
        model:
        \(model)
        training:
          epochs: \(epochs)
          batch_size: \(batch)
          optimizer: { name: adam, learning_rate: 0.003 }
        pruning:
          scorer: magnitude
        \(extra)
          stages:
        \(stages)
        measurement:
          latency_batch_sizes: [1, 8]
          latency_repetitions: 5
          latency_warmup: 1
        """)
    }

    /// scikit-learn's digits from Debian's CSV: no header (c0 … c64), the class in c64, 20 %
    /// test rows, features standardised with the training rows' statistics only.
    @Test func digitsCSVSplitsAndStandardisesWithTrainingStatisticsOnly() throws {
        let spec = try self.spec(data: "  dataset: csv\n  train: \(Self.digits)\n  header: false\n  label: c64\n  validation_size: 150",
                                 model: "  architecture: mlp\n  hidden_sizes: [32]").resolved
        let data = try DataLoading.load(spec)
        #expect(data.availableTrainingRows + data.test.count == 1797)
        #expect(data.test.count == 359 && data.validation.count == 150 && data.train.count == 1797 - 359 - 150)
        #expect(data.train.inputShape == [64] && data.train.classCount == 10)
        // Per feature over the training rows: mean 0 and variance 1 (or untouched constants).
        var worstMean = 0.0, nonConstant = 0
        for f in 0..<64 {
            let column = (0..<data.train.count).map { Double(data.train.inputs[$0 * 64 + f]) }
            let mean = column.reduce(0, +) / Double(column.count)
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)
            worstMean = max(worstMean, abs(mean))
            if abs(variance - 1) < 1e-3 { nonConstant += 1 }
        }
        #expect(worstMean < 1e-4 && nonConstant >= 60)
        // The test rows were transformed with those statistics, not their own.
        let testMean = (0..<data.test.count).map { Double(data.test.inputs[$0 * 64 + 20]) }.reduce(0, +) / Double(data.test.count)
        #expect(abs(testMean) > 1e-4)
    }

    /// A regression table with named columns: RMSE and MAE decide and are reported; a
    /// trained and pruned model beats predicting the mean.
    @Test func csvRegressionRunReportsRMSE() throws {
        var g = SeededGenerator(seed: 7)
        var text = "a,b,noise_free,target\n"
        for _ in 0..<600 {
            let (a, b) = (Double(g.nextUnitFloat()) * 4 - 2, Double(g.nextUnitFloat()) * 4 - 2)
            text += "\(a),\(b),0,\(2 * a - b + 0.05 * (Double(g.nextUnitFloat()) - 0.5))\n"
        }
        let path = temporaryDirectory("csv-regression") + "/table.csv"
        writeTestFile(path, Data(text.utf8))
        let spec = try self.spec(data: "  dataset: csv\n  train: \(path)\n  label: target\n  features: [a, b]\n  validation_size: 100",
                                 model: "  architecture: mlp\n  hidden_sizes: [16]", task: "task: regression", epochs: 30)
        let (directory, report) = try runSlice(spec)
        let dense = report.stages[0].metrics, pruned = report.stages[1].metrics
        #expect(dense["test_rmse"]! < 0.5 * 2.58 && pruned["test_rmse"]! < 0.5 * 2.58)   // the target's sd is about 2.58
        #expect(dense["test_mae"] != nil && dense["test_accuracy"] == nil)
        let header = try readCSV(directory + "/stages.csv").header
        #expect(header.contains("test_rmse") && header.contains("val_rmse") && !header.contains("test_accuracy"))
    }

    /// BasicMotions (6 channels × 100 samples, 4 classes) from aeon's .ts files: whole series
    /// per row, classes in the file's declared order, standardised per channel.
    @Test func basicMotionsSeriesLoadWholeAndPerChannel() throws {
        let train = try TestData.aeonFile("BasicMotions/BasicMotions_TRAIN.ts")
        let test = try TestData.aeonFile("BasicMotions/BasicMotions_TEST.ts")
        let spec = try self.spec(data: "  dataset: ts\n  train: \(train)\n  test: \(test)\n  validation_size: 8",
                                 model: "  architecture: cnn1d\n  channels: [8, 8]").resolved
        let data = try DataLoading.load(spec)
        #expect(data.train.count + data.validation.count == 40 && data.test.count == 40 && data.validation.count == 8)
        #expect(data.train.inputShape == [6, 100] && data.train.classCount == 4)
        #expect(data.classNames == ["Standing", "Running", "Walking", "Badminton"])   // the file's @classLabel order
        for channel in 0..<6 {
            var values: [Double] = []
            for row in 0..<data.train.count { for t in 0..<100 { values.append(Double(data.train.inputs[(row * 6 + channel) * 100 + t])) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            #expect(abs(mean) < 1e-4 && abs(variance - 1) < 1e-3, "channel \(channel)")
        }
    }

    /// The 1-D CNN on BasicMotions: trains, prunes its convolutions, checkpoints them under
    /// their names (BatchNorm statistics included), and reports per stage.
    @Test func cnn1dRunOnSensorSeries() throws {
        let train = try TestData.aeonFile("BasicMotions/BasicMotions_TRAIN.ts")
        let test = try TestData.aeonFile("BasicMotions/BasicMotions_TEST.ts")
        let spec = try self.spec(data: "  dataset: ts\n  train: \(train)\n  test: \(test)\n  validation_size: 8",
                                 model: "  architecture: cnn1d\n  channels: [8, 12]\n  kernel_size: 5", epochs: 15, batch: 8)
        let (directory, report) = try runSlice(spec)
        #expect(report.stages.count == 2 && report.stages[0].testAccuracy > 0.5)
        let conv = report.stages[1].layers.first { $0.layer == "conv2" }!
        #expect(conv.total == 12 * 8 * 5 && conv.rows == 12 && conv.columns == 8 * 5)
        #expect(abs(report.stages[1].sparsity - 0.5) * Double(report.stages[1].prunableWeights) <= 0.5)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoints").sorted()
        let header = try Checkpoint.readHeader(from: directory + "/checkpoints/" + names.last!)
        let shapes = Dictionary(uniqueKeysWithValues: header.tensors.map { ($0.name, $0.shape) })
        #expect(shapes["conv1.weight"] == [8, 6, 5] && shapes["conv2.weight"] == [12, 8, 5] && shapes["bn1.running_mean"] == [8])
        #expect(shapes["fc.weight"] == [4, 12] && shapes["conv2.weight_mask"] == [12, 8, 5])
    }

    /// Any IDX image/label pair by path (here a Fashion-MNIST slice) with LeNet-5, narrowed,
    /// and channel pruning: the compact engine runs the smaller network.
    @Test func idxPairsWithLeNet5AndChannelPruning() throws {
        let data = FashionMNISTSlice.idxDataYAML
        let spec = try self.spec(data: data, model: "  architecture: lenet5\n  channels: [4, 8]\n  hidden_widths: [32, 16]",
                                 stages: "    - { sparsity: 0.5, epochs: 1 }", epochs: 4, batch: 32, extra: "  scope: channels")
        let (_, report) = try runSlice(spec)
        let stage = report.stages[1]
        #expect(stage.layers.first { $0.layer == "conv1" }!.nonzeros == 2 * 25)              // 2 of 4 filters left
        #expect(stage.layers.first { $0.layer == "conv2" }!.nonzeros == 4 * 2 * 25)          // 4 of 8, reading 2 channels
        #expect(stage.layers.first { $0.layer == "fc3" }!.nonzeros == 10 * 8)                // every class, 8 of 16 inputs
        #expect(stage.bytesByEngine["compact"]! < stage.bytesByEngine["dense"]! / 2)
        #expect(report.stages[0].testAccuracy > 0.5)
    }

    /// A malformed CSV stops `topiary run` before anything is written, naming file, line and
    /// column.
    @Test func malformedCSVStopsTheRunNamingLineAndColumn() throws {
        let path = temporaryDirectory("bad-csv") + "/bad.csv"
        writeTestFile(path, Data("x,y,label\n1,2,0\n3,\"4,1\n5,6,1\n".utf8))
        let yaml = """
        name: bad
        data: { dataset: csv, train: \(path), label: label, validation_size: 1 }
        model: { architecture: mlp, hidden_sizes: [4] }
        training: { epochs: 1, batch_size: 2, optimizer: { name: adam, learning_rate: 0.001 } }
        pruning: { scorer: magnitude, stages: [ { sparsity: 0.5, epochs: 1 } ] }
        """
        let out = temporaryDirectory("bad-csv-run") + "/run"
        let result = try runTopiary(["run", writeSpecFile(yaml), "--out", out])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(path):3, column 2:"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
}
