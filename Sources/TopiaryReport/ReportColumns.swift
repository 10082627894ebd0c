import TopiaryInference
import TopiaryMetrics
import TopiarySparsity

/// Engine names in report columns, in a fixed order.
public enum InferenceEngineNames {
    /// Whole-model engines (nm columns stay empty unless the masks are N:M).
    public static let whole = EngineMeasurement.wholeEngines.map(\.rawValue)
    public static let perLayer = EngineMeasurement.perLayerEngines.map(\.rawValue)
    public static let bytes = whole
    /// Exact engines other than dense: what a sparse model can beat dense with.
    public static let exactSparse = EngineMeasurement.wholeEngines.filter { $0.isExact && $0 != .dense }.map(\.rawValue)
    public static let exactSparsePerLayer = EngineMeasurement.perLayerEngines.filter { $0.isExact && $0 != .dense }.map(\.rawValue)
}

/// The CSV columns, defined once: the writers, `topiary columns` and the README's table all
/// come from these lists, so the documentation cannot drift from the files.
public struct ReportColumn<Row>: Sendable {
    public let name: String
    public let meaning: String
    let value: @Sendable (Row) -> String
}

public enum ReportColumns {
    /// stages.csv: one row per stage (0 = dense). The task's metrics appear per split
    /// (`test_<metric>`, `val_<metric>`, and the int8 model's deciding metric). Latency columns
    /// repeat for every batch size in `measurement.latency_batch_sizes` as
    /// latency_b{batch}_{median,p95,min}_us.
    /// - Parameter evaluations: further held-out sets (`data.evaluate`) with their metric columns.
    public static func stages(latencyBatchSizes: [Int], task: TaskRecord = .classification,
                              evaluations: [(name: String, source: String)] = [], device: Bool = false) -> [ReportColumn<StageRecord>] {
        var columns: [ReportColumn<StageRecord>] = [
            .init(name: "stage", meaning: "0 = after dense training; k = after prune stage k and its retraining") { "\($0.stage)" },
            .init(name: "status", meaning: "accepted, or rejected (an adaptive attempt outside the tolerance, rolled back)") { $0.status.rawValue },
            .init(name: "target_sparsity", meaning: "fraction of prunable weights the schedule asked to remove") { format($0.targetSparsity) },
            .init(name: "sparsity", meaning: "realised fraction of prunable weights that are zero (checked against the target)") { format($0.sparsity) },
            .init(name: "nonzeros", meaning: "prunable weights still alive") { "\($0.nonzeros)" },
            .init(name: "prunable_weights", meaning: "weights pruning may remove (biases and excluded layers not counted)") { "\($0.prunableWeights)" },
        ]
        for (split, place) in [("test", "on the test set (reporting only, never used for decisions)"),
                               ("val", "on the validation split carved from the training set")]
                               + evaluations.map({ ($0.name, "on held-out text of \($0.source) (reporting only)") }) {
            for metric in task.metrics {
                let key = "\(split)_\(metric.name)"
                columns.append(.init(name: key, meaning: "\(metric.meaning) \(place)") { $0.metrics[key].map(format) ?? "" })
            }
        }
        columns += [
            .init(name: "train_loss", meaning: "mean training loss over this stage's last epoch (empty with 0 epochs)") { $0.trainLoss.map(format) ?? "" },
            .init(name: "epochs", meaning: "training epochs in this stage (dense epochs for stage 0)") { "\($0.epochs)" },
            .init(name: "train_epoch_seconds", meaning: "mean wall-clock seconds per training epoch in this stage") { $0.trainEpochSeconds.map(format) ?? "" },
            .init(name: "train_seconds", meaning: "wall-clock seconds of all training in this stage") { format($0.trainSeconds) },
            .init(name: "score_seconds", meaning: "seconds spent computing importance scores") { format($0.scoreSeconds) },
            .init(name: "select_seconds", meaning: "seconds spent choosing and applying the new masks") { format($0.selectSeconds) },
            .init(name: "trainable_parameters", meaning: "parameters this stage's optimizer updated: every trainable weight, or the adapters' A and B") {
                $0.training.map { String($0.trainableParameters) } ?? ""
            },
            .init(name: "optimizer_state_bytes", meaning: "bytes of the optimizer's state in this stage (Adam: 2 × 4 bytes per trained parameter)") {
                $0.training.map { String($0.optimizerStateBytes) } ?? ""
            },
            .init(name: "step_seconds", meaning: "mean wall-clock seconds per optimizer step in this stage") { $0.training?.stepSeconds.map(format) ?? "" },
            .init(name: "adapter_rank", meaning: "LoRA rank r of this stage's adapters (empty without adapters:)") {
                $0.training?.adapters.map { String($0.rank) } ?? ""
            },
            .init(name: "unmasked_merge_sparsity", meaning: "sparsity if the adapters were merged ignoring the masks (W₀ + s·B·A): what a plain LoRA merge leaves") {
                $0.training?.adapters.map { format($0.unmaskedMergeSparsity) } ?? ""
            },
        ]
        for metric in task.metrics {
            let key = "val_\(metric.name)"
            columns.append(.init(name: "unmasked_merge_\(key)", meaning: "\(metric.meaning) on the validation split after the unmasked merge") {
                $0.training?.adapters?.unmaskedMergeMetrics[key].map(format) ?? ""
            })
        }
        for batch in latencyBatchSizes {
            for (suffix, what, pick) in latencyStatistics {
                columns.append(.init(name: "latency_b\(batch)_\(suffix)_us",
                                     meaning: "\(what) µs of one dense forward pass of the whole model at batch \(batch) (the same as latency_b\(batch)_dense_\(suffix)_us)") {
                    $0.latency(batch: batch).map { format($0[keyPath: pick]) } ?? ""
                })
            }
        }
        for batch in latencyBatchSizes {
            for engine in wholeModelEngines {
                for (suffix, what, pick) in latencyStatistics {
                    columns.append(.init(name: "latency_b\(batch)_\(engine)_\(suffix)_us",
                                         meaning: "\(what) µs of the whole model at batch \(batch) with the \(engine) engine") {
                        $0.latency(batch: batch, engine: engine).map { format($0[keyPath: pick]) } ?? ""
                    })
                }
            }
            columns.append(.init(name: "best_engine_b\(batch)", meaning: "engine with the lowest median whole-model latency at batch \(batch)") {
                $0.bestEngine[String(batch)] ?? ""
            })
            columns.append(.init(name: "auto_engines_b\(batch)", meaning: "the auto mode's per-layer engines at batch \(batch), in layer order, joined by +") {
                $0.autoEngines[String(batch)]?.joined(separator: "+") ?? ""
            })
        }
        for engine in InferenceEngineNames.bytes {
            columns.append(.init(name: "bytes_\(engine)", meaning: "bytes of the model in the \(engine) format (values, indices, scales, biases)") {
                $0.bytesByEngine[engine].map(String.init) ?? ""
            })
        }
        let int8Key = "int8_test_\(task.deciding)"
        columns += [
            .init(name: int8Key, meaning: "test \(task.deciding) with per-row symmetric int8 weights") { $0.metrics[int8Key].map(format) ?? "" },
            .init(name: "flops_dense", meaning: "FLOPs per sample of the prunable matrices, dense: 2 × weights × positions (a convolution: 2·Cout·Cin·k²·Hout·Wout)") { "\($0.flopsDense)" },
            .init(name: "flops_effective", meaning: "FLOPs per sample counting surviving weights only (2 × nonzeros × positions)") { "\($0.flopsEffective)" },
            .init(name: "latency_threads", meaning: "threads the latencies were measured with (--latency-threads)") { "\($0.latencyThreads)" },
        ]
        if device { columns += deviceColumns(task: task) }
        if task.kind == TaskRecord.languageModelKind {
            for engine in wholeModelEngines {
                columns.append(.init(name: "gen_tokens_per_s_\(engine)",
                                     meaning: "new tokens per second generating at batch 1 with the KV cache, \(engine) engine (prompt pass included; median of measurement.generation_repetitions)") {
                    $0.generation?.tokensPerSecond[engine].map(format) ?? ""
                })
            }
            columns += [
                .init(name: "kv_cache_bytes", meaning: "bytes of the KV cache at batch 1 over the whole context (2 × layers × context × width × 4)") {
                    $0.generation.map { String($0.kvCacheBytes) } ?? ""
                },
                .init(name: "kv_cache_bytes_compact", meaning: "the compact engine's KV cache at batch 1 over the whole context: smaller by every pruned head") {
                    $0.generation?.compactKVCacheBytes.map(String.init) ?? ""
                },
                .init(name: "flops_per_token_dense", meaning: "FLOPs per generated token: 2 × every matrix weight, the tied head, attention 4·C·L per layer averaged over the context") {
                    $0.generation.map { String($0.flopsPerTokenDense) } ?? ""
                },
                .init(name: "flops_per_token_effective", meaning: "flops_per_token_dense counting surviving matrix weights only") {
                    $0.generation.map { String($0.flopsPerTokenEffective) } ?? ""
                },
            ]
        }
        columns += [
            .init(name: "dense_bytes", meaning: "bytes of all parameters stored dense as Float32") { "\($0.denseBytes)" },
            .init(name: "csr_bytes", meaning: "bytes with pruned layers in CSR (Float32 values, 16-bit column indices, 32-bit row pointers), the rest dense") { "\($0.csrBytes)" },
            .init(name: "peak_rss_bytes", meaning: "peak resident memory of the process so far") { "\($0.peakRSSBytes)" },
        ]
        return columns
    }

