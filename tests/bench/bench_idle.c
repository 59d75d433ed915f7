/*
 * Idle-connection benchmark: the broker's memory with many connected
 * clients on a big log. Records N referrals (default 1,000,000), restarts
 * ketend on that log, connects K CURVE clients (default 1,000, spread over
 * the region's agencies) that each make one ping and then stay idle, and
 * prints ketend's resident memory (VmRSS, and its anonymous and file-backed
 * parts: LMDB's pages are file-backed, the kernel's page cache); then the
 * same with every client's subscription waiting at the broker. A
 * benchmark, not a test: it never fails on a figure.
 *
 * usage: bench_idle [--records N] [--clients K]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <zmq.h>

#include "bench.h"
#include "config.h"
#include "harness.h"
#include "keys.h"
#include "wire.h"

static struct harness H;

static void
show(const char *what, struct bench_mem m)
{
	printf("%-52s VmRSS %6.1f MiB (anonymous %5.1f, file %6.1f)\n", what,
	       (double)m.rss / 1024, (double)m.anon / 1024,
	       (double)m.file / 1024);
	fflush(stdout);
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_idle: %s (%s)\n", what,
	        zmq_strerror(zmq_errno()));
	exit(1);
}

/* Sends r on each socket and waits for every answer (or 60 s). */
static size_t
ask_all(void **socks, size_t k, struct request *r, int want_answer)
{
	uint8_t *buf;
	size_t len, answered = 0;
	time_t end = time(NULL) + 60;

	if (wire_request_encode(&buf, &len, r) != KETEN_OK)
		die("encode");
	for (size_t i = 0; i < k; i++)
		if (zmq_send(socks[i], buf, len, 0) < 0)
			die("send");
	free(buf);
	while (want_answer && answered < k && time(NULL) < end)
		for (size_t i = 0; i < k; i++) {
			zmq_msg_t m;
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, socks[i], ZMQ_DONTWAIT) >= 0)
				answered++;
			zmq_msg_close(&m);
		}
	return answered;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"records", required_argument, NULL, 'n'},
	    {"clients", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	size_t n = 1000000, k = 1000, answered;
	struct rlimit rl;
	struct config *c;
	struct keten_error err;
	struct keys *keys[H_MAX_AGENCIES];
	void *ctx, **socks;
	char ep[64];
	int ch, linger = 0;
	struct request ping = {.kind = WIRE_REQ_PING, .request_id = 1};
	struct request wait = {.kind = WIRE_REQ_FETCH, .request_id = 2};

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (ch == 'k')
			k = strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: bench_idle [--records N] "
			                "[--clients K]\n");
			return 2;
		}
	}
	/* Both ends need a descriptor per connection; ketend inherits. */
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	printf("keten idle benchmark: %zu records, %zu clients (descriptor "
	       "limit %llu)\n",
	       n, k, (unsigned long long)rl.rlim_cur);

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	harness_fill(&H, n, "idle bench");
	harness_drop_clients(&H);
	show("ketend after recording the log", bench_memory(H.pid));
	if (harness_stop(&H) != 0)
		fprintf(stderr, "bench_idle: ketend did not stop cleanly\n");
	harness_start(&H);
	harness_drop_clients(&H);
	show("ketend restarted on the log", bench_memory(H.pid));

	if (config_load(&c, H.config, &err) != KETEN_OK)
		die(err.message);
	for (size_t a = 0; a < H.n; a++)
		if (keys_load(&keys[a], H.keys[a], &err) != KETEN_OK)
			die(err.message);
	ctx = zmq_ctx_new();
	zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, (int)k + 64);
	if ((socks = calloc(k, sizeof(*socks))) == NULL)
		die("calloc");
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", H.port);
	for (size_t i = 0; i < k; i++) {
		const struct keys *ks = keys[i % H.n];
		if ((socks[i] = zmq_socket(ctx, ZMQ_DEALER)) == NULL ||
		    zmq_setsockopt(socks[i], ZMQ_LINGER, &linger,
		                   sizeof(linger)) ||
		    zmq_setsockopt(socks[i], ZMQ_CURVE_SERVERKEY,
		                   c->broker_curve_pk, 32) ||
		    zmq_setsockopt(socks[i], ZMQ_CURVE_PUBLICKEY, ks->curve_pk,
		                   32) ||
		    zmq_setsockopt(socks[i], ZMQ_CURVE_SECRETKEY, ks->curve_sk,
		                   32) ||
		    zmq_connect(socks[i], ep))
			die("connect");
	}
	answered = ask_all(socks, k, &ping, 1);
	printf("%zu of %zu clients connected and answered a ping\n", answered,
	       k);
	nanosleep(&(struct timespec){2, 0}, NULL);
	show("ketend with the clients connected, idle", bench_memory(H.pid));

	/* Every client subscribed: an inbox read waiting at the broker for
	 * each (after a position no record reaches, so none is answered). */
	wait.wait_ms = 60000;
	wait.fetch_after = UINT64_C(1) << 40;
	ask_all(socks, k, &wait, 0);
	nanosleep(&(struct timespec){2, 0}, NULL);
	show("ketend with every client's subscription waiting",
	     bench_memory(H.pid));

	for (size_t i = 0; i < k; i++)
		zmq_close(socks[i]);
	zmq_ctx_term(ctx);
	free(socks);
	for (size_t a = 0; a < H.n; a++)
		keys_destroy(&keys[a]);
	config_destroy(&c);
	if (harness_stop(&H) != 0)
		fprintf(stderr, "bench_idle: ketend did not stop cleanly\n");
	harness_cleanup(&H);
	return 0;
}
