/* screen_tok.c — [1] Tokenizer: BPE trained merge by merge on the corpus (the worker drives engine_bpe_*):
 * the corpus excerpt with tokens in cycling colours and whitespace made visible, the occurrences just merged
 * highlighted, the merge log with a cursor, the top candidate pairs of this step, vocabulary size and
 * compression. Encode mode (e) tokenizes typed text with the model's tokenizer and replays one word's merges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define TK_EXCERPT 6000     /* bytes of the corpus shown */
#define TK_MAXIDS 512

/* Merge speeds while Space runs (merges per second; 0 = as fast as it goes), + and - step through them. */
static const int TK_RATES[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 0};
#define TK_N_RATES ((int)(sizeof TK_RATES / sizeof TK_RATES[0]))
#define TK_RATE_DEFAULT 4   /* 20 merges/s: the vocabulary grows visibly, 767 merges take 40 s */

static struct {
    Engine *eng;
    int begun;
    long scroll;            /* first displayed line of the excerpt */
    int log_cursor;         /* selected merge rank; -1 = follow the latest */
    int goto_mode;
    char goto_buf[16];
    int encode;             /* encode mode */
    LineEdit le;
    int enc_sel;            /* selected token in encode mode */
    char *text;             /* excerpt cache */
    size_t text_len;
    long hit;               /* search: byte offset of the current match in text (-1 none) */
    int hit_len;
    int hit_scroll;         /* scroll so the match is visible at the next draw */
    int rate;               /* index into TK_RATES */
} tk = {.log_cursor = -1, .hit = -1, .rate = TK_RATE_DEFAULT};

static void tk_send_rate(App *a) {
    WorkerCmd c;
    memset(&c, 0, sizeof c);
    c.kind = WC_BPE_RATE;
    c.n = TK_RATES[tk.rate];
    worker_send(&a->wk, &c);
}

/* "20 merges/s" or "max speed". */
static const char *tk_rate_text(char *buf, size_t n) {
    if (TK_RATES[tk.rate] > 0) snprintf(buf, n, "%d merges/s", TK_RATES[tk.rate]);
    else snprintf(buf, n, "max speed");
    return buf;
}

static int tk_poll(App *a) {
    if (!a->eng || a->screen != 0) return 0;
    if (tk.eng != a->eng) {
        tk.eng = a->eng;
        tk.begun = 0;
        tk.text_len = 0;
    }
    if (!tk.begun) {
        tk.begun = 1;
        tk.text_len = 0;
        WorkerCmd c;
        memset(&c, 0, sizeof c);
        c.kind = WC_BPE_BEGIN;
        c.n = 256 * 1024;
        c.target = a->cfg->tokenizer.vocab_size;
        worker_send(&a->wk, &c);
        tk_send_rate(a);
        return 1;
    }
    return 0;
}

/* Fills the excerpt cache from the trainer's text (once per trainer); returns 0 when there is none. */
static int tk_fetch_text(App *a) {
    if (!tk.text) tk.text = malloc(TK_EXCERPT + 1);
    if (!tk.text) return 0;
    if (tk.text_len == 0) {
        engine_get_bpe_text(a->eng, tk.text, TK_EXCERPT + 1);
        tk.text_len = strlen(tk.text);
    }
    return 1;
}

