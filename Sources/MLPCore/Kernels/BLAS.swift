internal import CBLAS

/// The BLAS library underneath the matrix products, for benchmarks and diagnostics.
public enum BLAS {
    /// Threads OpenBLAS may use for one product.
    public static var threads: Int {
        get { Int(mlp_blas_get_threads()) }
        set { mlp_blas_set_threads(Int32(newValue)) }
    }

    /// OpenBLAS's build configuration and the CPU kernel it chose (which `OPENBLAS_CORETYPE` overrides).
    public static var configuration: String { String(cString: mlp_blas_config()) }
    public static var coreName: String { String(cString: mlp_blas_core()) }
}
