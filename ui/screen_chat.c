/* screen_chat.c — [5] Chat: a transcript and an input line with history; the reply streams token by token
 * from the worker (engine_gen_begin / engine_gen_next, interleaved with training); sampling controls
 * (temperature, top-k, top-p, max tokens) and bars of the next-token probabilities of the latest token.
 * For a model trained with train.task mlm (BERT) it is "fill the mask": the reply is the sentence with each [MASK]
 * (or lone _) filled, the panel shows the bars of one mask's candidates, and Enter on a candidate (control keys)
 * writes it into the sentence on the input line. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define CH_TEXT 65536
#define CH_ALIGN 128 /* target tokens whose alignment the translate panel keeps */

enum { P_TEMP, P_TOPK, P_TOPP, P_MAX, P_BEAM, P_N };   /* P_BEAM: translators only */

static struct {
    int init;
    LineEdit le;
    int control;               /* 0 = typing into the input line, 1 = control keys */
    int loading;               /* typing a checkpoint directory to load */
    LineEdit path;
    int param;                 /* selected parameter */
    SampleParams sp;
    char text[CH_TEXT];        /* transcript: lines "you: ..." / "model: ..." separated by '\n' */
    int len;
    uint64_t chat_id;
    int read;                  /* tokens of the current generation already appended */
    int streaming;
    GenToken last;
    int have_last;
    int n_tokens;
    /* a translator (engine_is_translator): the source tokens of the last line sent, and for each target token
     * written so far the source token its cross-attention weighs most */
    int n_src;
    char src_tok[SNAP_MAX_PROBE][SNAP_TOKTEXT];
    int n_align, greedy_set;
    int beam;                  /* translator: beam width (1 = greedy, streamed with cross-attention), from model.beam */
    int beam_used;             /* the width of the last translation sent */
    int n_beam;                /* its candidates (beam_used > 1) */
    float beam_score[WORKER_BEAM];
    char beam_text[WORKER_BEAM][WORKER_BEAM_TEXT];
    struct { char tok[SNAP_TOKTEXT]; int src; float w; } align[CH_ALIGN];
    long hit;                  /* search: byte offset of the current match in text (-1 none) */
    int hit_len;
    /* fill the mask (mlm): the filled masks of the last reply, the one shown and its candidate cursor */
    GenToken masks[16];
    int n_masks, sel_mask, sel_cand;
    char sent[1024];           /* the sentence of the last reply, as typed */
    /* the last reply's text (for the Lens, C-g) and speed: its tokens / s from the first token to the last (the
     * worker's clock), with the KV cache on or off (C-t, SampleParams.no_cache) */
    char reply[1024];
    int reply_len;
    double tps;                /* 0 = none yet (or a reply of one token) */
    int tps_tokens, tps_no_cache;
} ch = {.hit = -1};

enum { CH_KEY_LENS = 7, CH_KEY_CACHE = 20 }; /* C-g: the last prompt and reply to the Lens; C-t: KV cache on/off */

/* The engine fills masks (train.task mlm) rather than continuing text. */
static int ch_fill_mode(const App *a) { return a->eng && !strcmp(engine_config(a->eng)->train.task, "mlm"); }

static int ch_translator(const App *a) { return a->eng && engine_is_translator(a->eng); }

/* The controls this model has: the beam width for a translator only. */
static int ch_n_params(const App *a) { return ch_translator(a) ? P_N : P_BEAM; }

/* The alignment line of a target token: the source token its cross-attention row weighs most. */
static void ch_align_push(const GenToken *t) {
    if (t->n_cross <= 0 || ch.n_align == CH_ALIGN) return;
    int best = 0;
    for (int s = 1; s < t->n_cross; s++)
        if (t->cross[s] > t->cross[best]) best = s;
    snprintf(ch.align[ch.n_align].tok, sizeof ch.align[0].tok, "%s", t->text);
    ch.align[ch.n_align].src = best;
    ch.align[ch.n_align].w = t->cross[best];
    ch.n_align++;
}

static void ch_init(App *a) {
    if (ch.init) return;
    ch.init = 1;
    le_init(&ch.le);
    engine_sample_defaults(&ch.sp);
    (void)a;
}

static void ch_append(const char *s) {
    int n = (int)strlen(s);
    if (ch.len + n >= CH_TEXT) {
        /* drop the oldest half */
        int cut = CH_TEXT / 2;
        memmove(ch.text, ch.text + cut, (size_t)(ch.len - cut));
        ch.len -= cut;
        ch.hit = ch.hit >= cut ? ch.hit - cut : -1;
    }
    memcpy(ch.text + ch.len, s, (size_t)n);
    ch.len += n;
    ch.text[ch.len] = '\0';
}

