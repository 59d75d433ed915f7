/* Region generation, ketend process control and helpers for the tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

const char *const harness_flevoland[] = {
    "lt-almere:local_team",       "lt-lelystad:local_team",
    "lt-dronten:local_team",      "lt-zeewolde:local_team",
    "lt-urk:local_team",          "lt-noordoostpolder:local_team",
    "vt-flevoland:veilig_thuis",  "gi-save:gi",
    "raad-midden-nederland:raad", "audit-inspectie:auditor",
};
const size_t harness_flevoland_n =
    sizeof(harness_flevoland) / sizeof(harness_flevoland[0]);

static void die(const char *what, const char *detail) __attribute__((noreturn));

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "harness: %s: %s\n", what, detail);
	exit(99);
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("free port", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void
harness_region(struct harness *h, const char *const *agencies, size_t n,
               const char *extra_limits)
{
	struct keten_public_keys pub;
	struct keten_error err;
	char path[400];
	FILE *f;

	memset(h, 0, sizeof(*h));
	strcpy(h->dir, "/tmp/keten-test.XXXXXX");
	if (mkdtemp(h->dir) == NULL)
		die("mkdtemp", strerror(errno));
	snprintf(h->config, sizeof(h->config), "%s/region.yaml", h->dir);
	snprintf(h->data, sizeof(h->data), "%s/data", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/ketend.log", h->dir);
	h->port = free_port();
	if ((f = fopen(h->config, "w")) == NULL)
		die("config", strerror(errno));
	fprintf(f,
	        "region: testregion\nlisten: tcp://127.0.0.1:%d\n"
	        "data_dir: data\nlimits:\n  max_message_bytes: 1048576\n%s",
	        h->port, extra_limits ? extra_limits : "");
	snprintf(path, sizeof(path), "%s/broker.key", h->dir);
	if (keten_keygen(&pub, path, "broker", &err) != KETEN_OK)
		die("keygen", err.message);
	fprintf(f,
	        "broker:\n  key_file: broker.key\n  sign_key: %s\n"
	        "  transport_key: %s\nagencies:\n",
	        pub.sign_key, pub.transport_key);
	if (n > H_MAX_AGENCIES)
		die("region", "too many agencies");
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(agencies[i], ':');
		size_t idlen = (size_t)(colon - agencies[i]);
		memcpy(h->ids[i], agencies[i], idlen);
		h->ids[i][idlen] = '\0';
		snprintf(h->keys[i], sizeof(h->keys[i]), "%s/%s.key", h->dir,
		         h->ids[i]);
		if (keten_keygen(&pub, h->keys[i], h->ids[i], &err) != KETEN_OK)
			die("keygen", err.message);
		fprintf(f,
		        "  - id: %s\n    name: Test %s\n    kind: %s\n"
		        "    sign_key: %s\n    box_key: %s\n"
		        "    transport_key: %s\n",
		        h->ids[i], h->ids[i], colon + 1, pub.sign_key,
		        pub.box_key, pub.transport_key);
	}
	h->n = n;
	fclose(f);
}

void
harness_twin(struct harness *twin, const struct harness *h)
{
	char line[1024];
	FILE *in, *out;

	memcpy(twin, h, sizeof(*twin));
	twin->pid = 0;
	memset(twin->clients, 0, sizeof(twin->clients));
	snprintf(twin->config, sizeof(twin->config), "%s/region-twin.yaml",
	         h->dir);
	snprintf(twin->log, sizeof(twin->log), "%s/ketend-twin.log", h->dir);
	twin->port = free_port();
	if ((in = fopen(h->config, "r")) == NULL ||
	    (out = fopen(twin->config, "w")) == NULL)
		die("twin config", strerror(errno));
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strncmp(line, "listen:", 7) == 0)
			fprintf(out, "listen: tcp://127.0.0.1:%d\n",
			        twin->port);
		else
			fputs(line, out);
	}
	fclose(in);
	if (fclose(out) != 0)
		die("twin config", strerror(errno));
}

const char *
harness_key(const struct harness *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->ids[i], id) == 0)
			return h->keys[i];
	die("no such agency", id);
	return NULL;
}

struct keten_client *
harness_client(const struct harness *h, const char *id)
{
	struct keten_client *c;
	struct keten_error err;

	if (keten_client_new(&c, h->config, harness_key(h, id), &err) != 0)
		die("client", err.message);
	keten_client_set_timeout(c, 20000);
	return c;
}

uint64_t
harness_head(const struct harness *h, const char *id)
{
	struct keten_client *c = harness_client(h, id);
	struct keten_error err;
	uint64_t head = 0;

	if (keten_ping(c, &head, &err) != KETEN_OK)
		die("ping", err.message);
	keten_client_destroy(&c);
	return head;
}

/* Brokers still running; a test that exits early must not leave one
 * behind holding ctest's output pipe open. */