    /// layers.csv: one row per stage × weight matrix, with this layer's latency per engine.
    public static func layers(latencyBatchSizes: [Int]) -> [ReportColumn<(stage: Int, layer: LayerRecord)>] {
        var columns = baseLayerColumns
        for batch in latencyBatchSizes {
            for engine in InferenceEngineNames.perLayer {
                for (suffix, what, pick) in latencyStatistics {
                    columns.append(.init(name: "latency_b\(batch)_\(engine)_\(suffix)_us",
                                         meaning: "\(what) µs of this layer alone at batch \(batch) with the \(engine) engine") {
                        $0.layer.latency(batch: batch, engine: engine).map { format($0[keyPath: pick]) } ?? ""
                    })
                }
            }
        }
        for engine in InferenceEngineNames.perLayer {
            columns.append(.init(name: "bytes_\(engine)", meaning: "bytes of this layer in the \(engine) format") {
                $0.layer.bytesByEngine[engine].map(String.init) ?? ""
            })
        }
        return columns
    }

    /// scores.csv (with pruning.compare_scorers): one row per stage × layer × scorer pair.
    public static let scores: [ReportColumn<(stage: Int, agreement: ScoreAgreement)>] = [
        .init(name: "stage", meaning: "the stage whose pruning the scores were computed for") { "\($0.stage)" },
        .init(name: "layer", meaning: "layer name") { $0.agreement.layer },
        .init(name: "scorer_a", meaning: "first scorer of the pair") { $0.agreement.scorerA },
        .init(name: "scorer_b", meaning: "second scorer of the pair") { $0.agreement.scorerB },
        .init(name: "spearman", meaning: "Spearman rank correlation of the two scorers over the layer's alive weights") { format($0.agreement.spearman) },
        .init(name: "jaccard", meaning: "overlap |A∩B|/|A∪B| of the weights each would keep at the stage's target") { format($0.agreement.jaccard) },
    ]

