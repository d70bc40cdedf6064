/*
 * config.c - CONFIG GET (see config.h).
 */
#include "io/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

sp_err sp_config_get(sp_conn *c, const char *name, char *buf, size_t len,
		     sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	if ((rc = sp_conn_cmd(c, &r, err, "CONFIG GET %s", name)) != SP_OK)
		return rc;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
		rc = sp_seterr(err, SP_ERR_NOTFOUND, "no parameter %s", name);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		 r->element[1]->type != REDIS_REPLY_STRING)
		rc = sp_seterr(err, SP_ERR_PROTOCOL,
			       "CONFIG GET %s: unexpected reply", name);
	else
		snprintf(buf, len, "%s", r->element[1]->str);
	freeReplyObject(r);
	return rc;
}

long long sp_config_get_ll(const char *host, int port, const sp_conn_opts *co,
			   const char *name, long long dflt)
{
	char buf[64], *end;
	sp_conn *c = NULL;
	long long v = dflt, x;

	if (sp_conn_open(host, port, co, &c, NULL) == SP_OK &&
	    sp_config_get(c, name, buf, sizeof(buf), NULL) == SP_OK) {
		errno = 0;
		x = strtoll(buf, &end, 10);
		if (errno == 0 && end != buf && *end == '\0')
			v = x;
	}
	sp_conn_close(c);
	return v;
}
