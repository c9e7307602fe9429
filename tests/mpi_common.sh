# mpi_common.sh - shared by the multi-rank test scripts (test_data_parallel.sh,
# test_tensor_parallel.sh). Source it with $1 = the llmscale binary and
# $0 = the test script. It sets BIN, ROOT, MPI (mpirun for this 2-core box),
# CMP (run comparison, tests/reference/compare_runs.py), pass/fail counters
# with summary, and cds into a scratch directory holding `data`: byte-level
# shards of the repository's own C sources (no external corpus needed;
# MPI_NO_DATA=1 before sourcing skips it, for scripts whose $1 is not llmscale).
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
npass=0
nfail=0
pass() { npass=$((npass + 1)); echo "ok - $1"; }
fail() { nfail=$((nfail + 1)); echo "FAIL - $1"; }
summary() { echo "$npass passed, $nfail failed"; [ "$nfail" -eq 0 ]; }
command -v mpirun >/dev/null || { echo "mpirun missing: make test installs openmpi-bin"; exit 1; }
D=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_mpi.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1
MPI="mpirun --oversubscribe --allow-run-as-root"
CMP="/usr/bin/python3 $ROOT/tests/reference/compare_runs.py"
if [ -z "$MPI_NO_DATA" ]; then
    cat "$ROOT"/src/*/*.c | head -c 150000 > corpus.txt
    "$BIN" prepare --input corpus.txt --out data > /dev/null || exit 1
fi

# A layout or flag that cannot work: one error line containing the message,
# non-zero exit, no training step. usage: bad_run NAME NP "TRAIN FLAGS" MESSAGE
bad_run() {
    $MPI -np $2 "$BIN" train $3 > bad.log 2>&1
    rc=$?
    if [ $rc -ne 0 ] && grep -q -e "$4" bad.log && ! grep -q '^step' bad.log; then
        pass "$1: clear error"
    else
        fail "$1 (exit $rc)"; cat bad.log
    fi
}
