import Foundation
import FormatSupport
import MLPDocument

/// Checksums tensors on another core while the caller reads the next one from the file. In line, the CRC pass
/// (about 10 GB/s) adds roughly a quarter to a load that otherwise runs at the speed of filling fresh memory;
/// overlapped, it costs little when a second core is free (loads are memory-bound, so the gain is smaller on a
/// busy machine).
final class ChecksumPipeline: @unchecked Sendable {  // `sums` is only touched under `lock`
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var sums: [UInt32]

    init(count: Int) { sums = [UInt32](repeating: 0, count: count) }

    func submit(_ index: Int, _ tensor: Tensor) {
        // Small tensors cost less to checksum than to hand over.
        if tensor.byteCount < 1 << 20 {
            let crc = CRC32C.checksum(tensor)
            lock.withLock { sums[index] = crc }
            return
        }
        DispatchQueue.global(qos: .userInitiated).async(group: group) { [self] in
            let crc = CRC32C.checksum(tensor)
            lock.withLock { sums[index] = crc }
        }
    }

    /// Waits for every submitted checksum.
    func finish() -> [UInt32] {
        group.wait()
        return lock.withLock { sums }
    }
}
