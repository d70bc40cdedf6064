/*
 * journal.c - write and read operation journals (JSON lines via jansson).
 */
#include "engine/journal.h"

#include "base/clock.h"
#include "base/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Writes one JSON line, flushes and fsyncs; takes ownership of o. */
static sp_err put_line(sp_journal *j, json_t *o, sp_error *err)
{
	int bad;

	if (o == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	bad = json_dumpf(o, j->f, JSON_COMPACT) != 0 ||
	      fputc('\n', j->f) == EOF || fflush(j->f) != 0 ||
	      fsync(fileno(j->f)) != 0;
	json_decref(o);
	if (bad)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 j->path, strerror(errno));
	return SP_OK;
}

/* A journal with no file yet and its writer not started. */
static sp_journal *journal_new(void)
{
	sp_journal *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	return j;
}

json_t *sp_json_owners(const int *owners)
{
	json_t *a = json_array();
	int s = 0, e;

	while (a != NULL && s < SP_SLOTS) {
		for (e = s; e + 1 < SP_SLOTS && owners[e + 1] == owners[s]; e++)
			;
		if (owners[s] >= 0)
			json_array_append_new(
			    a, json_pack("[i,i,i]", s, e, owners[s]));
		s = e + 1;
	}
	return a;
}

json_t *sp_json_nodes(const sp_endpoint *nodes, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a,
				      json_pack("{s:s, s:s}", "id", nodes[i].id,
						"addr", nodes[i].addr));
	return a;
}

static json_t *begin_json(const char *op, const char *id, long long seq,
			  long long ms, const char *entry,
			  const sp_endpoint *nodes, size_t nn,
			  const int *owners, const sp_move *m, size_t nm)
{
	json_t *o;

	json_t *jn = sp_json_nodes(nodes, nn), *jm = json_array();
	size_t i;

	for (i = 0; i < nm; i++)
		json_array_append_new(
		    jm, json_pack("[i,i,i]", m[i].slot, m[i].src, m[i].dst));
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:o, s:o, s:o}", "type",
		      "begin", "version", 1, "op", op, "id", id, "entry", entry,
		      "time", (json_int_t)(ms / 1000), "nodes", jn, "owners",
		      sp_json_owners(owners), "moves", jm);
	if (o != NULL &&
	    (json_object_set_new(o, "seq", json_integer(seq)) ||
	     json_object_set_new(o, "time_ms", json_integer(ms)))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int newer(const sp_journal_rec *a, const sp_journal_rec *b)
{
	if (a->seq != b->seq)
		return a->seq > b->seq;
	return a->created_ms > b->created_ms;
}

/* The highest seq of any journal in dir (0 if none). */
static long long max_seq(const char *dir)
{
	char cand[1024];
	long long best = 0;
	sp_journal_rec r;
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 9 || strcmp(de->d_name + n - 8, ".journal") != 0)
			continue;
		snprintf(cand, sizeof(cand), "%s/%s", dir, de->d_name);
		if (sp_journal_load(cand, &r, NULL) != SP_OK)
			continue;
		if (r.seq > best)
			best = r.seq;
		sp_journal_rec_free(&r);
	}
	closedir(d);
	return best;
}

/* Takes DIR/journal.lock (exclusive, released by close): one process at
 * a time picks the next seq and creates its journal. */
