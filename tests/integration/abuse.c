/* Abusive peers, each in a thread of its own; they measure nothing. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abuse.h"

extern char **environ;

void
abuse_sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

long
abuse_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

void
abuse_reset_peak(pid_t pid)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	if ((f = fopen(path, "w")) != NULL) {
		fputs("5", f);
		fclose(f);
	}
}

static void
start(struct abuse *a, struct harness *h, const char *id, bool repeat,
      void *(*fn)(void *))
{
	memset(a, 0, sizeof(*a));
	a->h = h;
	a->id = id;
	a->repeat = repeat;
	if (pthread_create(&a->th, NULL, fn, a) != 0)
		abort();
}

/* ---- many parts: a process of its own (abuse_multipart.c says why) ---- */

void
abuse_multipart_start(struct abuse *a, struct harness *h, const char *id,
                      bool repeat)
{
	char port[16];
	char *argv[] = {ABUSE_MULTIPART_PATH,
	                h->config,
	                port,
	                (char *)id,
	                (char *)harness_key(h, id),
	                repeat ? "repeat" : "once",
	                NULL};
	int rc;

	memset(a, 0, sizeof(*a));
	a->h = h;
	a->id = id;
	a->repeat = repeat;
	snprintf(port, sizeof(port), "%d", h->port);
	fflush(stdout);
	if ((rc = posix_spawn(&a->child, argv[0], NULL, NULL, argv, environ)) !=
	    0) {
		fprintf(stderr, "abuse: cannot start %s: %s\n", argv[0],
		        strerror(rc));
		exit(99);
	}
}