/* The last reply's tokens per second: "-" when hidden (the demo's reproducible figures) or not measured (one token). */
static void ch_tps_text(const App *a, char *buf, size_t n) {
    if (a->repro || ch.tps <= 0) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.0f", ch.tps);
}

/* The model continues text (not a classifier, a translator or a mask filler): the KV cache switch applies. */
static int ch_plain_lm(const App *a) {
    return a->eng && engine_n_classes(a->eng) == 0 && !ch_translator(a) && !ch_fill_mode(a);
}

static int ch_poll(App *a) {
    ch_init(a);
    if (!ch.streaming) return 0;
    GenToken buf[64];
    int done = 0;
    uint64_t id = 0;
    int n = worker_chat_read(&a->wk, ch.read, buf, 64, &done, &id);
    if (id != ch.chat_id) return 0;   /* the worker has not started this generation yet */
    for (int i = 0; i < n; i++) {
        ch_append(buf[i].text);
        int tl = (int)strlen(buf[i].text);
        if (ch.reply_len + tl < (int)sizeof ch.reply) {
            memcpy(ch.reply + ch.reply_len, buf[i].text, (size_t)tl + 1);
            ch.reply_len += tl;
        }
        ch_align_push(&buf[i]);
        ch.last = buf[i];
        ch.have_last = 1;
        ch.n_tokens++;
        if (ch_fill_mode(a) && buf[i].n_top > 0 && ch.n_masks < (int)(sizeof ch.masks / sizeof *ch.masks))
            ch.masks[ch.n_masks++] = buf[i];
    }
    ch.read += n;
    if (done) {
        ch.streaming = 0;
        ch_append("\n");
        double secs = 0;
        ch.tps_tokens = worker_chat_timing(&a->wk, ch.chat_id, &secs);
        ch.tps = ch.tps_tokens > 1 && secs > 0 ? (double)(ch.tps_tokens - 1) / secs : 0;
        ch.tps_no_cache = ch.sp.no_cache;
        ch.n_beam = 0;
        if (ch.beam_used > 1) {   /* the candidates under the chosen translation, best first */
            char (*text)[WORKER_BEAM_TEXT] = ch.beam_text;
            ch.n_beam = worker_beam_read(&a->wk, ch.chat_id, text, ch.beam_score, WORKER_BEAM);
            char line[WORKER_BEAM_TEXT + 64];
            snprintf(line, sizeof line, "  beam candidates (width %d, score = sum log p / length^%.2g):\n", ch.beam_used,
                     (double)engine_config(a->eng)->model.length_penalty);
            if (ch.n_beam > 0) ch_append(line);
            for (int i = 0; i < ch.n_beam; i++) {
                snprintf(line, sizeof line, "  %2d. %8.4f  %s\n", i + 1, ch.beam_score[i], text[i]);
                ch_append(line);
            }
        }
        if (ch.n_tokens > 0 && a->eng && engine_n_classes(a->eng) > 0)
            app_status(a, 0, "predicted: %s", ch.last.text);
        else if (ch_fill_mode(a) && ch.n_masks > 0) /* none: the worker's message says why */
            app_status(a, 0, "filled: %d mask%s (Esc, Up/Down a candidate, Left/Right the mask, Enter fills it in)",
                       ch.n_masks, ch.n_masks == 1 ? "" : "s");
        else if (ch.n_beam > 0)
            app_status(a, 0, "reply: beam search, %d candidate%s", ch.n_beam, ch.n_beam == 1 ? "" : "s");
        else if (ch.n_tokens > 0) {
            char tps[32];
            ch_tps_text(a, tps, sizeof tps);
            app_status(a, 0, "reply: %d token%s, %s tok/s (KV cache %s)", ch.n_tokens, ch.n_tokens == 1 ? "" : "s", tps,
                       ch.tps_no_cache ? "off" : "on");
        }
    }
    return n > 0 || done;
}

