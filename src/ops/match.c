/*
 * match.c - a new node matches the cluster before it joins as a primary:
 * compare version, ACL users and settings, then copy users and functions.
 */
#include "ops/match.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/config.h"

const char *const sp_match_params[] = {
    "cluster-node-timeout",
    "cluster-require-full-coverage",
    "cluster-migration-barrier",
    "cluster-allow-reads-when-down",
    "maxmemory-policy",
    "proto-max-bulk-len",
    NULL,
};

/* 1 if name is one of the comma-separated items of list. */
static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t k = strcspn(p, ",");
		if (k == n && strncmp(p, name, n) == 0)
			return 1;
		p += k + (p[k] == ',');
	}
	return 0;
}

sp_err sp_match_drift_ok(const char *list, sp_error *err)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t k = strcspn(p, ","), i;
		int ok = (k == 7 && strncmp(p, "version", 7) == 0) ||
			 (k == 3 && strncmp(p, "acl", 3) == 0);
		for (i = 0; !ok && sp_match_params[i] != NULL; i++)
			ok = strlen(sp_match_params[i]) == k &&
			     strncmp(p, sp_match_params[i], k) == 0;
		if (!ok)
			return sp_seterr(err, SP_ERR_USAGE,
					 "--allow-drift: unknown difference "
					 "\"%.*s\" (give version, acl or one "
					 "of the compared settings)",
					 (int)k, p);
		p += k + (p[k] == ',');
	}
	return SP_OK;
}

/* Appends one difference to buf ("; " between them). */
static void add_diff(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used > 0)
		used += (size_t)snprintf(buf + used, len - used, "; ");
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* redis_version and valkey_version ("" when absent) of c. */
static sp_err versions(sp_conn *c, char rv[32], char vv[32], sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	rv[0] = vv[0] = '\0';
	if ((rc = sp_conn_cmd(c, &r, err, "INFO server")) == SP_OK &&
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "INFO", err)) ==
		SP_OK) {
		sp_info_field(r->str, "redis_version", rv, 32);
		sp_info_field(r->str, "valkey_version", vv, 32);
	}
	freeReplyObject(r);
	return rc;
}

/* "7.0.15", or "valkey 8.0.1" for a Valkey server. */
static void version_text(const char *rv, const char *vv, char *buf, size_t len)
{
	if (vv[0] != '\0')
		snprintf(buf, len, "valkey %s", vv);
	else
		snprintf(buf, len, "%s", rv);
}

static sp_err cmp_versions(sp_conn *ref, sp_conn *node, char *diff, size_t len,
			   sp_error *err)
{
	char r1[32], v1[32], r2[32], v2[32], a[48], b[48];
	sp_err rc;

	if ((rc = versions(ref, r1, v1, err)) != SP_OK ||
	    (rc = versions(node, r2, v2, err)) != SP_OK)
		return rc;
	version_text(r1, v1, a, sizeof(a));
	version_text(r2, v2, b, sizeof(b));
	if (strcmp(a, b) != 0)
		add_diff(diff, len, "version %s on the node, %s in the cluster",
			 b, a);
	return SP_OK;
}

static sp_err cmp_settings(sp_conn *ref, sp_conn *node, const char *allow,
			   char *diff, size_t len, sp_error *err)
{
	char a[256], b[256];
	sp_err ra, rb;
	size_t i;

	for (i = 0; sp_match_params[i] != NULL; i++) {
		const char *p = sp_match_params[i];
		if (listed(allow, p))
			continue;
		ra = sp_config_get(ref, p, a, sizeof(a), err);
		rb = sp_config_get(node, p, b, sizeof(b), err);
		if ((ra != SP_OK && ra != SP_ERR_NOTFOUND) ||
		    (rb != SP_OK && rb != SP_ERR_NOTFOUND))
			return ra != SP_OK && ra != SP_ERR_NOTFOUND ? ra : rb;
		if (ra != rb || (ra == SP_OK && strcmp(a, b) != 0))
			add_diff(diff, len,
				 "%s \"%s\" on the node, \"%s\" in "
				 "the cluster",
				 p, rb == SP_OK ? b : "(absent)",
				 ra == SP_OK ? a : "(absent)");
	}
	return SP_OK;
}

