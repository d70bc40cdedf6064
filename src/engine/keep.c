/*
 * keep.c - copies of moved keys, in memory and in the keys file (see
 * keep.h).
 */
#include "engine/keep.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEEP_MAX_BLOB (512LL << 20) /* Redis's own limit on a string */

sp_err sp_keep_add(sp_keep *k, const char *dst, int slot, const char *key,
		   size_t klen, const char *payload, size_t plen,
		   long long expire_ms)
{
	sp_kept_key *kk;
	char *mem;

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		sp_kept_key *v = realloc(k->v, cap * sizeof(*v));
		if (v == NULL)
			return SP_ERR_OOM;
		k->v = v;
		k->cap = cap;
	}
	if ((mem = malloc(klen + plen + 1)) == NULL)
		return SP_ERR_OOM;
	memcpy(mem, key, klen);
	memcpy(mem + klen, payload, plen);
	kk = &k->v[k->n++];
	*kk = (sp_kept_key){.key = mem,
			    .klen = klen,
			    .payload = mem + klen,
			    .plen = plen,
			    .expire_ms = expire_ms < 0 ? -1 : expire_ms,
			    .slot = slot,
			    .offset = -1};
	snprintf(kk->dst, sizeof(kk->dst), "%s", dst);
	k->bytes += (long long)(klen + plen);
	return SP_OK;
}

void sp_keep_mark(sp_keep *k, const char *replid, long long offset)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (k->v[i].offset < 0) {
			snprintf(k->v[i].replid, sizeof(k->v[i].replid), "%s",
				 replid);
			k->v[i].offset = offset;
		}
}

void sp_keep_clear(sp_keep *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->v[i].key);
	k->n = 0;
	k->bytes = 0;
}

void sp_keep_free(sp_keep *k)
{
	sp_keep_clear(k);
	free(k->v);
	*k = (sp_keep){0};
}

static int put_record(FILE *f, const sp_kept_key *kk)
{
	return fprintf(f, "k %s %s %lld %d %lld %zu %zu\n", kk->dst,
		       kk->replid[0] ? kk->replid : "-", kk->offset, kk->slot,
		       kk->expire_ms, kk->klen, kk->plen) < 0 ||
	       fwrite(kk->key, 1, kk->klen, f) != kk->klen ||
	       fwrite(kk->payload, 1, kk->plen, f) != kk->plen ||
	       fputc('\n', f) == EOF;
}

/* fsync of the directory holding path, so a new file's name survives. */
static int sync_dir(const char *path)
{
	char dir[1100];
	const char *slash = strrchr(path, '/');
	int fd, bad;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s",
			 (int)(slash == path ? 1 : slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return -1;
	bad = fsync(fd);
	close(fd);
	return bad;
}

sp_err sp_keep_append_file(const sp_keep *k, const char *path, sp_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct stat st;
	FILE *f;
	size_t i;
	int bad;

	if (fd < 0 || fstat(fd, &st) != 0 || (f = fdopen(fd, "a")) == NULL) {
		if (fd >= 0)
			close(fd);
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 path, strerror(errno));
	}
	bad = st.st_size == 0 && fputs(SP_KEEP_MAGIC, f) == EOF;
	for (i = 0; i < k->n && !bad; i++)
		bad = put_record(f, &k->v[i]);
	bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || sync_dir(path) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 path, strerror(errno));
	return SP_OK;
}

/* Reads one space-ended token of at most max bytes at *p (bounded by end). */
static int token(const char **p, const char *end, char *out, size_t max)
{
	size_t n = 0;

	while (*p < end && **p != ' ' && **p != '\n') {
		if (n + 1 >= max)
			return -1;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	if (n == 0 || *p >= end)
		return -1;
	(*p)++; /* the separator */
	return 0;
}

static int hex_id(const char *s, size_t len)
{
	size_t i;

	if (strlen(s) != len)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int number(const char *s, long long lo, long long hi, long long *out)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno != 0 || e == s || *e != '\0' || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

/* Parses one record's header at *p into kk; 1 when it is well formed,
 * 0 when malformed, -1 when the buffer ends inside it. */
static int parse_header(const char **p, const char *end, sp_kept_key *kk,
			long long *klen, long long *plen)
{
	char t[8][64];
	long long slot, i;

	for (i = 0; i < 8; i++)
		if (token(p, end, t[i], sizeof(t[i])) != 0)
			return *p >= end ? -1 : 0;
	if (strcmp(t[0], "k") != 0 || (*p)[-1] != '\n' ||
	    !hex_id(t[1], SP_ID_LEN) ||
	    !(strcmp(t[2], "-") == 0 || hex_id(t[2], SP_REPLID_LEN)) ||
	    !number(t[3], -1, INT64_MAX, &kk->offset) ||
	    !number(t[4], 0, SP_SLOTS - 1, &slot) ||
	    !number(t[5], -1, INT64_MAX, &kk->expire_ms) ||
	    !number(t[6], 0, KEEP_MAX_BLOB, klen) ||
	    !number(t[7], 0, KEEP_MAX_BLOB, plen))
		return 0;
	memcpy(kk->dst, t[1], SP_ID_LEN + 1);
	if (strcmp(t[2], "-") == 0)
		kk->replid[0] = '\0';
	else /* hex_id: exactly SP_REPLID_LEN characters */
		memcpy(kk->replid, t[2], SP_REPLID_LEN + 1);
	kk->slot = (int)slot;
	return 1;
}

sp_err sp_keep_parse(const char *buf, size_t len, sp_keep_fn fn, void *ud,
		     int *torn, sp_error *err)
{
	size_t ml = strlen(SP_KEEP_MAGIC);
	const char *p = buf, *end = buf + len;
	long long rec = 0, klen, plen;
	sp_err rc;

	*torn = 0;
	if (memcmp(buf, SP_KEEP_MAGIC, len < ml ? len : ml) != 0)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "not a slotpilot keys file (no header)");
	if (len < ml) {
		*torn = len > 0; /* the header itself was torn */
		return SP_OK;
	}
	p += ml;
	while (p < end) {
		sp_kept_key kk = {0};
		int h = parse_header(&p, end, &kk, &klen, &plen);
		rec++;
		if (h == 0)
			return sp_seterr(err, SP_ERR_PROTOCOL,
					 "record %lld: malformed header", rec);
		if (h < 0 || (size_t)(end - p) < (size_t)(klen + plen + 1)) {
			*torn = 1; /* appended when the process died */
			return SP_OK;
		}
		if (p[klen + plen] != '\n')
			return sp_seterr(err, SP_ERR_PROTOCOL,
					 "record %lld: no newline after its "
					 "%lld + %lld bytes",
					 rec, klen, plen);
		kk.key = (char *)p;
		kk.klen = (size_t)klen;
		kk.payload = (char *)p + klen;
		kk.plen = (size_t)plen;
		p += klen + plen + 1;
		if ((rc = fn(ud, &kk)) != SP_OK)
			return rc;
	}
	return SP_OK;
}
