internal import CKernels

/// The one fork-join the core uses: products and element-wise passes split into disjoint ranges, one per thread.
/// The threads are CKernels' pool (`mlp_parallel_run`), whose workers spin briefly between the step's jobs instead
/// of being woken for each (docs/architecture.md, CKernels).
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
            var job = Job(count: count, chunk: chunk, body: body)
            // The pool calls back through a C function pointer with the job's address; the call returns only
            // when every part has run, so the job outlives every use of that address.
            withUnsafeMutablePointer(to: &job) { job in
                mlp_parallel_run(parts, { context, part in
                    let job = context!.assumingMemoryBound(to: Job.self).pointee
                    let start = min(part * job.chunk, job.count), end = min(start + job.chunk, job.count)
                    if start < end { job.body(start..<end) }
                }, job)
            }
        }
    }

    private struct Job {
        let count: Int
        let chunk: Int
        let body: (Range<Int>) -> Void
    }
}
