/*
 * What the benchmarks share: a monotonic clock, sorting and percentiles,
 * the machine's Ed25519 verify ceiling, and a process's memory figures.
 * Benchmarks print what they measure; they never fail on a figure.
 */
#ifndef KETEN_BENCH_H
#define KETEN_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

double bench_now_s(void);
/* Sorts v ascending and returns its median. */
double bench_median(double *v, size_t n);
/* The p-quantile (0..1) of v, which must be sorted ascending. */
double bench_pct(const double *v, size_t n, double p);
void bench_sort(double *v, size_t n);
/* Ed25519 verifications of a 2 KiB message per second, on `threads`
 * threads at once, measured for `seconds`. */
double bench_verify_ceiling(unsigned threads, unsigned seconds);

/* From /proc/PID/status, in KiB (0 if unreadable). */
struct bench_mem {
	uint64_t rss, hwm, anon, file;
};
struct bench_mem bench_memory(pid_t pid);

#endif
