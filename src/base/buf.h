/*
 * buf.h - a growing text buffer: the Prometheus exposition format, the
 * daemon's pages and JSON bodies are built in one. An append that cannot
 * grow the buffer marks it (oom) instead of failing every caller.
 */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stddef.h>

typedef struct sp_buf {
	char *s; /* owned; NUL-terminated when len > 0 */
	size_t len, cap;
	int oom; /* an append failed; the text is incomplete */
} sp_buf;

/* Appends printf-style text; on failure sets b->oom. */
void sp_buf_printf(sp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Releases b->s and leaves b empty; accepts NULL. */
void sp_buf_free(sp_buf *b);

#endif
