/* args.c - see args.h. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static const char *g_flag_name = "";

int ls_flag(const char *a, const char *name) {
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '\0' || a[n] == '=') { g_flag_name = name; return 1; }
    return 0;
}

const char *ls_str_arg(int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    if (eq && a[0] == '-') return eq + 1;
    if (*i + 1 >= argc) ls_fatal("flag %s needs a value", a);
    return argv[++*i];
}

long long ls_parse_int(const char *flag, const char *s, long long min, long long max) {
    char *end = NULL;
    errno = 0;
    double d = 0;
    long long v = strtoll(s, &end, 10);
    if (end && (*end == 'e' || *end == 'E' || *end == '.')) {
        /* accept 1e6-style integers */
        d = strtod(s, &end);
        if (*end == '\0' && d == floor(d) && fabs(d) < 9e18) v = (long long)d, errno = 0;
        else end = (char *)s;
    }
    if (s[0] == '\0' || !end || *end != '\0' || errno)
        ls_fatal("%s: '%s' is not an integer", flag, s);
    if (v < min || v > max) ls_fatal("%s: %lld is out of range [%lld, %lld]", flag, v, min, max);
    return v;
}

double ls_parse_double(const char *flag, const char *s, double min, double max) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] == '\0' || !end || *end != '\0' || errno || !isfinite(v))
        ls_fatal("%s: '%s' is not a number", flag, s);
    if (v < min || v > max) ls_fatal("%s: %g is out of range [%g, %g]", flag, v, min, max);
    return v;
}

long long ls_int_arg(int argc, char **argv, int *i, long long min, long long max) {
    const char *flag = g_flag_name;
    return ls_parse_int(flag, ls_str_arg(argc, argv, i), min, max);
}

double ls_double_arg(int argc, char **argv, int *i, double min, double max) {
    const char *flag = g_flag_name;
    return ls_parse_double(flag, ls_str_arg(argc, argv, i), min, max);
}

int ls_bool_arg(int argc, char **argv, int *i) {
    const char *flag = g_flag_name;
    const char *v = ls_str_arg(argc, argv, i);
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1")) return 1;
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0")) return 0;
    ls_fatal("%s: '%s' must be on or off", flag, v);
}

void ls_unknown_flag(const char *cmd, const char *a) {
    if (a[0] == '-') ls_fatal("unknown flag '%s' for 'llmscale %s' (see llmscale %s --help)", a, cmd, cmd);
    ls_fatal("unexpected argument '%s' for 'llmscale %s' (see llmscale %s --help)", a, cmd, cmd);
}

int ls_wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}