static void ch_submit(App *a) {
    if (!a->eng) { app_status(a, 1, "the engine is not ready yet"); return; }
    if (ch.streaming) { app_status(a, 1, "still generating (F8 stops)"); return; }
    if (ch.le.len == 0) return;
    int tr = ch_translator(a);
    ch_append(tr ? "source: " : "you: ");
    ch_append(ch.le.buf);
    ch_append(tr ? "\ntranslation: " : "\nmodel: ");
    ch.n_align = 0;
    ch.n_src = 0;
    if (tr) { /* the encoder's tokens, for the cross-attention bars */
        int ids[SNAP_MAX_PROBE];
        ch.n_src = engine_source_tokens(a->eng, ch.le.buf, ids, SNAP_MAX_PROBE);
        for (int i = 0; i < ch.n_src; i++) engine_token_text(a->eng, ids[i], ch.src_tok[i], sizeof ch.src_tok[i]);
    }
    WorkerCmd c;
    memset(&c, 0, sizeof c);
    c.kind = WC_GEN;
    c.sp = ch.sp;
    c.sp.seed = ch.sp.seed + (uint64_t)ch.chat_id;
    snprintf(c.text, sizeof c.text, "%s", ch.le.buf);
    snprintf(ch.sent, sizeof ch.sent, "%s", ch.le.buf);
    ch.beam_used = tr ? ch.beam : 1;
    ch.n_beam = 0;
    c.n = ch.beam_used;
    ch.n_masks = ch.sel_mask = ch.sel_cand = 0;
    ch.reply[0] = '\0', ch.reply_len = 0, ch.tps = 0, ch.tps_tokens = 0;
    worker_send(&a->wk, &c);
    ch.chat_id++;   /* the worker numbers generations the same way */
    ch.read = 0;
    ch.streaming = 1;
    ch.n_tokens = 0;
    ch.have_last = 0;
    le_set(&ch.le, "");
    /* a status of its own until the reply ends, so a script's wait for the next "reply:" cannot see the last */
    app_status(a, 0, "%s", engine_n_classes(a->eng) > 0 ? "classifying ..." : ch_fill_mode(a) ? "filling ..." : tr ? "translating ..." : "generating ...");
}

/* Enter on a candidate: the sentence of the last reply with mask sel_mask ([MASK] or a lone _, counted left to
 * right) replaced by the candidate (without its leading space when the mask has one before it), on the input line. */
static void ch_fill_in(App *a) {
    if (ch.sel_mask >= ch.n_masks) return;
    const GenToken *m = &ch.masks[ch.sel_mask];
    char cand[SNAP_TOKTEXT];
    engine_token_text(a->eng, m->top_ids[ch.sel_cand], cand, sizeof cand);
    char out[sizeof ch.sent + SNAP_TOKTEXT];
    int k = 0, o = 0, done = 0;
    for (int i = 0; ch.sent[i] && o < (int)sizeof out - SNAP_TOKTEXT - 1;) {
        const char *p = ch.sent + i;
        int mlen = !strncmp(p, "[MASK]", 6) ? 6
                   : (*p == '_' && (i == 0 || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[1]) && p[1] != '_') ? 1 : 0;
        if (mlen && !done && k++ == ch.sel_mask) {
            const char *c = cand;
            if (*c == ' ' && o > 0 && out[o - 1] == ' ') c++;
            o += snprintf(out + o, sizeof out - (size_t)o, "%s", c);
            i += mlen;
            done = 1;
            continue;
        }
        out[o++] = ch.sent[i++];
    }
    out[o] = 0;
    le_set(&ch.le, out);
    ch.control = 0;
    app_status(a, 0, "filled in \"%s\": Enter sends the sentence again", cand);
}

static void ch_adjust(App *a, int dir) {
    switch (ch.param) {
    case P_TEMP:
        ch.sp.temperature += 0.1f * (float)dir;
        if (ch.sp.temperature < 0.05f) ch.sp.temperature = 0;
        if (ch.sp.temperature > 3) ch.sp.temperature = 3;
        break;
    case P_TOPK:
        ch.sp.top_k += dir * (ch.sp.top_k >= 10 ? 10 : 1);
        if (ch.sp.top_k < 0) ch.sp.top_k = 0;
        break;
    case P_TOPP:
        ch.sp.top_p += 0.05f * (float)dir;
        if (ch.sp.top_p < 0.05f) ch.sp.top_p = 0.05f;
        if (ch.sp.top_p > 1) ch.sp.top_p = 1;
        break;
    case P_MAX:
        ch.sp.max_tokens += dir * 10;
        if (ch.sp.max_tokens < 1) ch.sp.max_tokens = 1;
        if (ch.sp.max_tokens > 1000) ch.sp.max_tokens = 1000;
        break;
    case P_BEAM:
        ch.beam = LW_MAX(1, LW_MIN(WORKER_BEAM, ch.beam + dir));
        app_status(a, 0, "beam width %d: %s", ch.beam,
                   ch.beam > 1 ? "beam search, the candidates listed under the translation" : "greedy, token by token");
        break;
    default: break;
    }
}

/* A translator's panel: the latest target token's cross-attention row as bars over the source tokens, then each
 * target token so far with the source token it looked at most (the alignment, read down the translation). */
