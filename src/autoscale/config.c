/*
 * autoscale_config.c - the autoscaler's INI file, read with libinih and
 * checked key by key against one table: unknown sections and keys, bad
 * forms and out-of-range values are refused with the file's line, and so
 * are limits that contradict each other.
 *
 * Debian's libinih does not pass line numbers to the handler, so the
 * text is fed through our own line reader, which counts them (and
 * refuses lines longer than libinih's buffer instead of letting it split
 * them).
 */
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autoscale/autoscale.h"
#include "autoscale/http.h"
#include "base/files.h"

typedef enum ktype {
	K_DUR,	   /* seconds: "30", "30s", "500ms", "5m", "1h" */
	K_DBL,	   /* a number */
	K_INT,	   /* a whole number */
	K_BOOL,	   /* true/false, yes/no, on/off, 1/0 */
	K_STR,	   /* text */
	K_ADDR,	   /* HOST:PORT */
	K_SOURCE,  /* nodes | prometheus */
	K_PROV,	   /* local | exec */
	K_WINDOW,  /* HH:MM-HH:MM */
	K_SCOPE,   /* scale-in | all */
	K_RATE,	   /* 100slots, 5000keys, 10mb (per second) */
	K_PROMDUR, /* a Prometheus range: 30s, 1m */
	K_TOKEN	   /* a bearer token, never echoed */
} ktype;

typedef struct keydef {
	const char *section, *name;
	ktype type;
	size_t off, size;
	double lo, hi;
} keydef;

#define F(field)                                                               \
	offsetof(sp_as_config, field), sizeof(((sp_as_config *)0)->field)

