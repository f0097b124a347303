/* term.h — the only part of the TUI that calls ncurses: opening/closing the terminal, reading keys (wide
 * characters, mouse) and flushing a CellBuf with one doupdate per frame. UI thread only. */
#ifndef LLMWB_UI_TERM_H
#define LLMWB_UI_TERM_H

#include "render.h"

/* Initialises ncurses (cbreak without flow control: Ctrl-S and Ctrl-Q are keys, not a frozen screen; noecho,
 * keypad, set_escdelay(25), colours, optional mouse) and refines
 * caps->cm with the terminal's colour count. Returns 0, or nonzero when no terminal could be opened. */
int term_open(RenderCaps *caps, int mouse);
/* Restores the terminal (endwin); safe to call more than once and from the fatal hook. */
void term_close(void);
/* Current terminal size. */
void term_size(int *cols, int *lines);
/* Mouse reporting on/off (mousemask(0) when off). */
void term_set_mouse(int on);
/* Waits up to timeout_ms for a key; returns the key (curses key code, or a Unicode code point), or -1.
 * For K_MOUSE, *mx, *my get the click position (button 1 press/click only; other mouse events return -1). */
int term_get_key(int timeout_ms, int *mx, int *my);
/* Draws the whole buffer: one cell at a time into stdscr, then wnoutrefresh + one doupdate. force = clear
 * the screen first (Ctrl-L). */
void term_flush(const CellBuf *cb, const RenderCaps *caps, int force);

/* Colour conversions used by the flush (pure; tested). */
int color_to_256(int col);
int color_to_16(int col);

#endif
