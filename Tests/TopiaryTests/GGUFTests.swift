import Foundation
import Testing
@testable import TopiaryFormats
import TopiaryTensor

/// GGUF v3: files the `gguf` Python package (llama.cpp's) writes — every metadata type, tensors
/// in F32, F16, BF16, Q8_0, Q4_0, Q4_1 — read and dequantized as it dequantizes them; ours read
/// back there; malformed files refused with messages; fuzzed files never crash.
extension AllTests {
@Suite struct GGUFTests {
    static let writer = """
    import sys, numpy as np, gguf
    from gguf import GGMLQuantizationType as Q
    out = sys.argv[1]
    w = gguf.GGUFWriter(out + "/theirs.gguf", arch="llama")
    w.add_uint8("t.u8", 7); w.add_int8("t.i8", -7); w.add_uint16("t.u16", 65000); w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -2000000000); w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True); w.add_string("t.str", "héllo ✓"); w.add_array("t.arr", [1, 2, 3])
    w.add_array("t.strs", ["a", "bb"]); w.add_uint64("t.u64", 2**40); w.add_int64("t.i64", -2**40); w.add_float64("t.f64", 2.25)
    rng = np.random.default_rng(0)
    for name, q in [("f32", Q.F32), ("f16", Q.F16), ("bf16", Q.BF16), ("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1)]:
        x = rng.standard_normal((3, 64)).astype(np.float32)
        if q == Q.F32:
            w.add_tensor(name, x)
        else:
            data = gguf.quants.quantize(x, q)
            w.add_tensor(name, data, raw_dtype=q)
            x = gguf.quants.dequantize(data, q)
        x.astype("<f4").tofile(out + "/" + name + ".bin")
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    """

    static let reader = """
    import sys, numpy as np, gguf
    r = gguf.GGUFReader(sys.argv[1])
    for t in r.tensors:
        x = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype("<f4")
        x.tofile(sys.argv[2] + "/" + t.name + ".py.bin")
        print(t.name, t.tensor_type.name, [int(d) for d in t.shape])
    f = r.fields["general.architecture"]
    print("arch", bytes(f.parts[f.data[0]]).decode())
    """

    func floats(_ path: String) throws -> [Float] {
        try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test func readsWhatLlamaCppsPackageWrites() throws {
        let folder = temporaryDirectory("gguf")
        try Self.writer.write(toFile: folder + "/make.py", atomically: true, encoding: .utf8)
        let made = try ChildProcess.run(try TestData.venvPython(), [folder + "/make.py", folder], timeout: 120)
        #expect(made.status == 0, "\(made.stderr)")
        let file = try GGUFFile.read(path: folder + "/theirs.gguf")
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.value("t.u8") == .uint8(7) && file.value("t.i8") == .int8(-7) && file.value("t.u16") == .uint16(65000))
        #expect(file.value("t.i16") == .int16(-30000) && file.value("t.u32") == .uint32(4_000_000_000) && file.value("t.i32") == .int32(-2_000_000_000))
        #expect(file.value("t.f32") == .float32(1.5) && file.value("t.bool") == .bool(true) && file.value("t.str") == .string("héllo ✓"))
        #expect(file.value("t.arr") == .array([.int32(1), .int32(2), .int32(3)]) && file.value("t.strs") == .array([.string("a"), .string("bb")]))
        #expect(file.value("t.u64") == .uint64(1 << 40) && file.value("t.i64") == .int64(-(1 << 40)) && file.value("t.f64") == .float64(2.25))
        #expect(file.value("general.architecture") == .string("llama"))
        for name in ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"] {
            let info = try #require(file.tensorInfo(name))
            #expect(info.dimensions == [64, 3] && info.shape == [3, 64], "\(name)")
            let ours = try #require(file.tensor(name)).toArray()
            #expect(ours == (try floats(folder + "/" + name + ".bin")), "\(name): not the package's dequantization")
        }
    }

