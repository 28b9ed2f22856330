internal import CKernels

/// The optimizer loops that take square roots, in CKernels (vectorised there; see mlp_kernels.h for why not in
/// Swift), split across the BLAS threads for large tensors. Every element is computed on its own, so the split
/// changes nothing in the results.
enum ElementKernels {
    /// Below this many elements a tensor is updated on the calling thread: waking a second one costs more.
    static let parallelThreshold = 1 << 16

    /// Calls `body` on consecutive ranges covering `0..<count`, one per thread in use, in whole cache lines.
    static func forEachChunk(count: Int, _ body: (Range<Int>) -> Void) {
        let threads = count >= parallelThreshold ? min(BLAS.threads, count / (parallelThreshold / 2)) : 1
        Parallel.split(count, into: threads, alignment: 16, body)
    }

    /// `y[j] += Σ_p x[p]·a[p·lda + j]`: one row times a row-major `[k, n]` matrix. Streaming the matrix from L3
    /// is the whole cost, so large ones are split by columns across the threads, each streaming its own part.
    static func rowTimesMatrix<T: MLPScalar>(
        _ x: UnsafePointer<T>, _ a: UnsafePointer<T>, lda: Int, k: Int, n: Int, into y: UnsafeMutablePointer<T>
    ) {
        // Waking a second thread costs about 10 µs here, as long as streaming 1.6 MB (4·10⁵ floats) from L3.
        let threads = k * n >= 1 << 21 ? min(BLAS.threads, n / 128) : 1
        // Column blocks of 128 floats (the kernel's register block), whole for every part but the last.
        Parallel.split(n, into: threads, alignment: 128) { columns in
            let start = columns.lowerBound
            if T.self == Float.self {
                mlp_row_times_matrix_f32(float(x), float(a + start), lda, k, columns.count, float(y + start))
            } else {
                checkDouble(T.self)
                mlp_row_times_matrix_f64(double(x), double(a + start), lda, k, columns.count, double(y + start))
            }
        }
    }

    static func adam<T: MLPScalar>(
        w: UnsafeMutablePointer<T>, g: UnsafePointer<T>, m: UnsafeMutablePointer<T>, v: UnsafeMutablePointer<T>,
        vHat: UnsafeMutablePointer<T>?, count: Int, oneMinusBeta1: T, oneMinusBeta2: T, alpha: T, epsilon: T
    ) {
        forEachChunk(count: count) { r in
            let n = r.count, i = r.lowerBound
            if T.self == Float.self {
                mlp_adam_f32(float(w + i), float(g + i), float(m + i), float(v + i), vHat.map { float($0 + i) }, n,
                             Float(oneMinusBeta1), Float(oneMinusBeta2), Float(alpha), Float(epsilon))
            } else {
                checkDouble(T.self)
                mlp_adam_f64(double(w + i), double(g + i), double(m + i), double(v + i), vHat.map { double($0 + i) }, n,
                             Double(oneMinusBeta1), Double(oneMinusBeta2), Double(alpha), Double(epsilon))
            }
        }
    }

    static func adagrad<T: MLPScalar>(
        w: UnsafeMutablePointer<T>, g: UnsafePointer<T>, accumulator: UnsafeMutablePointer<T>, count: Int,
        learningRate: T, epsilon: T
    ) {
        forEachChunk(count: count) { r in
            let n = r.count, i = r.lowerBound
            if T.self == Float.self {
                mlp_adagrad_f32(float(w + i), float(g + i), float(accumulator + i), n, Float(learningRate), Float(epsilon))
            } else {
                checkDouble(T.self)
                mlp_adagrad_f64(double(w + i), double(g + i), double(accumulator + i), n, Double(learningRate),
                                Double(epsilon))
            }
        }
    }

    /// RMSprop's increment `lr·g / √den`, written into `g`.
    static func rmspropIncrement<T: MLPScalar>(
        g: UnsafeMutablePointer<T>, velocity: UnsafeMutablePointer<T>, average: UnsafeMutablePointer<T>?, count: Int,
        rho: T, oneMinusRho: T, learningRate: T, epsilon: T
    ) {
        forEachChunk(count: count) { r in
            let n = r.count, i = r.lowerBound
            if T.self == Float.self {
                mlp_rmsprop_increment_f32(float(g + i), float(velocity + i), average.map { float($0 + i) }, n, Float(rho),
                                          Float(oneMinusRho), Float(learningRate), Float(epsilon))
            } else {
                checkDouble(T.self)
                mlp_rmsprop_increment_f64(double(g + i), double(velocity + i), average.map { double($0 + i) }, n,
                                          Double(rho), Double(oneMinusRho), Double(learningRate), Double(epsilon))
            }
        }
    }
}

/// The kernels exist for Float and Double, the two types MLPCore conforms to MLPScalar.
@inline(__always)
private func checkDouble<T>(_ type: T.Type) {
    precondition(T.self == Double.self, "MLPCore computes in Float or Double, not \(T.self)")
}

// These reinterpret a pointer once the caller has checked the element type.
@inline(__always)
private func float<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
@inline(__always)
private func float<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}
@inline(__always)
private func double<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Double> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Double.self)
}
@inline(__always)
private func double<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Double> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Double.self)
}
