/// Caps on what a reader accepts, checked before anything is allocated for it.
public struct LoadLimits: Sendable, Equatable {
    /// Largest file accepted at all.
    public var maxFileBytes: Int
    /// Largest single tensor, in bytes, after decoding.
    public var maxTensorBytes: Int
    /// Largest total of all tensors, in bytes.
    public var maxTotalBytes: Int

    public init(maxFileBytes: Int = 16 << 30, maxTensorBytes: Int = 8 << 30, maxTotalBytes: Int = 16 << 30) {
        self.maxFileBytes = maxFileBytes
        self.maxTensorBytes = maxTensorBytes
        self.maxTotalBytes = maxTotalBytes
    }
}