    static let latencyStatistics: [(String, String, any KeyPath<LatencyRecord, Double> & Sendable)] = [
        ("median", "median", \.medianMicroseconds), ("p95", "95th percentile", \.p95Microseconds), ("min", "minimum", \.minMicroseconds)]
    static var wholeModelEngines: [String] { InferenceEngineNames.whole + ["auto"] }

    static let baseLayerColumns: [ReportColumn<(stage: Int, layer: LayerRecord)>] = [
        .init(name: "stage", meaning: "as in stages.csv") { "\($0.stage)" },
        .init(name: "layer", meaning: "layer name (fc1, conv2, blocks.0.attn.qkv, …)") { $0.layer.layer },
        .init(name: "parameter", meaning: "parameter name (fc1.weight)") { $0.layer.parameter },
        .init(name: "rows", meaning: "output features or channels (rows of the matrix pruning sees)") { "\($0.layer.rows)" },
        .init(name: "columns", meaning: "fan-in: input features, or in_channels × kernel positions of a convolution") { "\($0.layer.columns)" },
        .init(name: "total", meaning: "weights in the matrix") { "\($0.layer.total)" },
        .init(name: "nonzeros", meaning: "weights alive") { "\($0.layer.nonzeros)" },
        .init(name: "sparsity", meaning: "realised fraction of this matrix that is zero") { format($0.layer.sparsity) },
        .init(name: "excluded", meaning: "true when the spec excludes the layer from pruning") { "\($0.layer.excluded)" },
        .init(name: "dense_bytes", meaning: "bytes of the matrix as dense Float32") { "\($0.layer.denseBytes)" },
        .init(name: "csr_bytes", meaning: "bytes of the matrix in CSR") { "\($0.layer.csrBytes)" },
    ]

