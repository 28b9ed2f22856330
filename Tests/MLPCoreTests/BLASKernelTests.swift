import Testing
@testable import MLPCore

/// OpenBLAS's kernel choice: a generic (pre-AVX2) kernel set on a CPU with AVX2 and FMA is a mismatch, with the
/// kernel set the CPU supports; anything else is not.
struct BLASKernelTests {
    @Test func genericKernelsOnANewCPUAreAMismatch() {
        // Debian's OpenBLAS 0.3.21 on an Intel family 6 model 207 (AVX-512): Prescott.
        #expect(BLAS.kernelMismatch(coreName: "Prescott", family: 6, model: 207, avx2FMA: true, avx512: true)
                == BLAS.KernelMismatch(chosen: "Prescott", better: "SkylakeX", family: 6, model: 207))
        #expect(BLAS.kernelMismatch(coreName: "Nehalem", family: 6, model: 190, avx2FMA: true, avx512: false)?.better == "Haswell")
        #expect(BLAS.kernelMismatch(coreName: "Sandybridge", family: 25, model: 17, avx2FMA: true, avx512: true)?.better == "SkylakeX")
        let message = BLAS.kernelMismatch(coreName: "Prescott", family: 6, model: 207, avx2FMA: true, avx512: true)?.description
        #expect(message == "OpenBLAS chose its generic Prescott kernels for this CPU (family 6 model 207), which supports SkylakeX's")
    }

    @Test func fittingKernelsOrOldCPUsAreNot() {
        #expect(BLAS.kernelMismatch(coreName: "Cooperlake", family: 25, model: 17, avx2FMA: true, avx512: true) == nil)
        #expect(BLAS.kernelMismatch(coreName: "Haswell", family: 6, model: 60, avx2FMA: true, avx512: false) == nil)
        #expect(BLAS.kernelMismatch(coreName: "Zen", family: 23, model: 49, avx2FMA: true, avx512: false) == nil)
        // A CPU without AVX2 really is served best by the generic kernels.
        #expect(BLAS.kernelMismatch(coreName: "Prescott", family: 6, model: 15, avx2FMA: false, avx512: false) == nil)
    }

    @Test func theKernelsInUseComputeCorrectly() {
        #expect(BLAS.productsAgree(), "\(BLAS.coreName)")
    }
}
