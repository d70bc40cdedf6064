/*
 * clock.h - the one clock: monotonic milliseconds and a sleep that
 * survives signals. Every deadline in slotpilot is measured with it.
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

/* Milliseconds on a monotonic clock. */
long long sp_now_ms(void);

/* Sleeps for ms milliseconds (restarting after signals). */
void sp_sleep_ms(long long ms);

#endif