/* Draws the excerpt with token colours into r, starting at line tk.scroll. */
static void tk_draw_excerpt(App *a, CellBuf *cb, Rect r, const BpeSnapshot *b) {
    if (!tk_fetch_text(a)) return;
    static BpeSegment seg[TK_EXCERPT];
    int ns = engine_get_bpe_segments(a->eng, 0, (long)tk.text_len, seg, TK_EXCERPT);
    int x = 0, line = 0;
    if (tk.hit_scroll && tk.hit >= 0) {
        /* layout pass: the line of the match, then scroll so it sits a third down the pane */
        tk.hit_scroll = 0;
        for (int i = 0; i < ns; i++) {
            long st = seg[i].start;
            int len = seg[i].len;
            if (st < 0 || st + len > (long)tk.text_len) continue;
            for (int k = 0; k < len;) {
                char vis[64];
                uint32_t cp;
                int cl = utf8_decode(tk.text + st + k, (size_t)(len - k), &cp);
                if (st + k >= tk.hit) {
                    if (x >= r.w) line++;
                    i = ns;
                    break;
                }
                if (cp == '\n' && x >= r.w) {   /* as drawn: no mark after a full row */
                    k += cl;
                    continue;
                }
                tok_visible(tk.text + st + k, cl, a->caps.unicode, vis, sizeof vis);
                x += utf8_cols(vis);
                while (x > r.w) x -= r.w, line++;
                k += cl;
            }
            if (i < ns && memchr(tk.text + st, '\n', (size_t)len)) x = 0, line++;
        }
        if (line < tk.scroll || line >= tk.scroll + r.h) tk.scroll = line > r.h / 3 ? line - r.h / 3 : 0;
        x = 0, line = 0;
    }
    int show_from = (int)tk.scroll;
    for (int i = 0; i < ns; i++) {
        char vis[SNAP_TOKTEXT * 4 + 16];
        long st = seg[i].start;
        int len = seg[i].len;
        if (st < 0 || st + len > (long)tk.text_len) continue;
        Style s = app_token_style(a, i, seg[i].just_merged && b->n_merges > 0);
        /* draw the token a code point at a time (so a search match highlights exactly its bytes), wrapping at
         * the right edge, breaking the line after a newline */
        for (int k = 0; k < len;) {
            uint32_t cp0;
            int cl = utf8_decode(tk.text + st + k, (size_t)(len - k), &cp0);
            long at = st + k;
            Style cs = tk.hit >= 0 && at >= tk.hit && at < tk.hit + tk.hit_len ? a->th.highlight : s;
            tok_visible(tk.text + at, cl, a->caps.unicode, vis, sizeof vis);
            k += cl;
            for (const char *p = vis; *p;) {
                uint32_t cp;
                p += utf8_decode(p, strlen(p), &cp);
                /* a newline's mark after a full row: the row break shows it (no row holding a lone mark) */
                if (x >= r.w && cp0 == '\n') continue;
                if (x >= r.w) x = 0, line++;
                int row = line - show_from;
                if (row >= r.h) return;
                if (row >= 0) cb_put(cb, r.x + x, r.y + row, cp, cs);
                x++;
            }
        }
        if (memchr(tk.text + st, '\n', (size_t)len)) x = 0, line++;
    }
}

