/*
 * clock.h - the one clock: monotonic milliseconds and a sleep that
 * survives signals. Every deadline in slotpilot is measured with it.
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

/* Milliseconds on a monotonic clock. */
long long sp_now_ms(void);

/* Milliseconds since the epoch on the wall clock: for records read by
 * people or by other processes (journal creation times), never for
 * deadlines. */
long long sp_wall_ms(void);

/* Microseconds on the same clock: for timing steps (the engine's
 * timeline), never for deadlines. */
long long sp_now_us(void);

/* Sleeps for ms milliseconds (restarting after signals). */
void sp_sleep_ms(long long ms);

/* The same in microseconds (the latency guard's rests between MIGRATE
 * rounds are shorter than a millisecond). */
void sp_sleep_us(long long us);

#endif
