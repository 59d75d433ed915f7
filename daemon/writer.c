/*
 * The single writer: takes every verified job waiting, appends them in one
 * durable LMDB transaction (group commit) with one signed checkpoint, then
 * releases the receipts, each with its proof against that checkpoint. No
 * receipt leaves before its commit is on disk, and no read's reply before its
 * access log entry is. After each commit it tells the I/O thread whose inboxes
 * grew, so waiting subscriptions wake.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "roster_sync.h"

static void
answer(struct job *j, const struct note_key *broker)
{
	struct reply r;

	if (j->item.status != KETEN_OK && j->item.op == STORE_ACCESS) {
		/* The store cannot take the entry (full disk, say): reads
		 * are still served, and the broker's log accounts for this
		 * one instead (docs/PROTOCOL.md 21.2). */
		const struct access_entry *a = &j->item.access;
		log_warn("event=access_not_stored agency=%s kind=%s first=%llu "
		         "last=%llu n=%u reason=%s",
		         a->agency, access_kind_name(a->kind),
		         (unsigned long long)a->first_seq,
		         (unsigned long long)a->last_seq, a->n,
		         log_q(j->item.err.message));
		return;
	}
	if (j->item.status != KETEN_OK) {
		job_reply_error(j, j->item.status, j->item.err.message);
		return;
	}
	if (j->item.op == STORE_ACCESS)
		return; /* accounted: its reply may go */
	memset(&r, 0, sizeof(r));
	if (j->item.op == STORE_ACK) {
		r.kind = WIRE_REP_ACK;
		r.ack_cursor = j->item.cursor;
	} else if (j->item.op == STORE_COSIGN) {
		r.kind = WIRE_REP_COSIGN;
		r.cosign_size = j->item.cosigned;
	} else {
		r.kind = WIRE_REP_RECEIPT;
		r.receipt =
		    j->item.receipt; /* checkpoint signed in the commit */
		r.consistency = j->item.consistency;
	}
	job_reply(j, &r, broker);
}

/* An agency that reads the same thing again and again (polling without
 * acknowledging) discloses nothing new: one entry per minute for it. The
 * minute is measured on the monotonic clock: it is a span inside this
 * process, not a date. The wall clock steps back, and the batch time
 * stands still until it catches up (PROTOCOL.md 9.1); either would make
 * every identical read a repeat for as long. */
#define ACCESS_REPEAT_US (60 * 1000000LL)

struct last_access {
	struct access_entry e;
	int64_t at_us; /* clock_mono_us; 0: none yet */
};

static bool
same_read(const struct access_entry *a, const struct access_entry *b)
{
	return a->kind == b->kind && a->first_seq == b->first_seq &&
	       a->last_seq == b->last_seq && a->n == b->n &&
	       a->has_case == b->has_case &&
	       memcmp(a->case_id, b->case_id, KETEN_CASE_ID_LEN) == 0;
}

/* The writer's own state; the config generation it follows changes only
 * at a reload, between batches. */
struct writer {
	struct broker *b;
	struct store_writer *sw;
	struct liveconf_gen *gen; /* the writer's reference */
	unsigned max;             /* gen's batch_max: the arrays' size */
	struct job **batch;
	struct store_item *items;
	/* Per agency of gen, by position: the last accounted read, and as
	 * it was before a batch (a batch that fails accounted nothing, so
	 * its reads must not make the retry a repeat). */
	struct last_access *last, *before;
	bool clock_held; /* the clock is behind the log's time */
};

/* store_apply dates a batch no earlier than the log's time (PROTOCOL.md
 * 9.1), so a clock stepped back makes the log's time stand still: one
 * line when that starts, with the step, and one when it ends. */
static void
writer_clock(struct writer *w, int64_t now_us)
{
	int64_t log_us = store_writer_time(w->sw);

	if (now_us < log_us && !w->clock_held)
		log_warn("event=clock_behind behind_us=%lld reason=\"the clock "
		         "went back behind the log's time; records are dated "
		         "at the log's time until the clock catches up\"",
		         (long long)(log_us - now_us));
	else if (now_us >= log_us && w->clock_held)
		log_info("event=clock_caught_up");
	w->clock_held = now_us < log_us;
}

