#!/bin/sh
# Point-to-point messages over MPI (ls_comm_send/recv/isend/irecv), with
# build/tests/test_p2p (see tests/test_p2p.c): random arrays around the
# pipeline rings of 2 ranks, 4 ranks, and two rings of 2 inside a tp=2 x pp=2
# grid (group ranks differ from world ranks); byte and call accounting; every
# pipeline schedule's action lists executed with real messages on 2 and 4
# ranks (both kinds of lists; blocking synchronous sends and Isend/Irecv); a
# message one float too long or too short, a send to oneself and a send on a
# one-process group are one clear error, not a hang.
# usage: test_p2p.sh build/tests/test_p2p
MPI_NO_DATA=1
. "$(dirname "$0")/mpi_common.sh"

for cfg in "2 1 2" "4 1 4" "4 2 2"; do
    set -- $cfg
    NP=$1 TP=$2 PP=$3
    if out=$(timeout 120 $MPI -np "$NP" "$BIN" ring "$TP" "$PP" 2>&1) &&
        [ "$(echo "$out" | grep -c ' 0 failed')" = "$NP" ]; then
        pass "ring: $NP ranks, tp $TP x pp $PP: every message arrived intact, bytes and calls counted, embedding groups"
    else
        fail "ring: $NP ranks, tp $TP x pp $PP"; echo "$out" | tail -20
    fi
    # the start-up description names the embedding groups when they differ from pp's
    if [ "$PP" = 4 ]; then
        if echo "$out" | grep -q "embed groups: \[0 3\]"; then
            pass "grid description: $(echo "$out" | grep 'embed groups')"
        else
            fail "no 'embed groups: [0 3]' line"; echo "$out" | grep groups
        fi
    fi
done

# the pipeline schedules' action lists, run with real messages
for cfg in "2 gpipe:3 1f1b:1 1f1b:4 interleaved:2:2 interleaved:4:3" "4 gpipe:2 1f1b:3 1f1b:8 interleaved:4:2 interleaved:8:4"; do
    set -- $cfg
    NP=$1
    if out=$(timeout 120 $MPI -np "$NP" "$BIN" pipeline $cfg 2>&1) &&
        [ "$(echo "$out" | grep -c ' 0 failed')" = "$NP" ]; then
        pass "pipeline over $NP ranks, blocking lists (Ssend, Isend) and isend lists, every value checked: $(echo "$cfg" | cut -d' ' -f2-)"
    else
        fail "pipeline over $NP ranks: $cfg"; echo "$out" | tail -20
    fi
done

# wrong sizes and peers: a nonzero exit with llmscale's one-line error
bad() {
    name=$1 want=$2
    shift 2
    out=$(timeout 120 "$@" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -q "llmscale: error: .*$want"; then
        pass "$name: $(echo "$out" | grep -m1 'llmscale: error')"
    else
        fail "$name (exit $rc)"; echo "$out" | tail -10
    fi
}
bad "message too long" "truncated" $MPI -np 2 "$BIN" long
bad "message too short" "sent 7 floats, rank 1 expected 8" $MPI -np 2 "$BIN" short
bad "send to oneself" "the peer must be another rank" $MPI -np 2 "$BIN" self
bad "one process" "one-rank pp group" env -u OMPI_COMM_WORLD_SIZE "$BIN" one
summary
