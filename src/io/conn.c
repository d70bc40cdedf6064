/*
 * conn.c - one blocking hiredis connection with timeouts, AUTH, pipelining
 * and error classification. Messages always say which node and command.
 */
#include "io/conn.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_MS 2000
#define DEFAULT_TIMEOUT_MS 5000

static struct timeval ms_to_tv(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

sp_err sp_errno_class(int errnum)
{
	/* SO_RCVTIMEO/SO_SNDTIMEO expire as EAGAIN (EWOULDBLOCK); hiredis
	 * sets ETIMEDOUT itself when a connect does not finish in time. */
	if (errnum == EAGAIN || errnum == EWOULDBLOCK || errnum == ETIMEDOUT)
		return SP_ERR_TIMEOUT;
	if (errnum == ENOMEM)
		return SP_ERR_OOM;
	return SP_ERR_IO;
}

/* The class of the error c->ctx holds, from hiredis's code and, for an
 * I/O error, the errno saved when it happened (see io_fail). */
static sp_err ctx_class(const sp_conn *c)
{
	switch (c->ctx->err) {
	case REDIS_ERR_IO:
		return sp_errno_class(c->sys_errno);
	case REDIS_ERR_OOM:
		return SP_ERR_OOM;
	case REDIS_ERR_PROTOCOL:
		return SP_ERR_PROTOCOL;
	default: /* REDIS_ERR_EOF, REDIS_ERR_OTHER */
		return SP_ERR_IO;
	}
}

static sp_err ctx_error(const sp_conn *c, const char *what, sp_error *err)
{
	sp_err code = ctx_class(c);

	if (code == SP_ERR_TIMEOUT)
		return sp_seterr(err, code, "%s: %s: timed out", c->addr, what);
	return sp_seterr(err, code, "%s: %s: %s", c->addr, what,
			 c->ctx->errstr);
}

/*
 * Called right after a hiredis call failed, while errno is still that of
 * the failing system call: hiredis keeps only its text (errstr), and a
 * later look at errno would see whatever ran since. A context stays in
 * error once it is, so the first errno is the one that counts.
 */
static sp_err io_fail(sp_conn *c, const char *what, sp_error *err)
{
	int saved = errno;

	if (c->ctx->err == REDIS_ERR_IO && c->sys_errno == 0)
		c->sys_errno = saved;
	return ctx_error(c, what, err);
}

static sp_err classify_target_error(const char *s);

sp_err sp_classify_server_error(const char *s)
{
	static const char wrapped[] =
	    "ERR Target instance replied with error: ";
	static const struct {
		const char *prefix;
		sp_err code;
	} map[] = {
	    {"MOVED ", SP_ERR_MOVED},	   {"ASK ", SP_ERR_ASK},
	    {"TRYAGAIN", SP_ERR_TRYAGAIN}, {"CLUSTERDOWN", SP_ERR_CLUSTERDOWN},
	    {"BUSYKEY", SP_ERR_BUSYKEY},   {"LOADING", SP_ERR_LOADING},
	    {"NOAUTH", SP_ERR_NOAUTH},	   {"WRONGPASS", SP_ERR_NOAUTH},
	    {"NOPERM", SP_ERR_NOPERM},	   {"IOERR", SP_ERR_IO},
	};
	size_t i;

	if (s == NULL)
		return SP_ERR_SERVER;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(s, map[i].prefix, strlen(map[i].prefix)) == 0)
			return map[i].code;
	/* MIGRATE wraps the target's error: "ERR Target instance replied
	 * with error: BUSYKEY ..." (or TRYAGAIN, CLUSTERDOWN, LOADING while
	 * the target settles); the target's own prefix is what counts. */
	if (strncmp(s, wrapped, strlen(wrapped)) == 0)
		return classify_target_error(s + strlen(wrapped));
	if (strstr(s, "BUSYKEY") != NULL)
		return SP_ERR_BUSYKEY;
	if (strncmp(s, "ERR invalid password", 20) == 0 ||
	    strncmp(s, "ERR AUTH", 8) == 0)
		return SP_ERR_NOAUTH;
	return SP_ERR_SERVER;
}

/* A target's error inside MIGRATE's reply: never wrapped twice. */
static sp_err classify_target_error(const char *s)
{
	sp_err code = sp_classify_server_error(s);

	return code == SP_ERR_NOAUTH || code == SP_ERR_NOPERM ? SP_ERR_SERVER
							      : code;
}

/* Takes ownership of r: hands it out, or turns an error reply into err. */
static sp_err take_reply(sp_conn *c, redisReply *r, redisReply **out,
			 sp_error *err, const char *what)
{
	sp_err code;

	if (r->type == REDIS_REPLY_ERROR) {
		code = sp_classify_server_error(r->str);
		sp_seterr(err, code, "%s: %s: %.*s", c->addr, what,
			  (int)(r->len > 300 ? 300 : r->len), r->str);
		freeReplyObject(r);
		return code;
	}
	if (out != NULL)
		*out = r;
	else
		freeReplyObject(r);
	return SP_OK;
}