static void tk_draw_encode(App *a, CellBuf *cb, Rect r) {
    cb_text(cb, r.x, r.y, r.w, "Encode (model tokenizer): type text, Up/Down select a token, Esc leaves", a->th.title);
    cb_text(cb, r.x, r.y + 1, 2, "> ", a->th.bold);
    le_draw(&tk.le, cb, r.x + 2, r.y + 1, r.w - 2, a->th.text, 1);
    static int ids[TK_MAXIDS];
    int n = engine_encode(a->eng, tk.le.buf, ids, TK_MAXIDS);
    if (n > TK_MAXIDS) n = TK_MAXIDS;
    if (tk.enc_sel >= n) tk.enc_sel = n - 1;
    if (tk.enc_sel < 0) tk.enc_sel = 0;
    cb_printf(cb, r.x, r.y + 3, r.w, a->th.dim, "%d tokens, %d bytes", n, tk.le.len);
    /* tokens on one row, ids under them, both highlighted at the selection */
    int x = 0, row = r.y + 4;
    int sel_off = 0, off = 0;
    char sel_text[SNAP_TOKTEXT] = "";
    for (int i = 0; i < n; i++) {
        char raw[SNAP_TOKTEXT], vis[SNAP_TOKTEXT * 4 + 8], idb[16];
        int len = engine_token_text(a->eng, ids[i], raw, sizeof raw);
        if (len > (int)sizeof raw - 1) len = (int)sizeof raw - 1;
        tok_visible(raw, len, a->caps.unicode, vis, sizeof vis);
        snprintf(idb, sizeof idb, "%d", ids[i]);
        int cw = 0;
        for (const char *p = vis; *p;) {
            uint32_t cp;
            p += utf8_decode(p, strlen(p), &cp);
            cw++;
        }
        int iw = (int)strlen(idb);
        int colw = (cw > iw ? cw : iw) + 1;
        if (x + colw > r.w) x = 0, row += 3;
        if (row + 1 >= r.y + r.h - 6) break;
        Style s = app_token_style(a, i, i == tk.enc_sel);
        cb_text(cb, r.x + x, row, cw, vis, s);
        cb_text(cb, r.x + x, row + 1, iw, idb, i == tk.enc_sel ? a->th.highlight : a->th.dim);
        if (i == tk.enc_sel) sel_off = off, snprintf(sel_text, sizeof sel_text, "%s", raw);
        off += len;
        x += colw;
    }
    (void)sel_text;
    /* the word around the selected token, with its leading space (GPT-2 style) */
    char word[128];
    int ws = sel_off, we = sel_off;
    const char *t = tk.le.buf;
    while (ws > 0 && t[ws - 1] != ' ') ws--;
    while (t[we] && t[we] != ' ') we++;
    if (ws > 0 && t[ws - 1] == ' ') ws--;
    if (we - ws >= (int)sizeof word) we = ws + (int)sizeof word - 1;
    memcpy(word, t + ws, (size_t)(we - ws));
    word[we - ws] = '\0';
    int ty = row + 3;
    if (n == 0 || !word[0] || ty >= r.y + r.h) return;
    static EncodeTrace tr;
    if (engine_encode_trace(a->eng, word, &tr) != 0) return;
    char vw[512];
    tok_visible(word, (int)strlen(word), a->caps.unicode, vw, sizeof vw);
    cb_printf(cb, r.x, ty++, r.w, a->th.title, "Merges applied to \"%s\" one at a time:", vw);
    for (int s = 0; s < tr.n_steps && ty < r.y + r.h; s++, ty++) {
        int xx = r.x;
        char lab[32];
        if (s == 0) snprintf(lab, sizeof lab, "bytes      ");
        else snprintf(lab, sizeof lab, "merge #%-4d", tr.merge_rank[s]);
        xx += cb_text(cb, xx, ty, r.w, lab, a->th.dim);
        for (int i = 0; i < tr.n_toks[s] && i < TRACE_MAX_TOKS; i++) {
            char raw[SNAP_TOKTEXT], vis[SNAP_TOKTEXT * 4 + 8];
            int len = engine_token_text(a->eng, tr.ids[s][i], raw, sizeof raw);
            if (len > (int)sizeof raw - 1) len = (int)sizeof raw - 1;
            tok_visible(raw, len, a->caps.unicode, vis, sizeof vis);
            xx += cb_text(cb, xx, ty, r.x + r.w - xx, vis, app_token_style(a, i, 0));
            xx += cb_text(cb, xx, ty, r.x + r.w - xx, " ", a->th.text);
        }
    }
}

/* The corpus pane's title: how tokens are told apart in this colour mode, and the whitespace marks. */
static const char *tk_corpus_title(const App *a) {
    if (a->caps.cm == CM_MONO)
        return a->caps.unicode ? "Corpus (tokens alternate reverse / underlined; space \xe2\x8b\x85 tab \xe2\x86\x92 newline \xe2\x86\xb5)"
                               : "Corpus (tokens alternate reverse / underlined; space . tab > newline $)";
    return a->caps.unicode ? "Corpus (tokens in cycling colours; space \xe2\x8b\x85 tab \xe2\x86\x92 newline \xe2\x86\xb5)"
                           : "Corpus (tokens in cycling colours; space . tab > newline $)";
}

/* Large view (z): the corpus pane (or the encode pane) over the whole body, the merge count in its title. */
static void tk_draw_large(App *a, CellBuf *cb, Rect r, const BpeSnapshot *b) {
    if (tk.encode) {
        tk_draw_encode(a, cb, r);
        return;
    }
    char title[256];
    snprintf(title, sizeof title,
             "Corpus: BPE merges %d/%d, %.3f bytes/token (space \xe2\x8b\x85 tab \xe2\x86\x92 newline \xe2\x86\xb5; "
             "z returns)",
             b->n_merges, b->target_merges, b->compression);
    cb_box(cb, r, title, a->th.dim, a->caps.unicode);
    if (b->active) tk_draw_excerpt(a, cb, (Rect){r.x + 1, r.y + 1, r.w - 2, r.h - 2}, b);
}

