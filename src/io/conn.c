/*
 * conn.c - one connection: commands formatted by hiredis and queued, written
 * through our socket (io/sock.c, plain or TLS), replies parsed by hiredis's
 * reader; timeouts, AUTH, pipelining and error classification. Messages
 * always say which node and command.
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

/* The connection is unusable from now on: keeps the first cause. */
static void set_broken(sp_conn *c, sp_err code, const char *why)
{
	if (c->broken != SP_OK)
		return;
	c->broken = code;
	c->sys_errno = c->sock.sys_errno;
	snprintf(c->errstr, sizeof(c->errstr), "%s", why);
}

/* The error of a broken connection, naming the node and the command. */
static sp_err broken_error(const sp_conn *c, const char *what, sp_error *err)
{
	return sp_seterr(err, c->broken, "%s: %s: %s", c->addr, what,
			 c->errstr);
}

/* A socket-level failure (code, why) while running `what`. */
static sp_err io_fail(sp_conn *c, sp_err code, const char *why,
		      const char *what, sp_error *err)
{
	set_broken(c, code, why);
	return broken_error(c, what, err);
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

/* ------------------------------------------------------------------ */
/* Output: commands formatted by hiredis, queued until written          */

static sp_err queue(sp_conn *c, char *cmd, int len, const char *what,
		    sp_error *err)
{
	size_t need;
	char *p;

	if (len < 0 || cmd == NULL) {
		free(cmd);
		return sp_seterr(err, SP_ERR_OOM,
				 "%s: %s: cannot format the "
				 "command (out of memory)",
				 c->addr, what);
	}
	need = c->out_len + (size_t)len;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(c->out, cap)) == NULL) {
			free(cmd);
			return sp_seterr(err, SP_ERR_OOM,
					 "%s: %s: out of memory", c->addr,
					 what);
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, cmd, (size_t)len);
	c->out_len = need;
	free(cmd); /* hiredis's formatter allocates with malloc */
	return SP_OK;
}

static sp_err queue_fmt(sp_conn *c, const char *what, sp_error *err,
			const char *fmt, va_list ap)
{
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);

	return queue(c, cmd, len, what, err);
}

static sp_err queue_argv(sp_conn *c, const char *what, sp_error *err, int argc,
			 const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

	return queue(c, cmd, len, what, err);
}

static sp_err write_out(sp_conn *c, const char *what, sp_error *err)
{
	char why[SP_WHY_MAX];
	sp_err rc;

	if (c->broken != SP_OK)
		return broken_error(c, what, err);
	if (c->out_len == 0)
		return SP_OK;
	rc = sp_sock_write(&c->sock, c->out, c->out_len, why, sizeof(why));
	c->out_len = 0;
	c->wrote = 1;
	return rc == SP_OK ? SP_OK : io_fail(c, rc, why, what, err);
}

/* ------------------------------------------------------------------ */
/* Input: bytes fed to hiredis's reader until it has a reply            */

/* What the first bytes from a node look like when it is not plain RESP. */
static const char *protocol_hint(const sp_conn *c)
{
	if (c->replies > 0)
		return "";
	return c->sock.ssl == NULL ? " (is it a TLS port? try --tls)" : "";
}

static sp_err reader_fail(sp_conn *c, const char *what, sp_error *err)
{
	char why[SP_WHY_MAX];

	snprintf(why, sizeof(why), "protocol error: %.120s%s",
		 c->reader->errstr, protocol_hint(c));
	return io_fail(c, SP_ERR_PROTOCOL, why, what, err);
}

static sp_err feed(sp_conn *c, const char *what, sp_error *err)
{
	char buf[16384], why[SP_WHY_MAX];
	size_t got = 0;
	sp_err rc;

	rc = sp_sock_read(&c->sock, buf, sizeof(buf), &got, why, sizeof(why));
	if (rc == SP_ERR_IO)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s",
			 protocol_hint(c));
	if (rc != SP_OK)
		return io_fail(c, rc, why, what, err);
	if (got == 0) {
		snprintf(why, sizeof(why), "the node closed the connection%s",
			 protocol_hint(c));
		return io_fail(c, SP_ERR_IO, why, what, err);
	}
	if (redisReaderFeed(c->reader, buf, got) != REDIS_OK)
		return reader_fail(c, what, err);
	return SP_OK;
}

