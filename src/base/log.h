/*
 * log.h - progress lines for humans or machines.
 *
 * Workflows report what they do through an sp_log; the CLI decides where
 * it goes (stderr for humans; silenced or JSON under --json).
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdio.h>

typedef struct sp_log {
	FILE *out; /* NULL: discard */
	int json;  /* 1: one {"event":..,"msg":..} object per line */
} sp_log;

/* Writes one progress line (a newline is added). Accepts l == NULL. */
void sp_logf(const sp_log *l, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