/* The special tokens box: "text  id  role" per row, ids aligned and whole, the role cut (…) to fit. */
static void tk_draw_specials(App *a, CellBuf *cb, Rect r, const SpecialToken *sp, int n) {
    cb_box(cb, r, "Special tokens (model vocabulary)", a->th.dim, a->caps.unicode);
    int tw = 1, iw = 1, w = r.w - 2;
    char vis[SNAP_MAX_SPECIAL][SNAP_TOKTEXT * 4 + 8];
    for (int i = 0; i < n; i++) {
        char d[16];
        tok_visible(sp[i].text, (int)strlen(sp[i].text), a->caps.unicode, vis[i], sizeof vis[i]);
        tw = LW_MAX(tw, utf8_cols(vis[i]));
        iw = LW_MAX(iw, snprintf(d, sizeof d, "%d", sp[i].id));
    }
    for (int i = 0; i < n && i < r.h - 2; i++) {
        char pad[SNAP_TOKTEXT * 4 + 24], role[128];
        int y = r.y + 1 + i, x = r.x + 1;
        x += cb_text(cb, x, y, w, utf8_pad(vis[i], tw, pad, sizeof pad), a->th.bold);
        x += cb_printf(cb, x, y, r.x + 1 + w - x, a->th.text, " %*d ", iw, sp[i].id);
        cb_text(cb, x, y, r.x + 1 + w - x, utf8_fit(sp[i].role, r.x + 1 + w - x, a->caps.unicode, role, sizeof role),
                a->th.dim);
    }
}