/* The next reply off the wire, error replies included; owned by caller. */
static sp_err next_reply(sp_conn *c, redisReply **out, const char *what,
			 sp_error *err)
{
	void *r = NULL;
	sp_err rc;

	*out = NULL;
	if ((rc = write_out(c, what, err)) != SP_OK)
		return rc;
	for (;;) {
		if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
			return reader_fail(c, what, err);
		if (r != NULL)
			break;
		c->turns += c->wrote;
		c->wrote = 0;
		if ((rc = feed(c, what, err)) != SP_OK)
			return rc;
	}
	c->replies++;
	*out = r;
	return SP_OK;
}

static sp_err authenticate(sp_conn *c, const sp_conn_opts *o, sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	if (o == NULL || o->pass == NULL || o->pass[0] == '\0')
		return SP_OK;
	if (o->user != NULL && o->user[0] != '\0')
		rc = sp_conn_cmd(c, &r, err, "AUTH %s %s", o->user, o->pass);
	else
		rc = sp_conn_cmd(c, &r, err, "AUTH %s", o->pass);
	freeReplyObject(r);
	if (rc == SP_OK || sp_conn_broken(c))
		return rc;
	return sp_seterr(err, SP_ERR_NOAUTH, "%s: authentication failed",
			 c->addr);
}

/* A connection record for host:port, not yet connected. */
static sp_conn *conn_new(const char *host, int port, const sp_conn_opts *opts)
{
	sp_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->sock.fd = -1;
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	sp_format_addr(c->addr, sizeof(c->addr), host, port);
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms
						     : DEFAULT_TIMEOUT_MS;
	c->sock.timeout_ms = c->timeout_ms;
	if ((c->reader = redisReaderCreate()) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

sp_err sp_conn_open(const char *host, int port, const sp_conn_opts *opts,
		    sp_conn **out, sp_error *err)
{
	char why[SP_WHY_MAX];
	sp_conn *c;
	sp_err rc;
	int cms = opts && opts->connect_timeout_ms > 0
		      ? opts->connect_timeout_ms
		      : DEFAULT_CONNECT_MS;

	*out = NULL;
	if ((c = conn_new(host, port, opts)) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "%s:%d: out of memory", host,
				 port);
	rc = sp_sock_connect(&c->sock, host, port, cms,
			     opts != NULL ? opts->tls : NULL, why, sizeof(why));
	if (rc != SP_OK)
		rc = io_fail(c, rc, why, "connect", err);
	else
		rc = authenticate(c, opts, err);
	if (rc != SP_OK) {
		sp_conn_close(c);
		return rc;
	}
	*out = c;
	return SP_OK;
}

sp_err sp_conn_adopt(int fd, const char *name, const sp_conn_opts *opts,
		     sp_conn **out, sp_error *err)
{
	sp_conn *c = conn_new(name, 0, opts);

	*out = NULL;
	if (c == NULL)
		return sp_seterr(err, SP_ERR_OOM, "%s: out of memory", name);
	snprintf(c->addr, sizeof(c->addr), "%s", name);
	c->sock.timeout_ms = c->timeout_ms;
	sp_sock_adopt(&c->sock, fd);
	*out = c;
	return SP_OK;
}

int sp_conn_broken(const sp_conn *c)
{
	return c->broken != SP_OK;
}

void sp_conn_close(sp_conn *c)
{
	if (c == NULL)
		return;
	sp_sock_close(&c->sock);
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	free(c->out);
	free(c);
}

sp_err sp_conn_set_timeout(sp_conn *c, int timeout_ms, sp_error *err)
{
	char why[SP_WHY_MAX];

	c->timeout_ms = timeout_ms;
	if (sp_sock_set_timeout(&c->sock, timeout_ms) == 0)
		return SP_OK;
	snprintf(why, sizeof(why), "set timeout: %s", strerror(errno));
	return io_fail(c, SP_ERR_IO, why, "set timeout", err);
}

/*
 * A command's reply is the next one on the wire: with pipelined replies
 * still unread, that is an earlier command's reply, handed out as if it
 * were this one's. Refuse instead of guessing.
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

/* The command just queued, written, and its reply read. */
static sp_err round_trip(sp_conn *c, redisReply **out, const char *what,
			 sp_error *err)
{
	redisReply *r;
	sp_err rc;

	if ((rc = next_reply(c, &r, what, err)) != SP_OK)
		return rc;
	return take_reply(c, r, out, err, what);
}

sp_err sp_conn_cmd(sp_conn *c, redisReply **out, sp_error *err, const char *fmt,
		   ...)
{
	char what[64];
	va_list ap;
	sp_err rc;

	if (out != NULL)
		*out = NULL;
	command_name(fmt, what, sizeof(what));
	if (c->broken != SP_OK)
		return broken_error(c, what, err);
	if (c->pending > 0)
		return unread_replies(c, what, err);
	va_start(ap, fmt);
	rc = queue_fmt(c, what, err, fmt, ap);
	va_end(ap);
	return rc != SP_OK ? rc : round_trip(c, out, what, err);
}

sp_err sp_conn_cmdv(sp_conn *c, redisReply **out, sp_error *err, int argc,
		    const char **argv, const size_t *lens)
{
	char what[64];
	sp_err rc;

	if (out != NULL)
		*out = NULL;
	argv_name(argc, argv, lens, what, sizeof(what));
	if (c->broken != SP_OK)
		return broken_error(c, what, err);
	if (c->pending > 0)
		return unread_replies(c, what, err);
	rc = queue_argv(c, what, err, argc, argv, lens);
	return rc != SP_OK ? rc : round_trip(c, out, what, err);
}

sp_err sp_conn_append(sp_conn *c, sp_error *err, const char *fmt, ...)
{
	char what[64];
	va_list ap;
	sp_err rc;

	command_name(fmt, what, sizeof(what));
	if (c->broken != SP_OK)
		return broken_error(c, what, err);
	va_start(ap, fmt);
	rc = queue_fmt(c, what, err, fmt, ap);
	va_end(ap);
	if (rc == SP_OK)
		c->pending++;
	return rc;
}

sp_err sp_conn_appendv(sp_conn *c, sp_error *err, int argc, const char **argv,
		       const size_t *lens)
{
	char what[64];
	sp_err rc;

	argv_name(argc, argv, lens, what, sizeof(what));
	if (c->broken != SP_OK)
		return broken_error(c, what, err);
	if ((rc = queue_argv(c, what, err, argc, argv, lens)) == SP_OK)
		c->pending++;
	return rc;
}

sp_err sp_conn_read(sp_conn *c, redisReply **out, sp_error *err,
		    const char *what)
{
	redisReply *r;
	sp_err rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = next_reply(c, &r, what, err)) != SP_OK)
		return rc;
	if (c->pending > 0)
		c->pending--;
	return take_reply(c, r, out, err, what);
}

