/*
 * prometheus.c - Prometheus both ways: reading redis_exporter's series
 * from a Prometheus server's HTTP API (libcurl, jansson), and writing the
 * text exposition format that /metrics serves.
 *
 * Answers are capped at 4 MiB: a bigger one is an error, not a buffer
 * that grows with whatever the network sends.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/metrics.h"

#define ANSWER_MAX (4u << 20)

void sp_prom_family(sp_buf *b, const char *name, const char *type,
		    const char *help)
{
	sp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		      type);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void label_value(sp_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			sp_buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			sp_buf_printf(b, "\\n");
		else
			sp_buf_printf(b, "%c", *v);
	}
}

void sp_prom_sample_write(sp_buf *b, const char *name,
			  const char *const *labels, double value)
{
	size_t i;

	sp_buf_printf(b, "%s", name);
	for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		sp_buf_printf(b, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
		label_value(b, labels[i + 1] ? labels[i + 1] : "");
		sp_buf_printf(b, "\"");
	}
	if (labels != NULL && labels[0] != NULL)
		sp_buf_printf(b, "}");
	if (isnan(value))
		sp_buf_printf(b, " NaN\n");
	else if (value == floor(value) && fabs(value) < 1e15)
		sp_buf_printf(b, " %.0f\n", value);
	else
		sp_buf_printf(b, " %.6g\n", value);
}

/* One sample: {"metric":{...}, "value":[ts, "v"]}. */
static sp_err read_sample(json_t *s, const char *label, sp_prom_sample *out,
			  sp_error *err)
{
	json_t *v = json_object_get(s, "value");
	const char *lv = json_string_value(
	    json_object_get(json_object_get(s, "metric"), label));
	const char *num = json_string_value(json_array_get(v, 1));
	char *end;

	if (!json_is_array(v) || json_array_size(v) != 2 || num == NULL)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "prometheus: a sample has no [time, value]");
	memset(out, 0, sizeof(*out));
	snprintf(out->label, sizeof(out->label), "%s", lv ? lv : "");
	out->value = strtod(num, &end);
	if (end == num)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "prometheus: value \"%.40s\" is not a number",
				 num);
	return SP_OK;
}

sp_err sp_prom_parse_vector(const char *text, const char *label,
			    sp_prom_sample **out, size_t *n, sp_error *err)
{
	json_t *root = json_loads(text, 0, NULL), *data, *res;
	const char *st, *type;
	sp_err rc = SP_OK;
	size_t i;

	*out = NULL, *n = 0;
	if (root == NULL)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "prometheus: the answer is not JSON");
	st = json_string_value(json_object_get(root, "status"));
	data = json_object_get(root, "data");
	type = json_string_value(json_object_get(data, "resultType"));
	res = json_object_get(data, "result");
	if (st == NULL || strcmp(st, "success") != 0 || type == NULL ||
	    strcmp(type, "vector") != 0 || !json_is_array(res)) {
		const char *e =
		    json_string_value(json_object_get(root, "error"));
		rc = sp_seterr(err, SP_ERR_PROTOCOL,
			       "prometheus: not a successful vector answer%s%s",
			       e ? ": " : "", e ? e : "");
		goto out;
	}
	if (json_array_size(res) > 0 &&
	    (*out = calloc(json_array_size(res), sizeof(**out))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(res) && rc == SP_OK; i++)
		if ((rc = read_sample(json_array_get(res, i), label, &(*out)[i],
				      err)) == SP_OK)
			(*n)++;
out:
	if (rc != SP_OK) {
		free(*out);
		*out = NULL, *n = 0;
	}
	json_decref(root);
	return rc;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	sp_buf *b = ud;
	size_t len = size * nmemb;

	if (b->len + len > ANSWER_MAX)
		return 0; /* curl reports a write error */
	sp_buf_printf(b, "%.*s", (int)len, p);
	return b->oom ? 0 : len;
}

void sp_prom_redact_url(const char *url, char *out, size_t len)
{
	const char *auth = strstr(url, "://"), *end, *at, *colon;

	auth = auth != NULL ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	for (at = NULL, colon = auth; colon < end; colon++)
		if (*colon == '@')
			at = colon; /* the last '@' ends the user info */
	if (at == NULL) {
		snprintf(out, len, "%s", url);
		return;
	}
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon == NULL)
		snprintf(out, len, "%.*s***%s", (int)(auth - url), url, at);
	else
		snprintf(out, len, "%.*s:***%s", (int)(colon - url), url, at);
}

