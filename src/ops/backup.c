/*
 * backup.c - RDB snapshots of every primary: fetched over the replication
 * protocol (as `redis-cli --rdb` does) or saved on the nodes with BGSAVE;
 * a manifest beside them; and the check of a backup against its manifest.
 * The check of one RDB file is in rdb.c.
 */
#include "ops/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/stop.h"
#include "cluster/gather.h"
#include "model/checks.h"

#define CHUNK	     (64 * 1024)
#define EOF_MARK_LEN 40 /* RDB_EOF_MARK_SIZE in Redis's replication.c */
#define HEADER_MAX   128
#define PATH_MAX_SP  1024
#define RANGES_MAX   (SP_SLOTS * 7)

sp_backup_opts sp_backup_defaults(void)
{
	sp_backup_opts o = {.dir = NULL,
			    .on_nodes = 0,
			    .diskless = 0,
			    .parallel = 4,
			    .save_timeout_s = 3600,
			    .conn = NULL,
			    .log = NULL};
	return o;
}

/* ------------------------------------------------------------------ */
/* The backup directory                                                */

static int path_join(char *buf, size_t len, const char *dir, const char *f)
{
	return snprintf(buf, len, "%s/%s", dir, f) < (int)len;
}

/* Refuses, before anything is written, a directory we could not fill or
 * that already holds a backup. Sets *exists. */
static sp_err check_dir(const char *dir, int *exists, sp_error *err)
{
	char man[PATH_MAX_SP];
	struct stat st;

	*exists = 0;
	if (!path_join(man, sizeof(man), dir, SP_BACKUP_MANIFEST))
		return sp_seterr(err, SP_ERR_USAGE, "--dir %s: path too long",
				 dir);
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT)
			return SP_OK; /* created once the nodes answered */
		return sp_seterr(err, SP_ERR_USAGE, "--dir %s: %s", dir,
				 strerror(errno));
	}
	*exists = 1;
	if (!S_ISDIR(st.st_mode))
		return sp_seterr(err, SP_ERR_USAGE,
				 "--dir %s exists and is not a directory", dir);
	if (access(dir, W_OK | X_OK) != 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--dir %s is not writable: %s", dir,
				 strerror(errno));
	if (access(man, F_OK) == 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--dir %s already holds a backup (%s): choose "
				 "a new directory",
				 dir, SP_BACKUP_MANIFEST);
	return SP_OK;
}

/* ------------------------------------------------------------------ */
/* One primary's job                                                   */

typedef struct job {
	const sp_backup_opts *o;
	char host[SP_HOST_MAX]; /* the source node */
	int port;
	sp_backup_file f;
	char part[PATH_MAX_SP], final[PATH_MAX_SP];
	int made_part, made_final;
	sp_err rc;
	sp_error err;
} job;

static sp_err raw_write(sp_conn *c, const char *buf, size_t n, sp_error *err)
{
	return sp_conn_write_raw(c, buf, n, "SYNC", err);
}

/* The RDB stream through the connection (its reply timeout applies). */
static sp_err raw_read(sp_conn *c, void *buf, size_t len, size_t *got,
		       sp_error *err)
{
	sp_err rc = sp_conn_read_raw(c, buf, len, got, "SYNC", err);

	if (rc == SP_OK && *got == 0)
		return sp_seterr(err, SP_ERR_IO,
				 "%s: SYNC: the node closed the connection "
				 "before the end of the RDB payload",
				 c->addr);
	if (rc == SP_ERR_TIMEOUT)
		return sp_seterr(err, SP_ERR_TIMEOUT,
				 "%s: SYNC: no data within the timeout (raise "
				 "--timeout for a slow save)",
				 c->addr);
	return rc;
}

/*
 * Reads the SYNC reply header, as redis-cli's sendSync does: newlines the
 * node sends as keep-alives while it prepares the RDB, then "$<len>" or
 * "$EOF:<40-byte mark>" (diskless), or "-ERR ..." when it refuses.
 * Byte by byte, so that nothing of the payload is read here.
 */