sp_err sp_conn_flush(sp_conn *c, sp_error *err)
{
	return write_out(c, "write", err);
}

void sp_conn_drain(sp_conn *c)
{
	redisReply *r;

	while (c->pending > 0 && c->broken == SP_OK) {
		if (next_reply(c, &r, "drain", NULL) != SP_OK)
			break;
		freeReplyObject(r);
		c->pending--;
	}
	c->pending = 0;
}

sp_err sp_conn_write_raw(sp_conn *c, const char *buf, size_t len,
			 const char *what, sp_error *err)
{
	char why[SP_WHY_MAX];
	sp_err rc;

	if ((rc = write_out(c, what, err)) != SP_OK)
		return rc;
	rc = sp_sock_write(&c->sock, buf, len, why, sizeof(why));
	return rc == SP_OK ? SP_OK : io_fail(c, rc, why, what, err);
}

sp_err sp_conn_read_raw(sp_conn *c, void *buf, size_t len, size_t *got,
			const char *what, sp_error *err)
{
	redisReader *r = c->reader;
	char why[SP_WHY_MAX];
	sp_err rc;

	*got = 0;
	if (c->broken != SP_OK)
		return broken_error(c, what, err);
	if (r->pos < r->len) { /* bytes the reader took past the last reply */
		*got = r->len - r->pos < len ? r->len - r->pos : len;
		memcpy(buf, r->buf + r->pos, *got);
		r->pos += *got;
		return SP_OK;
	}
	rc = sp_sock_read(&c->sock, buf, len, got, why, sizeof(why));
	return rc == SP_OK ? SP_OK : io_fail(c, rc, why, what, err);
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
