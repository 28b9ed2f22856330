import Dispatch

/// The one fork-join the core uses: products and element-wise passes split into disjoint ranges, one per thread.
enum Parallel {
    /// Calls `body` on `parts` consecutive ranges covering `0..<count`, each a multiple of `alignment` long but the
    /// last (so two threads never write the same cache line or kernel block), concurrently when `parts > 1`;
    /// returns when all are done. The ranges must touch disjoint memory.
    static func split(_ count: Int, into parts: Int, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
        guard parts > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = ((count + parts - 1) / parts + alignment - 1) / alignment * alignment
        withoutActuallyEscaping(body) { body in
            // concurrentPerform wants a Sendable closure; the ranges are disjoint and it returns only when all ran.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: parts) { t in
                let start = min(t * chunk, count), end = min(start + chunk, count)
                if start < end { body(start..<end) }
            }
        }
    }
}
