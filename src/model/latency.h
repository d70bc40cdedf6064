/*
 * latency.h - a fixed-size latency histogram in microseconds.
 *
 * Log-linear buckets (1 us up to 1 ms, 10 us up to 10 ms, 100 us up to
 * 100 ms, 10 ms up to 10 s): percentiles are within 1 % of the true value
 * below 100 ms, and the whole histogram is a flat array of counters, so
 * snapshots subtract and merge with plain arithmetic. Used by the traffic
 * generator (what clients see) and the migration engine's latency guard.
 */
#ifndef SP_LATENCY_H
#define SP_LATENCY_H

#include <stdint.h>

#define SP_HIST_BUCKETS 3792

typedef struct sp_hist {
	uint64_t n;
	uint64_t max_us;
	uint64_t b[SP_HIST_BUCKETS];
} sp_hist;

/* Records one sample of us microseconds. */
void sp_hist_add(sp_hist *h, uint64_t us);

/* h += o (max of the maxima). */
void sp_hist_merge(sp_hist *h, const sp_hist *o);

/* h -= o, where o is an earlier snapshot of the same counters; the max of
 * the difference is the highest non-empty bucket's upper bound, capped at
 * h's max. */
void sp_hist_sub(sp_hist *h, const sp_hist *o);

/* The value in microseconds at or below which a fraction p (0..1] of the
 * samples lie (a bucket's upper bound, capped at the max); 0 if empty. */
uint64_t sp_hist_pct(const sp_hist *h, double p);

/* Microseconds to milliseconds, for printing. */
double sp_us_ms(uint64_t us);

#endif
