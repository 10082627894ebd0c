// `import Topiary` in a study script brings every public module: spec types, the runner,
// reports, studies, models and layers, scorers, optimizers, data readers and tensors.
@_exported import TopiaryData
@_exported import TopiaryFormats
@_exported import TopiaryInference
@_exported import TopiaryMetrics
@_exported import TopiaryNN
@_exported import TopiaryOptim
@_exported import TopiaryReport
@_exported import TopiaryRun
@_exported import TopiarySparsity
@_exported import TopiarySpec
@_exported import TopiaryStudy
@_exported import TopiaryTensor
@_exported import TopiaryTraining