/* The command's name for messages: "CLUSTER SETSLOT", "MIGRATE", ... */
static void command_name(const char *fmt, char *buf, size_t len)
{
	size_t i = 0, words = 0;

	while (fmt[i] != '\0' && i + 1 < len) {
		if (fmt[i] == ' ' || fmt[i] == '%') {
			words++;
			if (fmt[i] == '%' || words == 2 ||
			    (strncasecmp(fmt, "CLUSTER", 7) != 0 &&
			     strncasecmp(fmt, "CONFIG", 6) != 0))
				break;
		}
		buf[i] = fmt[i];
		i++;
	}
	while (i > 0 && buf[i - 1] == ' ')
		i--;
	buf[i] = '\0';
}

static void argv_name(int argc, const char **argv, const size_t *lens,
		      char *buf, size_t len)
{
	size_t l0 = lens ? lens[0] : strlen(argv[0]);

	if (argc >= 2 && (strncasecmp(argv[0], "CLUSTER", l0) == 0 ||
			  strncasecmp(argv[0], "CONFIG", l0) == 0))
		snprintf(buf, len, "%.*s %.*s", (int)l0, argv[0],
			 (int)(lens ? lens[1] : strlen(argv[1])), argv[1]);
	else
		snprintf(buf, len, "%.*s", (int)l0, argv[0]);
}

static sp_err authenticate(sp_conn *c, const sp_conn_opts *o, sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	if (o == NULL || o->pass == NULL || o->pass[0] == '\0')
		return SP_OK;
	if (o->user != NULL && o->user[0] != '\0')
		r = redisCommand(c->ctx, "AUTH %s %s", o->user, o->pass);
	else
		r = redisCommand(c->ctx, "AUTH %s", o->pass);
	if (r == NULL)
		return io_fail(c, "AUTH", err);
	rc = take_reply(c, r, NULL, err, "AUTH");
	if (rc != SP_OK)
		rc = sp_seterr(err, SP_ERR_NOAUTH, "%s: authentication failed",
			       c->addr);
	return rc;
}

sp_err sp_conn_open(const char *host, int port, const sp_conn_opts *opts,
		    sp_conn **out, sp_error *err)
{
	sp_conn *c = NULL;
	sp_err rc = SP_ERR_INTERNAL;
	int cms = opts && opts->connect_timeout_ms > 0
		      ? opts->connect_timeout_ms
		      : DEFAULT_CONNECT_MS;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	sp_format_addr(c->addr, sizeof(c->addr), host, port);
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms
						     : DEFAULT_TIMEOUT_MS;
	c->ctx = redisConnectWithTimeout(host, port, ms_to_tv(cms));
	if (c->ctx == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "%s: out of memory", c->addr);
		goto out;
	}
	if (c->ctx->err) {
		rc = io_fail(c, "connect", err);
		goto out;
	}
	if (redisSetTimeout(c->ctx, ms_to_tv(c->timeout_ms)) != REDIS_OK) {
		rc = io_fail(c, "set timeout", err);
		goto out;
	}
	if ((rc = authenticate(c, opts, err)) != SP_OK)
		goto out;
	*out = c;
	c = NULL;
	rc = SP_OK;
out:
	sp_conn_close(c);
	return rc;
}

void sp_conn_close(sp_conn *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	free(c);
}

sp_err sp_conn_set_timeout(sp_conn *c, int timeout_ms, sp_error *err)
{
	c->timeout_ms = timeout_ms;
	if (redisSetTimeout(c->ctx, ms_to_tv(timeout_ms)) != REDIS_OK)
		return io_fail(c, "set timeout", err);
	return SP_OK;
}

/*
 * hiredis answers a command with the next reply on the wire: with
 * pipelined replies still unread, that is an earlier command's reply,
 * handed out as if it were this one's. Refuse instead of guessing.
 */
static sp_err unread_replies(const sp_conn *c, const char *what, sp_error *err)
{
	return sp_seterr(err, SP_ERR_INTERNAL,
			 "%s: %s: %d pipelined repl%s still unread (read them "
			 "with sp_conn_read or drop them with sp_conn_drain "
			 "first)",
			 c->addr, what, c->pending,
			 c->pending == 1 ? "y is" : "ies are");
}

