/* testbin.h — running the real binary from a test: `sh -c CMD` or `$LLMWB_BIN ARGS` (set by make test), with
 * stdout and stderr captured. */
#ifndef LLMWB_TESTS_TESTBIN_H
#define LLMWB_TESTS_TESTBIN_H

#include <stddef.h>

/* Runs cmd through the shell; its stdout (up to n - 1 bytes, NUL-terminated) into out; returns the exit status,
 * or 128 when it was killed by a signal. */
int tb_run_sh(const char *cmd, char *out, size_t n);
/* Runs `$LLMWB_BIN args 2>&1 </dev/null` (skips the test when LLMWB_BIN is unset) as tb_run_sh does. */
int tb_run_llmwb(const char *args, char *out, size_t n);

#endif