static const keydef keys[] = {
    {"daemon", "interval", K_DUR, F(interval_s), 0.1, 86400},
    {"daemon", "dry_run", K_BOOL, F(dry_run), 0, 1},
    {"daemon", "listen", K_ADDR, F(listen), 0, 0},
    {"daemon", "journal_dir", K_STR, F(journal_dir), 0, 0},
    {"daemon", "alert_command", K_STR, F(alert_command), 0, 0},
    {"daemon", "http_token", K_TOKEN, F(http_token), 0, 0},
    {"daemon", "maintenance_window", K_WINDOW, F(maint_start), 0, 0},
    {"daemon", "maintenance_scope", K_SCOPE, F(maint_all), 0, 1},
    {"cluster", "tls", K_BOOL, F(tls), 0, 1},
    {"cluster", "tls_cacert", K_STR, F(tls_cacert), 0, 0},
    {"cluster", "tls_cacertdir", K_STR, F(tls_cacertdir), 0, 0},
    {"cluster", "tls_cert", K_STR, F(tls_cert), 0, 0},
    {"cluster", "tls_key", K_STR, F(tls_key), 0, 0},
    {"cluster", "tls_sni", K_STR, F(tls_sni), 0, 0},
    {"cluster", "tls_insecure", K_BOOL, F(tls_insecure), 0, 1},
    {"source", "source", K_SOURCE, F(source), 0, 0},
    {"source", "prometheus_url", K_STR, F(prom_url), 0, 0},
    {"source", "prometheus_label", K_STR, F(prom_label), 0, 0},
    {"source", "prometheus_rate_window", K_PROMDUR, F(prom_window), 0, 0},
    {"source", "prometheus_timeout", K_DUR, F(prom_timeout_ms), 0.1, 60},
    {"limits", "min_primaries", K_INT, F(min_primaries), 3, 1000},
    {"limits", "max_primaries", K_INT, F(max_primaries), 3, 1000},
    {"limits", "expected_nodes", K_INT, F(expected_nodes), 0, 10000},
    {"limits", "cooldown", K_DUR, F(cooldown_s), 0, 7 * 86400},
    {"scale_out", "memory_ratio", K_DBL, F(out_ratio), 0.01, 1},
    {"scale_out", "sustain", K_DUR, F(out_for_s), 0, 86400},
    {"scale_out", "replicas", K_INT, F(out_replicas), -1, 5},
    {"scale_out", "match_maxmemory", K_BOOL, F(match_maxmemory), 0, 1},
    {"scale_in", "memory_ratio", K_DBL, F(in_ratio), 0, 1},
    {"scale_in", "ops_per_sec", K_DBL, F(in_ops), 0, 1e9},
    {"scale_in", "sustain", K_DUR, F(in_for_s), 0, 7 * 86400},
    {"scale_in", "hysteresis", K_DBL, F(hysteresis), 0, 0.5},
    {"latency", "p95_ms", K_DBL, F(lat_p95_ms), 0, 60000},
    {"latency", "sustain", K_DUR, F(lat_for_s), 0, 86400},
    {"latency", "add_replicas", K_BOOL, F(lat_add_replicas), 0, 1},
    {"latency", "max_replicas", K_INT, F(max_replicas), 1, 5},
    {"gossip", "repair", K_BOOL, F(gossip_repair), 0, 1},
    {"gossip", "grace", K_DUR, F(gossip_grace_s), 0, 3600},
    {"gossip", "alert_after", K_DUR, F(gossip_alert_s), 1, 86400},
    {"provisioner", "provisioner", K_PROV, F(prov), 0, 0},
    {"provisioner", "local_dir", K_STR, F(local_dir), 0, 0},
    {"provisioner", "provision_cmd", K_STR, F(provision_cmd), 0, 0},
    {"provisioner", "deprovision_cmd", K_STR, F(deprovision_cmd), 0, 0},
    {"engine", "window", K_INT, F(window), 1, 1024},
    {"engine", "parallel", K_INT, F(parallel), 1, 64},
    {"engine", "rate", K_RATE, F(rate), 0, 0},
    {"engine", "node_wait", K_DUR, F(wait_s), 1, 3600},
    {"engine", "max_p99_ms", K_DBL, F(max_p99_ms), 0.01, 60000},
    {"engine", "max_latency_increase", K_DBL, F(max_increase_pct), 1, 100000},
    {"engine", "fast", K_BOOL, F(fast), 0, 1},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

typedef struct parse_ctx {
	sp_as_config *c;
	const char *path;
	const char *text; /* cursor of the line reader */
	int line;
	int lines[NKEYS]; /* where each key was set; 0 = default */
	const char *key;  /* the key being set, named in messages */
	sp_error *err;
	int failed;
} parse_ctx;

void sp_as_config_defaults(sp_as_config *c)
{
	memset(c, 0, sizeof(*c));
	c->interval_s = 10;
	snprintf(c->journal_dir, sizeof(c->journal_dir), ".slotpilot/journal");
	c->maint_start = c->maint_end = -1;
	c->source = SP_AS_SRC_NODES;
	snprintf(c->prom_label, sizeof(c->prom_label), "instance");
	snprintf(c->prom_window, sizeof(c->prom_window), "1m");
	c->prom_timeout_ms = 5000;
	c->min_primaries = 3, c->max_primaries = 16;
	c->cooldown_s = 600;
	c->out_ratio = 0.75, c->out_for_s = 120, c->out_replicas = -1;
	c->match_maxmemory = 1;
	c->in_ratio = 0.30, c->in_for_s = 3600, c->hysteresis = 0.05;
	c->lat_for_s = 300, c->max_replicas = 2;
	c->gossip_repair = 1, c->gossip_grace_s = 10, c->gossip_alert_s = 90;
	c->prov = SP_PROV_LOCAL;
	c->window = 128, c->parallel = 8, c->wait_s = 120;
}

/* The first error wins; later handler calls only count. */
static int fail(parse_ctx *x, const char *fmt, const char *a, const char *b)
{
	char msg[SP_ERRMSG_MAX - 64];

	if (!x->failed) {
		snprintf(msg, sizeof(msg), fmt, a, b);
		sp_seterr(x->err, SP_ERR_USAGE, "%s:%d: %s%s%s", x->path,
			  x->line, x->key ? x->key : "", x->key ? ": " : "",
			  msg);
		x->failed = 1;
	}
	return 0;
}

static int parse_number(const char *v, double *out)
{
	char *end;

	*out = strtod(v, &end);
	return end != v && *end == '\0' && isfinite(*out);
}

/* "30", "30s", "500ms", "5m", "1h" into seconds. */
static int parse_duration(const char *v, double *out)
{
	char *end;
	double n = strtod(v, &end), mul = 1;

	if (end == v || !isfinite(n) || n < 0)
		return 0;
	if (strcmp(end, "ms") == 0)
		mul = 0.001;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mul = 60;
	else if (strcmp(end, "h") == 0)
		mul = 3600;
	else if (*end != '\0' && strcmp(end, "s") != 0)
		return 0;
	*out = n * mul;
	return 1;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 1;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 1;
	}
	return 0;
}

