import Foundation
import TopiaryInference
import TopiaryNN
import TopiaryTensor

/// A model as an ONNX file (opset 13, IR version 8), written from Swift with the handful of
/// onnx.proto messages it needs. The graph follows the inference program: Gemm for a Linear
/// (transB), Conv with its padding and strides, BatchNorm already folded into them (or Mul and
/// Add for a stand-alone one), Relu/Tanh/Sigmoid·x/Erf-GELU, MaxPool, AveragePool,
/// GlobalAveragePool + Flatten, Flatten, and Gather for a compacted first layer. Weights are
/// Float32 with the pruned zeros in place (compaction removes whole channels). Input
/// "input" (batch, inputShape…), output "output" (batch, outputs).
public struct ONNXModelExport: Sendable {
    public static let opset = 13
    public static let irVersion = 8
    public let data: Data
    public var bytes: Int { data.count }

    // onnx.proto field numbers and enum values used below.
    private enum Field {
        static let modelIRVersion = 1, modelProducerName = 2, modelProducerVersion = 3, modelGraph = 7, modelOpsetImport = 8
        static let opsetDomain = 1, opsetVersion = 2
        static let graphNode = 1, graphName = 2, graphInitializer = 5, graphInput = 11, graphOutput = 12
        static let nodeInput = 1, nodeOutput = 2, nodeName = 3, nodeOpType = 4, nodeAttribute = 5
        static let attributeName = 1, attributeInt = 3, attributeInts = 8, attributeType = 20
        static let tensorDims = 1, tensorDataType = 2, tensorName = 8, tensorRawData = 9
        static let valueName = 1, valueType = 2, typeTensor = 1, tensorTypeElement = 1, tensorTypeShape = 2
        static let shapeDim = 1, dimValue = 1, dimParam = 2
    }
    private enum AttributeType { static let int = 2, ints = 7 }
    private enum DataType { static let float = 1, int64 = 7 }