static pid_t running[8];

static void
kill_running(void)
{
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (running[i] > 0) {
			kill(running[i], SIGKILL);
			waitpid(running[i], NULL, 0);
			running[i] = 0;
		}
}

static void
track(pid_t pid, pid_t replace)
{
	static int registered;

	if (!registered && atexit(kill_running) == 0)
		registered = 1;
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (running[i] == replace) {
			running[i] = pid;
			return;
		}
}

const char *
harness_cli(void)
{
	return KETEN_CLI_PATH;
}

int
harness_audit_verify(const struct harness *h, char *out, size_t cap)
{
	char cmd[1400];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' audit verify -c '%s' '%s' 2>&1",
	         harness_cli(), h->config, h->data);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	st = pclose(f);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

uint64_t
harness_first_seq(const struct harness *h)
{
	struct keten_audit a;
	struct keten_audit_roster r;
	struct keten_error err;
	uint64_t next = 1;

	if (keten_audit_verify_roster(&a, &r, h->config, h->data, NULL, &err) !=
	    KETEN_OK)
		die("audit", err.message);
	/* The changes come in seq order, several to a roster record. */
	for (size_t i = 0; i < r.n_changes; i++)
		if (r.changes[i].seq == next)
			next++;
	keten_audit_roster_free(&r);
	if (next == 1)
		die("audit", "the log does not open with a roster record");
	return next;
}

void
harness_copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		die("open", src);
	if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		die("open", dst);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("write", dst);
	close(in);
	close(out);
}

void
harness_start(struct harness *h)
{
	const char *ketend = getenv("KETEND");
	struct keten_client *c;
	struct keten_error err;
	uint64_t head;
	pid_t parent;
	int fd;

	if (ketend == NULL)
		ketend = KETEND_PATH;
	parent = getpid();
	h->pid = fork();
	if (h->pid < 0)
		die("fork", strerror(errno));
	if (h->pid == 0) {
		/* A test that dies without its exit handlers (a sanitizer's
		 * report, a signal) must not leave a broker holding ctest's
		 * output pipe open until the timeout. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(127);
		fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		const char *lvl = getenv("KETEN_TEST_LOG_LEVEL");
		execl(ketend, "ketend", "-c", h->config, "--log-level",
		      lvl ? lvl : "info", (char *)NULL);
		_exit(127);
	}
	track(h->pid, 0);
	if (keten_client_new(&c, h->config, h->keys[0], &err) != 0)
		die("client", err.message);
	keten_client_set_timeout(c, 200);
	/* A readiness probe, not the agency: it keeps no state file. */
	if (keten_client_set_state(c, NULL) != KETEN_OK)
		die("client", "out of memory");
	for (int i = 0; i < 150; i++) {
		int status;
		if (keten_ping(c, &head, &err) == KETEN_OK) {
			keten_client_destroy(&c);
			return;
		}
		if (waitpid(h->pid, &status, WNOHANG) == h->pid)
			die("ketend exited at start; see", h->log);
	}
	die("ketend did not answer; see", h->log);
}

int
harness_start_refused(struct harness *h)
{
	const char *ketend = getenv("KETEND");
	pid_t pid;
	int status;

	if (ketend == NULL)
		ketend = KETEND_PATH;
	if ((pid = fork()) < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		execl(ketend, "ketend", "-c", h->config, "--log-level", "info",
		      (char *)NULL);
		_exit(127);
	}
	track(pid, 0);
	for (int i = 0; i < 1000; i++) { /* 10 s */
		if (waitpid(pid, &status, WNOHANG) == pid) {
			track(0, pid);
			return WIFEXITED(status) ? WEXITSTATUS(status)
			                         : 128 + WTERMSIG(status);
		}
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	track(0, pid);
	return -1;
}

int
harness_stop(struct harness *h)
{
	return harness_stop_signal(h, SIGTERM);
}

int
harness_signal(const struct harness *h, int sig)
{
	return h->pid > 0 ? kill(h->pid, sig) : -1;
}

int
harness_stop_signal(struct harness *h, int sig)
{
	int status = 0;

	if (h->pid <= 0)
		return 0;
	kill(h->pid, sig);
	if (waitpid(h->pid, &status, 0) != h->pid)
		return -1;
	track(0, h->pid);
	h->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

void
harness_kill(struct harness *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	track(0, h->pid);
	h->pid = 0;
}

struct keten_client *
harness_agency(struct harness *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->ids[i], id) == 0) {
			if (h->clients[i] == NULL)
				h->clients[i] = harness_client(h, id);
			return h->clients[i];
		}
	die("no such agency in the test region:", id);
	return NULL;
}

void
harness_drop_clients(struct harness *h)
{
	for (size_t i = 0; i < H_MAX_AGENCIES; i++)
		keten_client_destroy(&h->clients[i]);
}

void
harness_cleanup(struct harness *h)
{
	char cmd[400];

	harness_drop_clients(h);
	if (h->pid > 0)
		harness_kill(h);
	if (getenv("KETEN_KEEP_TEST_DIR") == NULL && h->dir[0] == '/') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n",
			        h->dir);
	}
}