static int lock_dir(const char *dir, sp_error *err)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/journal.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    flock(fd, LOCK_EX) != 0) {
		sp_seterr(err, SP_ERR_SYSTEM, "cannot lock %s: %s", path,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

sp_err sp_journal_begin(const char *dir, const char *op, const char *entry,
			const sp_endpoint *nodes, size_t nnodes,
			const int *owners, const sp_move *moves, size_t nmoves,
			sp_journal **out, sp_error *err)
{
	sp_journal *j = NULL;
	long long seq, ms = sp_wall_ms();
	char id[64];
	sp_err rc;
	int lk;

	*out = NULL;
	if ((rc = sp_mkdirs(dir, err)) != SP_OK)
		return rc;
	if ((j = journal_new()) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((lk = lock_dir(dir, err)) < 0) {
		sp_journal_close(j);
		return SP_ERR_SYSTEM;
	}
	seq = max_seq(dir) + 1;
	snprintf(id, sizeof(id), "%lld-%d-%lld-%s", ms, (int)getpid(), seq, op);
	snprintf(j->path, sizeof(j->path), "%s/%s.journal", dir, id);
	if ((j->f = fopen(j->path, "wx")) == NULL) {
		rc = sp_seterr(err, SP_ERR_SYSTEM, "cannot create %s: %s",
			       j->path, strerror(errno));
		goto out;
	}
	rc = put_line(j,
		      begin_json(op, id, seq, ms, entry, nodes, nnodes, owners,
				 moves, nmoves),
		      err);
out:
	close(lk); /* after the begin record: the next one sees our seq */
	if (rc != SP_OK) {
		if (j->f != NULL) /* a torn begin record is an error to load */
			unlink(j->path);
		sp_journal_close(j);
		return rc;
	}
	*out = j;
	return SP_OK;
}

sp_err sp_journal_reopen(const char *path, sp_journal **out, sp_error *err)
{
	sp_journal *j = journal_new();

	*out = NULL;
	if (j == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	snprintf(j->path, sizeof(j->path), "%s", path);
	if ((j->f = fopen(path, "a")) == NULL) {
		sp_seterr(err, SP_ERR_SYSTEM, "cannot open %s: %s", path,
			  strerror(errno));
		sp_journal_close(j);
		return SP_ERR_SYSTEM;
	}
	/* A torn last line (a crash mid-write) must not glue onto ours. */
	fputc('\n', j->f);
	*out = j;
	return SP_OK;
}

/* Writes out what was queued, without the lock held while it writes. */
static void *writer_main(void *arg)
{
	sp_journal *j = arg;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		char *buf;
		size_t len;
		long long upto;
		int bad;

		while (j->qlen == 0 && !j->stop)
			pthread_cond_wait(&j->cv, &j->mu);
		if (j->qlen == 0)
			break;
		buf = j->queue;
		len = j->qlen;
		upto = j->queued;
		j->queue = NULL;
		j->qlen = j->qcap = 0;
		pthread_mutex_unlock(&j->mu);
		bad = fwrite(buf, 1, len, j->f) != len || fflush(j->f) != 0 ||
		      fsync(fileno(j->f)) != 0;
		if (bad && !j->wfailed) /* only this thread sets it */
			sp_seterr(&j->werr, SP_ERR_SYSTEM,
				  "cannot write %s: %s", j->path,
				  strerror(errno));
		free(buf);
		pthread_mutex_lock(&j->mu);
		j->wfailed |= bad;
		j->synced = upto;
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* Appends line (len bytes) to the queue; under j->mu. */
static int enqueue(sp_journal *j, const char *line, size_t len)
{
	if (j->qlen + len + 1 > j->qcap) {
		size_t cap = (j->qlen + len + 1) * 2;
		char *q = realloc(j->queue, cap);
		if (q == NULL)
			return -1;
		j->queue = q;
		j->qcap = cap;
	}
	memcpy(j->queue + j->qlen, line, len);
	j->queue[j->qlen + len] = '\n';
	j->qlen += len + 1;
	j->queued++;
	return 0;
}

sp_err sp_journal_done(sp_journal *j, const sp_move *moves, size_t n,
		       sp_error *err)
{
	json_t *a = json_array(), *o;
	char *line = NULL;
	sp_err rc = SP_OK;
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_integer(moves[i].slot));
	o = json_pack("{s:s, s:o}", "type", "done", "slots", a);
	if (o == NULL || (line = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	json_decref(o);
	pthread_mutex_lock(&j->mu);
	if (j->wfailed)
		rc = sp_seterr(err, j->werr.code, "%s", j->werr.msg);
	else if (!j->started &&
		 pthread_create(&j->writer, NULL, writer_main, j) != 0)
		rc = sp_seterr(err, SP_ERR_SYSTEM,
			       "%s: cannot start the journal writer", j->path);
	else if ((j->started = 1, enqueue(j, line, strlen(line))) != 0)
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
	else
		pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	free(line);
	return rc;
}

sp_err sp_journal_sync(sp_journal *j, sp_error *err)
{
	sp_err rc = SP_OK;

	pthread_mutex_lock(&j->mu);
	while (j->started && j->synced < j->queued)
		pthread_cond_wait(&j->cv, &j->mu);
	if (j->wfailed)
		rc = sp_seterr(err, j->werr.code, "%s", j->werr.msg);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

sp_err sp_journal_end(sp_journal *j, const char *status, sp_error *err)
{
	sp_err rc;

	/* The slots' records first: rule 5, done is never reported before
	 * they are on disk. The writer is idle from here on. */
	if ((rc = sp_journal_sync(j, err)) != SP_OK)
		return rc;
	return put_line(
	    j, json_pack("{s:s, s:s}", "type", "end", "status", status), err);
}

void sp_journal_close(sp_journal *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (j->started)
		pthread_join(j->writer, NULL); /* it writes what is queued */
	if (j->f != NULL)
		fclose(j->f);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j->queue);
	free(j);
}

sp_err sp_json_read_nodes(json_t *jn, const char *path, sp_endpoint **out,
			  size_t *n, sp_error *err)
{
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(jn) || json_array_size(jn) == 0 ||
	    json_array_size(jn) > 10000)
		return sp_seterr(err, SP_ERR_PROTOCOL, "%s: bad node list",
				 path);
	if ((*out = calloc(json_array_size(jn), sizeof(**out))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	*n = json_array_size(jn);
	for (i = 0; i < *n; i++) {
		const char *id = NULL, *addr = NULL;
		char host[SP_HOST_MAX];
		int port;
		if (json_unpack(json_array_get(jn, i), "{s:s, s:s}", "id", &id,
				"addr", &addr) != 0 ||
		    strlen(id) != SP_ID_LEN ||
		    sp_parse_hostport(addr, host, &port, NULL) != SP_OK)
			return sp_seterr(err, SP_ERR_PROTOCOL,
					 "%s: bad node %zu", path, i);
		sp_endpoint_set(&(*out)[i], id, host, port);
	}
	return SP_OK;
}

sp_err sp_json_read_owners(json_t *jo, const char *path, size_t nnodes,
			   int *owners, sp_error *err)
{
	int s, e, o;
	size_t i;

	for (s = 0; s < SP_SLOTS; s++)
		owners[s] = -1;
	if (!json_is_array(jo))
		return sp_seterr(err, SP_ERR_PROTOCOL, "%s: bad owner list",
				 path);
	for (i = 0; i < json_array_size(jo); i++) {
		if (json_unpack(json_array_get(jo, i), "[i,i,i]", &s, &e, &o) ||
		    s < 0 || e < s || e >= SP_SLOTS || o < 0 ||
		    (size_t)o >= nnodes)
			return sp_seterr(err, SP_ERR_PROTOCOL,
					 "%s: bad owner range %zu", path, i);
		for (; s <= e; s++)
			owners[s] = o;
	}
	return SP_OK;
}

static sp_err load_moves(json_t *jm, json_t *jo, sp_journal_rec *r,
			 sp_error *err)
{
	int n = (int)r->plan.nnodes, s, a, b;
	size_t i;

	if (!json_is_array(jm) || json_array_size(jm) > SP_SLOTS)
		return sp_seterr(err, SP_ERR_PROTOCOL, "%s: bad moves",
				 r->path);
	r->plan.nmoves = json_array_size(jm);
	if ((r->plan.moves =
		 calloc(r->plan.nmoves + 1, sizeof(*r->plan.moves))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (i = 0; i < r->plan.nmoves; i++) {
		if (json_unpack(json_array_get(jm, i), "[i,i,i]", &s, &a, &b) ||
		    s < 0 || s >= SP_SLOTS || a < 0 || a >= n || b < 0 ||
		    b >= n)
			return sp_seterr(err, SP_ERR_PROTOCOL,
					 "%s: bad move %zu", r->path, i);
		r->plan.moves[i] = (sp_move){s, a, b};
	}
	return sp_json_read_owners(jo, r->path, r->plan.nnodes, r->plan.owners,
				   err);
}

static sp_err load_begin(json_t *o, sp_journal_rec *r, sp_error *err)
{
	const char *op, *id, *entry;
	json_t *jn, *jm, *jo;
	int version;
	sp_err rc;

	if (json_unpack(o, "{s:i, s:s, s:s, s:s, s:o, s:o, s:o}", "version",
			&version, "op", &op, "id", &id, "entry", &entry,
			"nodes", &jn, "moves", &jm, "owners", &jo) != 0 ||
	    version != 1)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s: not a slotpilot journal (bad begin "
				 "record)",
				 r->path);
	snprintf(r->op, sizeof(r->op), "%s", op);
	snprintf(r->id, sizeof(r->id), "%s", id);
	/* Journals from before seq and time_ms: seq 0, time in seconds. */
	r->seq = json_integer_value(json_object_get(o, "seq"));
	r->created_ms =
	    json_is_integer(json_object_get(o, "time_ms"))
		? json_integer_value(json_object_get(o, "time_ms"))
		: json_integer_value(json_object_get(o, "time")) * 1000;
	snprintf(r->entry, sizeof(r->entry), "%s", entry);
	if ((rc = sp_json_read_nodes(jn, r->path, &r->plan.nodes,
				     &r->plan.nnodes, err)) != SP_OK)
		return rc;
	return load_moves(jm, jo, r, err);
}

static void load_record(json_t *o, sp_journal_rec *r)
{
	const char *type = json_string_value(json_object_get(o, "type"));
	json_t *slots, *v;
	size_t i;

	if (type == NULL)
		return;
	if (strcmp(type, "done") == 0 &&
	    json_is_array(slots = json_object_get(o, "slots"))) {
		json_array_foreach(slots, i, v)
		{
			json_int_t s = json_integer_value(v);
			if (json_is_integer(v) && s >= 0 && s < SP_SLOTS)
				r->done[s] = 1;
		}
	} else if (strcmp(type, "end") == 0 &&
		   json_is_string(json_object_get(o, "status"))) {
		snprintf(r->status, sizeof(r->status), "%s",
			 json_string_value(json_object_get(o, "status")));
	}
}

/*
 * A journal whose begin record is missing or does not parse: slotpilot
 * was stopped while creating it. The begin record is fsynced before the
 * first slot moves, so nothing moved under it; but it is reported, not
 * skipped: the operator removes the file once they have looked at it.
 */
static sp_err torn(const char *path, sp_error *err)
{
	return sp_seterr(err, SP_ERR_USAGE,
			 "%s: its first record (the plan) is torn or missing: "
			 "slotpilot stopped while creating it, before any "
			 "slot moved; remove the file and run again",
			 path);
}

sp_err sp_journal_check(const sp_journal_rec *r, sp_error *err)
{
	sp_err rc = sp_moves_validate(r->plan.moves, r->plan.nmoves,
				      r->plan.nnodes, r->plan.owners, err);

	if (rc != SP_OK)
		sp_error_prefix(err, "%s", r->path);
	return rc;
}

sp_err sp_journal_load(const char *path, sp_journal_rec *r, sp_error *err)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int first = 1, i;
	sp_err rc = SP_OK;
	FILE *f;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < SP_SLOTS; i++)
		r->plan.owners[i] = -1;
	snprintf(r->path, sizeof(r->path), "%s", path);
	if ((f = fopen(path, "r")) == NULL)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot read %s: %s", path,
				 strerror(errno));
	while (rc == SP_OK && (len = getline(&line, &cap, f)) >= 0) {
		json_t *o;
		if (len <= 1)
			continue;
		/* A later line that does not parse was torn by a crash: skip
		 * it (a lost done record costs a re-check). The first one is
		 * the plan: see torn(). */
		if ((o = json_loadb(line, (size_t)len, 0, NULL)) == NULL) {
			if (first)
				rc = torn(path, err);
			continue;
		}
		rc = first ? load_begin(o, r, err) : SP_OK;
		if (!first)
			load_record(o, r);
		first = 0;
		json_decref(o);
	}
	if (rc == SP_OK && first)
		rc = torn(path, err);
	free(line);
	fclose(f);
	if (rc != SP_OK)
		sp_journal_rec_free(r);
	return rc;
}

void sp_journal_rec_free(sp_journal_rec *r)
{
	if (r != NULL)
		sp_opplan_free(&r->plan);
}

/* The newest by recorded seq and creation time (see newer). */
static sp_err find(const char *dir, int open_only, char *path, size_t len,
		   sp_error *err)
{
	char cand[1024];
	sp_journal_rec *best = calloc(1, sizeof(*best)),
		       *r = calloc(1, sizeof(*r)), *t;
	int found = 0, best_done = 0;
	struct dirent *de;
	DIR *d = NULL;
	sp_err rc;

	if (best == NULL || r == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((d = opendir(dir)) == NULL) {
		rc = sp_seterr(err, SP_ERR_NOTFOUND, "no journal in %s", dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 9 || strcmp(de->d_name + n - 8, ".journal") != 0)
			continue;
		snprintf(cand, sizeof(cand), "%s/%s", dir, de->d_name);
		if ((rc = sp_journal_load(cand, r, err)) == SP_ERR_USAGE)
			goto out; /* torn: reported, see torn() */
		if (rc != SP_OK)
			continue;
		sp_journal_rec_free(r);
		if (found && !newer(r, best))
			continue;
		t = best;
		best = r;
		r = t;
		found = 1;
		best_done = strcmp(best->status, "complete") == 0 ||
			    strcmp(best->status, "refused") == 0;
	}
	/* Only the newest operation can be resumed: an older one that did
	 * not finish was superseded by whatever ran after it. */
	if (!found || (open_only && best_done)) {
		rc = sp_seterr(err, SP_ERR_NOTFOUND, "no %soperation in %s",
			       open_only ? "unfinished " : "", dir);
		goto out;
	}
	snprintf(path, len, "%s", best->path);
	rc = SP_OK;
out:
	if (d != NULL)
		closedir(d);
	free(best);
	free(r);
	return rc;
}

sp_err sp_journal_find_open(const char *dir, char *path, size_t len,
			    sp_error *err)
{
	return find(dir, 1, path, len, err);
}

sp_err sp_journal_find_last(const char *dir, char *path, size_t len,
			    sp_error *err)
{
	return find(dir, 0, path, len, err);
}
