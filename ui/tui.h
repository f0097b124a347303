/* tui.h — the ncurses workbench. */
#ifndef LLMWB_UI_TUI_H
#define LLMWB_UI_TUI_H

/* Runs the workbench; argv[0] is the command name ("tui" or "llmwb"), options follow:
 *   -c, --config FILE   run config (default configs/default.yaml, else <prefix>/share/llmwb/configs/default.yaml)
 *   --no-mouse          start with mouse reporting off (toggle with m)
 *   --theme dark|light  colour theme (light = high contrast for projectors)
 *   --ascii             ASCII only (also automatic without a UTF-8 locale)
 *   --script FILE       play a key script headless (no terminal; see docs/user-guide.md)
 *   --dump-dir DIR      where the script's `dump NAME` writes NAME.txt (default .)
 *   --run-dir DIR       override train.run_dir
 *   --ckpt DIR          chat with a saved checkpoint (inference only)
 *   --help
 * Returns the process exit status (0 ok, 1 failure such as a script timeout, 2 bad usage). */
int tui_main(int argc, char **argv);

#endif