static sp_err read_header(sp_conn *c, long long *len, char *mark, sp_error *err)
{
	char line[HEADER_MAX + 1];
	size_t n = 0, got;
	char *end;
	sp_err rc;

	for (;;) {
		if ((rc = raw_read(c, line + n, 1, &got, err)) != SP_OK)
			return rc;
		if (line[n] == '\n' && n == 0)
			continue; /* keep-alive */
		if (line[n] == '\n')
			break;
		if (++n >= HEADER_MAX)
			return sp_seterr(err, SP_ERR_PROTOCOL,
					 "%s: SYNC: header line too long",
					 c->addr);
	}
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (line[0] == '-')
		return sp_seterr(err, sp_classify_server_error(line + 1),
				 "%s: SYNC: %s", c->addr, line + 1);
	if (strncmp(line, "$EOF:", 5) == 0 && n == 5 + EOF_MARK_LEN) {
		memcpy(mark, line + 5, EOF_MARK_LEN);
		*len = -1;
		return SP_OK;
	}
	*len = line[0] == '$' ? strtoll(line + 1, &end, 10) : -1;
	if (line[0] != '$' || end == line + 1 || *end != '\0' || *len < 0)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s: SYNC: unexpected reply \"%.60s\"",
				 c->addr, line);
	return SP_OK;
}

static sp_err file_write(int fd, const char *path, const void *buf, size_t n,
			 sp_error *err)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return sp_seterr(err, SP_ERR_SYSTEM,
					 "cannot write %s: %s", path,
					 strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return SP_OK;
}

/* A "$<len>" payload: exactly len bytes. */
static sp_err copy_len(sp_conn *c, long long len, int fd, const char *path,
		       char *buf, sp_error *err)
{
	size_t got;
	sp_err rc = SP_OK;

	while (len > 0 && rc == SP_OK) {
		size_t want = len < CHUNK ? (size_t)len : CHUNK;
		if ((rc = raw_read(c, buf, want, &got, err)) == SP_OK)
			rc = file_write(fd, path, buf, got, err);
		len -= (long long)got;
	}
	return rc;
}

/* A diskless payload: everything up to the 40-byte mark that ends it. The
 * last 40 bytes read are held back until we know they are not the mark. */
static sp_err copy_eof(sp_conn *c, const char *mark, int fd, const char *path,
		       char *buf, sp_error *err)
{
	size_t held = 0, got, total;
	sp_err rc;

	for (;;) {
		if ((rc = raw_read(c, buf + held, CHUNK, &got, err)) != SP_OK)
			return rc;
		total = held + got;
		if (total >= EOF_MARK_LEN &&
		    memcmp(buf + total - EOF_MARK_LEN, mark, EOF_MARK_LEN) == 0)
			return file_write(fd, path, buf, total - EOF_MARK_LEN,
					  err);
		held = total < EOF_MARK_LEN ? total : EOF_MARK_LEN;
		if ((rc = file_write(fd, path, buf, total - held, err)))
			return rc;
		memmove(buf, buf + total - held, held);
	}
}

/* Sends SYNC on c and streams the RDB into fd. */
static sp_err stream_rdb(sp_conn *c, int fd, const char *path, sp_error *err)
{
	char mark[EOF_MARK_LEN], *buf = malloc(CHUNK + EOF_MARK_LEN);
	long long len = 0;
	sp_err rc;

	if (buf == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = raw_write(c, "SYNC\r\n", 6, err)) == SP_OK &&
	    (rc = read_header(c, &len, mark, err)) == SP_OK)
		rc = len >= 0 ? copy_len(c, len, fd, path, buf, err)
			      : copy_eof(c, mark, fd, path, buf, err);
	if (rc == SP_OK && fsync(fd) != 0)
		rc = sp_seterr(err, SP_ERR_SYSTEM, "cannot fsync %s: %s", path,
			       strerror(errno));
	free(buf);
	return rc;
}

static sp_err dbsize(sp_conn *c, long long *keys, sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	if ((rc = sp_conn_cmd(c, &r, err, "DBSIZE")) == SP_OK &&
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_INTEGER, "DBSIZE", err)) ==
		SP_OK)
		*keys = r->integer;
	freeReplyObject(r);
	return rc;
}