static void tk_draw(App *a, CellBuf *cb, Rect r) {
    BpeSnapshot b;
    engine_get_bpe(a->eng, &b);
    if (a->large) {
        tk_draw_large(a, cb, r, &b);
        return;
    }
    char info[256], rate[32], nb[32], nt[32];
    const char *st = !b.active ? "[starting]" : b.done ? "[DONE]" : a->ws.bpe_running ? "[RUN]" : "[PAUSED]";
    fmt_count(b.n_bytes, nb, sizeof nb);
    fmt_count(b.n_tokens, nt, sizeof nt);
    tk_rate_text(rate, sizeof rate);
    /* the longest form that fits: the byte and token counts go first, then the speed's key hint */
    snprintf(info, sizeof info, "BPE merges %d/%d  vocab %d  compression %.3f bytes/token  (%s bytes -> %s tokens)  %s  %s (+/-)",
             b.n_merges, b.target_merges, b.vocab_size, b.compression, nb, nt, st, rate);
    if (utf8_cols(info) > r.w)
        snprintf(info, sizeof info, "BPE merges %d/%d  vocab %d  compression %.3f bytes/token  %s  %s (+/-)", b.n_merges,
                 b.target_merges, b.vocab_size, b.compression, st, rate);
    if (utf8_cols(info) > r.w)
        snprintf(info, sizeof info, "BPE merges %d/%d  vocab %d  %.3f bytes/token  %s  %s", b.n_merges, b.target_merges,
                 b.vocab_size, b.compression, st, rate);
    cb_text(cb, r.x, r.y, r.w, info, a->th.bold);
    int y1 = r.y + 1;
    if (tk.goto_mode) {
        cb_printf(cb, r.x, y1, r.w, a->th.highlight, "go to merge: %s_  (Enter jumps, Esc cancels)", tk.goto_buf);
    } else if (b.n_merges > 0) {
        char l[64], rr[64], t[64];
        BpeMergeRow m[1];
        int got = engine_get_bpe_merges(a->eng, b.n_merges - 1, m, 1);
        if (got == 1) {
            (void)l;
            (void)rr;
            tok_visible(m[0].text, (int)strlen(m[0].text), a->caps.unicode, t, sizeof t);
            cb_printf(cb, r.x, y1, r.w, a->th.highlight, "last merge #%d: %d + %d -> %d \"%s\" (%ld occurrences, highlighted)",
                      m[0].rank, m[0].left, m[0].right, m[0].new_id, t, m[0].count);
        }
    } else {
        cb_text(cb, r.x, y1, r.w, "no merges yet: -> or s merges once, Space runs, e encodes text", a->th.dim);
    }
    Rect body = {r.x, r.y + 2, r.w, r.h - 2};
    Rect left, right;
    layout_split_h(body, 0.62, 40, 1, &left, &right);
    if (tk.encode) {
        tk_draw_encode(a, cb, left);
    } else {
        cb_box(cb, left, tk_corpus_title(a), a->th.dim, a->caps.unicode);
        if (b.active) tk_draw_excerpt(a, cb, (Rect){left.x + 1, left.y + 1, left.w - 2, left.h - 2}, &b);
    }
    /* the model vocabulary's special tokens at the bottom, the merge log and the candidates above them */
    SpecialToken sp[SNAP_MAX_SPECIAL];
    int n_sp = engine_special_tokens(a->eng, sp, SNAP_MAX_SPECIAL);
    if (n_sp > 0 && right.h - (n_sp + 2) >= 12) {
        Rect spr;
        layout_split_v(right, right.h - (n_sp + 2), &right, &spr);
        tk_draw_specials(a, cb, spr, sp, n_sp);
    }
    /* merge log */
    Rect logr, topr;
    int log_h = right.h - (SNAP_TOPK + 3);
    if (log_h < 6) log_h = right.h / 2;
    layout_split_v(right, log_h, &logr, &topr);
    cb_box(cb, logr, "Merge log (Up/Down, Enter = go to)", a->th.dim, a->caps.unicode);
    int rows = logr.h - 2;
    int cur = tk.log_cursor < 0 || tk.log_cursor >= b.n_merges ? b.n_merges - 1 : tk.log_cursor;
    int first = cur - rows + 1;
    if (first < 0) first = 0;
    BpeMergeRow mr[128];
    if (rows > 128) rows = 128;
    int got = b.n_merges > 0 ? engine_get_bpe_merges(a->eng, first, mr, rows) : 0;
    /* numbers are never cut: the ids go first, then the merged text narrows (marked with …) */
    int wr = 1, wc = 1, wid = 1;
    for (int i = 0; i < got; i++) {
        char d[24];
        wr = LW_MAX(wr, snprintf(d, sizeof d, "%d", mr[i].rank));
        wc = LW_MAX(wc, snprintf(d, sizeof d, "%ld", mr[i].count));
        wid = LW_MAX(wid, snprintf(d, sizeof d, "%d", LW_MAX(mr[i].new_id, LW_MAX(mr[i].left, mr[i].right))));
    }
    int lw = logr.w - 2, ids_w = 3 * wid + 3;   /* "left+right>new " */
    int text_w = lw - (1 + wr + 1 + 1 + wc);
    int with_ids = text_w - ids_w >= 10;
    if (with_ids) text_w -= ids_w;
    if (text_w > 12) text_w = 12;
    for (int i = 0; i < got; i++) {
        char t[SNAP_TOKTEXT * 4 + 8], tf[SNAP_TOKTEXT * 4 + 8], tp[SNAP_TOKTEXT * 4 + 24], ids[48] = "";
        tok_visible(mr[i].text, (int)strlen(mr[i].text), a->caps.unicode, t, sizeof t);
        utf8_pad(utf8_fit(t, text_w, a->caps.unicode, tf, sizeof tf), text_w, tp, sizeof tp);
        if (with_ids) snprintf(ids, sizeof ids, "%*d+%-*d>%-*d ", wid, mr[i].left, wid, mr[i].right, wid, mr[i].new_id);
        int sel = mr[i].rank == cur;
        cb_printf(cb, logr.x + 1, logr.y + 1 + i, lw, sel ? a->th.cursor : a->th.text, "%s%*d %s%s %*ld",
                  sel ? ">" : " ", wr, mr[i].rank, ids, tp, wc, mr[i].count);
    }
    cb_box(cb, topr, "Top candidate pairs now", a->th.dim, a->caps.unicode);
    /* as in the log: the count whole, the id columns dropped before the text narrows */
    int tw = topr.w - 2, cw = 5;
    for (int i = 0; i < b.n_top; i++) {
        char d[24];
        cw = LW_MAX(cw, snprintf(d, sizeof d, "%ld", b.top[i].count));
    }
    int mw = tw - 1 - 1 - cw, pair_ids = mw - 12 >= 8;
    if (pair_ids) mw -= 12;
    if (mw > 14) mw = 14;
    if (pair_ids) cb_printf(cb, topr.x + 1, topr.y + 1, tw, a->th.dim, " %-5s %-5s %-*s %*s", "left", "right", mw, "merged", cw, "count");
    else cb_printf(cb, topr.x + 1, topr.y + 1, tw, a->th.dim, " %-*s %*s", mw, "merged", cw, "count");
    for (int i = 0; i < b.n_top && i < topr.h - 3; i++) {
        char t[SNAP_TOKTEXT * 4 + 8], tf[SNAP_TOKTEXT * 4 + 8], tp[SNAP_TOKTEXT * 4 + 24], ids[32] = "";
        tok_visible(b.top[i].text, (int)strlen(b.top[i].text), a->caps.unicode, t, sizeof t);
        utf8_pad(utf8_fit(t, mw, a->caps.unicode, tf, sizeof tf), mw, tp, sizeof tp);
        if (pair_ids) snprintf(ids, sizeof ids, "%-5d %-5d ", b.top[i].left, b.top[i].right);
        cb_printf(cb, topr.x + 1, topr.y + 2 + i, tw, i == 0 ? a->th.good : a->th.text, "%s%s%s %*ld",
                  i == 0 ? ">" : " ", ids, tp, cw, b.top[i].count);
    }
}

