#!/usr/bin/env bash
# Fuzzes the pure-Swift readers with libFuzzer (docs/robustness.md, "Fuzzing").
#
#   scripts/fuzz.sh [TARGET|all] [DURATION] [-j N] [--no-build]
#
#   TARGET      one of the targets (scripts/fuzz.sh --list), or all (the default)
#   DURATION    seconds per target (60 by default), or an execution count with the suffix "runs" (10000000runs)
#   -j N        how many targets run at once (1 by default); each target is one process on one core
#   --no-build  run the binary already built
#
# Builds .build-fuzz/release/mlpfuzz (release, -sanitize=fuzzer,address) first. Each target starts from its
# committed seeds (fuzz/corpus/TARGET) and grows a working corpus in .build-fuzz/corpus/TARGET, kept between runs.
# A finding (a crash, a broken contract, a leak, an input over 10 s or over 2 GB of memory) is saved in
# .build-fuzz/findings/TARGET/ and makes the script exit 1; the log of each target is .build-fuzz/logs/TARGET.log.
# Reproduce one: MLPFUZZ_TARGET=TARGET .build-fuzz/release/mlpfuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."

targets_all=(json-audit json-model keras-config zip safetensors pickle torch onnx npy npz csv)
usage() { sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

target=all duration=60 jobs=1 build=1
positional=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -j) [[ $# -ge 2 ]] || usage; jobs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --list) printf '%s\n' "${targets_all[@]}"; exit 0 ;;
        -h|--help) usage ;;
        *) positional+=("$1"); shift ;;
    esac
done
[[ ${#positional[@]} -ge 1 ]] && target=${positional[0]}
[[ ${#positional[@]} -ge 2 ]] && duration=${positional[1]}
[[ ${#positional[@]} -le 2 && $jobs =~ ^[1-9][0-9]*$ ]] || usage
if [[ $target == all ]]; then
    targets=("${targets_all[@]}")
elif [[ " ${targets_all[*]} " == *" $target "* ]]; then
    targets=("$target")
else
    echo "fuzz.sh: unknown target \"$target\"; the targets are: ${targets_all[*]}" >&2; exit 2
fi
if [[ $duration =~ ^([1-9][0-9]*)runs$ ]]; then
    limit=(-runs="${BASH_REMATCH[1]}")
elif [[ $duration =~ ^[1-9][0-9]*$ ]]; then
    limit=(-max_total_time="$duration")
else
    usage
fi

scratch=.build-fuzz
# SwiftPM's --sanitize flags instrument the C targets and link libFuzzer and ASan; swiftc takes only its last
# -sanitize= flag, so the Swift modules need both sanitizers in one (else they get no coverage instrumentation).
mkdir -p "$scratch"
if [[ $build -eq 1 ]]; then
    build_status=0
    MLPCONV_FUZZ=1 swift build -c release --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
        -Xswiftc -sanitize=fuzzer,address --product mlpfuzz >"$scratch/build.log" 2>&1 || build_status=$?
    grep -v -e '^\[' -e "Cannot export local symbol '__asan_extra_spill_area'" "$scratch/build.log" >&2 || true
    [[ $build_status -eq 0 ]] || { echo "fuzz.sh: the build failed (rc $build_status)" >&2; exit 1; }
fi
binary=$scratch/release/mlpfuzz
[[ -x $binary ]] || { echo "fuzz.sh: no $binary (run without --no-build)" >&2; exit 1; }

dictionary() {
    case $1 in
        json-audit) echo fuzz/dict/json.dict ;;
        json-model|keras-config) echo "fuzz/dict/$1.dict" ;;
        pickle|torch) echo fuzz/dict/pickle.dict ;;
        npy|npz) echo fuzz/dict/npy.dict ;;
        csv) echo fuzz/dict/csv.dict ;;
    esac
}

# One target: libFuzzer with the limits the readers promise (2 GB of memory, 10 s an input), leaks detected.
run_target() {
    local name=$1 log=$scratch/logs/$1.log
    mkdir -p "$scratch/corpus/$name" "$scratch/findings/$name" "$scratch/logs"
    local dict; dict=$(dictionary "$name")
    local status=0
    # Without the allocation stack ASan records at every malloc, allocation-heavy targets run up to 25% faster; a
    # finding's report then lacks that stack, which reproducing it (the command in this script's header) shows.
    ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0} MLPFUZZ_TARGET=$name "$binary" "${limit[@]}" \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -max_len=16384 -print_final_stats=1 ${dict:+-dict="$dict"} \
        -artifact_prefix="$scratch/findings/$name/" "$scratch/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1 || status=$?
    local runs speed cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1)
    if [[ $status -eq 0 ]]; then
        printf '%-13s ok       %10s execs  %7s exec/s  %s\n' "$name" "${runs:-?}" "${speed:-?}" "${cov:-}"
    else
        printf '%-13s FINDING  %10s execs  (rc %d) — %s\n' "$name" "${runs:-?}" "$status" "$log" >&2
        grep -m3 -E 'ERROR:|contract broken|Test unit written' "$log" >&2 || true
        return 1
    fi
}

failed=0
running=0
for name in "${targets[@]}"; do
    run_target "$name" &
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [[ $running -gt 0 ]]; do
    wait -n || failed=1
    running=$((running - 1))
done
[[ $failed -eq 0 ]] || { echo "fuzz.sh: findings (see above); inputs in $scratch/findings/" >&2; exit 1; }
