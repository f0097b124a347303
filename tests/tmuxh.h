/* tmuxh.h — the one tmux harness of the TUI tests: the real `llmwb` binary in a private tmux server, driven as a
 * person uses it (send-keys), read back with capture-pane, always WAITING for expected text with a deadline (poll
 * every 50 ms), never sleeping a fixed time. Needs LLMWB_BIN (the binary) and LLMWB_ROOT (the repo root); `make
 * test` sets both.
 *
 * A test (or its suite's .init) calls tm_prepare(), then tm_launch(); its .fini calls tm_stop(). The harness keeps
 * one server, session and run directory in module-level state: Criterion runs each test in its own process, so
 * tests never share it. A test may stop and prepare again to open a fresh server (the previous one is stopped).
 * Capture and tm_line_* return static buffers, overwritten by the next call. */
#ifndef LLMWB_TESTS_TMUXH_H
#define LLMWB_TESTS_TMUXH_H

#define TM_DEADLINE 20.0        /* seconds tm_wait and tm_wait_step wait before failing the test */
#define TM_SESSION "tm"         /* the one session (and window) in the server: `-t TM_SESSION` */

/* Seconds on the monotonic clock. */
double tm_now(void);
/* Sleeps ms milliseconds (between polls only; never to wait for the program). */
void tm_pause_ms(int ms);
/* Runs the printf-formatted command through system(); returns its raw status. */
int tm_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skips the test (with a message) when LLMWB_BIN / LLMWB_ROOT are unset, the binary is missing or tmux is not
 * installed; otherwise stops any previous server and names this one (llmwb-test-<pid>-<n>) and a run directory
 * (/tmp/llmwb-tui-<pid>-<n>, not created: the binary makes it when it is given as --run-dir). */
void tm_prepare(void);
/* The tmux server's name (for `tmux -L NAME`) and the run directory named by tm_prepare. */
const char *tm_server(void);
const char *tm_run_dir(void);

/* Runs `env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 ENV '$LLMWB_BIN' ARGS` from $LLMWB_ROOT in a w x h
 * tmux window (tmux's status bar takes one of the h rows); after it exits the pane prints __LLMWB_EXIT_<status>__
 * and waits, so the test can see the restored shell. Fails the test when tmux cannot start it. */
void tm_launch(int w, int h, const char *env, const char *args);
/* tm_launch of `tui -c 'CONFIG' --run-dir 'RUN_DIR'` (config relative to the repo root, or absolute). */
void tm_launch_tui(int w, int h, const char *env, const char *config, const char *run_dir);

/* The pane's text; tm_capture_escapes with its SGR escapes (capture-pane -e). */
const char *tm_capture(void);
const char *tm_capture_escapes(void);
/* send-keys KEYS (tmux key names, separated by spaces, e.g. "Right Down" or "C-g"). */
void tm_keys(const char *keys);
/* send-keys -l: text typed literally (no single quote in it). */
void tm_literal(const char *text);

/* Waits until the pane contains text; returns the seconds it took, or fails the test with the screen. tm_wait
 * waits TM_DEADLINE seconds, tm_wait_for secs. */
double tm_wait(const char *text);
double tm_wait_for(const char *text, double secs);

/* The training step shown in the header ("Step N"), or -1. */
long tm_step(void);
/* Waits until step >= min (or step == exact when exact >= 0); returns it, or fails the test with the screen.
 * tm_wait_step waits TM_DEADLINE seconds, tm_wait_step_for secs. */
long tm_wait_step(long min, long exact);
long tm_wait_step_for(long min, long exact, double secs);

/* The first pane row containing needle / starting with prefix, or "" when none. */
const char *tm_line_with(const char *needle);
const char *tm_line_starting(const char *prefix);

/* Kills the server, removes its socket file and the run directory (retrying for up to 30 s while a TUI killed
 * with its server may still be saving into it); a no-op when nothing was prepared. */
void tm_stop(void);

#endif
