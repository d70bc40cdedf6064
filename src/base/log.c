/*
 * log.c - one progress line per event; JSON-escaped under --json.
 */
#include "base/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>

void sp_logf(const sp_log *l, const char *event, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (l == NULL || l->out == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (l->json) {
		json_t *o = json_pack("{s:s, s:s}", "event", event, "msg", buf);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s != NULL)
			fprintf(l->out, "%s\n", s);
		free(s);
		json_decref(o);
	} else {
		fprintf(l->out, "%s\n", buf);
	}
	fflush(l->out);
}
