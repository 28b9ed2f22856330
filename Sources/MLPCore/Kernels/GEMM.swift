/// Row-major matrix products for the three GEMMs per layer per step (docs/numerics.md, batch forward/backward).
///
/// BLAS wins on anything sizeable, but its call and threading overhead dominates tiny products such as a
/// 4-8-3 network at batch 1, so those go through plain loops instead.
@usableFromInline
enum GEMM {
    /// Products with at most this many multiply-adds take the loop path.
    static let smallWorkLimit = 4_096
    /// Products with fewer multiply-adds run on one thread: splitting them costs more than it saves.
    static let splitWorkLimit = 1 << 20

    /// `C ← α·op(A)·op(B) + β·C`, with `op(A)` `[m, k]`, `op(B)` `[k, n]`, all row-major and densely packed.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func multiply<T: MLPScalar>(
        _ a: UnsafePointer<T>, transposed transposeA: Bool,
        _ b: UnsafePointer<T>, transposed transposeB: Bool,
        into c: UnsafeMutablePointer<T>, m: Int, n: Int, k: Int, alpha: T = 1, beta: T = 0
    ) {
        let lda = transposeA ? m : k
        let ldb = transposeB ? k : n
        // Reading the thread count also keeps OpenBLAS itself at one thread (BLAS.threads).
        let threads = BLAS.threads
        if m == 1, !transposeA, m * n * k > smallWorkLimit {
            // One row (a batch-1 prediction): a matrix-vector product streams the weights once, where GEMM would
            // pack them first. `y = x·B` is `Bᵀx` for B `[k, n]`, and `Bx` for the transposed B `[n, k]`.
            if transposeB {
                T.blasGEMV(transpose: false, m: n, n: k, alpha: alpha, a: b, lda: ldb, x: a, beta: beta, y: c)
            } else if alpha == 1, beta == 0 || beta == 1 {
                // The forward pass's case: ElementKernels' kernel keeps a column block in registers over all rows.
                if beta == 0 { c.update(repeating: 0, count: n) }
                ElementKernels.rowTimesMatrix(a, b, lda: ldb, k: k, n: n, into: c)
            } else {
                T.blasGEMV(transpose: true, m: k, n: n, alpha: alpha, a: b, lda: ldb, x: a, beta: beta, y: c)
            }
            return
        }
        if m * n * k > smallWorkLimit {
            let parts = threads > 1 && m * n * k >= splitWorkLimit ? threads : 1
            guard parts > 1 else {
                T.blasGEMM(
                    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                    alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: n)
                return
            }
            // Each part packs its share of the split operand and all of the other, so splitting the longer side
            // of C packs the least: rows when op(A) has more rows than op(B) has columns. (Fewer than 32 rows per
            // part and OpenBLAS's kernels lose more than the split gains: a 32-row prediction splits by columns.)
            if m >= 32 * parts, m >= n {
                // Rows of op(A) and C: rows of A, or columns of a transposed A.
                Parallel.split(m, into: parts) { rows in
                    let start = rows.lowerBound
                    T.blasGEMM(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k, alpha: alpha,
                               a: transposeA ? a + start : a + start * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                               c: c + start * n, ldc: n)
                }
            } else {
                // Columns of op(B) and C, in whole cache lines.
                Parallel.split(n, into: parts, alignment: 16) { columns in
                    let start = columns.lowerBound
                    T.blasGEMM(transposeA: transposeA, transposeB: transposeB, m: m, n: columns.count, k: k,
                               alpha: alpha, a: a, lda: lda, b: transposeB ? b + start * ldb : b + start, ldb: ldb,
                               beta: beta, c: c + start, ldc: n)
                }
            }
            return
        }
        for i in 0..<m {
            let row = c + i * n
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
            for p in 0..<k {
                let aip = alpha * (transposeA ? a[p * lda + i] : a[i * lda + p])
                if transposeB {
                    for j in 0..<n { row[j] += aip * b[j * ldb + p] }
                } else {
                    let bRow = b + p * ldb
                    for j in 0..<n { row[j] += aip * bRow[j] }
                }
            }
        }
    }
}