int
harness_log_has(const struct harness *h, const char *s)
{
	return harness_log_count(h, s) > 0;
}

int
harness_log_count(const struct harness *h, const char *s)
{
	FILE *f = fopen(h->log, "r");
	char line[2048];
	int found = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		found += strstr(line, s) != NULL;
	fclose(f);
	return found;
}

int
harness_wait_log(const struct harness *h, const char *s, int n)
{
	for (int i = 0; i < 3000; i++) { /* 60 s: a condition, not a time */
		if (harness_log_count(h, s) >= n)
			return 1;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	return 0;
}

struct keten_referral_content
harness_content(const char *marker)
{
	static const char *concerns[] = {"huiselijk geweld", "schoolverzuim"};
	struct keten_referral_content c;

	memset(&c, 0, sizeof(c));
	c.child.name = marker;
	c.child.date_of_birth = "2016-04-12";
	c.child.bsn = "111222333";
	c.concerns = concerns;
	c.n_concerns = 2;
	c.request = "veiligheidsbeoordeling";
	c.notes = marker;
	c.family_informed = true;
	return c;
}

void
harness_fill(struct harness *h, size_t n, const char *marker)
{
	static const char *teams[] = {"lt-almere",  "lt-lelystad",
	                              "lt-dronten", "lt-zeewolde",
	                              "lt-urk",     "lt-noordoostpolder"};
	enum { CHUNK = 1024, WINDOW = 64 };
	struct keten_referral_content ct = harness_content(marker);
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_prepared *p[CHUNK];
	struct keten_receipt rc;
	struct keten_error err;
	uint64_t ticket;

	for (size_t base = 0; base < n; base += CHUNK) {
		struct keten_client *c =
		    harness_agency(h, teams[base / CHUNK % 6]);
		size_t m = n - base < CHUNK ? n - base : CHUNK, sent = 0,
		       done = 0;

		for (size_t i = 0; i < m; i++)
			if (keten_prepare_referral(&p[i], c, &ref, &err) !=
			    KETEN_OK)
				die("prepare", err.message);
		while (done < m) {
			while (sent < m && sent - done < WINDOW)
				if (keten_submit_start(&ticket, c, p[sent++],
				                       &err) != KETEN_OK)
					die("submit", err.message);
			if (keten_submit_finish(&rc, &ticket, c, &err) !=
			    KETEN_OK)
				die("receipt", err.message);
			done++;
		}
		for (size_t i = 0; i < m; i++)
			keten_prepared_free(&p[i]);
	}
}