    /// Shortest text that reads back as the same Double; "nan" for any NaN (Swift writes a
    /// negative one as "-nan", which no CSV reader takes).
    static func format(_ value: Double) -> String { value.isNaN ? "nan" : "\(value)" }

    static func csv<Row>(_ columns: [ReportColumn<Row>], _ rows: [Row]) -> String {
        var text = columns.map(\.name).joined(separator: ",") + "\n"
        for row in rows { text += columns.map { $0.value(row) }.joined(separator: ",") + "\n" }
        return text
    }

    /// A Markdown table of column names and meanings (README, notebooks-out/README.md).
    public static func markdown<Row>(_ columns: [ReportColumn<Row>]) -> String {
        "| column | meaning |\n|---|---|\n" + columns.map { "| `\($0.name)` | \($0.meaning) |" }.joined(separator: "\n") + "\n"
    }
}

extension ReportColumns {
    /// With `device:` in the spec: the stage exported as C and checked (`DeviceRecord`).
    static func deviceColumns(task: TaskRecord) -> [ReportColumn<StageRecord>] {
        /// A column of the stage's device record, empty for a stage without one.
        func column(_ name: String, _ meaning: String, _ value: @escaping @Sendable (DeviceRecord) -> String?) -> ReportColumn<StageRecord> {
            .init(name: name, meaning: meaning) { $0.device.flatMap(value) ?? "" }
        }
        let metric = task.deciding
        var columns: [ReportColumn<StageRecord>] = []
        for precision in ["float32", "int8"] {
            columns.append(column("device_flash_bytes_\(precision)", "flash of the \(precision) C export compiled for device.target: text (code, const weights) + data of the model's object file") {
                $0.footprints[precision].map { String($0.flashBytes) }
            })
            columns.append(column("device_ram_bytes_\(precision)", "RAM of the \(precision) C export: data + bss (the arena) + the stack estimate from -fstack-usage") {
                $0.footprints[precision].map { String($0.ramBytes) }
            })
        }
        columns += [
            column("device_fits", "whether device.precision's flash and RAM are within device.flash_kb and device.ram_kb") { String($0.fitsBudget) },
            column("c_test_\(metric)", "test \(metric) of the C export (device.precision) compiled for this machine, on the whole test set") { format($0.hostTestMetric) },
            column("c_engine_agreement", "fraction of test rows whose largest C output is the engine's (same precision)") { format($0.engineAgreement) },
            column("c_max_abs_difference", "largest |C output − engine output| over the test set") { String(format: "%.3g", $0.maxAbsDifference) },
            column("device_rows", "test rows run on the emulated device (the first of the test set)") { String($0.deviceRows) },
            column("device_test_\(metric)", "test \(metric) of the emulated device on device_rows rows") { format($0.deviceTestMetric) },
            column("engine_rows_test_\(metric)", "test \(metric) of Topiary's engine (same precision) on the same device_rows rows") { format($0.engineRowsTestMetric) },
            column("device_matches_host", "whether every output of the emulated device equals the host build's, bit for bit") { String($0.deviceMatchesHost) },
            column("instructions_per_inference", "x86-64 instructions per inference of the host build under valgrind (deterministic cost proxy)") {
                String(format: "%.0f", $0.instructionsPerInference)
            },
        ]
        return columns
    }
}