static void ch_draw_cross(App *a, CellBuf *cb, Rect right, int x, int y, int cw) {
    int bottom = right.y + right.h - 1;
    char vis[SNAP_TOKTEXT * 4 + 8], tv[SNAP_TOKTEXT * 4 + 8];
    if (ch.beam_used > 1 && !ch.streaming) {   /* the candidates and their scores (a beam keeps no attention rows) */
        cb_printf(cb, x, y++, cw, a->th.title, "Beam candidates (width %d)", ch.beam_used);
        /* each candidate wrapped on up to as many rows as leave one for each candidate after it; the last row
         * it gets ends in … when the text goes on */
        for (int i = 0; i < ch.n_beam && y < bottom - 2; i++) {
            char sc[32], fit[WORKER_BEAM_TEXT + 8];
            int sw = snprintf(sc, sizeof sc, "%2d %8.4f ", i + 1, ch.beam_score[i]), tw = cw - sw;
            Style st = i == 0 ? a->th.highlight : a->th.text;
            cb_text(cb, x, y, cw, sc, st);
            int rows = LW_MAX(1, LW_MIN(3, bottom - 2 - y - (ch.n_beam - 1 - i)));
            const char *t = ch.beam_text[i];
            size_t left = strlen(t);
            int k = 0;
            while (k < rows && left > 0 && tw > 0) {
                size_t next, len = wrap_row(t, left, tw, &next);
                int more = next > 0 && next < left;   /* text after this row */
                if (k == rows - 1 && more) utf8_fit(t, tw, a->caps.unicode, fit, sizeof fit);
                else snprintf(fit, sizeof fit, "%.*s", (int)len, t);
                cb_text(cb, x + sw, y++, tw, fit, st);
                k++;
                if (!more) break;
                t += next, left -= next;
            }
            if (k == 0) y++;   /* an empty translation */
        }
        if (y < bottom) y++;
        if (y < bottom)
            cb_wrap(cb, (Rect){x, y, cw, bottom - y}, "score: sum log p / length^length_penalty; cross-attention with "
                                                      "beam width 1 (w, -)", a->th.dim);
        return;
    }
    if (!ch.have_last || ch.last.n_cross <= 0) {
        cb_text(cb, x, y++, cw, "Cross-attention", a->th.title);
        cb_text(cb, x, y, cw, "(after the first translated token)", a->th.dim);
        return;
    }
    tok_visible(ch.last.text, (int)strlen(ch.last.text), a->caps.unicode, tv, sizeof tv);
    cb_printf(cb, x, y++, cw, a->th.title, "Cross-attention of %s", tv);
    int n = ch.last.n_cross < ch.n_src ? ch.last.n_cross : ch.n_src;
    int best = 0;
    for (int s = 1; s < n; s++)
        if (ch.last.cross[s] > ch.last.cross[best]) best = s;
    for (int s = 0; s < n && y < bottom - 3; s++, y++) {
        tok_visible(ch.src_tok[s], (int)strlen(ch.src_tok[s]), a->caps.unicode, vis, sizeof vis);
        float p = ch.last.cross[s];
        int lw = 10, bw = cw - lw - 8, fill = (int)lround(p * bw);
        cb_text(cb, x, y, lw, vis, s == best ? a->th.highlight : a->th.text);
        for (int j = 0; j < bw; j++)
            cb_put(cb, x + lw + j, y, j < fill ? (a->caps.unicode ? 0x2588 : '#') : ' ', a->th.plot_ema);
        cb_printf(cb, x + lw + bw, y, 8, a->th.text, "%5.1f%%", 100 * p);
    }
    y++;
    if (y >= bottom - 1) return;
    cb_text(cb, x, y++, cw, "Alignment (target <- source)", a->th.title);
    int first = ch.n_align - (bottom - y);
    for (int i = first > 0 ? first : 0; i < ch.n_align && y < bottom; i++, y++) {
        int s = ch.align[i].src;
        tok_visible(ch.align[i].tok, (int)strlen(ch.align[i].tok), a->caps.unicode, tv, sizeof tv);
        tok_visible(s < ch.n_src ? ch.src_tok[s] : "?", s < ch.n_src ? (int)strlen(ch.src_tok[s]) : 1, a->caps.unicode,
                    vis, sizeof vis);
        cb_text(cb, x, y, 10, tv, a->th.text);
        cb_text(cb, x + 11, y, 3, "<-", a->th.dim);
        cb_text(cb, x + 14, y, 10, vis, a->th.text);
        cb_printf(cb, x + 25, y, cw - 25, a->th.text, "%3.0f%%", 100 * ch.align[i].w);
    }
}

/* The probability bars of the latest answer from row y down to bottom (exclusive): the next-token candidates of
 * a language model, or the classes of a classifier. */