/*
 * Asks for a replica's full sync without becoming one: rdb-only (Redis
 * 7.0+: the node closes after the RDB and keeps no backlog for us; older
 * nodes refuse it, which is harmless) and, for --diskless, capa eof so
 * the node may stream the RDB from its fork without touching its disk.
 */
static sp_err sync_prelude(sp_conn *c, int diskless, sp_error *err)
{
	sp_error ign;
	sp_err rc;

	rc = sp_conn_cmd(c, NULL, &ign, "REPLCONF rdb-only 1");
	if (rc != SP_OK && rc != SP_ERR_SERVER)
		return sp_seterr(err, rc, "%s", ign.msg);
	if (diskless)
		return sp_conn_cmd(c, NULL, err, "REPLCONF capa eof");
	return SP_OK;
}

static sp_err fetch_job(job *j, sp_error *err)
{
	sp_conn *c = NULL;
	int fd = -1;
	sp_err rc;

	if ((rc = sp_conn_open(j->host, j->port, j->o->conn, &c, err)) !=
		SP_OK ||
	    (rc = dbsize(c, &j->f.keys, err)) != SP_OK ||
	    (rc = sync_prelude(c, j->o->diskless, err)) != SP_OK)
		goto out;
	/* 0600: an RDB file is the whole dataset. */
	if ((fd = open(j->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		       0600)) < 0) {
		rc = sp_seterr(err, SP_ERR_SYSTEM, "cannot create %s: %s",
			       j->part, strerror(errno));
		goto out;
	}
	j->made_part = 1;
	if ((rc = stream_rdb(c, fd, j->part, err)) != SP_OK)
		goto out;
	close(fd);
	fd = -1;
	if ((rc = sp_rdb_check_file(j->part, &j->f.rdb, err)) != SP_OK)
		goto out;
	if (rename(j->part, j->final) != 0) {
		rc = sp_seterr(err, SP_ERR_SYSTEM, "cannot rename %s: %s",
			       j->part, strerror(errno));
		goto out;
	}
	j->made_part = 0;
	j->made_final = 1;
out:
	if (fd >= 0)
		close(fd);
	sp_conn_close(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* --on-nodes: BGSAVE and wait                                         */

typedef struct save_state {
	int in_progress;
	long long saves; /* rdb_saves (Redis 7.0+), or -1 */
	long long last_save;
	char status[16];
} save_state;

static sp_err read_persistence(sp_conn *c, save_state *s, sp_error *err)
{
	redisReply *r = NULL;
	long long v = 0;
	sp_err rc;

	if ((rc = sp_conn_cmd(c, &r, err, "INFO persistence")) != SP_OK ||
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "INFO", err)))
		goto out;
	if (!sp_info_ll(r->str, "rdb_bgsave_in_progress", &v) ||
	    !sp_info_ll(r->str, "rdb_last_save_time", &s->last_save) ||
	    !sp_info_field(r->str, "rdb_last_bgsave_status", s->status,
			   sizeof(s->status))) {
		rc = sp_seterr(err, SP_ERR_PROTOCOL,
			       "%s: INFO persistence lacks the rdb_* fields",
			       c->addr);
		goto out;
	}
	s->in_progress = v != 0;
	if (!sp_info_ll(r->str, "rdb_saves", &s->saves))
		s->saves = -1;
out:
	freeReplyObject(r);
	return rc;
}

/* Polls until no save runs; returns its state. */
static sp_err wait_idle(sp_conn *c, long long deadline, save_state *s,
			sp_error *err)
{
	sp_err rc;

	while ((rc = read_persistence(c, s, err)) == SP_OK && s->in_progress) {
		if (sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_TIMEOUT,
					 "%s: BGSAVE still running after "
					 "--save-timeout",
					 c->addr);
		sp_sleep_ms(100);
	}
	return rc;
}

/* Our save is done when none runs and the counter (or, before 7.0, the
 * save time) moved past what it was before BGSAVE. */
static int save_done(const save_state *before, const save_state *now)
{
	if (now->in_progress)
		return 0;
	if (before->saves >= 0 && now->saves >= 0)
		return now->saves > before->saves;
	return now->last_save > before->last_save;
}

