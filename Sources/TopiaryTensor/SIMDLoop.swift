// Element loops over several buffers: the compiler cannot prove that two unsafe pointers do
// not alias, so it leaves such loops scalar. These helpers do the explicit SIMD16 loads and
// stores (unaligned: views may start anywhere) and a scalar tail, so each kernel states only
// its per-element rule once for vectors and once for scalars.

public typealias Float16x = SIMD16<Float>

@inlinable @inline(__always)
public func loadVector(_ p: UnsafePointer<Float>) -> Float16x {
    UnsafeRawPointer(p).loadUnaligned(as: Float16x.self)
}

@inlinable @inline(__always)
public func storeVector(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self)
}

/// out[i] = rule(a[i]) for i in 0..<n. `out` may equal `a`.
@inlinable @inline(__always)
public func simdMap(_ n: Int, _ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                    _ vectorRule: (Float16x) -> Float16x, _ scalarRule: (Float) -> Float) {
    var i = 0
    while i + 16 <= n {
        storeVector(vectorRule(loadVector(a + i)), out + i)
        i += 16
    }
    while i < n { out[i] = scalarRule(a[i]); i += 1 }
}

/// out[i] = rule(a[i], b[i]) for i in 0..<n. `out` may equal `a` or `b`.
@inlinable @inline(__always)
public func simdMap(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    _ out: UnsafeMutablePointer<Float>,
                    _ vectorRule: (Float16x, Float16x) -> Float16x, _ scalarRule: (Float, Float) -> Float) {
    var i = 0
    while i + 16 <= n {
        storeVector(vectorRule(loadVector(a + i), loadVector(b + i)), out + i)
        i += 16
    }
    while i < n { out[i] = scalarRule(a[i], b[i]); i += 1 }
}

/// out[i] = rule(a[i], b[i], c[i]) for i in 0..<n. `out` may equal any input.
@inlinable @inline(__always)
public func simdMap(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    _ c: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                    _ vectorRule: (Float16x, Float16x, Float16x) -> Float16x,
                    _ scalarRule: (Float, Float, Float) -> Float) {
    var i = 0
    while i + 16 <= n {
        storeVector(vectorRule(loadVector(a + i), loadVector(b + i), loadVector(c + i)), out + i)
        i += 16
    }
    while i < n { out[i] = scalarRule(a[i], b[i], c[i]); i += 1 }
}