static void ch_draw_bars(App *a, CellBuf *cb, int x, int y, int cw, int bottom, int classifier) {
    cb_text(cb, x, y++, cw, classifier ? "Class probabilities" : "Next-token probabilities", a->th.title);
    if (!ch.have_last) {
        cb_text(cb, x, y, cw, classifier ? "(Enter classifies the text)" : "(after the first reply token)",
                a->th.dim);
        return;
    }
    for (int i = 0; i < ch.last.n_top && y < bottom; i++, y++) {
        char raw[SNAP_TOKTEXT], vis[SNAP_TOKTEXT * 4 + 8];
        int len = classifier ? snprintf(raw, sizeof raw, "%s", engine_class_name(a->eng, ch.last.top_ids[i]))
                             : engine_token_text(a->eng, ch.last.top_ids[i], raw, sizeof raw);
        if (len > (int)sizeof raw - 1) len = (int)sizeof raw - 1;
        tok_visible(raw, len, a->caps.unicode, vis, sizeof vis);
        float p = ch.last.top_probs[i];
        int chosen = ch.last.top_ids[i] == ch.last.id;
        int lw = 10;
        cb_text(cb, x, y, lw, vis, chosen ? a->th.highlight : a->th.text);
        int bw = cw - lw - 8;
        int fill = (int)lround(p * bw);
        for (int j = 0; j < bw; j++)
            cb_put(cb, x + lw + j, y, j < fill ? (a->caps.unicode ? 0x2588 : '#') : ' ', a->th.plot_ema);
        cb_printf(cb, x + lw + bw, y, 8, a->th.text, "%5.1f%%", 100 * p);
    }
    if (y < bottom)
        cb_text(cb, x, y, cw, classifier ? "highlighted = the prediction" : "highlighted = the token sampled", a->th.dim);
}