/* BGSAVE, retried while another save (a replica sync) is running. */
static sp_err start_bgsave(sp_conn *c, long long deadline, save_state *before,
			   sp_error *err)
{
	sp_err rc;

	for (;;) {
		if ((rc = wait_idle(c, deadline, before, err)) != SP_OK)
			return rc;
		if (before->saves < 0)
			sp_sleep_ms(
			    1100); /* rdb_last_save_time is in seconds */
		rc = sp_conn_cmd(c, NULL, err, "BGSAVE SCHEDULE");
		if (rc != SP_ERR_SERVER ||
		    strstr(err->msg, "in progress") == NULL)
			return rc;
		if (sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_TIMEOUT,
					 "%s: BGSAVE still refused (another "
					 "save in progress) at --save-timeout",
					 c->addr);
		sp_sleep_ms(100);
	}
}

static sp_err bgsave_wait(sp_conn *c, int timeout_s, sp_error *err)
{
	long long deadline = sp_now_ms() + (long long)timeout_s * 1000;
	save_state before, now;
	sp_err rc;

	if ((rc = start_bgsave(c, deadline, &before, err)) != SP_OK)
		return rc;
	do {
		sp_sleep_ms(100);
		if ((rc = read_persistence(c, &now, err)) != SP_OK)
			return rc;
		if (!save_done(&before, &now) && sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_TIMEOUT,
					 "%s: BGSAVE did not finish within "
					 "--save-timeout %d s",
					 c->addr, timeout_s);
	} while (!save_done(&before, &now));
	if (strcmp(now.status, "ok") != 0)
		return sp_seterr(
		    err, SP_ERR_SERVER,
		    "%s: BGSAVE failed (rdb_last_bgsave_status:%s); "
		    "see the node's log",
		    c->addr, now.status);
	return SP_OK;
}

/* CONFIG GET name into buf; "" when it cannot be read. */
static void config_value(sp_conn *c, const char *name, char *buf, size_t len)
{
	redisReply *r = NULL;
	sp_error ign;

	buf[0] = '\0';
	if (sp_conn_cmd(c, &r, &ign, "CONFIG GET %s", name) == SP_OK &&
	    r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING)
		snprintf(buf, len, "%s", r->element[1]->str);
	freeReplyObject(r);
}

static int is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

/* Where the node wrote its RDB; checked here when it is on this host. */
static void locate_save(sp_conn *c, job *j)
{
	char dir[256], name[256];
	sp_error ign;

	config_value(c, "dir", dir, sizeof(dir));
	config_value(c, "dbfilename", name, sizeof(name));
	if (dir[0] == '\0' || name[0] == '\0')
		return;
	snprintf(j->f.node_path, sizeof(j->f.node_path), "%s/%s", dir, name);
	if (is_loopback(j->host) && access(j->f.node_path, R_OK) == 0 &&
	    sp_rdb_check_file(j->f.node_path, &j->f.rdb, &ign) == SP_OK)
		j->f.local = 1;
}

