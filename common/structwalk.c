/*
 * The structural walk (structwalk.h): a child reads every page of data.mdb
 * and tells the parent, through a pipe, which database it is in. Must
 * never write to the file, and the child must never return into its
 * parent's code: it leaves by _exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger_layout.h"
#include "structwalk.h"

/*
 * What the child writes, one line each: "D<name>" as it enters a database
 * ("" for the main one, which names the others), "E<code>" when LMDB
 * refuses a page, "O<code>" when it cannot open the environment at all,
 * "K" when every database was read to the end.
 */
#define LINE_MAX_ 600

static void
say(int fd, char tag, const char *text)
{
	char line[LINE_MAX_];
	int n = snprintf(line, sizeof(line), "%c%s\n", tag, text);

	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(fd, line, (size_t)n);
}

/* say() with a code for text. */
static void
say_code(int fd, char tag, int code)
{
	char num[24];

	snprintf(num, sizeof(num), "%d", code);
	say(fd, tag, num);
}

/* Every byte of v, so that overflow pages are read too. */
static unsigned
touch(const MDB_val *v, unsigned acc)
{
	const volatile uint8_t *p = v->mv_data;

	for (size_t i = 0; i < v->mv_size; i += 512)
		acc += p[i];
	if (v->mv_size > 0)
		acc += p[v->mv_size - 1];
	return acc;
}

/* Reads database dbi to its end: 0 or an LMDB code. A walk that yields
 * more entries than the database counts is going round in circles. */
static int
walk_db(MDB_txn *txn, MDB_dbi dbi, unsigned *acc)
{
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	if ((rc = mdb_stat(txn, dbi, &st)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		*acc = touch(&v, touch(&k, *acc));
		if (++n > st.ms_entries) {
			rc = MDB_CORRUPTED;
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = n == st.ms_entries ? 0 : MDB_CORRUPTED;
	return rc;
}

/* Where touch's sum goes, so that no read is optimised away. */
static volatile unsigned sink;

/* The child's end: its reader slot freed (a slot left to a dead pid
 * would keep a live broker from reusing pages, and the table fills). */
static void __attribute__((noreturn)) leave(MDB_env *env, MDB_txn *txn)
{
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	_exit(0);
}

/* The child: walks, says how it went, and exits. */
static void __attribute__((noreturn)) child(int fd, const char *dir)
{
	const struct rlimit none = {0, 0};
	MDB_env *env;
	MDB_txn *txn = NULL;
	MDB_dbi main_db, dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned acc = 0;
	int rc;

	(void)setrlimit(RLIMIT_CORE, &none); /* a crash here is expected */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	if ((rc = ledger_env_open(&env, dir)) != 0) {
		say_code(fd, 'O', rc);
		_exit(0);
	}
	say(fd, 'D', "");
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &main_db)) != 0 ||
	    (rc = walk_db(txn, main_db, &acc)) != 0 ||
	    (rc = mdb_cursor_open(txn, main_db, &cur)) != 0) {
		say_code(fd, 'E', rc);
		leave(env, txn);
	}
	/* The main database's keys name the others. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char name[LINE_MAX_ / 2];
		if (k.mv_size == 0 || k.mv_size >= sizeof(name) ||
		    memchr(k.mv_data, 0, k.mv_size) != NULL) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		say(fd, 'D', name);
		if ((rc = mdb_dbi_open(txn, name, 0, &dbi)) != 0 ||
		    (rc = walk_db(txn, dbi, &acc)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		say_code(fd, 'E', rc == 0 ? MDB_CORRUPTED : rc);
		leave(env, txn);
	}
	sink = acc;
	say(fd, 'K', "");
	leave(env, txn);
}

/* Whether an LMDB code means the file's pages, not the system, failed. */
static int
structural(int code)
{
	return code == MDB_CORRUPTED || code == MDB_PAGE_NOTFOUND ||
	       code == MDB_INVALID || code == MDB_BAD_TXN ||
	       code == MDB_BAD_VALSIZE || code == MDB_INCOMPATIBLE ||
	       code == MDB_VERSION_MISMATCH || code == MDB_TLS_FULL ||
	       code == MDB_CURSOR_FULL || code == MDB_PAGE_FULL;
}

int
structwalk_check(const char *dir, struct keten_error *err)
{
	char path[4096], buf[4096], db[LINE_MAX_] = "";
	int fds[2], status = 0, code = 0;
	bool done = false, opened = true;
	size_t have = 0;
	struct stat st;
	pid_t pid;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	        sizeof(path) ||
	    stat(path, &st) != 0 || st.st_size == 0)
		return KETEN_OK; /* nothing to walk: the open says so */
	if (pipe(fds) != 0)
		return error_set(err, KETEN_E_IO,
		                 "cannot check data.mdb in %s: pipe: %s", dir,
		                 strerror(errno));
	fflush(NULL); /* the child must not write out our buffers */
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return error_set(err, KETEN_E_IO,
		                 "cannot check data.mdb in %s: fork: %s", dir,
		                 strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], dir);
	}
	close(fds[1]);
	/* Lines as they come; the last D line is where the child was. */
	while ((n = read(fds[0], buf + have, sizeof(buf) - 1 - have)) > 0 ||
	       (n < 0 && errno == EINTR)) {
		char *nl;
		if (n < 0)
			continue;
		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			*nl = '\0';
			if (buf[0] == 'D')
				snprintf(db, sizeof(db), "%.*s",
				         (int)(sizeof(db) - 1), buf + 1);
			else if (buf[0] == 'E')
				code = atoi(buf + 1);
			else if (buf[0] == 'O') {
				code = atoi(buf + 1);
				opened = false;
			} else if (buf[0] == 'K')
				done = true;
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
		}
		if (have == sizeof(buf) - 1)
			have = 0; /* no such line is ours */
	}
	close(fds[0]);
	/* ECHILD (a caller that ignores SIGCHLD reaps for us): the
	 * child's last line is all there is to go by. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && (done || (!opened && !structural(code))))
		return KETEN_OK;
	if (WIFEXITED(status) && opened && code != 0 && !structural(code))
		return error_set(err, KETEN_E_IO,
		                 "cannot check data.mdb in %s: %s", dir,
		                 mdb_strerror(code));
	if (!opened)
		return error_set(err, KETEN_E_CHAIN,
		                 "data.mdb is structurally damaged in its "
		                 "header (%s); restore from a backup",
		                 mdb_strerror(code));
	if (db[0] == '\0')
		return error_set(err, KETEN_E_CHAIN,
		                 "data.mdb is structurally damaged in its main "
		                 "database (the list of databases); restore "
		                 "from a backup");
	return error_set(err, KETEN_E_CHAIN,
	                 "data.mdb is structurally damaged in database %s; "
	                 "restore from a backup",
	                 db);
}
