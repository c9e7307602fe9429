# lib.sh - shared by the multi-rank benchmarks (bench/dp.sh, bench/pp.sh).
# Source it from the repository root: it sets BIN, W (a scratch directory
# removed on exit), MPI, byte-level shards of tinyshakespeare (or of the
# repository's own text) in $W/data, and the helpers median (of a
# metrics.jsonl field over steps 2.., step 1 warming up) and med3 (the middle
# of 3 rounds).
BIN=$PWD/build/llmscale
W=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
corpus=../shared/data/tinyshakespeare.txt
[ -f "$corpus" ] || { cat README.md docs/*.md src/*/*.c > "$W/corpus.txt"; corpus=$W/corpus.txt; }
"$BIN" prepare --input "$corpus" --out "$W/data" > /dev/null
MPI="mpirun --oversubscribe --allow-run-as-root"

median() { # file field
    sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | tail -n +2 | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
med3() { sort -g "$1" | sed -n 2p; }