static sp_err bgsave_job(job *j, sp_error *err)
{
	sp_conn *c = NULL;
	sp_err rc;

	if ((rc = sp_conn_open(j->host, j->port, j->o->conn, &c, err)) ==
		SP_OK &&
	    (rc = dbsize(c, &j->f.keys, err)) == SP_OK &&
	    (rc = bgsave_wait(c, j->o->save_timeout_s, err)) == SP_OK)
		locate_save(c, j);
	sp_conn_close(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Running the jobs                                                    */

typedef struct pool {
	job *jobs;
	size_t n, next;
	pthread_mutex_t mu;
} pool;

/* A stop request: no node's fetch starts after it (base/stop.h). */
static int stop_set(const sp_backup_opts *o)
{
	return o->stop != NULL && *o->stop;
}

static void *worker(void *arg)
{
	pool *p = arg;
	long long t0;

	for (;;) {
		job *j;
		pthread_mutex_lock(&p->mu);
		j = p->next < p->n && !stop_set(p->jobs[0].o)
			? &p->jobs[p->next++]
			: NULL;
		pthread_mutex_unlock(&p->mu);
		if (j == NULL)
			return NULL;
		t0 = sp_now_ms();
		j->rc = j->o->on_nodes ? bgsave_job(j, &j->err)
				       : fetch_job(j, &j->err);
		j->f.seconds = (double)(sp_now_ms() - t0) / 1000.0;
		sp_logf(j->o->log, "backup", "%s: %s (%.2f s)", j->f.addr,
			j->rc == SP_OK ? "done" : j->err.msg, j->f.seconds);
	}
}

/* Runs every job on up to o->parallel threads; the first error wins. */
static sp_err run_jobs(job *jobs, size_t n, const sp_backup_opts *o,
		       sp_error *err)
{
	pthread_t th[64];
	pool p = {.jobs = jobs, .n = n, .next = 0};
	size_t i, nt = o->parallel < 1 ? 1 : (size_t)o->parallel;

	if (nt > 64)
		nt = 64;
	if (nt > n)
		nt = n;
	pthread_mutex_init(&p.mu, NULL);
	for (i = 0; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, &p) != 0)
			break;
	if (i == 0)
		worker(&p); /* no thread could start: do it here */
	nt = i;
	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	for (i = 0; i < n; i++)
		if (jobs[i].rc != SP_OK) {
			*err = jobs[i].err;
			return jobs[i].rc;
		}
	if (p.next < n) /* only a stop request leaves jobs behind */
		return sp_stop_check(o->stop, "backup", "between two nodes",
				     "nothing was kept; run backup again", err);
	return SP_OK;
}

/* ------------------------------------------------------------------ */
/* Planning the jobs from the cluster                                  */

/* A node some reachable view calls a primary with slots, which did not
 * answer: the backup would miss its keys. */
static sp_err all_primaries_reachable(const sp_cluster *c, sp_error *err)
{
	size_t i, v;
	int k;

	for (i = 0; i < c->nnodes; i++) {
		if (c->nodes[i].reachable)
			continue;
		for (v = 0; v < c->nnodes; v++) {
			const sp_view *w = &c->nodes[v].view;
			if (!c->nodes[v].reachable ||
			    (k = sp_view_find(w, c->nodes[i].id)) < 0)
				continue;
			if (sp_node_is_primary(&w->nodes[k]) &&
			    w->nodes[k].nslots > 0)
				return sp_seterr(
				    err, c->nodes[i].err_code,
				    "primary %s is unreachable (%s): a backup "
				    "needs every primary",
				    c->nodes[i].addr, c->nodes[i].err_msg);
		}
	}
	return SP_OK;
}

/* The replica to save on for primary p: reachable, linked, its own view
 * naming p as its primary. -1 when there is none. */
static int pick_replica(const sp_cluster *c, const sp_node_state *p)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		const sp_node_state *r = &c->nodes[i];
		const sp_node *self = sp_view_self(&r->view);
		if (r->reachable && self != NULL && !sp_node_is_primary(self) &&
		    r->master_link_up && strcmp(self->master_id, p->id) == 0)
			return (int)i;
	}
	return -1;
}

