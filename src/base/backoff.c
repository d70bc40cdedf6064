/*
 * backoff.c - exponential backoff with jitter (see backoff.h).
 */
#include "base/backoff.h"

#include <stdlib.h>

#include "base/clock.h"

long long sp_backoff_ms(int attempt, long long base_ms, long long max_ms,
			unsigned *seed)
{
	int shift = attempt < 0 ? 0 : attempt < 16 ? attempt : 16;
	long long d = base_ms << shift;

	if (d > max_ms || d <= 0)
		d = max_ms;
	return d / 2 + rand_r(seed) % (d / 2 + 1);
}

void sp_backoff_sleep(int attempt, long long base_ms, long long max_ms,
		      unsigned *seed)
{
	sp_sleep_ms(sp_backoff_ms(attempt, base_ms, max_ms, seed));
}