/* "HH:MM-HH:MM" into minutes after midnight. */
static int parse_window(const char *v, int *start, int *end)
{
	int h1, m1, h2, m2, n = 0;

	if (sscanf(v, "%d:%d-%d:%d%n", &h1, &m1, &h2, &m2, &n) != 4 ||
	    v[n] != '\0' || h1 < 0 || h1 > 23 || h2 < 0 || h2 > 24 || m1 < 0 ||
	    m1 > 59 || m2 < 0 || m2 > 59 || (h2 == 24 && m2 != 0))
		return 0;
	*start = h1 * 60 + m1, *end = h2 * 60 + m2;
	return *start != *end;
}

static int parse_rate(const char *v, sp_as_config *c)
{
	char *end;
	double n = strtod(v, &end);

	if (end == v || !(n > 0) || !isfinite(n))
		return 0;
	if (strcasecmp(end, "slots") == 0)
		c->rate_unit = SP_RATE_SLOTS;
	else if (strcasecmp(end, "keys") == 0)
		c->rate_unit = SP_RATE_KEYS;
	else if (strcasecmp(end, "mb") == 0)
		c->rate_unit = SP_RATE_BYTES, n *= 1e6;
	else
		return 0;
	c->rate = n;
	return 1;
}

static int parse_promdur(const char *v)
{
	size_t d = strspn(v, "0123456789");

	return d > 0 && d < 8 &&
	       (strcmp(v + d, "s") == 0 || strcmp(v + d, "m") == 0 ||
		strcmp(v + d, "h") == 0);
}

/* Numbers: parsed, range-checked, stored in the field's type. */
static int set_number(parse_ctx *x, const keydef *k, const char *v)
{
	char *field = (char *)x->c + k->off;
	char range[96];
	double d;
	int ok = k->type == K_DUR ? parse_duration(v, &d) : parse_number(v, &d);

	if (ok && k->type == K_INT && d != floor(d))
		ok = 0;
	snprintf(range, sizeof(range), "%s from %g to %g%s",
		 k->type == K_INT ? "a whole number" : "a number", k->lo, k->hi,
		 k->type == K_DUR ? " seconds (or 500ms, 5m, 1h)" : "");
	if (!ok || d < k->lo || d > k->hi)
		return fail(x, "\"%s\" is not %s", v, range);
	if (k->type == K_INT)
		*(int *)field = (int)d;
	else if (k->off == offsetof(sp_as_config, prom_timeout_ms))
		*(int *)field = (int)(d * 1000);
	else if (k->off == offsetof(sp_as_config, wait_s))
		*(int *)field = (int)ceil(d);
	else
		*(double *)field = d;
	return 1;
}

static int set_enum(parse_ctx *x, const keydef *k, const char *v)
{
	static const char *const words[][2] = {
	    [K_SOURCE] = {"nodes", "prometheus"},
	    [K_PROV] = {"local", "exec"},
	    [K_SCOPE] = {"scale-in", "all"}};
	int *field = (int *)((char *)x->c + k->off);
	char want[64];

	if (strcmp(v, words[k->type][0]) == 0)
		*field = 0;
	else if (strcmp(v, words[k->type][1]) == 0)
		*field = 1;
	else {
		snprintf(want, sizeof(want), "%s or %s", words[k->type][0],
			 words[k->type][1]);
		return fail(x, "\"%s\" is not %s", v, want);
	}
	if (k->type == K_SOURCE)
		x->c->source = *field ? SP_AS_SRC_PROMETHEUS : SP_AS_SRC_NODES;
	if (k->type == K_PROV)
		x->c->prov = *field ? SP_PROV_EXEC : SP_PROV_LOCAL;
	return 1;
}