static sp_err fill_job(const sp_cluster *c, int pi, const sp_backup_opts *o,
		       job *j, sp_error *err)
{
	const sp_node_state *p = &c->nodes[pi], *src = p;
	int r;

	j->o = o;
	snprintf(j->f.node_id, sizeof(j->f.node_id), "%s", p->id);
	snprintf(j->f.addr, sizeof(j->f.addr), "%s", p->addr);
	if ((j->f.slots = malloc(RANGES_MAX)) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	j->f.nslots = sp_view_format_ranges(&p->view, p->view.myself,
					    j->f.slots, RANGES_MAX);
	if (o->on_nodes && (r = pick_replica(c, p)) >= 0)
		src = &c->nodes[r];
	snprintf(j->host, sizeof(j->host), "%s", src->host);
	j->port = src->port;
	snprintf(j->f.source, sizeof(j->f.source), "%s", src->addr);
	if (o->on_nodes)
		return SP_OK;
	snprintf(j->f.file, sizeof(j->f.file), "%.60s-%d-%.8s.rdb", p->host,
		 p->port, p->id);
	if (!path_join(j->final, sizeof(j->final), o->dir, j->f.file) ||
	    snprintf(j->part, sizeof(j->part), "%s.part", j->final) >=
		(int)sizeof(j->part))
		return sp_seterr(err, SP_ERR_USAGE, "--dir %s: path too long",
				 o->dir);
	if (access(j->final, F_OK) == 0 || access(j->part, F_OK) == 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "%s already exists in --dir", j->f.file);
	return SP_OK;
}

static sp_err plan_jobs(const sp_cluster *c, const sp_backup_opts *o,
			job **jobs, size_t *n, sp_error *err)
{
	int idx[1024];
	size_t np, i;
	sp_err rc;

	if ((rc = all_primaries_reachable(c, err)) != SP_OK)
		return rc;
	np = sp_cluster_primaries(c, idx, sizeof(idx) / sizeof(idx[0]));
	if (np == 0)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "%s: no reachable primary to back up",
				 c->nodes[0].addr);
	if ((*jobs = calloc(np, sizeof(**jobs))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	*n = np;
	for (i = 0; i < np; i++)
		if ((rc = fill_job(c, idx[i], o, &(*jobs)[i], err)) != SP_OK)
			return rc;
	return SP_OK;
}

/* ------------------------------------------------------------------ */
/* The manifest                                                        */

static json_t *hex64(uint64_t v)
{
	char buf[17];

	snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)v);
	return json_string(buf);
}

static json_t *file_json(const sp_backup_file *f)
{
	int have = f->file[0] != '\0' || f->local;

	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:I, "
	    "s:f}",
	    "node_id", f->node_id, "addr", f->addr, "source", f->source,
	    "slots", f->slots ? f->slots : "", "slot_count", f->nslots, "file",
	    f->file[0] ? json_string(f->file) : json_null(), "node_path",
	    f->node_path[0] ? json_string(f->node_path) : json_null(), "bytes",
	    have ? json_integer(f->rdb.bytes) : json_null(), "crc64",
	    have ? hex64(f->rdb.computed) : json_null(), "rdb_version",
	    have ? json_integer(f->rdb.version) : json_null(), "rdb_checksum",
	    have ? hex64(f->rdb.trailer) : json_null(), "keys",
	    (json_int_t)f->keys, "seconds", f->seconds);
}

static sp_err write_manifest(const char *host, int port,
			     const sp_backup_opts *o, const sp_backup_result *r,
			     char *tmp, size_t tmplen, sp_error *err)
{
	char entry[SP_ADDR_MAX], final[PATH_MAX_SP], utc[32];
	time_t now = time(NULL);
	json_t *files = json_array(), *m;
	char *text;
	size_t i;
	sp_err rc;

	sp_format_addr(entry, sizeof(entry), host, port);
	strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	for (i = 0; i < r->n; i++)
		json_array_append_new(files, file_json(&r->files[i]));
	m = json_pack("{s:i, s:s, s:I, s:s, s:s, s:f, s:I, s:o}",
		      "slotpilot_backup", 1, "entry", entry, "created",
		      (json_int_t)now, "created_utc", utc, "method", r->method,
		      "seconds", r->seconds, "bytes", (json_int_t)r->bytes,
		      "files", files);
	if (m == NULL)
		return sp_seterr(err, SP_ERR_OOM, "cannot build the manifest");
	path_join(final, sizeof(final), o->dir, SP_BACKUP_MANIFEST);
	path_join(tmp, tmplen, o->dir, SP_BACKUP_MANIFEST ".tmp");
	/* tmp, fsync, rename, fsync of the directory (sp_file_replace) */
	text = json_dumps(m, JSON_INDENT(1));
	json_decref(m);
	rc = text == NULL ? sp_seterr(err, SP_ERR_OOM, "cannot build %s", final)
			  : sp_file_replace(final, text, strlen(text), err);
	free(text);
	if (rc != SP_OK)
		return rc;
	tmp[0] = '\0';
	return SP_OK;
}

/* ------------------------------------------------------------------ */