/* GET url/api/v1/query?query=q; the body goes to *body (caller frees). */
static sp_err query(const sp_prom_source *src, const char *q, sp_buf *body,
		    sp_error *err)
{
	CURL *h = curl_easy_init();
	char *eq = NULL, url[2048], shown[1024];
	long code = 0;
	CURLcode cc;

	if (h == NULL || (eq = curl_easy_escape(h, q, 0)) == NULL) {
		curl_easy_cleanup(h);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	snprintf(url, sizeof(url), "%s/api/v1/query?query=%s", src->url, eq);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)src->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_free(eq);
	curl_easy_cleanup(h);
	/* Errors reach /status, alerts and logs: no password in them. */
	sp_prom_redact_url(src->url, shown, sizeof(shown));
	if (cc != CURLE_OK)
		return sp_seterr(
		    err,
		    cc == CURLE_OPERATION_TIMEDOUT ? SP_ERR_TIMEOUT : SP_ERR_IO,
		    "prometheus %s: %s", shown, curl_easy_strerror(cc));
	if (code != 200 || body->oom)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "prometheus %s: HTTP %ld for %s", shown, code,
				 q);
	return SP_OK;
}

/* Runs q and hands back its samples (caller frees *out). */
static sp_err query_vector(const sp_prom_source *src, const char *q,
			   sp_prom_sample **out, size_t *n, sp_error *err)
{
	sp_buf body = {0};
	sp_err rc;

	if ((rc = query(src, q, &body, err)) == SP_OK)
		rc = sp_prom_parse_vector(body.s ? body.s : "", src->label, out,
					  n, err);
	sp_buf_free(&body);
	return rc;
}

/* The value for node addr in samples, or NAN. The label may carry
 * redis_exporter's scheme: redis://, or rediss:// for a TLS node. */
static double value_for(const sp_prom_sample *s, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *l = s[i].label;
		if (strncmp(l, "redis://", 8) == 0)
			l += 8;
		else if (strncmp(l, "rediss://", 9) == 0)
			l += 9;
		if (strcmp(l, addr) == 0)
			return s[i].value;
	}
	return NAN;
}

enum { Q_USED, Q_MAX, Q_OPS, Q_CPU, Q_CLIENTS, Q_N };

static void apply(sp_metrics *m, sp_prom_sample **s, size_t *ns)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		sp_node_metrics *p = &m->nodes[i];
		double v[Q_N];
		int q;
		if (!p->member || !p->reachable)
			continue;
		for (q = 0; q < Q_N; q++)
			v[q] = value_for(s[q], ns[q], p->addr);
		p->have_load = !isnan(v[Q_USED]) && !isnan(v[Q_MAX]);
		if (!p->have_load) {
			snprintf(p->err, sizeof(p->err),
				 "prometheus has no memory series for %s",
				 p->addr);
			m->unreadable++;
			continue;
		}
		p->used_memory = (long long)v[Q_USED];
		p->maxmemory = (long long)v[Q_MAX];
		p->mem_ratio = p->maxmemory > 0 ? v[Q_USED] / v[Q_MAX] : -1;
		p->ops_per_sec = isnan(v[Q_OPS]) ? -1 : v[Q_OPS];
		p->cpu_pct = isnan(v[Q_CPU]) ? -1 : 100.0 * v[Q_CPU];
		p->clients = isnan(v[Q_CLIENTS]) ? -1 : (long long)v[Q_CLIENTS];
		p->latency_p95_us = -1;
	}
}

sp_err sp_metrics_from_prometheus(sp_metrics *m, const sp_prom_source *src,
				  sp_error *err)
{
	char q[Q_N][256];
	sp_prom_sample *s[Q_N] = {0};
	size_t ns[Q_N] = {0}, i;
	sp_err rc = SP_OK;
	int k;

	snprintf(q[Q_USED], sizeof(q[0]), "redis_memory_used_bytes");
	snprintf(q[Q_MAX], sizeof(q[0]), "redis_memory_max_bytes");
	snprintf(q[Q_OPS], sizeof(q[0]),
		 "rate(redis_commands_processed_total[%s])", src->window);
	snprintf(q[Q_CPU], sizeof(q[0]),
		 "rate(redis_cpu_sys_seconds_total[%s]) + "
		 "rate(redis_cpu_user_seconds_total[%s])",
		 src->window, src->window);
	snprintf(q[Q_CLIENTS], sizeof(q[0]), "redis_connected_clients");
	for (k = 0; k < Q_N && rc == SP_OK; k++)
		rc = query_vector(src, q[k], &s[k], &ns[k], err);
	if (rc == SP_OK) {
		/* The nodes' own INFO no longer counts: start over. */
		m->unreadable = 0;
		for (i = 0; i < m->n; i++)
			m->unreadable +=
			    m->nodes[i].member && !m->nodes[i].reachable;
		apply(m, s, ns);
		snprintf(m->source, sizeof(m->source), "prometheus");
	}
	for (k = 0; k < Q_N; k++)
		free(s[k]);
	return rc;
}