static void ch_draw(App *a, CellBuf *cb, Rect r) {
    ch_init(a);
    if (ch_translator(a) && !ch.greedy_set) { /* a translator decodes greedily unless asked otherwise */
        ch.greedy_set = 1;
        ch.sp.temperature = 0;
        ch.beam = LW_MAX(1, LW_MIN(WORKER_BEAM, engine_config(a->eng)->model.beam));
    }
    Rect left = r, right = r;
    if (!a->large) layout_split_h(r, 0.68, 34, 1, &left, &right);   /* large (z): the transcript and input alone */
    Rect tr = {left.x, left.y, left.w, left.h - 2};
    cb_box(cb, tr, ch.streaming ? "Transcript (streaming...)" : a->large ? "Transcript (large view, z returns)" : "Transcript",
           a->th.dim, a->caps.unicode);
    /* wrap the transcript into rows, then show the last rows that fit */
    int w = tr.w - 2, h = tr.h - 2;
    if (w < 1 || h < 1) return;
    /* rows broken at word boundaries (wrap_row); row_len excludes the space or newline a row broke at */
    int rows_cap = 4096;
    static int row_start[4096], row_len[4096];
    int nrows = 0;
    for (int i = 0; i <= ch.len;) {
        if (nrows == rows_cap) {
            memmove(row_start, row_start + rows_cap / 2, sizeof(int) * (size_t)(rows_cap / 2));
            memmove(row_len, row_len + rows_cap / 2, sizeof(int) * (size_t)(rows_cap / 2));
            nrows = rows_cap / 2;
        }
        size_t next, len = wrap_row(ch.text + i, (size_t)(ch.len - i), w, &next);
        row_start[nrows] = i, row_len[nrows] = (int)len;
        nrows++;
        if (next == 0) break;   /* the end of the text */
        i += (int)next;
    }
    int first = nrows > h ? nrows - h : 0;
    if (ch.hit >= 0 && ch.hit < ch.len) {   /* a search match: keep its row in view (a third down) */
        int hr = 0;
        while (hr + 1 < nrows && row_start[hr + 1] <= ch.hit) hr++;
        if (hr < first || hr >= first + h) first = hr > h / 3 ? hr - h / 3 : 0;
        if (first > (nrows > h ? nrows - h : 0)) first = nrows > h ? nrows - h : 0;
    }
    for (int rr = first; rr < nrows && rr - first < h; rr++) {
        int y = tr.y + 1 + rr - first;
        int s = row_start[rr], e = s + row_len[rr];
        int x = 0;
        Style st = a->th.text;
        if (!strncmp(ch.text + s, "you: ", 5) || !strncmp(ch.text + s, "source: ", 8)) st = a->th.good;
        for (int i = s; i < e && x < w;) {
            uint32_t cp;
            int at = i;
            i += utf8_decode(ch.text + i, (size_t)(e - i), &cp);
            if (cp == '\n') break;
            if (cp < 0x20) cp = ' ';
            int hl = ch.hit >= 0 && at >= ch.hit && at < ch.hit + ch.hit_len;
            cb_put(cb, tr.x + 1 + x++, y, cp, hl ? a->th.highlight : st);
        }
    }
    int iy = left.y + left.h - 2;
    if (ch.loading) {
        cb_text(cb, left.x, iy, left.w, "load checkpoint (a directory written by llmwb or a Hugging Face GPT-2 dir); Enter loads, Esc cancels",
                a->th.dim);
        cb_text(cb, left.x, iy + 1, 6, "dir: ", a->th.bold);
        le_draw(&ch.path, cb, left.x + 5, iy + 1, left.w - 5, a->th.text, 1);
    } else {
        /* the hint of each kind of model (classifier, translator, other) and mode, its fields giving way to fit */
        static const FitField hints[3][2][3] = {
            {{{"Enter classifies", NULL, 0}, {"Up/Down history", NULL, 2}, {"Esc = controls (o loads a checkpoint)", "Esc = controls", 1}},
             {{"controls: o load checkpoint", "controls: o load", 0}, {"Enter or i types", "i types", 1}, {NULL, NULL, 0}}},
            {{{"Enter translates", NULL, 0}, {"Up/Down history", NULL, 2}, {"Esc = controls (t/k/p/n/w, +/-)", "Esc = controls", 1}},
             {{"controls: t k p n w select", NULL, 0}, {"+/- change", NULL, 1}, {"o load checkpoint, Enter or i types", "i types", 2}}},
            {{{"Enter sends", NULL, 0}, {"Up/Down history", NULL, 2}, {"Esc = controls (t/k/p/n, +/-)", "Esc = controls", 1}},
             {{"controls: t k p n select", NULL, 0}, {"+/- change", NULL, 1}, {"o load checkpoint, Enter or i types", "i types", 2}}}};
        int kind = a->eng && engine_n_classes(a->eng) > 0 ? 0 : ch_translator(a) ? 1 : 2;
        char hint[160];
        fit_line(hints[kind][ch.control], 3, ", ", left.w, a->caps.unicode, hint, sizeof hint);
        cb_text(cb, left.x, iy, left.w, hint, a->th.dim);
        cb_text(cb, left.x, iy + 1, 2, "> ", a->th.bold);
        le_draw(&ch.le, cb, left.x + 2, iy + 1, left.w - 2, a->th.text, !ch.control);
    }
    if (a->large) return;

    if (ch_fill_mode(a)) {   /* fill the mask: one mask's candidates, the cursor on one of them */
        cb_box(cb, right, "Fill the mask", a->th.dim, a->caps.unicode);
        int y = right.y + 1, x = right.x + 1, cw = right.w - 2;
        if (!ch.n_masks) {
            cb_text(cb, x, y++, cw, "type a sentence with [MASK]", a->th.text);
            cb_text(cb, x, y++, cw, "(or _) where a word is missing", a->th.text);
            cb_text(cb, x, y + 1, cw, "the model reads both sides of it", a->th.dim);
            return;
        }
        cb_printf(cb, x, y++, cw, a->th.title, "[MASK] %d of %d  (<- -> other masks)", ch.sel_mask + 1, ch.n_masks);
        const GenToken *m = &ch.masks[ch.sel_mask];
        for (int i = 0; i < m->n_top && y < right.y + right.h - 2; i++, y++) {
            char raw[SNAP_TOKTEXT], vis[SNAP_TOKTEXT * 4 + 8];
            int len = engine_token_text(a->eng, m->top_ids[i], raw, sizeof raw);
            if (len > (int)sizeof raw - 1) len = (int)sizeof raw - 1;
            tok_visible(raw, len, a->caps.unicode, vis, sizeof vis);
            int sel = ch.control && i == ch.sel_cand, lw = 11, bw = cw - lw - 8;
            cb_put(cb, x, y, sel ? '>' : ' ', sel ? a->th.cursor : a->th.text);
            cb_text(cb, x + 1, y, lw - 1, vis, sel ? a->th.cursor : i == 0 ? a->th.highlight : a->th.text);
            int fill = (int)lround(m->top_probs[i] * bw);
            for (int j = 0; j < bw; j++)
                cb_put(cb, x + lw + j, y, j < fill ? (a->caps.unicode ? 0x2588 : '#') : ' ', a->th.plot_ema);
            cb_printf(cb, x + lw + bw, y, 8, a->th.text, "%5.1f%%", 100 * m->top_probs[i]);
        }
        cb_text(cb, x, y, cw, ch.control ? "Up/Down choose, Enter fills it in" : "Esc, then Up/Down choose a candidate",
                a->th.dim);
        return;
    }

    /* controls (a classifier samples nothing: its box shows the classes alone) */
    int classifier = a->eng && engine_n_classes(a->eng) > 0;
    cb_box(cb, right, classifier ? "Classifier" : "Sampling", a->th.dim, a->caps.unicode);
    int y = right.y + 1, x = right.x + 1, cw = right.w - 2;
    int bottom = right.y + right.h - 1;
    if (classifier) {
        ch_draw_bars(a, cb, x, y, cw, bottom, 1);
        return;
    }
    if (ch.param >= ch_n_params(a)) ch.param = P_TEMP;
    char v[P_N][48];
    if (ch.sp.temperature > 0) snprintf(v[0], sizeof v[0], "%.2f", ch.sp.temperature);
    else snprintf(v[0], sizeof v[0], "0 (greedy)");
    if (ch.sp.top_k > 0) snprintf(v[1], sizeof v[1], "%d", ch.sp.top_k);
    else snprintf(v[1], sizeof v[1], "off");
    if (ch.sp.top_p < 1) snprintf(v[2], sizeof v[2], "%.2f", ch.sp.top_p);
    else snprintf(v[2], sizeof v[2], "1.00 (off)");
    snprintf(v[3], sizeof v[3], "%d", ch.sp.max_tokens);
    if (ch.beam > 1) snprintf(v[P_BEAM], sizeof v[P_BEAM], "%d (beam)", ch.beam);
    else snprintf(v[P_BEAM], sizeof v[P_BEAM], "1 (greedy)");
    static const char *names[P_N] = {"(t) temperature", "(k) top-k", "(p) top-p", "(n) max tokens", "(w) beam width"};
    for (int i = 0; i < ch_n_params(a); i++) {
        int sel = i == ch.param;
        cb_printf(cb, x, y++, cw, sel ? a->th.cursor : a->th.text, "%s%-16s %s", sel ? ">" : " ", names[i], v[i]);
    }
    if (ch_translator(a)) {
        ch_draw_cross(a, cb, right, x, y + 1, cw);
        return;
    }
    if (ch_plain_lm(a)) {   /* the KV cache switch and the last reply's speed */
        char tps[32], f_tps[48], f_n[32], last[96];
        cb_printf(cb, x, y++, cw, ch.sp.no_cache ? a->th.warn : a->th.text, " %-16s %s", "(C-t) KV cache",
                  ch.sp.no_cache ? "off" : "on");
        ch_tps_text(a, tps, sizeof tps);
        snprintf(f_tps, sizeof f_tps, "%s tok/s", tps);
        snprintf(f_n, sizeof f_n, "%d tok", ch.tps_tokens);
        FitField lf[] = {{ch.tps_tokens > 0 ? f_tps : "-", NULL, 0}, {ch.tps_tokens > 0 ? f_n : NULL, NULL, 2},
                         {ch.tps_tokens > 0 ? (ch.tps_no_cache ? "(cache off)" : "(cache on)") : NULL, NULL, 1}};
        fit_line(lf, 3, " ", cw - 18, a->caps.unicode, last, sizeof last);
        cb_printf(cb, x, y++, cw, a->th.text, " %-16s %s", "last reply", last);
        cb_text(cb, x, y++, cw, " (C-g) show it in the Lens", a->th.dim);
    }
    ch_draw_bars(a, cb, x, y + 1, cw, bottom, 0);
}