static int tk_text_mode(App *a) {
    (void)a;
    return tk.encode || tk.goto_mode;
}

static int tk_key(App *a, int key) {
    if (!a->eng) return 0;
    if (tk.goto_mode) {
        size_t l = strlen(tk.goto_buf);
        if (key >= '0' && key <= '9' && l + 1 < sizeof tk.goto_buf) {
            tk.goto_buf[l] = (char)key;
            tk.goto_buf[l + 1] = '\0';
        } else if ((key == K_BACKSPACE || key == 127 || key == 8) && l > 0) {
            tk.goto_buf[l - 1] = '\0';
        } else if (key == '\r' || key == '\n' || key == K_ENTER) {
            WorkerCmd c;
            memset(&c, 0, sizeof c);
            c.kind = WC_BPE_GOTO;
            c.n = atol(tk.goto_buf);
            worker_send(&a->wk, &c);
            app_status(a, 0, "going to merge %ld", c.n);
            tk.goto_mode = 0;
            tk.log_cursor = -1;
        } else if (key == K_ESC) {
            tk.goto_mode = 0;
        }
        return 1;
    }
    if (tk.encode) {
        if (key == K_UP) { tk.enc_sel--; return 1; }
        if (key == K_DOWN) { tk.enc_sel++; return 1; }
        int r = le_key(&tk.le, key);
        if (r == LE_CANCEL) tk.encode = 0;
        return 1;
    }
    switch (key) {
    case K_RIGHT: case 's': worker_send_kind(&a->wk, WC_BPE_STEP); tk.log_cursor = -1; return 1;
    case K_LEFT: worker_send_kind(&a->wk, WC_BPE_BACK); tk.log_cursor = -1; return 1;
    case ' ':
        worker_send_kind(&a->wk, a->ws.bpe_running ? WC_BPE_PAUSE : WC_BPE_RUN);
        tk.log_cursor = -1;
        return 1;
    case 'g': tk.goto_mode = 1; tk.goto_buf[0] = '\0'; return 1;
    case 'e': tk.encode = 1; tk.enc_sel = 0; return 1;
    case K_UP: case K_DOWN: {
        BpeSnapshot b;
        engine_get_bpe(a->eng, &b);
        int cur = tk.log_cursor < 0 ? b.n_merges - 1 : tk.log_cursor;
        cur += key == K_UP ? -1 : 1;
        if (cur < 0) cur = 0;
        tk.log_cursor = cur >= b.n_merges - 1 ? -1 : cur;
        return 1;
    }
    case '\r': case '\n': case K_ENTER:
        if (tk.log_cursor >= 0) {
            WorkerCmd c;
            memset(&c, 0, sizeof c);
            c.kind = WC_BPE_GOTO;
            c.n = tk.log_cursor + 1;
            worker_send(&a->wk, &c);
            tk.log_cursor = -1;
        }
        return 1;
    case K_NPAGE: tk.scroll += 10; return 1;
    case K_PPAGE: tk.scroll = tk.scroll > 10 ? tk.scroll - 10 : 0; return 1;
    case 'r': tk.begun = 0; app_status(a, 0, "restarting the BPE trainer"); return 1;
    case '+': case '=': case '-': case '_': {
        int up = key == '+' || key == '=';
        tk.rate = up ? (tk.rate + 1 < TK_N_RATES ? tk.rate + 1 : tk.rate) : (tk.rate > 0 ? tk.rate - 1 : 0);
        tk_send_rate(a);
        char rate[32];
        app_status(a, 0, "merge speed: %s", tk_rate_text(rate, sizeof rate));
        return 1;
    }
    default: return 0;
    }
}