    private enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
    }

    private struct Node {
        let op: String
        let inputs: [String]
        let output: String
        let attributes: [Attribute]
    }

    private struct Initializer {
        let name: String
        let dims: [Int]
        let raw: Data
        let type: Int
    }

    public init(_ program: InferenceProgram, modelName: String) throws {
        var nodes: [Node] = []
        var initializers: [Initializer] = []
        var current = "input"
        var rank = 1 + program.inputShape.count   // of the current tensor, batch axis included
        var counter = 0
        func add(_ op: String, _ inputs: [String], _ attributes: [Attribute] = []) {
            counter += 1
            let output = "t\(counter)"
            nodes.append(Node(op: op, inputs: inputs, output: output, attributes: attributes))
            current = output
        }
        func floats(_ name: String, _ dims: [Int], _ values: [Float]) -> String {
            initializers.append(Initializer(name: name, dims: dims, raw: values.withUnsafeBytes { Data($0) }, type: DataType.float))
            return name
        }
        func unsupported(_ step: String) -> ExportError {
            ExportError.unsupportedStep(format: "ONNX", step: step,
                                        hint: "ONNX export handles MLP and CNN models; a layer pruned away entirely exports with --no-compact")
        }

        for (index, step) in program.steps.enumerated() {
            switch step {
            case .matrix(let m):
                let matrix = program.matrices[m]
                guard matrix.rows > 0, matrix.fanIn > 0 else {
                    throw unsupported("\(matrix.name), left with no \(matrix.rows == 0 ? "outputs" : "inputs") by compaction (ONNX has no empty tensors)")
                }
                let weight = matrix.weight.toArray(), bias = matrix.bias.toArray()
                guard (weight + bias).allSatisfy(\.isFinite) else { throw ExportError.nonFinite(tensor: matrix.name) }
                let name = "\(matrix.name).\(m)"
                if let g = matrix.geometry {
                    let w = floats(name + ".weight", [matrix.rows, g.inChannels] + g.kernel, weight)
                    let b = floats(name + ".bias", [matrix.rows], bias)
                    add("Conv", [current, w, b], [.ints("kernel_shape", g.kernel), .ints("strides", g.stride), .ints("pads", g.padding + g.padding)])
                } else {
                    guard rank == 2 else { throw unsupported("\(matrix.name): a Linear applied to a rank-\(rank) tensor") }
                    let w = floats(name + ".weight", [matrix.rows, matrix.fanIn], weight)
                    let b = floats(name + ".bias", [matrix.rows], bias)
                    add("Gemm", [current, w, b], [.int("transB", 1)])
                }
                if matrix.relu { add("Relu", [current]) }
            case .activation(let activation):
                switch activation {
                case .relu: add("Relu", [current])
                case .tanh: add("Tanh", [current])
                case .silu:
                    let x = current
                    add("Sigmoid", [x])
                    add("Mul", [x, current])
                case .gelu:
                    // x · ½ · (1 + erf(x / √2)), GELU with the exact normal CDF.
                    let x = current
                    add("Div", [x, floats("gelu\(index).sqrt2", [], [Float(2).squareRoot()])])
                    add("Erf", [current])
                    add("Add", [current, floats("gelu\(index).one", [], [1])])
                    add("Mul", [x, current])
                    add("Mul", [current, floats("gelu\(index).half", [], [0.5])])
                case .geluTanh: throw unsupported("the activation gelu_tanh")
                }
            case .scale(let factor):
                add("Mul", [current, floats("scale\(index).factor", [], [factor])])
            case .channelAffine(let scale, let shift):
                let dims = [scale.count] + Array(repeating: 1, count: rank - 2)
                add("Mul", [current, floats("affine\(index).scale", dims, scale)])
                add("Add", [current, floats("affine\(index).shift", dims, shift)])
            case .maxPool(let g), .averagePool(let g):
                let op: String
                if case .maxPool = step { op = "MaxPool" } else { op = "AveragePool" }
                add(op, [current], [.ints("kernel_shape", g.kernel), .ints("strides", g.stride)])
            case .globalAveragePool:
                add("GlobalAveragePool", [current])
                add("Flatten", [current], [.int("axis", 1)])
                rank = 2
            case .flatten:
                add("Flatten", [current], [.int("axis", 1)])
                rank = 2
            case .gather(let columns):
                let indices = columns.map { Int64($0).littleEndian }.withUnsafeBytes { Data($0) }
                initializers.append(Initializer(name: "gather\(index).indices", dims: [columns.count], raw: indices, type: DataType.int64))
                add("Gather", [current, "gather\(index).indices"], [.int("axis", 1)])
            case .residual: throw unsupported("a residual block")
            case .layerNorm: throw unsupported("a LayerNorm")
            case .tokenEmbedding, .positionEmbedding, .attention, .tiedHead: throw unsupported("a transformer step")
            case .rmsNorm, .groupedAttention, .gatedMLP: throw unsupported("a Llama step")
            }
            if case .matrix(let m) = step, program.matrices[m].geometry != nil { rank = 2 + program.matrices[m].geometry!.kernel.count }
        }
        add("Identity", [current])
        let last = nodes.removeLast()
        nodes.append(Node(op: last.op, inputs: last.inputs, output: "output", attributes: last.attributes))

        var model = ProtobufWriter()
        model.integer(Field.modelIRVersion, ONNXModelExport.irVersion)
        model.string(Field.modelProducerName, "topiary")
        model.string(Field.modelProducerVersion, "1")
        model.message(Field.modelGraph) { graph in
            graph.string(Field.graphName, modelName)
            for (index, node) in nodes.enumerated() {
                graph.message(Field.graphNode) { n in
                    for input in node.inputs { n.string(Field.nodeInput, input) }
                    n.string(Field.nodeOutput, node.output)
                    n.string(Field.nodeName, "\(node.op.lowercased())_\(index)")
                    n.string(Field.nodeOpType, node.op)
                    for attribute in node.attributes {
                        n.message(Field.nodeAttribute) { a in
                            switch attribute {
                            case .int(let name, let value):
                                a.string(Field.attributeName, name)
                                a.integer(Field.attributeInt, value)
                                a.integer(Field.attributeType, AttributeType.int)
                            case .ints(let name, let values):
                                a.string(Field.attributeName, name)
                                for value in values { a.integer(Field.attributeInts, value) }
                                a.integer(Field.attributeType, AttributeType.ints)
                            }
                        }
                    }
                }
            }
            for initializer in initializers {
                graph.message(Field.graphInitializer) { t in
                    for dim in initializer.dims { t.integer(Field.tensorDims, dim) }
                    t.integer(Field.tensorDataType, initializer.type)
                    t.string(Field.tensorName, initializer.name)
                    t.data(Field.tensorRawData, initializer.raw)
                }
            }
            func value(_ field: Int, _ name: String, _ dims: [Int]) {
                graph.message(field) { v in
                    v.string(Field.valueName, name)
                    v.message(Field.valueType) { type in
                        type.message(Field.typeTensor) { tensor in
                            tensor.integer(Field.tensorTypeElement, DataType.float)
                            tensor.message(Field.tensorTypeShape) { shape in
                                shape.message(Field.shapeDim) { $0.string(Field.dimParam, "batch") }
                                for dim in dims { shape.message(Field.shapeDim) { $0.integer(Field.dimValue, dim) } }
                            }
                        }
                    }
                }
            }
            value(Field.graphInput, "input", program.inputShape)
            value(Field.graphOutput, "output", rank == 2 ? [program.outputShape.reduce(1, *)] : program.outputShape)
        }
        model.message(Field.modelOpsetImport) { opset in
            opset.string(Field.opsetDomain, "")
            opset.integer(Field.opsetVersion, ONNXModelExport.opset)
        }
        data = model.bytes
    }

    /// Writes model.onnx into `directory` (created), complete or absent.
    public func write(to directory: String) throws {
        try ExportFolder.write(["model.onnx": data], to: directory)
    }
}
