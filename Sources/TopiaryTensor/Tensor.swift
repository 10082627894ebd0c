/// A contiguous, row-major Float32 buffer with a shape.
///
/// `Tensor` is a *view*: copies of the struct share `storage`, and writes through `pointer` are
/// visible to every view (as with llm.c's tensors pointing into one parameter allocation).
/// Use `copy()` for an independent tensor. Element loops should work on `pointer`, never on
/// an `Array`, so no copy-on-write check sits in a hot loop.
public struct Tensor: @unchecked Sendable {
    public let storage: FloatStorage
    /// Offset of element 0 in `storage`, in elements.
    public let offset: Int
    public let shape: [Int]
    public let count: Int

    /// A new zero-filled tensor.
    public init(zeros shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.init(storage: FloatStorage(count: count), offset: 0, shape: shape)
    }

    /// A new tensor holding `values` (row-major) with `shape`.
    public init(shape: [Int], values: [Float]) {
        require(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) holds \(Tensor.elementCount(shape)) values, but got \(values.count)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of `storage[offset ..< offset + product(shape)]`.
    public init(storage: FloatStorage, offset: Int, shape: [Int]) {
        let count = Tensor.elementCount(shape)
        require(offset >= 0 && offset + count <= storage.count,
                     "view [\(offset), \(offset + count)) lies outside storage of \(storage.count) floats")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = count
    }

    public static func elementCount(_ shape: [Int]) -> Int {
        require(shape.allSatisfy { $0 >= 0 }, "shape dimensions must be >= 0, but got \(shape)")
        return shape.reduce(1, *)
    }

    @inlinable public var pointer: UnsafeMutablePointer<Float> { storage.base + offset }
    public var rank: Int { shape.count }
    /// Rows and columns of a rank-2 tensor.
    public var rows: Int { require(rank == 2, "rows needs rank 2, shape is \(shape)"); return shape[0] }
    public var columns: Int { require(rank == 2, "columns needs rank 2, shape is \(shape)"); return shape[1] }

    @inlinable public subscript(index: Int) -> Float {
        get { pointer[index] }
        nonmutating set { pointer[index] = newValue }
    }

    /// The same elements seen with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        require(Tensor.elementCount(newShape) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// A view of the first `n` rows (dimension 0): batch buffers sized for the largest batch
    /// serve a smaller last batch this way without reallocating.
    public func leadingRows(_ n: Int) -> Tensor {
        require(rank >= 1 && n >= 0 && n <= shape[0], "cannot take \(n) rows of shape \(shape)")
        var newShape = shape
        newShape[0] = n
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// Rows `start ..< start + n` (dimension 0).
    public func rowSlice(_ start: Int, count n: Int) -> Tensor {
        require(rank >= 1 && start >= 0 && n >= 0 && start + n <= shape[0],
                     "rows [\(start), \(start + n)) lie outside shape \(shape)")
        var newShape = shape
        newShape[0] = n
        let rowLength = shape.dropFirst().reduce(1, *)
        return Tensor(storage: storage, offset: offset + start * rowLength, shape: newShape)
    }

    public func copy() -> Tensor {
        let result = Tensor(zeros: shape)
        result.pointer.update(from: pointer, count: count)
        return result
    }

    /// Overwrites this tensor's elements with `source`'s (same element count).
    public func assign(from source: Tensor) {
        require(source.count == count, "cannot assign \(source.shape) to \(shape)")
        pointer.update(from: source.pointer, count: count)
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Elements per sample of a batch-first tensor.
    public var sampleCount: Int { shape.dropFirst().reduce(1, *) }
    /// The same elements as (batch, everything else).
    public var asRows: Tensor { reshaped([shape[0], sampleCount]) }
}

/// Owns one 64-byte-aligned, zero-initialised allocation of Float32.
public final class FloatStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        require(count >= 0, "storage size must be >= 0, but got \(count)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
        self.count = count
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}