/* ACL LIST of c: an array of strings (caller frees). */
static sp_err acl_list(sp_conn *c, redisReply **out, sp_error *err)
{
	sp_err rc;
	size_t i;

	if ((rc = sp_conn_cmd(c, out, err, "ACL LIST")) != SP_OK ||
	    (rc = sp_reply_expect(c, *out, REDIS_REPLY_ARRAY, "ACL LIST",
				  err)) != SP_OK)
		return rc;
	for (i = 0; i < (*out)->elements; i++)
		if ((rc = sp_reply_expect(c, (*out)->element[i],
					  REDIS_REPLY_STRING, "ACL LIST",
					  err)) != SP_OK)
			return rc;
	return SP_OK;
}

/* Index of the line of a whose user name is the one of line, or -1. */
static int find_user(const redisReply *a, const char *line)
{
	const char *name = line + 5; /* "user " */
	size_t n = strcspn(name, " "), i;

	for (i = 0; i < a->elements; i++)
		if (strncmp(a->element[i]->str, "user ", 5) == 0 &&
		    strncmp(a->element[i]->str + 5, name, n) == 0 &&
		    (a->element[i]->str[5 + n] == ' ' ||
		     a->element[i]->str[5 + n] == '\0'))
			return (int)i;
	return -1;
}

/* Names each user whose rules differ or who exists on one side only. */
static void cmp_users(const redisReply *ref, const redisReply *node, char *diff,
		      size_t len)
{
	size_t i;
	int k;

	for (i = 0; i < ref->elements; i++) {
		const char *l = ref->element[i]->str;
		int n = (int)strcspn(l + 5, " ");
		if ((k = find_user(node, l)) < 0)
			add_diff(diff, len, "ACL user %.*s missing on the node",
				 n, l + 5);
		else if (strcmp(node->element[k]->str, l) != 0)
			add_diff(diff, len,
				 "ACL user %.*s has other rules on "
				 "the node",
				 n, l + 5);
	}
	for (i = 0; i < node->elements; i++)
		if (find_user(ref, node->element[i]->str) < 0)
			add_diff(diff, len,
				 "ACL user %.*s exists only on the "
				 "node",
				 (int)strcspn(node->element[i]->str + 5, " "),
				 node->element[i]->str + 5);
}

/*
 * Recreates the user of one "user name rules..." line on node: DELUSER,
 * then SETUSER name rules... (a new user plus its listed rules is what
 * ACL LIST describes; "reset" would add sanitize-payload). The default
 * user cannot be deleted: it is reset, then given its rules.
 */
static sp_err set_user(sp_conn *node, const char *line, sp_error *err)
{
	const char *argv[256];
	char copy[4096], *tok, *save = NULL;
	int argc = 0, dflt;
	sp_err rc;

	snprintf(copy, sizeof(copy), "%s", line + 5);
	argv[argc++] = "ACL";
	argv[argc++] = "SETUSER";
	argv[argc++] = tok = strtok_r(copy, " ", &save);
	if (tok == NULL)
		return SP_OK;
	if ((dflt = strcmp(tok, "default") == 0))
		argv[argc++] = "reset";
	else if ((rc = sp_conn_cmd(node, NULL, err, "ACL DELUSER %s", tok)))
		return rc;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL && argc < 256)
		argv[argc++] = tok;
	return sp_conn_cmdv(node, NULL, err, argc, argv, NULL);
}