static int set_value(parse_ctx *x, const keydef *k, const char *v)
{
	char *field = (char *)x->c + k->off;
	char host[SP_HOST_MAX];
	sp_error e;
	int port;

	switch (k->type) {
	case K_DUR:
	case K_DBL:
	case K_INT:
		return set_number(x, k, v);
	case K_BOOL:
		return parse_bool(v, (int *)field)
			   ? 1
			   : fail(x, "\"%s\" is not %s", v, "true or false");
	case K_SOURCE:
	case K_PROV:
	case K_SCOPE:
		return set_enum(x, k, v);
	case K_STR:
		if (strlen(v) >= k->size)
			return fail(x, "the value is longer than %s%s",
				    "the limit", "");
		memcpy(field, v, strlen(v) + 1);
		return 1;
	case K_TOKEN:
		if (strlen(v) >= k->size || !sp_http_token_ok(v))
			return fail(x, "the token must be %s%s",
				    "1 to 255 of A-Z a-z 0-9 - . _ ~ + / "
				    "(then = padding)",
				    "");
		memcpy(field, v, strlen(v) + 1);
		return 1;
	case K_ADDR:
		if (sp_parse_hostport(v, host, &port, &e) != SP_OK ||
		    strlen(v) >= k->size)
			return fail(x, "\"%s\" is not %s", v, "HOST:PORT");
		memcpy(field, v, strlen(v) + 1);
		return 1;
	case K_WINDOW:
		return parse_window(v, &x->c->maint_start, &x->c->maint_end)
			   ? 1
			   : fail(x, "\"%s\" is not %s", v,
				  "a window such as 02:00-04:00");
	case K_RATE:
		return parse_rate(v, x->c)
			   ? 1
			   : fail(x, "\"%s\" is not %s", v,
				  "a rate such as 100slots, 5000keys or 10mb");
	case K_PROMDUR:
		if (!parse_promdur(v))
			return fail(x, "\"%s\" is not %s", v,
				    "a Prometheus range such as 30s or 1m");
		snprintf(field, k->size, "%s", v);
		return 1;
	}
	return fail(x, "%s%s", "internal error", "");
}

static int on_key(void *ud, const char *section, const char *name,
		  const char *value)
{
	parse_ctx *x = ud;
	int known_section = 0, r;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(keys[i].name, name) != 0)
			continue;
		x->lines[i] = x->line;
		x->key = keys[i].name;
		r = set_value(x, &keys[i], value);
		x->key = NULL;
		return r;
	}
	if (!known_section)
		return fail(x, "unknown section [%s]%s", section,
			    section[0] ? "" : " (keys need a section)");
	return fail(x, "unknown key \"%s\" in [%s]", name, section);
}

/* libinih's line reader over our text: counts lines, refuses long ones. */
static char *next_line(char *buf, int size, void *ud)
{
	parse_ctx *x = ud;
	size_t len;

	if (x->text == NULL || *x->text == '\0')
		return NULL;
	len = strcspn(x->text, "\n");
	x->line++;
	if (len + 2 >= (size_t)size) {
		fail(x, "the line is longer than %s characters%s", "196", "");
		len = 0;
	}
	memcpy(buf, x->text, len);
	buf[len] = '\n', buf[len + 1] = '\0';
	x->text += strcspn(x->text, "\n");
	if (*x->text == '\n')
		x->text++;
	return buf;
}

/* The line that set [section] name, or 0 (a default). */
static int line_of(const parse_ctx *x, const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return x->lines[i];
	return 0;
}

/* A contradiction between keys, reported at the line of one of them. */
static sp_err contradiction(parse_ctx *x, const char *section, const char *name,
			    const char *msg)
{
	return sp_seterr(x->err, SP_ERR_USAGE, "%s:%d: %s", x->path,
			 line_of(x, section, name), msg);
}