/* Creates dir (and its parents) and makes dir itself 0700: only its
 * owner may list or enter a backup. */
static sp_err make_private_dir(const char *dir, sp_error *err)
{
	sp_err rc;

	if ((rc = sp_mkdirs(dir, err)) != SP_OK)
		return rc;
	if (chmod(dir, 0700) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "--dir %s: %s", dir,
				 strerror(errno));
	return SP_OK;
}

/* After a failure: removes what this run wrote. */
static void undo(job *jobs, size_t n, const char *dir, int made_dir,
		 const char *tmp)
{
	size_t i;

	for (i = 0; jobs != NULL && i < n; i++) {
		if (jobs[i].made_part)
			unlink(jobs[i].part);
		if (jobs[i].made_final)
			unlink(jobs[i].final);
	}
	if (tmp[0] != '\0')
		unlink(tmp);
	if (made_dir)
		rmdir(dir);
}

static void collect(job *jobs, size_t n, const sp_backup_opts *o,
		    sp_backup_result *out)
{
	size_t i;

	snprintf(out->method, sizeof(out->method), "%s",
		 o->on_nodes   ? "bgsave"
		 : o->diskless ? "sync-eof"
			       : "sync");
	for (i = 0; i < n; i++) {
		out->files[i] = jobs[i].f;
		jobs[i].f.slots = NULL; /* ownership moved to out */
		out->bytes += out->files[i].rdb.bytes;
	}
	out->n = n;
}

sp_err sp_backup_run(const char *host, int port, const sp_backup_opts *o,
		     sp_backup_result *out, sp_error *err)
{
	long long t0 = sp_now_ms();
	char tmp[PATH_MAX_SP] = "";
	sp_cluster c = {0};
	job *jobs = NULL;
	size_t n = 0, i;
	int exists = 0, made_dir = 0;
	sp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_dir(o->dir, &exists, err)) != SP_OK ||
	    (rc = sp_cluster_gather(host, port, o->conn, &c, err)) != SP_OK ||
	    (rc = plan_jobs(&c, o, &jobs, &n, err)) != SP_OK)
		goto out;
	if (!exists && (rc = make_private_dir(o->dir, err)) != SP_OK) {
		err->code = rc = SP_ERR_USAGE;
		goto out;
	}
	made_dir = !exists;
	if ((out->files = calloc(n, sizeof(*out->files))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = run_jobs(jobs, n, o, err)) != SP_OK)
		goto out;
	collect(jobs, n, o, out);
	out->seconds = (double)(sp_now_ms() - t0) / 1000.0;
	rc = write_manifest(host, port, o, out, tmp, sizeof(tmp), err);
out:
	if (rc != SP_OK) {
		undo(jobs, n, o->dir, made_dir, tmp);
		sp_backup_result_free(out);
	}
	for (i = 0; jobs != NULL && i < n; i++)
		free(jobs[i].f.slots);
	free(jobs);
	sp_cluster_free(&c);
	return rc;
}

void sp_backup_result_free(sp_backup_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; r->files != NULL && i < r->n; i++)
		free(r->files[i].slots);
	free(r->files);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* Verifying a backup                                                  */

static int parse_hex64(const char *s, uint64_t *v)
{
	char *end;

	if (s == NULL || strlen(s) != 16)
		return 0;
	*v = (uint64_t)strtoull(s, &end, 16);
	return *end == '\0';
}

/* One manifest entry against its file. */
/* The file at path against the manifest's size and CRC-64 (crc may be
 * NULL), and as an RDB; fills it->problem. */