/* / n N: the merge log rows (by merged text) while the log cursor is active, else the corpus excerpt. */
static void tk_search(App *a, const char *pat, int dir) {
    if (!pat[0]) {
        tk.hit = -1;
        return;
    }
    BpeSnapshot b;
    engine_get_bpe(a->eng, &b);
    if (tk.log_cursor >= 0 && b.n_merges > 0) {
        int n = b.n_merges;
        size_t cap = (size_t)n * (SNAP_TOKTEXT + 1) + 1, len = 0;
        char *flat = malloc(cap);
        if (!flat) return;
        BpeMergeRow mr[64];
        for (int f = 0; f < n; f += 64) {
            int got = engine_get_bpe_merges(a->eng, f, mr, 64);
            for (int i = 0; i < got; i++) {
                size_t l = strnlen(mr[i].text, SNAP_TOKTEXT);
                for (size_t j = 0; j < l; j++) flat[len++] = mr[i].text[j] == '\n' ? ' ' : mr[i].text[j];
                flat[len++] = '\n';
            }
            if (got <= 0) break;
        }
        flat[len] = '\0';
        long cur = -1;
        for (int i = 0, line = 0; cur < 0 && (size_t)i < len; i++) {   /* start of the cursor's row */
            if (line == tk.log_cursor) cur = i;
            if (flat[i] == '\n') line++;
        }
        long o = app_search_step(a, flat, len, pat, cur, dir);
        if (o >= 0) tk.log_cursor = search_line_of(flat, len, o);
        free(flat);
        return;
    }
    if (!tk_fetch_text(a) || tk.text_len == 0) {
        app_status(a, 1, "no corpus excerpt yet");
        return;
    }
    long o = app_search_step(a, tk.text, tk.text_len, pat, tk.hit, dir);
    if (o >= 0) {
        tk.hit = o;
        tk.hit_len = (int)strlen(pat);
        tk.hit_scroll = 1;
    }
}

static const char *const TK_HELP[] = {
    "/\tsearch the corpus excerpt (the merge log while its cursor is active)",
    "n, N\tnext / previous match",
    "-> or s\tone merge forward",
    "<-\tundo the last merge",
    "Space\trun / pause merging",
    "+ -\tmerge speed while running: 1 ... 500 merges/s or max (default 20)",
    "g N Enter\tgo to merge N",
    "Up/Down\tmerge-log cursor; Enter goes to that merge",
    "PgUp/PgDn\tscroll the corpus excerpt",
    "e\tencode: type text, see tokens and ids; Up/Down select",
    "\tthe selected word's merges replay one by one; Esc leaves",
    "r\trestart the trainer from bytes",
    "z\tlarge view: the corpus excerpt alone, full size",
    "\tSpecial tokens: the vocabulary's markers, their ids and roles (typed in e: one token)",
    NULL};

const ScreenOps screen_tokenizer = {
    .title = "Tokenizer",
    .short_title = "Tok",
    .help = TK_HELP,
    .draw = tk_draw,
    .key = tk_key,
    .text_mode = tk_text_mode,
    .poll = tk_poll,
    .search = tk_search,
};