    @Test func writesWhatLlamaCppsPackageReads() throws {
        let folder = temporaryDirectory("gguf")
        var g = SeededGenerator(seed: 5)
        let tensors = [("blk.0.attn_q.weight", randomTensor([4, 64], &g)), ("token_embd.weight", randomTensor([6, 32], &g)),
                       ("output_norm.weight", randomTensor([40], &g))]   // 40: not whole Q8_0 blocks, written F32
        for type in [GGUFFile.TensorType.f32, .f16, .q8_0] {
            let data = GGUFFile.encode(metadata: [("general.architecture", .string("llama")), ("general.alignment", .uint32(32)),
                                                  ("llama.context_length", .uint32(2048)), ("tokenizer.ggml.tokens", .array([.string("a"), .string("b")]))],
                                       tensors: tensors, type: type)
            try data.write(to: URL(fileURLWithPath: folder + "/ours.gguf"))
            try Self.reader.write(toFile: folder + "/read.py", atomically: true, encoding: .utf8)
            let read = try ChildProcess.run(try TestData.venvPython(), [folder + "/read.py", folder + "/ours.gguf", folder], timeout: 120)
            #expect(read.status == 0, "\(read.stderr)")
            #expect(read.stdout.contains("arch llama") && read.stdout.contains("blk.0.attn_q.weight \(type.name) [64, 4]"), "\(read.stdout)")
            #expect(read.stdout.contains("output_norm.weight \(type == .q8_0 ? "F32" : type.name) [40]"))
            let back = try GGUFFile(data: data, path: "ours.gguf")
            for (name, tensor) in tensors {
                let theirs = try floats(folder + "/" + name + ".py.bin"), ours = try #require(back.tensor(name)).toArray()
                #expect(theirs == ours, "\(type.name) \(name): Python and Topiary dequantize differently")
                let tolerance: Float = type == .f32 ? 0 : type == .f16 ? 1e-3 : 0.02
                for i in 0..<tensor.count { #expect(abs(ours[i] - tensor[i]) <= tolerance * max(1, abs(tensor[i])), "\(type.name) \(name)[\(i)]") }
            }
        }
    }

    /// The real model the set-up fetches: SmolLM2-135M-Instruct, Q4_1 (token embeddings Q8_0),
    /// read whole — Llama hyperparameters, the BPE vocabulary and merges, 272 tensors — with
    /// its Q4_1 and Q8_0 tensors dequantized as the gguf package dequantizes them.
    @Test func readsSmolLM2() throws {
        let path = try TestData.smolLM2()
        let file = try GGUFFile.read(path: path)
        #expect(file.value("general.architecture") == .string("llama") && file.tensors.count == 272)
        #expect(file.value("llama.block_count")?.integer == 30 && file.value("llama.embedding_length")?.integer == 576)
        #expect(file.value("llama.attention.head_count")?.integer == 9 && file.value("llama.attention.head_count_kv")?.integer == 3)
        #expect(file.value("llama.rope.freq_base") == .float32(100_000) && file.value("tokenizer.ggml.model") == .string("gpt2"))
        guard case .array(let tokens) = file.value("tokenizer.ggml.tokens"), case .array(let merges) = file.value("tokenizer.ggml.merges") else {
            Issue.record("no vocabulary or merges")
            return
        }
        #expect(tokens.count == 49_152 && merges.count == 48_900)
        let q = try #require(file.tensorInfo("blk.0.attn_q.weight")), embeddings = try #require(file.tensorInfo("token_embd.weight"))
        #expect(q.type == .q4_1 && q.shape == [576, 576] && embeddings.type == .q8_0 && embeddings.shape == [49_152, 576])
        let folder = temporaryDirectory("smollm2")
        let script = """
        import sys, numpy as np, gguf
        r = gguf.GGUFReader(sys.argv[1])
        for t in r.tensors:
            if t.name in ("blk.0.attn_q.weight", "blk.29.ffn_down.weight", "token_embd.weight", "output_norm.weight"):
                gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype("<f4").tofile(sys.argv[2] + "/" + t.name + ".bin")
        """
        try script.write(toFile: folder + "/dump.py", atomically: true, encoding: .utf8)
        let dumped = try ChildProcess.run(try TestData.venvPython(), [folder + "/dump.py", path, folder], timeout: 300)
        #expect(dumped.status == 0, "\(dumped.stderr)")
        for name in ["blk.0.attn_q.weight", "blk.29.ffn_down.weight", "token_embd.weight", "output_norm.weight"] {
            #expect(try #require(file.tensor(name)).toArray() == (try floats(folder + "/" + name + ".bin")), "\(name)")
        }
    }

    func expectRefused(_ bytes: [UInt8], mentions: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try GGUFFile(data: Data(bytes), path: "bad.gguf")
            Issue.record("accepted a malformed file (\(mentions))", sourceLocation: sourceLocation)
        } catch let error as GGUFError {
            #expect(error.localizedDescription.contains(mentions) && error.localizedDescription.contains("bad.gguf"), "\(error.localizedDescription)",
                    sourceLocation: sourceLocation)
        } catch {
            Issue.record("threw \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func malformedFilesAreRefusedWithMessages() {
        var g = SeededGenerator(seed: 6)
        let good = [UInt8](GGUFFile.encode(metadata: [("k", .string("v"))], tensors: [("w", randomTensor([2, 32], &g))], type: .q8_0))
        expectRefused(Array("GGML".utf8) + good.dropFirst(4), mentions: "magic GGUF")
        var version = good; version[4] = 2
        expectRefused(version, mentions: "version 2")
        expectRefused(Array(good.prefix(30)), mentions: "truncated")
        var count = good; count[8] = 0xFF; count[12] = 0xFF
        expectRefused(count, mentions: "more than the file could hold")
        var type = good
        // The tensor info: name, u32 dimensions, 2 × u64 ne, then the u32 type and the u64 offset.
        if let position = Self.find(Array("w".utf8), in: good).map({ $0 + 1 + 4 + 16 }) {
            type[position] = 99
            expectRefused(type, mentions: "ggml type 99")
            var misaligned = good
            misaligned[position + 4] = 3
            expectRefused(misaligned, mentions: "not a multiple of the alignment")
        } else {
            Issue.record("tensor name not found in the encoded file")
        }
        expectRefused(Array(good.prefix(good.count - 40)), mentions: "truncated")
        if let position = Self.find(Array("w".utf8), in: good).map({ $0 + 1 + 4 }) {
            var zero = good
            for i in 0..<8 { zero[position + i] = 0 }
            expectRefused(zero, mentions: "a dimension of 0")
        }
        // Writing Q8_0 never traps: NaN, infinities and blocks of tiny values become codes in ±127.
        let hostile = Tensor(shape: [2, 32], values: [.nan, .infinity, -.infinity] + Array(repeating: 1, count: 29) + Array(repeating: 1e-40, count: 32))
        let written = GGUFFile.encode(metadata: [], tensors: [("h", hostile)], type: .q8_0)
        #expect((try? GGUFFile(data: written, path: "hostile"))?.tensors.count == 1)
    }

    /// Index of `needle` after the header (the tensor info's name), for targeted corruption.
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count > needle.count else { return nil }
        for start in stride(from: haystack.count - needle.count, through: 24, by: -1) where Array(haystack[start..<(start + needle.count)]) == needle {
            // The name's 8-byte length precedes it.
            if start >= 8, haystack[start - 8] == UInt8(needle.count) { return start }
        }
        return nil
    }

    /// Seeded mutations of valid files of every writable type: read whole or refused, never a crash.
    @Test func fuzzedFilesNeverCrash() {
        var g = SeededGenerator(seed: 7)
        let seeds = [GGUFFile.TensorType.f32, .f16, .q8_0].map { type in
            [UInt8](GGUFFile.encode(metadata: [("a", .array([.uint32(1), .uint32(2)])), ("s", .string("x")), ("general.alignment", .uint32(32))],
                                    tensors: [("w", randomTensor([2, 32], &g)), ("b", randomTensor([32], &g))], type: type))
        }
        let inputs = 20_000
        let (accepted, refused) = fuzzReader(seeds: seeds, tokens: [0, 0xFF, 0x7F, 0x80, 1, 9, 12, 30], inputs: inputs, seed: 8,
                                             refusal: GGUFError.self) { bytes in
            let file = try GGUFFile(data: Data(bytes), path: "fuzz")
            for info in file.tensors { _ = file.tensor(info.name) }
        }
        print("GGUF fuzz: \(inputs) mutated files, \(accepted) read whole, \(refused) refused with a message")
        #expect(accepted + refused == inputs && refused > inputs / 4)
    }

}
}
