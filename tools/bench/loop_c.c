/* The machine's floor for robotd's control-loop jitter row: a bare 1 kHz loop in C with
 * the same pacing and realtime setup as robotd's control loop (daemon/rt.go): timer slack
 * 1 ns, SCHED_FIFO at the given priority and mlockall when permitted, clock_nanosleep to
 * absolute CLOCK_MONOTONIC deadlines, no work in the tick. Whatever jitter this loop shows
 * comes from the kernel, the hypervisor and the other load, not from robotd.
 *
 *   cc -O2 -o loop_c tools/bench/loop_c.c && ./loop_c 60 80
 *
 * Prints one line: "loop_c p50_us p99_us p999_us max_us over2ms periods fifo".
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	double seconds = argc > 1 ? atof(argv[1]) : 60;
	int prio = argc > 2 ? atoi(argv[2]) : 80;
	long n = (long)(seconds * 1000);
	if (n < 10) {
		fprintf(stderr, "loop_c: want at least 0.01 s\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	int fifo = 0;
	if (prio > 0) {
		struct sched_param sp = {.sched_priority = prio};
		if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0)
			fifo = prio;
		mlockall(MCL_CURRENT | MCL_FUTURE);
	}
	long long *jit = calloc(n, sizeof *jit);
	if (!jit)
		return 1;
	const long long period = 1000000;
	long long next = now_ns() + period, prev = 0;
	long over = 0, k = 0;
	for (long i = 0; i <= n; i++) {
		struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
		}
		long long t = now_ns();
		if (i > 0) {
			long long d = t - prev - period;
			jit[k++] = d < 0 ? -d : d;
			if (t - prev > 2 * period)
				over++;
		}
		prev = t;
		next += period;
		if (next < t) /* fell behind: realign, as robotd's loop does */
			next = t + period;
	}
	qsort(jit, k, sizeof *jit, cmp);
	printf("loop_c %.0f %.0f %.0f %.0f %ld %ld %d\n", jit[k / 2] / 1e3, jit[(long)(k * 0.99)] / 1e3,
	       jit[(long)(k * 0.999)] / 1e3, jit[k - 1] / 1e3, over, k, fifo);
	return 0;
}