/* The last of the lines that set the memory watermarks. */
static int last_line(const parse_ctx *x)
{
	int a = line_of(x, "scale_out", "memory_ratio"),
	    b = line_of(x, "scale_in", "memory_ratio"),
	    c = line_of(x, "scale_in", "hysteresis");

	return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* A [cluster] tls_* key given while tls is not true (as --cacert without
 * --tls on the command line), or a certificate without its key. */
static sp_err check_tls(parse_ctx *x)
{
	const sp_as_config *c = x->c;
	const char *given[] = {c->tls_cacert[0] ? "tls_cacert" : NULL,
			       c->tls_cacertdir[0] ? "tls_cacertdir" : NULL,
			       c->tls_cert[0] ? "tls_cert" : NULL,
			       c->tls_key[0] ? "tls_key" : NULL,
			       c->tls_sni[0] ? "tls_sni" : NULL,
			       c->tls_insecure ? "tls_insecure" : NULL};
	char msg[160];

	for (size_t i = 0; !c->tls && i < 6; i++) {
		if (given[i] == NULL)
			continue;
		snprintf(msg, sizeof(msg), "%s needs tls = true", given[i]);
		return contradiction(x, "cluster", given[i], msg);
	}
	if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0'))
		return contradiction(
		    x, "cluster", c->tls_cert[0] ? "tls_cert" : "tls_key",
		    "tls_cert and tls_key go together (a client certificate "
		    "and its private key)");
	return SP_OK;
}

/* The limits that must hold between keys. */
static sp_err check(parse_ctx *x)
{
	const sp_as_config *c = x->c;
	char msg[320];

	if (check_tls(x) != SP_OK)
		return SP_ERR_USAGE;
	if (c->min_primaries > c->max_primaries) {
		snprintf(msg, sizeof(msg),
			 "min_primaries %d is above max_primaries %d (line %d)",
			 c->min_primaries, c->max_primaries,
			 line_of(x, "limits", "max_primaries"));
		return contradiction(x, "limits",
				     line_of(x, "limits", "min_primaries")
					 ? "min_primaries"
					 : "max_primaries",
				     msg);
	}
	if (c->in_ratio + c->hysteresis >= c->out_ratio) {
		snprintf(msg, sizeof(msg),
			 "the scale-in memory_ratio %g plus hysteresis %g is "
			 "not below the scale-out memory_ratio %g: the rules "
			 "would undo each other",
			 c->in_ratio, c->hysteresis, c->out_ratio);
		return sp_seterr(x->err, SP_ERR_USAGE, "%s:%d: %s", x->path,
				 last_line(x), msg);
	}
	if (c->source == SP_AS_SRC_PROMETHEUS && c->prom_url[0] == '\0')
		return contradiction(
		    x, "source", "source",
		    "source = prometheus needs prometheus_url");
	if (c->prov == SP_PROV_EXEC && c->provision_cmd[0] == '\0')
		return contradiction(x, "provisioner", "provisioner",
				     "provisioner = exec needs provision_cmd");
	if (c->lat_add_replicas && c->lat_p95_ms <= 0)
		return contradiction(
		    x, "latency", "add_replicas",
		    "add_replicas = true needs p95_ms above 0");
	if (c->max_p99_ms > 0 && c->max_increase_pct > 0)
		return contradiction(x, "engine", "max_latency_increase",
				     "max_p99_ms and max_latency_increase are "
				     "two budgets: give one");
	if (c->fast && (c->max_p99_ms > 0 || c->max_increase_pct > 0))
		return contradiction(x, "engine", "fast",
				     "fast = true turns the latency guard off: "
				     "it cannot go with a budget");
	if (c->interval_s > c->gossip_alert_s)
		return contradiction(x, "gossip", "alert_after",
				     "gossip alert_after is shorter than the "
				     "interval");
	return SP_OK;
}

sp_err sp_as_config_parse(const char *text, const char *path, sp_as_config *c,
			  sp_error *err)
{
	parse_ctx x = {.c = c, .path = path, .text = text, .err = err};
	int r;

	r = ini_parse_stream(next_line, &x, on_key, &x);
	if (x.failed)
		return SP_ERR_USAGE;
	if (r != 0) {
		/* A syntax error libinih found itself (no "=", no "]"). */
		return sp_seterr(err, SP_ERR_USAGE,
				 "%s:%d: not a \"key = value\" line or a "
				 "[section]",
				 path, r > 0 ? r : x.line);
	}
	return check(&x);
}

sp_err sp_as_config_load(const char *path, sp_as_config *c, sp_error *err)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	long len;
	sp_err rc;

	if (f == NULL)
		return sp_seterr(err, SP_ERR_NOTFOUND, "cannot read %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    len > (1 << 20) || fseek(f, 0, SEEK_SET) != 0 ||
	    (text = calloc(1, (size_t)len + 1)) == NULL ||
	    fread(text, 1, (size_t)len, f) != (size_t)len) {
		rc =
		    sp_seterr(err, SP_ERR_USAGE,
			      "%s: cannot read it (or it is over 1 MiB)", path);
		goto out;
	}
	if (strlen(text) != (size_t)len) {
		rc = sp_seterr(err, SP_ERR_USAGE, "%s: holds a NUL byte", path);
		goto out;
	}
	rc = sp_as_config_parse(text, path, c, err);
out:
	free(text);
	fclose(f);
	return rc;
}