static void check_against(const char *path, json_int_t bytes, const char *crc,
			  sp_verify_item *it)
{
	size_t used;
	uint64_t want;
	sp_error e2 = {0};

	if (sp_rdb_check_file(path, &it->rdb, &e2) != SP_OK &&
	    e2.code == SP_ERR_SYSTEM) {
		snprintf(it->problem, sizeof(it->problem), "%s", e2.msg);
		return;
	}
	if (bytes >= 0 && it->rdb.bytes != bytes)
		snprintf(it->problem, sizeof(it->problem),
			 "%.400s is %lld bytes, the manifest says %lld%s; ",
			 path, it->rdb.bytes, (long long)bytes,
			 it->rdb.bytes < bytes ? " (truncated)" : "");
	used = strlen(it->problem);
	if (e2.code != SP_OK)
		snprintf(it->problem + used, sizeof(it->problem) - used, "%s",
			 e2.msg);
	else if (!parse_hex64(crc, &want) || want != it->rdb.computed)
		snprintf(it->problem + used, sizeof(it->problem) - used,
			 "%s: CRC-64 %016llx differs from the manifest's %s",
			 path, (unsigned long long)it->rdb.computed,
			 crc ? crc : "(none)");
	else if (used > 2)
		it->problem[used - 2] = '\0'; /* drop the "; " */
}

/* One manifest entry against its file. */
static void verify_entry(const char *dir, json_t *e, sp_verify_item *it)
{
	const char *file, *node_path, *addr = "";
	char path[PATH_MAX_SP];
	json_int_t bytes = -1;

	file = json_string_value(json_object_get(e, "file"));
	node_path = json_string_value(json_object_get(e, "node_path"));
	if (json_is_string(json_object_get(e, "addr")))
		addr = json_string_value(json_object_get(e, "addr"));
	if (json_is_integer(json_object_get(e, "bytes")))
		bytes = json_integer_value(json_object_get(e, "bytes"));
	snprintf(it->addr, sizeof(it->addr), "%s", addr);
	snprintf(it->name, sizeof(it->name), "%s",
		 file	     ? file
		 : node_path ? node_path
			     : "?");
	it->ok = 0;
	if (file != NULL && (strchr(file, '/') || strcmp(file, "..") == 0)) {
		snprintf(it->problem, sizeof(it->problem),
			 "the manifest names \"%s\", not a file of the "
			 "backup directory",
			 file);
		return;
	}
	if (file == NULL &&
	    (node_path == NULL || bytes < 0 || access(node_path, R_OK) != 0)) {
		it->ok = -1; /* saved on a node elsewhere: not checkable here */
		snprintf(it->problem, sizeof(it->problem),
			 "saved on the node, not readable here: skipped");
		return;
	}
	if (file != NULL)
		path_join(path, sizeof(path), dir, file);
	else
		snprintf(path, sizeof(path), "%s", node_path);
	check_against(path, bytes,
		      json_string_value(json_object_get(e, "crc64")), it);
	it->ok = it->problem[0] == '\0';
}

static sp_err load_manifest(const char *dir, json_t **files, json_t **m,
			    sp_error *err)
{
	char path[PATH_MAX_SP];
	json_error_t je;
	int version = 0;

	if (!path_join(path, sizeof(path), dir, SP_BACKUP_MANIFEST))
		return sp_seterr(err, SP_ERR_USAGE, "%s: path too long", dir);
	if ((*m = json_load_file(path, 0, &je)) == NULL)
		return sp_seterr(err, SP_ERR_USAGE,
				 "%s is not a slotpilot backup: %s: %s", dir,
				 path, je.text);
	if (json_unpack(*m, "{s:i, s:o}", "slotpilot_backup", &version, "files",
			files) != 0 ||
	    version != 1 || !json_is_array(*files))
		return sp_seterr(err, SP_ERR_USAGE,
				 "%s is not a slotpilot backup manifest "
				 "(version 1 with files)",
				 path);
	return SP_OK;
}

sp_err sp_backup_verify(const char *dir, sp_verify_result *out, sp_error *err)
{
	json_t *m = NULL, *files = NULL;
	size_t i;
	sp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load_manifest(dir, &files, &m, err)) != SP_OK)
		goto out;
	if ((out->items = calloc(json_array_size(files) + 1,
				 sizeof(*out->items))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(files); i++) {
		verify_entry(dir, json_array_get(files, i), &out->items[i]);
		out->bad += out->items[i].ok == 0;
	}
	out->n = i;
out:
	json_decref(m);
	return rc;
}

void sp_verify_result_free(sp_verify_result *r)
{
	if (r == NULL)
		return;
	free(r->items);
	memset(r, 0, sizeof(*r));
}
