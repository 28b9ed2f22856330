internal import CBLAS
internal import CKernels
import Synchronization

/// The BLAS library underneath the matrix products, and the threads the core computes on.
public enum BLAS {
    /// Threads for one product or one large element-wise pass. A product is split into this many parts by rows (or
    /// columns), each a one-thread OpenBLAS call on its own thread: at the batch sizes people train with,
    /// OpenBLAS's own threading of a 128-row product kept the second core mostly waiting (Benchmarks/README.md).
    /// Starts as OpenBLAS's own default (`OPENBLAS_NUM_THREADS`, else the CPUs), read once; OpenBLAS itself is then
    /// kept at one thread. Results are the same for the same thread count (resuming is exact); a product split
    /// differently may round differently.
    public static var threads: Int {
        get {
            let current = chosenThreads.load(ordering: .relaxed)
            if current > 0 { return current }
            let initial = max(1, Int(mlp_blas_get_threads()))
            mlp_blas_set_threads(1)
            // Another thread may have got here first; either way both read the same default.
            _ = chosenThreads.compareExchange(expected: 0, desired: initial, ordering: .relaxed)
            return chosenThreads.load(ordering: .relaxed)
        }
        set {
            mlp_blas_set_threads(1)
            chosenThreads.store(max(1, newValue), ordering: .relaxed)
        }
    }

    private static let chosenThreads = Atomic<Int>(0)

    /// OpenBLAS's build configuration and the CPU kernel it chose (which `OPENBLAS_CORETYPE` overrides).
    public static var configuration: String { String(cString: mlp_blas_config()) }
    public static var coreName: String { String(cString: mlp_blas_core()) }

    /// OpenBLAS running kernels far below what the CPU can do. Debian's OpenBLAS 0.3.21 does not know CPUs newer
    /// than it (Intel family 6 model 207, say) and falls back to its generic Prescott (SSE3) kernels: about 3×
    /// slower training, with nothing said. `better` is the kernel set the CPU does support.
    public struct KernelMismatch: Sendable, Equatable, CustomStringConvertible {
        public let chosen: String
        public let better: String
        public let family: Int
        public let model: Int

        public var description: String {
            "OpenBLAS chose its generic \(chosen) kernels for this CPU (family \(family) model \(model)), which supports \(better)'s"
        }
    }

    /// OpenBLAS's x86-64 kernel sets without AVX2 and FMA.
    static let preAVX2Cores: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "sandybridge", "katmai", "coppermine",
        "northwood", "banias", "barcelona", "opteron", "opteron_sse3", "bobcat", "bulldozer", "piledriver",
    ]

    /// The mismatch of `coreName` on this CPU, if any.
    public static func kernelMismatch() -> KernelMismatch? {
        let cpu = mlp_cpu_detect()
        return kernelMismatch(coreName: coreName, family: Int(cpu.family), model: Int(cpu.model),
                              avx2FMA: cpu.avx2_fma != 0, avx512: cpu.avx512 != 0)
    }

    static func kernelMismatch(coreName: String, family: Int, model: Int, avx2FMA: Bool, avx512: Bool) -> KernelMismatch? {
        guard avx2FMA, preAVX2Cores.contains(coreName.lowercased()) else { return nil }
        return KernelMismatch(chosen: coreName, better: avx512 ? "SkylakeX" : "Haswell", family: family, model: model)
    }

    /// Compares a single-precision product through BLAS with the same product in plain loops, in double: whether
    /// the kernel OpenBLAS runs computes correctly on this CPU (after choosing one with `OPENBLAS_CORETYPE`).
    public static func productsAgree() -> Bool {
        let (m, n, k) = (37, 29, 53)
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 113) / 57 - 1 }
        let b = (0..<(k * n)).map { Float(($0 * 104_729) % 127) / 63 - 1 }
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    Float.blasGEMM(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1,
                                   a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n, beta: 0, c: c.baseAddress!, ldc: n)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var exact = 0.0
                for p in 0..<k { exact += Double(a[i * k + p]) * Double(b[p * n + j]) }
                // Float rounding over 53 terms of magnitude ≤ 1 stays far below 1e-3.
                guard abs(Double(c[i * n + j]) - exact) <= 1e-3 else { return false }
            }
        }
        return true
    }
}
