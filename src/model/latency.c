/*
 * latency.c - the log-linear latency histogram (see latency.h).
 */
#include "model/latency.h"

#include <string.h>

/* Bucket index of a sample. */
static size_t bucket_of(uint64_t us)
{
	if (us < 1000)
		return (size_t)us;
	if (us < 10000)
		return 1000 + (size_t)((us - 1000) / 10);
	if (us < 100000)
		return 1900 + (size_t)((us - 10000) / 100);
	if (us < 10000000)
		return 2800 + (size_t)((us - 100000) / 10000);
	return SP_HIST_BUCKETS - 1;
}

/* Upper bound (exclusive) of a bucket, in microseconds. */
static uint64_t bucket_top(size_t i)
{
	if (i < 1000)
		return i + 1;
	if (i < 1900)
		return 1000 + (i - 1000 + 1) * 10;
	if (i < 2800)
		return 10000 + (i - 1900 + 1) * 100;
	if (i < SP_HIST_BUCKETS - 1)
		return 100000 + (uint64_t)(i - 2800 + 1) * 10000;
	return UINT64_MAX;
}

void sp_hist_add(sp_hist *h, uint64_t us)
{
	h->b[bucket_of(us)]++;
	h->n++;
	if (us > h->max_us)
		h->max_us = us;
}

void sp_hist_merge(sp_hist *h, const sp_hist *o)
{
	size_t i;

	for (i = 0; i < SP_HIST_BUCKETS; i++)
		h->b[i] += o->b[i];
	h->n += o->n;
	if (o->max_us > h->max_us)
		h->max_us = o->max_us;
}

void sp_hist_sub(sp_hist *h, const sp_hist *o)
{
	size_t i, top = 0;

	for (i = 0; i < SP_HIST_BUCKETS; i++) {
		h->b[i] = h->b[i] >= o->b[i] ? h->b[i] - o->b[i] : 0;
		if (h->b[i] > 0)
			top = i + 1;
	}
	h->n = h->n >= o->n ? h->n - o->n : 0;
	if (top == 0)
		h->max_us = 0;
	else if (bucket_top(top - 1) < h->max_us)
		h->max_us = bucket_top(top - 1);
}

uint64_t sp_hist_pct(const sp_hist *h, double p)
{
	uint64_t want, seen = 0, top;
	size_t i;

	if (h->n == 0)
		return 0;
	if (p > 1.0)
		p = 1.0;
	want = (uint64_t)((double)h->n * p + 0.999999);
	if (want == 0)
		want = 1;
	for (i = 0; i < SP_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			break;
	}
	top = i < SP_HIST_BUCKETS ? bucket_top(i) : h->max_us;
	return top > h->max_us ? h->max_us : top;
}

double sp_us_ms(uint64_t us)
{
	return (double)us / 1000.0;
}
