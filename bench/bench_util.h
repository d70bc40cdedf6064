/*
 * bench_util.h - the clock and the peak RSS the C benchmarks
 * (plan_bench.c, check_bench.c) report with.
 */
#ifndef SP_BENCH_UTIL_H
#define SP_BENCH_UTIL_H

#include <sys/resource.h>
#include <time.h>

static inline double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The process's peak RSS in KiB (getrusage ru_maxrss), -1 on error. */
static inline long peak_rss_kib(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* qsort order of doubles, for medians. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
