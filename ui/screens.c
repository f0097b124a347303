/* screens.c — the one list of screens: their order is the tabs' (keys 1..N_SCREENS), the lessons' `screen:` names
 * are their titles. A new screen is one file exporting a ScreenOps table, added here. */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "app.h"

const ScreenOps *const SCREENS[] = {&screen_tokenizer, &screen_embed, &screen_attention, &screen_train, &screen_chat,
                                    &screen_lens, &screen_health};
const int N_SCREENS = (int)(sizeof SCREENS / sizeof SCREENS[0]);

_Static_assert(sizeof SCREENS / sizeof SCREENS[0] <= APP_MAX_SCREENS, "screens beyond the number keys");

int screen_index(const char *name) {
    for (int i = 0; i < N_SCREENS; i++)
        if (!strcasecmp(name, SCREENS[i]->title)) return i;
    if (name[0] >= '1' && name[0] < '1' + N_SCREENS && !name[1]) return name[0] - '1';
    return -1;
}

const char *screen_names(void) {
    static char buf[256];
    if (buf[0]) return buf;
    size_t len = 0;
    for (int i = 0; i < N_SCREENS && len < sizeof buf; i++) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s", i ? ", " : "");
        for (const char *c = SCREENS[i]->title; *c && len + 1 < sizeof buf; c++) buf[len++] = (char)tolower((unsigned char)*c);
        buf[len] = '\0';
    }
    return buf;
}
