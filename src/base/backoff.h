/*
 * backoff.h - exponential backoff with jitter (DESIGN.md rule 4): the
 * wait before retry number `attempt` is base * 2^attempt, capped at max,
 * of which a random half is taken away so that retrying workers spread.
 */
#ifndef SP_BACKOFF_H
#define SP_BACKOFF_H

/* The wait before retry `attempt` (0 for the first), in ms: a value in
 * [d/2, d] with d = min(base_ms << attempt, max_ms). *seed is the
 * caller's rand_r state (one per thread). */
long long sp_backoff_ms(int attempt, long long base_ms, long long max_ms,
			unsigned *seed);

/* Sleeps sp_backoff_ms(attempt, base_ms, max_ms, seed). */
void sp_backoff_sleep(int attempt, long long base_ms, long long max_ms,
		      unsigned *seed);

#endif
