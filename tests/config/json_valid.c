/*
 * json_valid.c - `json_valid FILE`: exits 0 when FILE is one valid JSON
 * text by the library's strict reader (RFC 8259: UTF-8, escapes, no
 * trailing garbage), else prints the reader's file:line:col error and exits
 * 1. cli_inputs.sh checks the tool's --json outputs with it, so that the
 * check needs no python or jq.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../partition/src/json.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: json_valid FILE\n");
        return 2;
    }
    qv_diag d = {0};
    char *text;
    size_t len;
    if (qv__part_read_file(argv[1], QV__JSON_MAX_INPUT, &text, &len, &d)) {
        fprintf(stderr, "%s: %s\n", argv[1], d.message);
        return 1;
    }
    qv__jval *v = NULL;
    int rc = qv__part_json_parse(text, len, argv[1], &v, &d);
    free(text);
    if (rc) {
        char line[2200];
        qv_diag_format(&d, line, sizeof line);
        fprintf(stderr, "%s\n", line);
        return 1;
    }
    qv__part_json_free(v);
    return 0;
}
