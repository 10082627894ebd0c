import Foundation
import Testing
@testable import TopiaryFormats
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
import TopiaryTensor

/// The safetensors reader and writer: exact round trips, the format's rules enforced with
/// messages, files written and read by the `safetensors` Python package, and a seeded
/// mutation fuzz loop that never crashes.
extension AllTests {
@Suite struct SafetensorsTests {
    func sample(_ seed: UInt64) -> [(name: String, tensor: Tensor)] {
        var g = SeededGenerator(seed: seed)
        return [("fc1.weight", randomTensor([3, 4], &g)), ("fc1.bias", randomTensor([3], &g)), ("empty", Tensor(zeros: [0])),
                ("blocks.0.attn.qkv.weight", randomTensor([2, 2, 2], &g, scale: 100))]
    }

    @Test func roundTripsEveryDType() throws {
        let tensors = sample(1)
        for dtype in SafetensorsFile.DType.allCases {
            let data = SafetensorsFile.encode(tensors, dtype: dtype, metadata: ["format": "pt", "quote\"d": "a\\b"])
            #expect((data.count - 8 - tensors.map { $0.tensor.count * dtype.bytes }.reduce(0, +)) % 8 == 0)   // header padded to 8
            let file = try SafetensorsFile(data: data, path: "memory")
            #expect(file.metadata == ["format": "pt", "quote\"d": "a\\b"])
            #expect(file.entries.map(\.name) == tensors.map(\.name))
            for (name, tensor) in tensors {
                let read = try #require(file.tensor(name))
                #expect(read.shape == tensor.shape)
                for i in 0..<tensor.count {
                    let tolerance: Float = dtype == .f32 ? 0 : (dtype == .f16 ? 1e-3 : 8e-3) * max(1, abs(tensor[i]))
                    #expect(abs(read[i] - tensor[i]) <= tolerance, "\(dtype) \(name)[\(i)]")
                }
            }
        }
    }

    /// Every finite binary16 value survives half → Float → half exactly, and rounding is to
    /// nearest even at the halfway points.
    @Test func halfPrecisionConversionsAreExact() {
        for bits in 0...UInt16.max where (bits & 0x7C00) != 0x7C00 {
            #expect(HalfPrecision.half(HalfPrecision.float(half: bits)) == bits, "half \(bits)")
        }
        #expect(HalfPrecision.half(1 + Float(sign: .plus, exponent: -11, significand: 1)) == 0x3C00)   // halfway: to even (down)
        #expect(HalfPrecision.half(1 + 3 * Float(sign: .plus, exponent: -11, significand: 1)) == 0x3C02) // halfway: to even (up)
        #expect(HalfPrecision.half(70_000) == 0x7C00 && HalfPrecision.bfloat16(1.00390625) == 0x3F80)
    }

    func expectRefused(_ data: Data, mentions: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafetensorsFile(data: data, path: "bad.safetensors")
            Issue.record("accepted a malformed file (\(mentions))", sourceLocation: sourceLocation)
        } catch let error as SafetensorsError {
            #expect(error.localizedDescription.contains(mentions) && error.localizedDescription.contains("bad.safetensors"),
                    "\(error.localizedDescription)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("threw \(error), not a SafetensorsError", sourceLocation: sourceLocation)
        }
    }

