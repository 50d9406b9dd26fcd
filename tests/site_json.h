/* site_json.h - what the report tests share for `traceq report --json` site lists. */
#ifndef TQ_TEST_SITE_JSON_H
#define TQ_TEST_SITE_JSON_H

#include <jansson.h>
#include <string.h>

/* The row of a site list whose "site" starts with "fn (" (function, then its file:line), or NULL. */
static inline json_t *site_row(json_t *list, const char *fn)
{
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row)
    {
        const char *site = json_string_value(json_object_get(row, "site"));
        if (site && !strncmp(site, fn, strlen(fn)) && site[strlen(fn)] == ' ')
            return row;
    }
    return NULL;
}

#endif