/* Where the agency of job j (made under any generation) keeps its last
 * read in the writer's generation; NULL if it is no longer there. */
static struct last_access *
last_of(struct writer *w, const struct job *j)
{
	const struct config *c = w->gen->cfg;
	const struct agency *a =
	    j->gen == w->gen ? j->agency : liveconf_member(c, j->agency->id);

	return a != NULL ? &w->last[liveconf_index(c, a)] : NULL;
}

/* Marks the reads in items that repeat their agency's last accounted
 * read within ACCESS_REPEAT_US of mono_us (clock_mono_us), and remembers
 * the others as the last. */
static void
skip_repeats(struct writer *w, size_t n, int64_t mono_us)
{
	struct store_item *items = w->items;

	for (size_t i = 0; i < n; i++) {
		struct last_access *l;
		if (items[i].op != STORE_ACCESS ||
		    (l = last_of(w, w->batch[i])) == NULL)
			continue;
		items[i].access_repeat =
		    l->at_us != 0 && mono_us - l->at_us < ACCESS_REPEAT_US &&
		    same_read(&l->e, &items[i].access);
		if (!items[i].access_repeat) {
			l->e = items[i].access;
			l->at_us = mono_us;
		}
	}
}

/* After a commit: the notice of whose inboxes grew, or NULL if none. Its
 * flags are indexed by the writer's generation, which it carries. */
static struct job *
notice_of(struct writer *w, size_t n)
{
	const struct config *c = w->gen->cfg;
	struct job *j = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct store_item *it = &w->items[i];
		if (it->op != STORE_SUBMIT || it->status != KETEN_OK ||
		    it->n_to == 0)
			continue;
		if (j == NULL) {
			if ((j = job_new()) == NULL ||
			    (j->notice_woke = calloc(c->n_agencies, 1)) == NULL)
				fatalx("event=out_of_memory");
			j->notice = true;
			j->gen = liveconf_hold(w->gen);
		}
		if (it->receipt.seq > j->notice_head)
			j->notice_head = it->receipt.seq;
		for (size_t t = 0; t < it->n_to; t++) {
			const struct agency *a = liveconf_member(c, it->to[t]);
			if (a != NULL)
				j->notice_woke[liveconf_index(c, a)] = 1;
		}
	}
	return j;
}

/* Follows generation g (the caller's reference, taken): the arrays made
 * for it, each agency's last read carried over by id. 0, or -1 out of
 * memory (nothing changed; the caller still owns g). */
static int
writer_follow(struct writer *w, struct liveconf_gen *g)
{
	const struct config *c = g->cfg;
	struct last_access *last = calloc(c->n_agencies + 1, sizeof(*last));
	struct last_access *before = calloc(c->n_agencies + 1, sizeof(*before));
	struct job **batch = calloc(c->batch_max, sizeof(*batch));
	struct store_item *items = calloc(c->batch_max, sizeof(*items));

	if (!last || !before || !batch || !items) {
		free(last);
		free(before);
		free(batch);
		free(items);
		return -1;
	}
	for (size_t i = 0; w->gen != NULL && i < c->n_agencies; i++) {
		const struct agency *o =
		    liveconf_member(w->gen->cfg, c->agencies[i].id);
		if (o != NULL)
			last[i] = w->last[liveconf_index(w->gen->cfg, o)];
	}
	free(w->last);
	free(w->before);
	free(w->batch);
	free(w->items);
	w->last = last;
	w->before = before;
	w->batch = batch;
	w->items = items;
	w->max = c->batch_max;
	liveconf_release(&w->gen);
	w->gen = g;
	return 0;
}

/* A reload asked by the I/O thread: the roster hook, then the writer
 * follows the new generation; the answer goes back in the job. */
static void
writer_reload(struct writer *w, struct job *j)
{
	struct keten_error *err = &j->item.err;

	error_clear(err);
	if (atomic_load(&w->b->stopping))
		j->item.status = error_set(err, KETEN_E_UNAVAILABLE,
		                           "the broker is stopping");
	else
		/* The chain records the new roster before anything is
		 * served under it (PROTOCOL.md 22.7). */
		j->item.status = roster_sync(w->b->store, w->sw, j->reload->cfg,
		                             w->b->signer, err);
	if (j->item.status == KETEN_OK &&
	    writer_follow(w, liveconf_hold(j->reload)) != 0) {
		liveconf_release(&j->reload); /* the hold above */
		fatalx("event=out_of_memory");
	}
}