sp_err sp_conn_cmd(sp_conn *c, redisReply **out, sp_error *err, const char *fmt,
		   ...)
{
	char what[64];
	redisReply *r;
	va_list ap;

	if (out != NULL)
		*out = NULL;
	command_name(fmt, what, sizeof(what));
	if (c->ctx->err)
		return ctx_error(c, what, err);
	if (c->pending > 0)
		return unread_replies(c, what, err);
	va_start(ap, fmt);
	r = redisvCommand(c->ctx, fmt, ap);
	va_end(ap);
	if (r == NULL)
		return io_fail(c, what, err);
	return take_reply(c, r, out, err, what);
}

sp_err sp_conn_cmdv(sp_conn *c, redisReply **out, sp_error *err, int argc,
		    const char **argv, const size_t *lens)
{
	char what[64];
	redisReply *r;

	if (out != NULL)
		*out = NULL;
	argv_name(argc, argv, lens, what, sizeof(what));
	if (c->ctx->err)
		return ctx_error(c, what, err);
	if (c->pending > 0)
		return unread_replies(c, what, err);
	r = redisCommandArgv(c->ctx, argc, argv, lens);
	if (r == NULL)
		return io_fail(c, what, err);
	return take_reply(c, r, out, err, what);
}

sp_err sp_conn_append(sp_conn *c, sp_error *err, const char *fmt, ...)
{
	char what[64];
	va_list ap;
	int rc;

	command_name(fmt, what, sizeof(what));
	va_start(ap, fmt);
	rc = redisvAppendCommand(c->ctx, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK)
		return io_fail(c, what, err);
	c->pending++;
	return SP_OK;
}

sp_err sp_conn_appendv(sp_conn *c, sp_error *err, int argc, const char **argv,
		       const size_t *lens)
{
	char what[64];

	argv_name(argc, argv, lens, what, sizeof(what));
	if (redisAppendCommandArgv(c->ctx, argc, argv, lens) != REDIS_OK)
		return io_fail(c, what, err);
	c->pending++;
	return SP_OK;
}

sp_err sp_conn_read(sp_conn *c, redisReply **out, sp_error *err,
		    const char *what)
{
	void *r = NULL;

	if (out != NULL)
		*out = NULL;
	if (redisGetReply(c->ctx, &r) != REDIS_OK || r == NULL)
		return io_fail(c, what, err);
	if (c->pending > 0)
		c->pending--;
	return take_reply(c, r, out, err, what);
}

sp_err sp_conn_flush(sp_conn *c, sp_error *err)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(c->ctx, &done) != REDIS_OK)
			return io_fail(c, "write", err);
	return SP_OK;
}

void sp_conn_drain(sp_conn *c)
{
	void *r;

	while (c->pending > 0 && !c->ctx->err) {
		r = NULL;
		if (redisGetReply(c->ctx, &r) != REDIS_OK)
			break;
		freeReplyObject(r);
		c->pending--;
	}
	c->pending = 0;
}

sp_err sp_reply_expect(const sp_conn *c, const redisReply *r, int type,
		       const char *what, sp_error *err)
{
	static const char *const tnames[] = {
	    "?", "string", "array", "integer", "nil", "status", "error"};

	if (r != NULL && r->type == type)
		return SP_OK;
	return sp_seterr(err, SP_ERR_PROTOCOL,
			 "%s: %s: expected a %s reply, got %s",
			 c ? c->addr : "?", what,
			 type >= 1 && type <= 6 ? tnames[type] : "?",
			 r == NULL			? "nothing"
			 : r->type >= 1 && r->type <= 6 ? tnames[r->type]
							: "an unknown type");
}

int sp_info_field(const char *text, const char *field, char *buf, size_t len)
{
	size_t flen = strlen(field), n;
	const char *p = text, *end;

	if (text == NULL || len == 0)
		return 0;
	while ((p = strstr(p, field)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[flen] == ':') {
			p += flen + 1;
			end = p + strcspn(p, "\r\n");
			n = (size_t)(end - p);
			if (n >= len)
				n = len - 1;
			memcpy(buf, p, n);
			buf[n] = '\0';
			return 1;
		}
		p += flen;
	}
	return 0;
}

int sp_info_ll(const char *text, const char *field, long long *out)
{
	char buf[64], *end;
	long long v;

	if (!sp_info_field(text, field, buf, sizeof(buf)) || buf[0] == '\0')
		return 0;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != '.'))
		return 0;
	*out = v;
	return 1;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s == '\0' || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

sp_err sp_parse_hostport(const char *s, char *host, int *port, sp_error *err)
{
	const char *colon, *hs = s;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= SP_HOST_MAX ||
	    parse_port(colon + 1, port) != 0)
		goto bad;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	return SP_OK;
bad:
	return sp_seterr(err, SP_ERR_USAGE,
			 "bad address \"%s\": expected HOST:PORT with a port "
			 "from 1 to 65535",
			 s);
}

void sp_format_addr(char *buf, size_t len, const char *host, int port)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", host, port);
	else
		snprintf(buf, len, "%s:%d", host, port);
}