/* Waits for the abuser; what became of it is printed, not asserted. */
static void
multipart_reap(struct abuse *a, bool term)
{
	int status = 0;
	pid_t got = 0;

	if (a->child <= 0)
		return;
	if (term)
		kill(a->child, SIGTERM);
	/* Up to 20 s for a clean end, then it is killed. */
	for (int i = 0; i < 2000 && term &&
	                (got = waitpid(a->child, &status, WNOHANG)) == 0;
	     i++)
		abuse_sleep_ms(10);
	if (got == 0) {
		if (term)
			kill(a->child, SIGKILL);
		got = waitpid(a->child, &status, 0);
	}
	if (got == a->child && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		printf("abuse: the many-part sender as %s ended with %s %d "
		       "(libzmq's sender may assert when the broker shuts it; "
		       "not the broker's concern)\n",
		       a->id, WIFSIGNALED(status) ? "signal" : "status",
		       WIFSIGNALED(status) ? WTERMSIG(status)
		                           : WEXITSTATUS(status));
	a->child = 0;
}

/* ---- never reading ---- */

static void *
stalled_main(void *arg)
{
	struct abuse *a = arg;
	size_t len;
	uint8_t *fetch = craft_request(&len, WIRE_REQ_FETCH, 1024);

	for (unsigned long n = 0; !atomic_load(&a->stop) &&
	                          (a->repeat || n < atomic_load(&a->count));
	     n++)
		for (int i = 0; i < ABUSE_STALLED; i++)
			zmq_send(a->raw[i].sock, fetch, len, 0);
	free(fetch);
	return NULL;
}

void
abuse_stalled_start(struct abuse *a, struct harness *h, const char *id,
                    unsigned fetches)
{
	int timeout = 2000;

	memset(a, 0, sizeof(*a));
	a->h = h;
	a->id = id;
	a->repeat = fetches == 0;
	atomic_store(&a->count, fetches);
	if ((a->raw = calloc(ABUSE_STALLED, sizeof(*a->raw))) == NULL)
		abort();
	for (int i = 0; i < ABUSE_STALLED; i++) {
		raw_connect_stalled(&a->raw[i], h, id);
		zmq_setsockopt(a->raw[i].sock, ZMQ_SNDTIMEO, &timeout,
		               sizeof(timeout));
	}
	if (pthread_create(&a->th, NULL, stalled_main, a) != 0)
		abort();
}

/* ---- saying nothing ---- */

static int
idle_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *
idle_main(void *arg)
{
	struct abuse *a = arg;
	struct pollfd *p = calloc(ABUSE_IDLE, sizeof(*p));
	char buf[256];

	if (p == NULL || (a->fd = calloc(ABUSE_IDLE, sizeof(int))) == NULL)
		abort();
	for (int i = 0; i < ABUSE_IDLE; i++)
		a->fd[i] = idle_connect(a->h->port);
	while (!atomic_load(&a->stop)) {
		for (int i = 0; i < ABUSE_IDLE; i++)
			p[i] =
			    (struct pollfd){.fd = a->fd[i], .events = POLLIN};
		if (poll(p, ABUSE_IDLE, 50) <= 0)
			continue;
		for (int i = 0; i < ABUSE_IDLE; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (read(a->fd[i], buf, sizeof(buf)) > 0)
				continue; /* the broker's greeting */
			close(a->fd[i]);
			a->fd[i] = idle_connect(a->h->port);
			atomic_fetch_add(&a->count, 1);
		}
	}
	for (int i = 0; i < ABUSE_IDLE; i++)
		if (a->fd[i] >= 0)
			close(a->fd[i]);
	free(a->fd);
	a->fd = NULL;
	free(p);
	return NULL;
}

void
abuse_idle_start(struct abuse *a, struct harness *h)
{
	start(a, h, NULL, true, idle_main);
}

/* ---- a huge handshake frame ---- */

static void *
handshake_main(void *arg)
{
	struct abuse *a = arg;
	/* ZMTP 3.0 greeting (RFC 23): signature, version 3.0, mechanism
	 * "CURVE", as-server 0, filler; then a long command frame header. */
	uint8_t head[64 + 9] = {0xff, [9] = 0x7f, 3,   0,  'C',
	                        'U',  'R',        'V', 'E'};
	uint8_t *body = calloc(1, a->size);

	if (body == NULL || (a->fd = calloc(a->n, sizeof(int))) == NULL)
		abort();
	for (unsigned i = 0; i < a->n; i++)
		a->fd[i] = -1;
	head[64] = 0x06; /* command, long */
	for (int i = 0; i < 8; i++)
		head[65 + i] = (uint8_t)((uint64_t)a->size >> (56 - 8 * i));
	for (unsigned i = 0; i < a->n && !atomic_load(&a->stop); i++) {
		struct sockaddr_in sa = {
		    .sin_family = AF_INET,
		    .sin_port = htons((uint16_t)a->h->port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		struct timeval tv = {.tv_sec = 5};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		a->fd[i] = fd;
		if (fd < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			continue;
		/* Dropped part way: the rest is not sent. */
		if (send(fd, head, sizeof(head), MSG_NOSIGNAL) ==
		    (ssize_t)sizeof(head))
			(void)!send(fd, body, a->size - 1, MSG_NOSIGNAL);
		atomic_fetch_add(&a->count, 1);
	}
	free(body);
	while (!atomic_load(&a->stop))
		abuse_sleep_ms(20);
	for (unsigned i = 0; i < a->n; i++)
		if (a->fd[i] >= 0)
			close(a->fd[i]);
	free(a->fd);
	a->fd = NULL;
	return NULL;
}

void
abuse_handshake_start(struct abuse *a, struct harness *h, unsigned n,
                      size_t size)
{
	memset(a, 0, sizeof(*a));
	a->h = h;
	a->n = n;
	a->size = size;
	if (pthread_create(&a->th, NULL, handshake_main, a) != 0)
		abort();
}

void
abuse_join(struct abuse *a)
{
	if (a->child > 0)
		multipart_reap(a, false);
	else
		pthread_join(a->th, NULL);
	a->th = 0;
}

void
abuse_stop(struct abuse *a)
{
	atomic_store(&a->stop, true);
	multipart_reap(a, true);
	if (a->th != 0)
		pthread_join(a->th, NULL);
	for (int i = 0; a->raw != NULL && i < ABUSE_STALLED; i++)
		raw_close(&a->raw[i]);
	free(a->raw);
	a->raw = NULL;
}
