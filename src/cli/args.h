/* args.h - command-line flag parsing shared by every subcommand.
 *
 * Each subcommand walks argv itself:
 *     for (int i = 0; i < argc; i++) {
 *         const char *a = argv[i];
 *         if (ls_flag(a, "--batch")) B = ls_int_arg(argc, argv, &i, 1, 1 << 20);
 *         else ls_unknown_flag("train", a);
 *     }
 * Every failure is one line naming the flag and the accepted range. Flags may
 * also be written --name=value. */
#ifndef LS_ARGS_H
#define LS_ARGS_H
#include <stdint.h>

/* true if a is the flag `name` (either "--name" or "--name=value"). */
int ls_flag(const char *a, const char *name);
/* the value of the flag at argv[*i] (inline after '=' or the next argument) */
const char *ls_str_arg(int argc, char **argv, int *i);
long long ls_int_arg(int argc, char **argv, int *i, long long min, long long max);
double ls_double_arg(int argc, char **argv, int *i, double min, double max);
/* parse "on|off|true|false|1|0" */
int ls_bool_arg(int argc, char **argv, int *i);
/* parse a string value: strict integer / float with range, naming the flag on error */
long long ls_parse_int(const char *flag, const char *s, long long min, long long max);
double ls_parse_double(const char *flag, const char *s, double min, double max);
void ls_unknown_flag(const char *cmd, const char *a);
int ls_wants_help(int argc, char **argv);

#endif
