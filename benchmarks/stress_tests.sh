#!/usr/bin/env bash
# Stress the numerically delicate tests: run the determinism and pruning tests ITERATIONS times
# (default 20) with `pytest -n 2` while one extra process keeps a core busy, the situation in which
# a bound that is too tight shows up (issue 18). Not a test: a script whose result goes in the docs.
#
#   benchmarks/stress_tests.sh              # 20 iterations
#   benchmarks/stress_tests.sh 1            # one iteration, to see that it works
#   STRESS_TESTS="tests/test_determinism.py" benchmarks/stress_tests.sh 5
#
# Environment: PYTHON (default .venv/bin/python), STRESS_TESTS (the test files), STRESS_WORKERS
# (pytest -n, default 2), STRESS_LOGS (folder for one log per iteration; default a new temporary
# folder), STRESS_BUSY (number of busy processes, default 1).
# Prints one line per iteration and a summary; exits 1 when any iteration failed, naming the tests.

set -u

ITERATIONS=${1:-20}
case $ITERATIONS in '' | *[!0-9]* | 0)
    echo "usage: $0 [ITERATIONS >= 1]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-.venv/bin/python}
TESTS=${STRESS_TESTS:-"tests/test_determinism.py tests/test_lrp_pruning.py"}
WORKERS=${STRESS_WORKERS:-2}
BUSY=${STRESS_BUSY:-1}
LOGS=${STRESS_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/sparselrp-stress.XXXXXX")}
mkdir -p "$LOGS" || exit 2

if ! "$PYTHON" -c "import xdist" 2>/dev/null; then
    echo "$0: pytest-xdist is not installed in $PYTHON: pip install pytest-xdist (or make venv)" >&2
    exit 2
fi

# the busy core(s): plain Python loops, stopped by their process ids when this script ends
BUSY_PIDS=()
for _ in $(seq 1 "$BUSY"); do
    "$PYTHON" -c "while True: pass" &
    BUSY_PIDS+=($!)
done
stop_busy() {
    for pid in "${BUSY_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
}
trap stop_busy EXIT
trap 'exit 130' INT TERM

echo "stress: $ITERATIONS x pytest -n $WORKERS $TESTS, beside $BUSY busy process(es) (pids ${BUSY_PIDS[*]}); logs in $LOGS"
echo "stress: $(nproc 2>/dev/null || echo '?') CPUs, $($PYTHON -c 'import torch; print("torch", torch.__version__)' 2>/dev/null)"

failed_runs=0
declare -A failures=()
start_all=$(date +%s)
for i in $(seq 1 "$ITERATIONS"); do
    log="$LOGS/run-$(printf %03d "$i").log"
    t0=$(date +%s)
    # shellcheck disable=SC2086 - TESTS is a list of paths
    "$PYTHON" -m pytest -n "$WORKERS" -p no:cacheprovider -q $TESTS >"$log" 2>&1
    rc=$?
    t1=$(date +%s)
    summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed)|(passed|failed|error)" "$log" | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//')
    if [ "$rc" -eq 0 ]; then
        echo "run $i/$ITERATIONS: pass ($summary; $((t1 - t0)) s)"
    else
        failed_runs=$((failed_runs + 1))
        echo "run $i/$ITERATIONS: FAIL rc=$rc ($summary; $((t1 - t0)) s; log $log)"
        while read -r name; do
            [ -n "$name" ] && failures["$name"]=$((${failures["$name"]:-0} + 1)) && echo "    $name"
        done < <(grep -E "^(FAILED|ERROR) " "$log" | sed -E 's/^(FAILED|ERROR) //; s/ - .*$//')
    fi
done
end_all=$(date +%s)

echo "stress: $((ITERATIONS - failed_runs))/$ITERATIONS runs passed in $((end_all - start_all)) s"
if [ "$failed_runs" -gt 0 ]; then
    echo "stress: tests that failed (times):"
    for name in "${!failures[@]}"; do
        echo "    ${failures[$name]}x $name"
    done | sort -rn
    exit 1
fi
exit 0