static int ch_text_mode(App *a) {
    ch_init(a);
    return !ch.control || ch.loading;
}

/* C-g: the last prompt and its reply to the Lens screen. */
static void ch_to_lens(App *a) {
    if (!ch.sent[0]) { app_status(a, 1, "no reply yet: send a prompt first, then C-g shows it in the Lens"); return; }
    if (ch.streaming) { app_status(a, 1, "still generating: C-g when the reply has ended (F8 stops it)"); return; }
    char text[sizeof ch.sent + sizeof ch.reply];
    /* a language model's reply continues its prompt; a classifier's or a mask filler's is not text that follows */
    snprintf(text, sizeof text, "%s%s", ch.sent, ch_plain_lm(a) ? ch.reply : "");
    lens_show_text(a, text);
}

static int ch_key(App *a, int key) {
    ch_init(a);
    if (key == CH_KEY_LENS && !ch.loading) { ch_to_lens(a); return 1; }
    if (key == CH_KEY_CACHE && !ch.loading) {
        if (!ch_plain_lm(a)) {
            app_status(a, 1, "the KV cache switch is for a model that continues text");
            return 1;
        }
        ch.sp.no_cache = !ch.sp.no_cache;
        app_status(a, 0, "KV cache %s: %s", ch.sp.no_cache ? "off" : "on",
                   ch.sp.no_cache ? "every token recomputes the whole sequence (slower, the same tokens)"
                                  : "each token reuses the keys and values of the ones before");
        return 1;
    }
    if (key == K_F(5)) { ch.param = (ch.param + 1) % ch_n_params(a); return 1; }
    if (key == K_F(6)) { ch_adjust(a, -1); return 1; }
    if (key == K_F(7)) { ch_adjust(a, +1); return 1; }
    if (key == K_F(8)) {
        if (ch.streaming) worker_send_kind(&a->wk, WC_GEN_STOP);
        return 1;
    }
    if (ch.loading) {
        int r = le_key(&ch.path, key);
        if (r == LE_SUBMIT && ch.path.len > 0) {
            WorkerCmd c;
            memset(&c, 0, sizeof c);
            c.kind = WC_LOAD_CKPT;
            snprintf(c.text, sizeof c.text, "%s", ch.path.buf);
            worker_send(&a->wk, &c);
            app_status(a, 0, "loading %s ...", ch.path.buf);
            ch.loading = 0;
            ch.control = 0;   /* back to typing: the next keys are text for the loaded model */
            ch.have_last = 0;
        } else if (r == LE_CANCEL) {
            ch.loading = 0;
        }
        return 1;
    }
    if (!ch.control) {
        int r = le_key(&ch.le, key);
        if (r == LE_SUBMIT) ch_submit(a);
        else if (r == LE_CANCEL) ch.control = 1;
        return 1;
    }
    if (ch_fill_mode(a) && ch.n_masks > 0) {   /* fill the mask: the candidate cursor */
        int nc = ch.masks[ch.sel_mask].n_top;
        switch (key) {
        case K_UP: if (ch.sel_cand > 0) ch.sel_cand--; return 1;
        case K_DOWN: if (ch.sel_cand < nc - 1) ch.sel_cand++; return 1;
        case K_RIGHT: ch.sel_mask = (ch.sel_mask + 1) % ch.n_masks, ch.sel_cand = 0; return 1;
        case K_LEFT: ch.sel_mask = (ch.sel_mask + ch.n_masks - 1) % ch.n_masks, ch.sel_cand = 0; return 1;
        case '\r': case '\n': case K_ENTER: ch_fill_in(a); return 1;
        default: break;
        }
    }
    if (a->eng && engine_n_classes(a->eng) > 0 && strchr("tkpn+=-_", key > 0 && key < 128 ? key : 1))
        return 0;   /* a classifier has no sampling controls */
    switch (key) {
    case 't': ch.param = P_TEMP; return 1;
    case 'k': ch.param = P_TOPK; return 1;
    case 'p': ch.param = P_TOPP; return 1;
    case 'n': ch.param = P_MAX; return 1;
    case '+': case '=': case K_RIGHT: ch_adjust(a, +1); return 1;
    case '-': case '_': case K_LEFT: ch_adjust(a, -1); return 1;
    case 'w':
        if (!ch_translator(a)) return 0;
        ch.param = P_BEAM;
        return 1;
    case K_UP: ch.param = (ch.param + ch_n_params(a) - 1) % ch_n_params(a); return 1;
    case K_DOWN: ch.param = (ch.param + 1) % ch_n_params(a); return 1;
    case 'i': case '\r': case '\n': case K_ENTER: ch.control = 0; return 1;
    case 'o': ch.loading = 1; le_init(&ch.path); return 1;
    default: return 0;
    }
}

