/*
 * progress.c - progress bar, periodic lines, JSON events, summary.
 */
#include "cli/progress.h"

#include "base/clock.h"

static void bar(const sp_migrate_stats *s)
{
	int width = 30,
	    full = s->slots_total
		       ? (int)(s->slots_done * width / s->slots_total)
		       : width,
	    i;
	double rate = s->seconds > 0 ? (double)s->slots_done / s->seconds : 0;
	double eta =
	    rate > 0 ? (double)(s->slots_total - s->slots_done) / rate : 0;

	fputs("\r[", stderr);
	for (i = 0; i < width; i++)
		fputc(i < full ? '#' : '.', stderr);
	fprintf(
	    stderr,
	    "] %lld/%lld slots  %lld keys  %.1f MB  %.0f slots/s  ETA %.0fs ",
	    s->slots_done, s->slots_total, s->keys, (double)s->bytes / 1e6,
	    rate, eta);
	if (s->guarded)
		fprintf(stderr, " p99 %.2f/%.2f ms  pace %.0f%% ",
			s->guard_p99_now_ms, s->guard_budget_ms,
			100 * s->guard_duty);
}

/* The guard's pace now, for a progress event. */
static json_t *guard_now_json(const sp_migrate_stats *s)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:i}", "budget_ms",
			 sp_json_fixed(s->guard_budget_ms, 3), "p99_ms",
			 sp_json_fixed(s->guard_p99_now_ms, 3), "block_us",
			 sp_json_fixed(s->guard_block_us, 0), "duty",
			 sp_json_fixed(s->guard_duty, 3), "parallel",
			 s->guard_parallel);
}

void sp_progress_update(void *ud, const sp_migrate_stats *s)
{
	sp_progress *p = ud;
	long long now = sp_now_ms();
	const sp_cli *cli = p->cli;
	long long every = cli->json ? 1000 : cli->tty ? 200 : 5000;

	if (p->last_ms != 0 && now - p->last_ms < every)
		return;
	p->last_ms = now;
	if (cli->json) {
		json_t *o = json_pack(
		    "{s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "event", "progress",
		    "slots_done", (json_int_t)s->slots_done, "slots_total",
		    (json_int_t)s->slots_total, "keys", (json_int_t)s->keys,
		    "bytes", (json_int_t)s->bytes, "retries",
		    (json_int_t)s->retries, "seconds",
		    sp_json_fixed(s->seconds, 3));
		if (s->guarded)
			json_object_set_new(o, "guard", guard_now_json(s));
		sp_cli_json_print(o);
		fflush(stdout);
	} else if (cli->tty) {
		bar(s);
		p->bar_shown = 1;
	} else if (s->seconds >= 1 && s->guarded) {
		fprintf(stderr,
			"progress: %lld/%lld slots, %lld keys, %.1f MB, "
			"%.1f s; p99 %.2f ms of a %.2f ms budget, MIGRATE "
			"rounds up to %.0f us, duty %.0f %%, %d pairs\n",
			s->slots_done, s->slots_total, s->keys,
			(double)s->bytes / 1e6, s->seconds, s->guard_p99_now_ms,
			s->guard_budget_ms, s->guard_block_us,
			100 * s->guard_duty, s->guard_parallel);
	} else if (s->seconds >= 1) {
		fprintf(stderr,
			"progress: %lld/%lld slots, %lld keys, %.1f MB, "
			"%.1f s\n",
			s->slots_done, s->slots_total, s->keys,
			(double)s->bytes / 1e6, s->seconds);
	}
}

/* The latency guard's line of the summary, and a word when the budget
 * was out of reach. */
static void guard_text(const sp_migrate_stats *s)
{
	printf("Latency guard: probe p99 %.3f ms before, budget %.3f ms%s, "
	       "worst second %.3f ms; throttled %.1f s (MIGRATE rounds down "
	       "to %.0f %% of the headroom, duty cycle down to %.0f %%, "
	       "pairs down to %d, at most %lld keys per MIGRATE, %.1f us per "
	       "key)\n",
	       s->guard_baseline_ms, s->guard_budget_ms,
	       s->guard_by_default ? " (the default; --fast for none)" : "",
	       s->guard_worst_ms, s->throttled_s, 100 * s->guard_min_share,
	       100 * s->guard_min_duty, s->guard_min_parallel,
	       s->guard_max_batch, s->guard_cost_us);
	if (s->guard_out_of_reach_s > 0)
		printf("Latency guard: for %.1f s the probes were over budget "
		       "even at the slowest pace (one pair, the shortest "
		       "MIGRATE rounds, the lowest duty cycle): the budget is "
		       "below what these nodes give while any slot moves, and "
		       "the move crawled\n",
		       s->guard_out_of_reach_s);
}

