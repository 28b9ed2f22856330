// The core's fork-join: a fixed set of worker threads that spin briefly between jobs before they sleep.
//
// A training step hands the workers a dozen short jobs (split products, optimizer chunks) a few hundred
// microseconds apart. Waking a sleeping thread for each costs about 10 µs of the caller's time plus the wake-up
// latency; a worker still spinning from the previous job starts within a fraction of a microsecond. After
// `spin_ns` without work a worker sleeps on a condition variable, so an idle program uses no CPU.

#include "mlp_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLP_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MLP_PAUSE() __asm__ __volatile__("yield")
#else
#define MLP_PAUSE() ((void)0)
#endif

enum { max_workers = 63, spin_ns = 100000 };

static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;  // one job at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_posted = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;

static _Atomic uint64_t generation;  // incremented for every job
static _Atomic int sleeping_workers;
static _Atomic int caller_sleeping;
static _Atomic long pending;         // workers that have not finished the current job
static int worker_count;             // started so far; only grows, under caller_lock
static uint64_t creation_generation; // the job before a new worker's first: it may start after that job is posted

// The current job, written under caller_lock before `generation` is incremented (release) and read after it.
static mlp_parallel_task job_task;
static void *job_context;
static long job_parts, job_participants;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Participant `index` (0 is the caller) runs parts index, index + participants, …
static void run_parts(long index) {
    for (long part = index; part < job_parts; part += job_participants) job_task(job_context, part);
}

static void *worker_main(void *argument) {
    long index = (long)(intptr_t)argument;
    uint64_t seen = creation_generation;
    for (;;) {
        uint64_t current = atomic_load_explicit(&generation, memory_order_acquire);
        if (current == seen) {
            uint64_t start = now_ns();
            for (unsigned spins = 1; current == seen; spins++) {
                MLP_PAUSE();
                current = atomic_load_explicit(&generation, memory_order_acquire);
                if (current == seen && spins % 256 == 0 && now_ns() - start > spin_ns) {
                    pthread_mutex_lock(&sleep_lock);
                    atomic_fetch_add(&sleeping_workers, 1);
                    while ((current = atomic_load(&generation)) == seen) pthread_cond_wait(&work_posted, &sleep_lock);
                    atomic_fetch_sub(&sleeping_workers, 1);
                    pthread_mutex_unlock(&sleep_lock);
                }
            }
        }
        seen = current;
        if (index < job_participants) run_parts(index);
        if (atomic_fetch_sub(&pending, 1) == 1 && atomic_load(&caller_sleeping)) {
            pthread_mutex_lock(&sleep_lock);
            pthread_cond_signal(&work_done);
            pthread_mutex_unlock(&sleep_lock);
        }
    }
    return NULL;
}

void mlp_parallel_run(long parts, mlp_parallel_task task, void *context) {
    // A nested call, or a second thread calling while a job runs, does its parts itself: same parts, same results.
    if (parts <= 1 || pthread_mutex_trylock(&caller_lock) != 0) {
        for (long part = 0; part < parts; part++) task(context, part);
        return;
    }
    creation_generation = atomic_load(&generation);
    while (worker_count < parts - 1 && worker_count < max_workers) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)(worker_count + 1));
        pthread_attr_destroy(&attributes);
        if (failed) break;  // fewer threads: the caller runs the parts the missing ones would have
        worker_count++;
    }
    job_task = task;
    job_context = context;
    job_parts = parts;
    job_participants = worker_count + 1 < parts ? worker_count + 1 : parts;
    atomic_store(&pending, worker_count);
    atomic_fetch_add_explicit(&generation, 1, memory_order_seq_cst);
    if (atomic_load(&sleeping_workers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&work_posted);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_parts(0);
    uint64_t start = now_ns();
    for (unsigned spins = 1; atomic_load_explicit(&pending, memory_order_acquire) != 0; spins++) {
        MLP_PAUSE();
        if (spins % 256 == 0 && now_ns() - start > spin_ns) {
            pthread_mutex_lock(&sleep_lock);
            atomic_store(&caller_sleeping, 1);
            while (atomic_load(&pending) != 0) pthread_cond_wait(&work_done, &sleep_lock);
            atomic_store(&caller_sleeping, 0);
            pthread_mutex_unlock(&sleep_lock);
        }
    }
    pthread_mutex_unlock(&caller_lock);
}
