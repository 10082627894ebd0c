import Foundation
import TopiaryNN
import TopiaryTensor

/// Bytes a model's parameters take in a storage format.
public enum MemoryFootprint {
    /// Every parameter as dense Float32.
    public static func denseBytes(_ parameters: [Parameter]) -> Int {
        parameters.reduce(0) { $0 + 4 * $1.count }
    }

    /// CSR for the pruned matrices (Float32 values, 16-bit column indices where the matrix
    /// has at most 65,536 columns, else 32-bit, 32-bit row pointers), every other parameter
    /// dense.
    public static func csrBytes(_ parameters: [Parameter], sparse matrices: [PrunableMatrix]) -> Int {
        let byOffset = Dictionary(uniqueKeysWithValues: matrices.map { ($0.parameter.offset, $0) })
        return parameters.reduce(0) { sum, parameter in
            guard let matrix = byOffset[parameter.offset] else { return sum + 4 * parameter.count }
            return sum + csrBytes(rows: matrix.rows, columns: matrix.fanIn, nonzeros: matrix.aliveCount)
        }
    }

    public static func csrBytes(rows: Int, columns: Int, nonzeros: Int) -> Int {
        CSRMatrix.bytes(rows: rows, columns: columns, nonzeros: nonzeros)
    }
}

/// Resident memory of this process.
public enum ProcessMemory {
    /// The high-water mark of resident memory (getrusage's ru_maxrss, kilobytes on Linux).
    public static var peakResidentBytes: Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}