static sp_err copy_users(sp_conn *node, const redisReply *ref,
			 const redisReply *mine, sp_error *err)
{
	sp_err rc = SP_OK;
	size_t i;
	int k;

	for (i = 0; i < ref->elements && rc == SP_OK; i++)
		if ((k = find_user(mine, ref->element[i]->str)) < 0 ||
		    strcmp(mine->element[k]->str, ref->element[i]->str) != 0)
			rc = set_user(node, ref->element[i]->str, err);
	for (i = 0; i < mine->elements && rc == SP_OK; i++) {
		const char *l = mine->element[i]->str;
		int n = (int)strcspn(l + 5, " ");
		if (find_user(ref, l) < 0 &&
		    !(n == 7 && strncmp(l + 5, "default", 7) == 0))
			rc = sp_conn_cmd(node, NULL, err, "ACL DELUSER %b",
					 l + 5, (size_t)n);
	}
	return rc;
}

/* Copies the reference's function libraries onto the node. */
static sp_err copy_functions(sp_conn *ref, sp_conn *node, sp_error *err)
{
	redisReply *list = NULL, *dump = NULL;
	sp_err rc;

	rc = sp_conn_cmd(ref, &list, err, "FUNCTION LIST");
	if (rc == SP_ERR_SERVER && strstr(err->msg, "unknown") != NULL)
		return SP_OK; /* a server before 7.0: nothing to copy */
	if (rc == SP_OK && list->type == REDIS_REPLY_ARRAY &&
	    list->elements > 0 &&
	    (rc = sp_conn_cmd(ref, &dump, err, "FUNCTION DUMP")) == SP_OK &&
	    (rc = sp_reply_expect(ref, dump, REDIS_REPLY_STRING,
				  "FUNCTION DUMP", err)) == SP_OK)
		rc = sp_conn_cmd(node, NULL, err, "FUNCTION RESTORE %b REPLACE",
				 dump->str, dump->len);
	freeReplyObject(list);
	freeReplyObject(dump);
	return rc;
}

static sp_err compare(sp_conn *ref, sp_conn *node, const sp_match_opts *o,
		      const redisReply *ua, const redisReply *ub, char *diff,
		      size_t len, sp_error *err)
{
	sp_err rc = SP_OK;

	if (!listed(o->allow_drift, "version"))
		rc = cmp_versions(ref, node, diff, len, err);
	if (rc == SP_OK)
		rc = cmp_settings(ref, node, o->allow_drift, diff, len, err);
	if (rc == SP_OK && !o->copy_acl && !listed(o->allow_drift, "acl"))
		cmp_users(ua, ub, diff, len);
	return rc;
}

sp_err sp_node_match(const char *rhost, int rport, const char *nhost, int nport,
		     const sp_conn_opts *co, const sp_match_opts *o,
		     sp_error *err)
{
	redisReply *ua = NULL, *ub = NULL;
	sp_conn *ref = NULL, *node = NULL;
	char diff[SP_ERRMSG_MAX - 128] = "";
	sp_err rc;

	if ((rc = sp_match_drift_ok(o->allow_drift, err)) != SP_OK ||
	    (rc = sp_conn_open(rhost, rport, co, &ref, err)) != SP_OK ||
	    (rc = sp_conn_open(nhost, nport, co, &node, err)) != SP_OK ||
	    (rc = acl_list(ref, &ua, err)) != SP_OK ||
	    (rc = acl_list(node, &ub, err)) != SP_OK ||
	    (rc = compare(ref, node, o, ua, ub, diff, sizeof(diff), err)))
		goto out;
	if (diff[0] != '\0') {
		rc = sp_seterr(err, SP_ERR_CLUSTER,
			       "%s:%d does not match the cluster: %s "
			       "(--copy-acl copies the users, --allow-drift "
			       "NAME,... accepts a difference)",
			       nhost, nport, diff);
		goto out;
	}
	if (o->copy_acl && (rc = copy_users(node, ua, ub, err)) != SP_OK)
		goto out;
	rc = copy_functions(ref, node, err);
out:
	freeReplyObject(ua);
	freeReplyObject(ub);
	sp_conn_close(ref);
	sp_conn_close(node);
	return rc;
}
