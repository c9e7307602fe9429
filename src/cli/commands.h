/* commands.h - one entry point per subcommand (argv without the program and
 * subcommand names). Each returns the process exit status. */
#ifndef LS_COMMANDS_H
#define LS_COMMANDS_H
#include "../parallel/comm.h"
#include "../plan/catalog.h"

int cmd_prepare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
/* bench --comm: collective micro-benchmark over MPI (bench_comm.c) */
int bench_comm(int max_mb, int iters);
/* bench under mpirun: the collective figures of plan's cpu-local model over
 * the ranks of c (all on this host) into hw's intra/inter fields */
void bench_comm_calibrate(LsComm *c, PlanHw *hw);

/* --init FILE|RUNDIR -> model file path; tokenizer.bin beside it or "" (buffers >= 4096) */
void cli_resolve_model(const char *init, char *model_path, char *tok_path);
#endif
