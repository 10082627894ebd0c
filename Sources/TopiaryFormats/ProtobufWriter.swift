import Foundation

/// The protocol-buffer wire format, enough to write ONNX: varints and length-delimited
/// fields (strings, bytes, nested messages). Repeated scalars are written
/// unpacked, one field each, which every proto2 and proto3 reader accepts.
struct ProtobufWriter {
    private(set) var bytes = Data()

    private mutating func key(_ field: Int, wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// int32, int64 and enum fields (negative values as 10-byte two's complement, as protobuf does).
    mutating func integer(_ field: Int, _ value: Int) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func data(_ field: Int, _ value: Data) {
        key(field, wireType: 2)
        varint(UInt64(value.count))
        bytes.append(value)
    }

    mutating func string(_ field: Int, _ value: String) { data(field, Data(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        build(&nested)
        data(field, nested.bytes)
    }
}
