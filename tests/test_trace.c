/* test_trace.c - the Chrome trace-event writer (src/core/trace.h): three
 * "ranks" record events (one of them 1000, past the buffer's first growth;
 * names with quotes, a backslash and a newline), write their parts, rank 0
 * merges them; Python's json module (not ours) must parse the file and find
 * every event with its rank, lane, category, name and times, the lane and
 * rank names, and the parts removed. A missing part is a clear error. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/core/fileio.h"
#include "../src/core/trace.h"
#include "check.h"

int main(void) {
    char dir[] = "/tmp/llmscale_trace.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[256], part[300], cmd[2048];
    snprintf(path, sizeof path, "%s/step.json", dir);

    /* rank r: 1000 events for rank 1, 3 for the others; times from t0 = 100 s */
    const int counts[3] = {3, 1000, 3};
    for (int r = 0; r < 3; r++) {
        LsTrace t;
        ls_trace_init(&t, r, 100.0, r == 2 ? "rank 2 (pp 1, \"last\")" : NULL);
        ls_trace_name_lane(&t, 0, "compute");
        ls_trace_name_lane(&t, 1, "p2p");
        for (int i = 0; i < counts[r]; i++) {
            const char *cat = i % 3 == 0 ? "forward" : i % 3 == 1 ? "send" : "backward";
            double s = 100.0 + 0.001 * i;
            if (i == 1)
                ls_trace_add(&t, cat, 1, s, s + 0.0005, "send \"act\" mb\\%d\nend", i);
            else
                ls_trace_add(&t, cat, i % 3 == 1, s, s + 0.0005, "%c mb%d c0", cat[0], i);
        }
        CHECK(t.n == (size_t)counts[r], "rank %d holds %zu events", r, t.n);
        ls_trace_write_part(&t, path);
        ls_trace_free(&t);
    }
    ls_trace_merge(path, 3);
    for (int r = 0; r < 3; r++) {
        snprintf(part, sizeof part, "%s.rank%d", path, r);
        CHECK(ls_file_size(part) < 0, "part %s left behind", part);
    }

    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import json, sys\n"
             "d = json.load(open(sys.argv[1]))\n"
             "ev = d[\"traceEvents\"]\n"
             "x = [e for e in ev if e[\"ph\"] == \"X\"]\n"
             "assert [sum(e[\"pid\"] == r for e in x) for r in range(3)] == [3, 1000, 3], \"events per rank\"\n"
             "for e in x:\n"
             "    assert set(e) == {\"name\", \"cat\", \"ph\", \"pid\", \"tid\", \"ts\", \"dur\"}, e\n"
             "    assert e[\"cat\"] in (\"forward\", \"send\", \"backward\") and e[\"tid\"] in (0, 1), e\n"
             "    assert abs(e[\"dur\"] - 500) < 1e-3, e\n"
             "r1 = [e for e in x if e[\"pid\"] == 1]\n"
             "assert all(abs(e[\"ts\"] - 1000 * i) < 1e-3 for i, e in enumerate(r1)), \"timestamps\"\n"
             "assert r1[999][\"name\"] == \"f mb999 c0\", r1[999]\n"
             "assert x[1][\"name\"] == \"send \\x22act\\x22 mb\\\\1\\nend\", repr(x[1][\"name\"])\n"
             "m = {(e[\"pid\"], e[\"name\"], e.get(\"tid\")): e[\"args\"] for e in ev if e[\"ph\"] == \"M\"}\n"
             "assert m[(2, \"process_name\", None)][\"name\"] == \"rank 2 (pp 1, \\x22last\\x22)\", m\n"
             "assert m[(0, \"process_name\", None)][\"name\"] == \"rank 0\", m\n"
             "assert m[(1, \"thread_name\", 1)][\"name\"] == \"p2p\", m\n"
             "print(\"python: %%d events from 3 ranks parse\" %% len(x))\n"
             "' %s",
             path);
    CHECK(system(cmd) == 0, "python could not parse or check %s", path);

    /* a missing part: one clear error, nonzero exit, no output file */
    char path2[300];
    snprintf(path2, sizeof path2, "%s/missing.json", dir);
    LsTrace t;
    ls_trace_init(&t, 0, 0, NULL);
    ls_trace_write_part(&t, path2);
    ls_trace_free(&t);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ls_trace_merge(path2, 2);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "merge with a missing part: status %d", status);
    CHECK(ls_file_size(path2) < 0, "a trace was written without all parts");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("(could not remove %s)\n", dir);
    return check_summary();
}