static void guard_json(const sp_migrate_stats *s)
{
	json_t *o = json_pack(
	    "{s:s, s:o, s:o, s:b, s:o, s:o, s:i, s:i, s:o}", "event", "guard",
	    "baseline_p99_ms", sp_json_fixed(s->guard_baseline_ms, 3),
	    "budget_ms", sp_json_fixed(s->guard_budget_ms, 3), "default",
	    s->guard_by_default, "worst_p99_ms",
	    sp_json_fixed(s->guard_worst_ms, 3), "throttled_s",
	    sp_json_fixed(s->throttled_s, 2), "min_window", s->guard_min_window,
	    "min_parallel", s->guard_min_parallel, "out_of_reach_s",
	    sp_json_fixed(s->guard_out_of_reach_s, 2));

	json_object_set_new(o, "min_share",
			    sp_json_fixed(s->guard_min_share, 3));
	json_object_set_new(o, "min_duty", sp_json_fixed(s->guard_min_duty, 3));
	json_object_set_new(o, "max_batch", json_integer(s->guard_max_batch));
	json_object_set_new(o, "cost_us_per_key",
			    sp_json_fixed(s->guard_cost_us, 2));
	sp_cli_json_print(o);
}

/* A node of a pair: its address when the nodes are known. */
static json_t *pair_node(const sp_progress *p, int i)
{
	if (p->nodes != NULL && i >= 0 && (size_t)i < p->nnodes)
		return json_string(p->nodes[i].addr);
	return json_integer(i);
}

static json_t *pair_json(const sp_progress *p, const sp_pair_time *t)
{
	json_t *o = json_pack("{s:I, s:I, s:o}", "slots", (json_int_t)t->slots,
			      "round_trips", (json_int_t)t->turns, "wall_s",
			      sp_json_fixed(t->wall_s, 4));
	double other = t->wall_s;
	int i;

	if (t->src >= 0) {
		json_object_set_new(o, "src", pair_node(p, t->src));
		json_object_set_new(o, "dst", pair_node(p, t->dst));
	}
	for (i = 0; i < SP_TL_N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "%s_s", sp_tl_step_names[i]);
		json_object_set_new(o, key, sp_json_fixed(t->step_s[i], 4));
		other -= t->step_s[i];
	}
	json_object_set_new(o, "other_s", sp_json_fixed(other, 4));
	return o;
}

/* The summary's "engine" member: the timeline of the move (migrate.h). */
static json_t *timeline_json(const sp_progress *p, const sp_migrate_stats *s)
{
	json_t *pairs = json_array();
	int i;

	for (i = 0; i < s->npairs && i < SP_TL_PAIRS; i++)
		json_array_append_new(pairs, pair_json(p, &s->pair_time[i]));
	return json_pack("{s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o}", "before_s",
			 sp_json_fixed(p->before_s, 3), "journal_s",
			 sp_json_fixed(p->journal_s, 3), "setup_s",
			 sp_json_fixed(s->setup_s, 3), "teardown_s",
			 sp_json_fixed(s->teardown_s, 3), "npairs", s->npairs,
			 "max_round_trips_per_slot",
			 sp_json_fixed(s->max_turns_per_slot, 3), "all",
			 pair_json(p, &s->tl_all), "pairs", pairs);
}

void sp_progress_summary(sp_progress *p, const sp_migrate_stats *s, sp_err rc)
{
	double secs = s->seconds > 0 ? s->seconds : 1e-9;

	if (p->bar_shown) {
		bar(s);
		fputc('\n', stderr);
	}
	if (p->cli->json && s->guarded)
		guard_json(s);
	else if (s->guarded)
		guard_text(s);
	if (p->cli->json) {
		json_t *o = json_pack(
		    "{s:s, s:b, s:I, s:I, s:I, s:I, s:o, s:I, s:s}", "event",
		    "summary", "ok", rc == SP_OK, "slots",
		    (json_int_t)s->slots_done, "slots_total",
		    (json_int_t)s->slots_total, "keys", (json_int_t)s->keys,
		    "bytes", (json_int_t)s->bytes, "seconds",
		    sp_json_fixed(s->seconds, 3), "retries",
		    (json_int_t)s->retries, "error",
		    rc == SP_OK ? "" : sp_strerror(rc));
		if (s->npairs > 0)
			json_object_set_new(o, "engine", timeline_json(p, s));
		sp_cli_json_print(o);
		return;
	}
	printf("%s %lld of %lld slots, %lld keys, %.1f MB in %.2f s "
	       "(%.0f keys/s), %lld retries\n",
	       rc == SP_OK ? "Moved" : "Stopped after", s->slots_done,
	       s->slots_total, s->keys, (double)s->bytes / 1e6, s->seconds,
	       (double)s->keys / secs, s->retries);
}