    /// A file with `header` as its JSON and `buffer` bytes of data.
    func file(_ header: String, buffer: Int) -> Data {
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: buffer))
        return data
    }

    @Test func everyRuleIsEnforcedWithAMessage() {
        expectRefused(Data([1, 2, 3]), mentions: "shorter than the 8-byte header length")
        var huge = Data(); withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { huge.append(contentsOf: $0) }
        expectRefused(huge, mentions: "over the 100 MB limit")
        expectRefused(file("{}", buffer: 0).prefix(9), mentions: "truncated")
        expectRefused(file("[1]", buffer: 0), mentions: "does not start with '{'")
        expectRefused(file("{\"a\":", buffer: 0), mentions: "not valid JSON")
        let entry = { (name: String, begin: Int, end: Int) in "\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\((end - begin) / 4)],\"data_offsets\":[\(begin),\(end)]}" }
        expectRefused(file("{\(entry("a", 0, 4)),\(entry("a", 4, 8))}", buffer: 8), mentions: "names 'a' twice")
        expectRefused(file("{\(entry("a", 0, 8)),\(entry("b", 4, 12))}", buffer: 12), mentions: "overlapping")
        expectRefused(file("{\(entry("a", 0, 4)),\(entry("b", 8, 12))}", buffer: 12), mentions: "to no tensor")
        expectRefused(file("{\(entry("a", 0, 4))}", buffer: 12), mentions: "after its last tensor")
        expectRefused(file("{\(entry("a", 0, 16))}", buffer: 8), mentions: "outside its 8-byte buffer")
        expectRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", buffer: 8), mentions: "but 8 bytes of data")
        expectRefused(file("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", buffer: 8), mentions: "stores 'a' as I64")
        expectRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", buffer: 4), mentions: "not a list of integers")
        expectRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999,99999999999],\"data_offsets\":[0,4]}}", buffer: 4), mentions: "larger than the file")
        expectRefused(file("{\"__metadata__\":{\"k\":1}}", buffer: 0), mentions: "not a string")
        expectRefused(file(String(repeating: "[", count: 100), buffer: 0), mentions: "start with '{'")
        expectRefused(file("{\"a\":" + String(repeating: "[", count: 100), buffer: 0), mentions: "nesting deeper")
        expectRefused(file("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", buffer: 4), mentions: "repeats the field 'dtype'")
        expectRefused(file("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", buffer: 0), mentions: "names __metadata__ 'k' twice")
        expectRefused(file("{\"\\ud83d\":1}", buffer: 0), mentions: "lone surrogate")
        // A surrogate pair is one code point.
        #expect((try? HeaderJSON.parse(Array("{\"\\ud83d\\ude00\":{}}".utf8))) == .object([(key: "😀", value: .object([]))]))
    }

    /// Files the `safetensors` Python package writes are read alike, and ours load there.
    @Test func interoperatesWithThePythonPackage() throws {
        let python = try TestData.venvPython()
        let folder = temporaryDirectory("safetensors")
        let ours = sample(2)
        try SafetensorsFile.encode(ours, dtype: .f32).write(to: URL(fileURLWithPath: folder + "/ours.safetensors"))
        try SafetensorsFile.encode(ours, dtype: .f16).write(to: URL(fileURLWithPath: folder + "/ours16.safetensors"))
        let script = """
        import sys, numpy as np
        from safetensors.numpy import load_file, save_file
        for name in ["ours", "ours16"]:
            loaded = load_file(sys.argv[1] + "/" + name + ".safetensors")
            for key in sorted(loaded):
                print(name, key, loaded[key].dtype, list(loaded[key].shape), repr(float(loaded[key].astype(np.float64).sum())))
        rng = np.random.default_rng(0)
        save_file({"w": rng.standard_normal((5, 3)).astype(np.float32), "h": rng.standard_normal(7).astype(np.float16)},
                  sys.argv[1] + "/theirs.safetensors", metadata={"format": "np"})
        """
        try script.write(toFile: folder + "/check.py", atomically: true, encoding: .utf8)
        let result = try ChildProcess.run(python, [folder + "/check.py", folder], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        for (prefix, dtype) in [("ours", SafetensorsFile.DType.f32), ("ours16", .f16)] {
            let file = try SafetensorsFile.read(path: folder + "/" + prefix + ".safetensors")
            for (name, tensor) in ours {
                let line = try #require(lines.first { $0.hasPrefix("\(prefix) \(name) ") }, "python did not list \(name)")
                #expect(line.contains(dtype == .f32 ? "float32" : "float16") && line.contains("\(tensor.shape)"))
                let read = try #require(file.tensor(name))
                let sum = (0..<read.count).reduce(0.0) { $0 + Double(read[$1]) }
                let theirs = try #require(Double(line.split(separator: " ").last!))
                #expect(abs(sum - theirs) <= 1e-9 * max(1, abs(sum)), "\(prefix) \(name): \(sum) vs \(theirs)")
            }
        }
        let theirs = try SafetensorsFile.read(path: folder + "/theirs.safetensors")
        #expect(theirs.metadata["format"] == "np" && theirs.entry("w")?.shape == [5, 3] && theirs.entry("h")?.dtype == .f16)
    }

    /// `topiary export --format safetensors` of a pruned stage: PyTorch names and masks the
    /// Python package reads, and a run starting from the file (`model.init_from`) computes the
    /// stage's test loss and accuracy exactly, and keeps its sparsity.
    @Test func exportedWeightsReloadToTheSameModel() throws {
        let (directory, report) = try runSlice(try ExperimentSpec.decode(yaml: sliceSpecYAML))
        let out = temporaryDirectory("export") + "/st"
        let exported = try runTopiary(["export", directory, "--format", "safetensors", "--masks", "--out", out])
        #expect(exported.status == 0, "\(exported.stderr)")
        let file = try SafetensorsFile.read(path: out + "/model.safetensors")
        #expect(Set(file.entries.map(\.name)).isSuperset(of: ["fc1.weight", "fc1.bias", "fc1.weight_mask", "fc3.weight"]))
        #expect(file.metadata["producer"] == "topiary")
        let listed = try ChildProcess.run(try TestData.venvPython(), ["-c", "from safetensors.numpy import load_file; print(sorted(load_file('\(out)/model.safetensors')))"], timeout: 60)
        #expect(listed.status == 0 && listed.stdout.contains("'fc1.weight_mask'"), "\(listed.stderr)")
        let reload = sliceSpecYAML.replacingOccurrences(of: "  hidden_sizes: [32, 16]", with: "  hidden_sizes: [32, 16]\n  init_from: \(out)/model.safetensors")
            .replacingOccurrences(of: "  epochs: 2", with: "  epochs: 0")
            .replacingOccurrences(of: "    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }", with: "    []")
            .replacingOccurrences(of: "  stages:\n    []", with: "  stages: []")
        let (_, reloaded) = try runSlice(try ExperimentSpec.decode(yaml: reload))
        let original = try #require(report.stages.last), again = try #require(reloaded.stages.first)
        #expect(again.metric("test", "loss") == original.metric("test", "loss") && again.metric("test", "accuracy") == original.metric("test", "accuracy"))
        #expect(again.sparsity == original.sparsity && again.sparsity > 0.7)
        // GGUF too: F32 reloads to the same loss; Q8_0 keeps the masks exact (written F32) and
        // the sparsity, and the gguf package reads the names.
        for (type, exact) in [("F32", true), ("Q8_0", false)] {
            let ggufOut = temporaryDirectory("export") + "/gguf"
            let made = try runTopiary(["export", directory, "--format", "gguf", "--dtype", type, "--masks", "--out", ggufOut])
            #expect(made.status == 0, "\(made.stderr)")
            let names = try ChildProcess.run(try TestData.venvPython(), ["-c", "import gguf; print(sorted(t.name for t in gguf.GGUFReader('\(ggufOut)/model.gguf').tensors))"], timeout: 60)
            #expect(names.status == 0 && names.stdout.contains("'fc1.weight_mask'"), "\(names.stderr)")
            let (_, fromGGUF) = try runSlice(try ExperimentSpec.decode(yaml: reload.replacingOccurrences(of: "\(out)/model.safetensors", with: "\(ggufOut)/model.gguf")))
            let stage = try #require(fromGGUF.stages.first)
            #expect(stage.sparsity == original.sparsity, "\(type)")
            if exact { #expect(stage.metric("test", "loss") == original.metric("test", "loss")) }
            else { #expect(abs(stage.metric("test", "accuracy")! - original.metric("test", "accuracy")!) < 0.02) }
        }
        // A damaged file is a spec error naming it, before any training.
        var damaged = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
        damaged[9] = UInt8(ascii: "[")
        try damaged.write(to: URL(fileURLWithPath: out + "/damaged.safetensors"))
        #expect { _ = try runSlice(try ExperimentSpec.decode(yaml: reload.replacingOccurrences(of: "model.safetensors", with: "damaged.safetensors"))) } throws: {
            "\($0)".contains("damaged.safetensors")
        }
    }

    /// Seeded mutations of valid files (bit flips, byte overwrites, truncations, header-length
    /// changes, spliced header text): each is read whole or refused with a SafetensorsError.
    @Test func fuzzedFilesNeverCrash() {
        let seeds = SafetensorsFile.DType.allCases.map { [UInt8](SafetensorsFile.encode(sample(3), dtype: $0, metadata: ["k": "v"])) }
        let inputs = 20_000
        let (accepted, refused) = fuzzReader(seeds: seeds, tokens: Array("{}[],:\"0123456789-eE.tnfu\\ ".utf8) + [0, 0xFF],
                                             inputs: inputs, seed: 77, refusal: SafetensorsError.self) { bytes in
            let file = try SafetensorsFile(data: Data(bytes), path: "fuzz")
            for entry in file.entries { _ = file.tensor(entry.name) }
        }
        print("safetensors fuzz: \(inputs) mutated files, \(accepted) read whole, \(refused) refused with a message")
        #expect(accepted + refused == inputs && refused > inputs / 2)
    }

}
}