/* / n N (control keys): the transcript. */
static void ch_search(App *a, const char *pat, int dir) {
    if (!pat[0]) {
        ch.hit = -1;
        return;
    }
    long o = app_search_step(a, ch.text, (size_t)ch.len, pat, ch.hit, dir);
    if (o >= 0) ch.hit = o, ch.hit_len = (int)strlen(pat);
}

static const char *const CH_HELP[] = {
    "typing\tinput line: Enter sends, Up/Down history, Ctrl-U clears",
    "Esc\tcontrol keys (Enter or i returns to typing)",
    "t k p n\tselect temperature / top-k / top-p / max tokens",
    "w\ttranslator: select the beam width (1 greedy; > 1 lists the candidates and scores)",
    "+ -  <- ->\tchange the selected control (control keys)",
    "F5 F6 F7\tnext control / decrease / increase (also typing)",
    "F8\tstop the reply being generated",
    "C-t\tKV cache on / off (the same tokens; off: slower)",
    "C-g\tthe last prompt and reply in the Lens",
    "o\tload a checkpoint to chat with (type its directory)",
    "z\tlarge view (control keys): the transcript alone",
    "/\tsearch the transcript (control keys; while typing / is a character: Esc first)",
    "n, N\tnext / previous match while a search is on (Esc clears it; then n = max tokens)",
    "\ttraining goes on: the step ends, the reply, then resume",
    NULL};

const ScreenOps screen_chat = {
    .title = "Chat",
    .help = CH_HELP,
    .draw = ch_draw,
    .key = ch_key,
    .text_mode = ch_text_mode,
    .poll = ch_poll,
    .fkeys = {"Param", "-", "+", "Stop"},
    .search = ch_search,
};
