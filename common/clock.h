/* clock.h - the one monotonic clock the analyzer, operators and tools time things with. */
#ifndef TQ_CLOCK_H
#define TQ_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: use differences). Can't fail. */
double tq_clock_now(void);

#endif
