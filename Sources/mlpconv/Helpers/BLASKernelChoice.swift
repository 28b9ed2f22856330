import Foundation
import MLPCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs OpenBLAS with kernels that fit the CPU when it chose far worse ones by itself (BLAS.KernelMismatch): this
/// program starts itself again with `OPENBLAS_CORETYPE` set — OpenBLAS reads it only when it loads — and checks
/// a product in the new kernels before trusting them. One line on stderr says what happened. A user's own
/// `OPENBLAS_CORETYPE` is always left alone.
enum BLASKernelChoice {
    /// Set in the restarted process: the kernel set OpenBLAS had chosen.
    private static let switchedFrom = "MLPCONV_OPENBLAS_SWITCHED_FROM"

    static func ensure() {
        let environment = ProcessInfo.processInfo.environment
        if let chosen = environment[switchedFrom] {
            unsetenv(switchedFrom)
            let core = BLAS.coreName
            if BLAS.productsAgree() {
                note("OpenBLAS chose its generic \(chosen) kernels for this CPU; using its \(core) kernels instead (set OPENBLAS_CORETYPE to choose yourself)")
            } else {
                // Back to OpenBLAS's own choice: slow, but right.
                note("OpenBLAS's \(core) kernels computed a wrong product on this CPU; using its \(chosen) kernels")
                setenv("OPENBLAS_CORETYPE", chosen, 1)
                restart()
                MLPConv.fail("cannot restart with OPENBLAS_CORETYPE=\(chosen): \(String(cString: strerror(errno)))")
            }
            return
        }
        guard environment["OPENBLAS_CORETYPE"] == nil, let mismatch = BLAS.kernelMismatch() else { return }
        setenv("OPENBLAS_CORETYPE", mismatch.better, 1)
        setenv(switchedFrom, mismatch.chosen, 1)
        restart()
        // Still here: go on with the slow kernels, saying how to get the right ones.
        unsetenv(switchedFrom)
        unsetenv("OPENBLAS_CORETYPE")
        note("\(mismatch), about 3× slower; run with OPENBLAS_CORETYPE=\(mismatch.better) to use those")
    }

    /// Replaces this process with a new run of the same program and arguments; returns only if that fails.
    private static func restart() {
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    private static func note(_ message: String) {
        // This runs before the arguments are parsed; --quiet (finetune's) means no output but errors.
        guard !CommandLine.arguments.contains("--quiet") else { return }
        FileHandle.standardError.write(Data("mlpconv: note: \(message)\n".utf8))
    }
}