void *
writer_main(void *arg)
{
	struct writer w = {.b = ((struct writer_start *)arg)->b,
	                   .sw = ((struct writer_start *)arg)->w};
	struct broker *b = w.b;
	struct liveconf_gen *start = liveconf_acquire(b->live);
	unsigned workers = start->cfg->workers, done = 0;
	void *in = zmq_socket(b->zctx, ZMQ_PULL);
	void *out = zmq_socket(b->zctx, ZMQ_PUSH);
	struct keten_error err;
	struct job *reload = NULL, *j;

	if (writer_follow(&w, start) != 0 || !in || !out ||
	    zmq_bind(in, EP_WRITER) != 0 || zmq_connect(out, EP_REPLIES) != 0)
		fatalx("event=writer_start_failed");
	while (done < workers) {
		size_t n = 0;
		int64_t t0, now_us;

		/* Block for the first job, then take whatever else waits. A
		 * reload ends the batch: it follows the commit. */
		if (job_recv(in, &j, 0) != 0) {
			if (zmq_errno() == EINTR)
				continue;
			fatalx("event=writer_recv_failed");
		}
		do {
			if (j == NULL)
				done++;
			else if (j->reload != NULL)
				reload = j;
			else
				w.batch[n++] = j;
		} while (reload == NULL && n < w.max &&
		         job_recv(in, &j, ZMQ_DONTWAIT) == 0);
		for (size_t i = 0; i < n; i++)
			w.items[i] = w.batch[i]->item;
		t0 = clock_mono_us();
		memcpy(w.before, w.last,
		       w.gen->cfg->n_agencies * sizeof(*w.last));
		skip_repeats(&w, n, t0);
		now_us = clock_now_us();
		if (n > 0)
			writer_clock(&w, now_us);
		if (n > 0 &&
		    store_apply(w.sw, w.items, n, now_us, &err) != KETEN_OK) {
			log_err("event=batch_failed n=%zu reason=%s", n,
			        log_q(err.message));
			memcpy(w.last, w.before,
			       w.gen->cfg->n_agencies * sizeof(*w.last));
		}
		if (n > 0)
			log_debug("event=commit n=%zu us=%lld", n,
			          (long long)(clock_mono_us() - t0));
		for (size_t i = 0; i < n; i++) {
			struct job *bj = w.batch[i];
			bj->item = w.items[i];
			answer(bj, &bj->gen->cfg->broker_key);
			if (w.items[i].status == KETEN_OK &&
			    w.items[i].op == STORE_COSIGN)
				metrics_cosigned(w.items[i].cosign_time);
			if (w.items[i].status == KETEN_OK &&
			    w.items[i].op == STORE_SUBMIT)
				log_info(
				    "event=recorded agency=%s seq=%llu "
				    "dup=%d",
				    bj->agency->id,
				    (unsigned long long)w.items[i].receipt.seq,
				    w.items[i].duplicate);
			if (job_send(out, bj, 0) != 0)
				fatalx("event=writer_reply_failed");
		}
		if ((j = notice_of(&w, n)) != NULL && job_send(out, j, 0) != 0)
			fatalx("event=writer_reply_failed");
		if (reload != NULL) {
			writer_reload(&w, reload);
			if (job_send(out, reload, 0) != 0)
				fatalx("event=writer_reply_failed");
			reload = NULL;
		}
	}
	/* Every worker is done; a reload the I/O thread sent meanwhile is
	 * answered (refused), so its generation is released. */
	while (job_recv(in, &j, ZMQ_DONTWAIT) == 0)
		if (j != NULL) {
			if (j->reload != NULL)
				writer_reload(&w, j);
			if (job_send(out, j, 0) != 0)
				fatalx("event=writer_reply_failed");
		}
	if (job_send(out, NULL, 0) != 0) /* the I/O thread may now finish */
		fatalx("event=writer_reply_failed");
	zmq_close(in);
	zmq_close(out);
	free(w.batch);
	free(w.items);
	free(w.last);
	free(w.before);
	liveconf_release(&w.gen);
	return NULL;
}
