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
		sp_cli_json_print(json_pack(
		    "{s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "event", "progress",
		    "slots_done", (json_int_t)s->slots_done, "slots_total",
		    (json_int_t)s->slots_total, "keys", (json_int_t)s->keys,
		    "bytes", (json_int_t)s->bytes, "retries",
		    (json_int_t)s->retries, "seconds",
		    sp_json_fixed(s->seconds, 3)));
		fflush(stdout);
	} else if (cli->tty) {
		bar(s);
		p->bar_shown = 1;
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
	printf("Latency guard: probe p99 %.3f ms before, budget %.3f ms, worst "
	       "second %.3f ms; throttled %.1f s (window down to %d, pairs "
	       "down to %d, pauses up to %d ms)\n",
	       s->guard_baseline_ms, s->guard_budget_ms, s->guard_worst_ms,
	       s->throttled_s, s->guard_min_window, s->guard_min_parallel,
	       s->guard_max_pause_ms);
	if (s->guard_out_of_reach_s > 0)
		printf("Latency guard: for %.1f s the probes were over budget "
		       "even at the slowest pace (one slot at a time, the "
		       "longest pause): the budget is below what these nodes "
		       "give while any slot moves, and the move crawled\n",
		       s->guard_out_of_reach_s);
}

static void guard_json(const sp_migrate_stats *s)
{
	sp_cli_json_print(json_pack(
	    "{s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:o, s:i}", "event", "guard",
	    "baseline_p99_ms", sp_json_fixed(s->guard_baseline_ms, 3),
	    "budget_ms", sp_json_fixed(s->guard_budget_ms, 3), "worst_p99_ms",
	    sp_json_fixed(s->guard_worst_ms, 3), "throttled_s",
	    sp_json_fixed(s->throttled_s, 2), "min_window", s->guard_min_window,
	    "max_pause_ms", s->guard_max_pause_ms, "out_of_reach_s",
	    sp_json_fixed(s->guard_out_of_reach_s, 2), "min_parallel",
	    s->guard_min_parallel));
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
		sp_cli_json_print(json_pack(
		    "{s:s, s:b, s:I, s:I, s:I, s:I, s:o, s:I, s:s}", "event",
		    "summary", "ok", rc == SP_OK, "slots",
		    (json_int_t)s->slots_done, "slots_total",
		    (json_int_t)s->slots_total, "keys", (json_int_t)s->keys,
		    "bytes", (json_int_t)s->bytes, "seconds",
		    sp_json_fixed(s->seconds, 3), "retries",
		    (json_int_t)s->retries, "error",
		    rc == SP_OK ? "" : sp_strerror(rc)));
		return;
	}
	printf("%s %lld of %lld slots, %lld keys, %.1f MB in %.2f s "
	       "(%.0f keys/s), %lld retries\n",
	       rc == SP_OK ? "Moved" : "Stopped after", s->slots_done,
	       s->slots_total, s->keys, (double)s->bytes / 1e6, s->seconds,
	       (double)s->keys / secs, s->retries);
}
