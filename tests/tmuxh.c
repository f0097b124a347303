/* tmuxh.c — see tmuxh.h. The state below is this test process's (Criterion runs each test in its own process). */
#include "tmuxh.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char g_server[96];       /* tmux -L name; "" = nothing prepared */
static char g_sock_path[512];   /* tmux leaves its socket file behind after kill-server */
static char g_run[256];
static int g_counter;

double tm_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void tm_pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int tm_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

const char *tm_server(void) { return g_server; }
const char *tm_run_dir(void) { return g_run; }

void tm_prepare(void) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    if (tm_sh("tmux -V >/dev/null 2>&1") != 0) cr_skip_test("tmux is not installed");
    tm_stop();
    snprintf(g_server, sizeof g_server, "llmwb-test-%d-%d", (int)getpid(), ++g_counter);
    snprintf(g_run, sizeof g_run, "/tmp/llmwb-tui-%d-%d", (int)getpid(), g_counter);
}

void tm_launch(int w, int h, const char *env, const char *args) {
    cr_assert(g_server[0], "tm_launch before tm_prepare");
    int rc = tm_sh("tmux -L %s -f /dev/null new-session -d -s " TM_SESSION " -x %d -y %d "
                   "\"cd '%s' && env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 %s '%s' %s; "
                   "echo __LLMWB_EXIT_\\$?__; sleep 120\"",
                   g_server, w, h, getenv("LLMWB_ROOT"), env, getenv("LLMWB_BIN"), args);
    cr_assert_eq(rc, 0, "tmux new-session failed");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s display-message -p '#{socket_path}' 2>/dev/null", g_server);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(g_sock_path, sizeof g_sock_path, p)) g_sock_path[0] = '\0';
        g_sock_path[strcspn(g_sock_path, "\n")] = '\0';
        pclose(p);
    }
}

void tm_launch_tui(int w, int h, const char *env, const char *config, const char *run_dir) {
    char args[1200];
    snprintf(args, sizeof args, "tui -c '%s' --run-dir '%s'", config, run_dir);
    tm_launch(w, h, env, args);
}

static const char *capture_pane(int escapes) {
    static char buf[1 << 18];
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p %s-t " TM_SESSION " 2>/dev/null", g_server,
             escapes ? "-e " : "");
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p) {
        n = fread(buf, 1, sizeof buf - 1, p);
        pclose(p);
    }
    buf[n] = '\0';
    return buf;
}

const char *tm_capture(void) { return capture_pane(0); }
const char *tm_capture_escapes(void) { return capture_pane(1); }

void tm_keys(const char *keys) { tm_sh("tmux -L %s send-keys -t " TM_SESSION " %s", g_server, keys); }
void tm_literal(const char *text) { tm_sh("tmux -L %s send-keys -t " TM_SESSION " -l '%s'", g_server, text); }

double tm_wait_for(const char *text, double secs) {
    double t0 = tm_now();
    while (tm_now() - t0 < secs) {
        if (strstr(tm_capture(), text)) return tm_now() - t0;
        tm_pause_ms(50);
    }
    cr_assert_fail("timed out after %.0f s waiting for \"%s\"; the screen was:\n%s", secs, text, tm_capture());
    return -1;
}

double tm_wait(const char *text) { return tm_wait_for(text, TM_DEADLINE); }

long tm_step(void) {
    const char *s = strstr(tm_capture(), "Step ");
    return s ? strtol(s + 5, NULL, 10) : -1;
}

long tm_wait_step_for(long min, long exact, double secs) {
    double t0 = tm_now();
    long st = -1;
    while (tm_now() - t0 < secs) {
        st = tm_step();
        if (exact >= 0 ? st == exact : st >= min) return st;
        tm_pause_ms(50);
    }
    cr_assert_fail("timed out after %.0f s waiting for step %s %ld (last %ld); screen:\n%s", secs,
                   exact >= 0 ? "==" : ">=", exact >= 0 ? exact : min, st, tm_capture());
    return -1;
}

long tm_wait_step(long min, long exact) { return tm_wait_step_for(min, exact, TM_DEADLINE); }

/* The row starting at b, up to its newline, copied into a static buffer. */
static const char *row_at(const char *b) {
    static char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(b, "\n"), b);
    return line;
}

const char *tm_line_with(const char *needle) {
    const char *s = tm_capture(), *h = strstr(s, needle);
    if (!h) return "";
    while (h > s && h[-1] != '\n') h--;
    return row_at(h);
}

const char *tm_line_starting(const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *l = tm_capture(); *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] == '\n'))
        if (!strncmp(l, prefix, n)) return row_at(l);
    return "";
}

void tm_stop(void) {
    if (g_server[0]) tm_sh("tmux -L %s kill-server >/dev/null 2>&1", g_server);
    if (g_sock_path[0] && strstr(g_sock_path, "llmwb-test-")) tm_sh("rm -f '%s'", g_sock_path);
    /* a TUI killed with its server saves on SIGHUP: remove the directory once it is done writing */
    for (double t0 = tm_now(); g_run[0] && tm_now() - t0 < 30.0; tm_pause_ms(100))
        if (tm_sh("rm -rf '%s' 2>/dev/null", g_run) == 0 && access(g_run, F_OK) != 0) break;
    g_server[0] = g_run[0] = g_sock_path[0] = '\0';
}
