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
		         "last=%llu n=%u reason=\"%s\"",
		         a->agency, access_kind_name(a->kind),
		         (unsigned long long)a->first_seq,
		         (unsigned long long)a->last_seq, a->n,
		         j->item.err.message);
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

/* Marks the reads in items that repeat their agency's last accounted
 * read within ACCESS_REPEAT_US of mono_us (clock_mono_us), and remembers
 * the others as the last. */
static void
skip_repeats(struct broker *b, struct last_access *last,
             struct store_item *items, struct job **batch, size_t n,
             int64_t mono_us)
{
	for (size_t i = 0; i < n; i++) {
		struct last_access *l;
		if (items[i].op != STORE_ACCESS)
			continue;
		l = &last[batch[i]->agency - b->cfg->agencies];
		items[i].access_repeat =
		    l->at_us != 0 && mono_us - l->at_us < ACCESS_REPEAT_US &&
		    same_read(&l->e, &items[i].access);
		if (!items[i].access_repeat) {
			l->e = items[i].access;
			l->at_us = mono_us;
		}
	}
}

/* After a commit: the notice of whose inboxes grew, or NULL if none. */
static struct job *
notice_of(struct broker *b, struct store_item *items, size_t n)
{
	const struct config *c = b->cfg;
	struct job *j = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct store_item *it = &items[i];
		if (it->op != STORE_SUBMIT || it->status != KETEN_OK ||
		    it->n_to == 0)
			continue;
		if (j == NULL) {
			if ((j = job_new()) == NULL ||
			    (j->notice_woke = calloc(c->n_agencies, 1)) == NULL)
				fatalx("event=out_of_memory");
			j->notice = true;
		}
		if (it->receipt.seq > j->notice_head)
			j->notice_head = it->receipt.seq;
		for (size_t t = 0; t < it->n_to; t++) {
			const struct agency *a = config_find(c, it->to[t]);
			if (a != NULL)
				j->notice_woke[a - c->agencies] = 1;
		}
	}
	return j;
}

void *
writer_main(void *arg)
{
	struct broker *b = ((struct writer_start *)arg)->b;
	struct store_writer *sw = ((struct writer_start *)arg)->w;
	unsigned max = b->cfg->batch_max, done = 0;
	struct job **batch = calloc(max, sizeof(*batch));
	struct store_item *items = calloc(max, sizeof(*items));
	void *in = zmq_socket(b->zctx, ZMQ_PULL);
	void *out = zmq_socket(b->zctx, ZMQ_PUSH);
	struct keten_error err;
	struct last_access *last = calloc(b->cfg->n_agencies, sizeof(*last));
	/* last as it was before a batch: a batch that fails accounted
	 * nothing, so its reads must not make the retry a repeat. */
	struct last_access *before =
	    calloc(b->cfg->n_agencies, sizeof(*before));

	if (!batch || !items || !last || !before || !in || !out ||
	    zmq_bind(in, EP_WRITER) != 0 || zmq_connect(out, EP_REPLIES) != 0)
		fatalx("event=writer_start_failed");
	while (done < b->cfg->workers) {
		size_t n = 0;
		struct job *j;
		int64_t t0;

		/* Block for the first job, then take whatever else waits. */
		if (job_recv(in, &j, 0) != 0) {
			if (zmq_errno() == EINTR)
				continue;
			fatalx("event=writer_recv_failed");
		}
		do {
			if (j == NULL)
				done++;
			else
				batch[n++] = j;
		} while (n < max && job_recv(in, &j, ZMQ_DONTWAIT) == 0);
		if (n == 0)
			continue;
		for (size_t i = 0; i < n; i++)
			items[i] = batch[i]->item;
		t0 = clock_mono_us();
		memcpy(before, last, b->cfg->n_agencies * sizeof(*last));
		skip_repeats(b, last, items, batch, n, t0);
		if (store_apply(sw, items, n, clock_now_us(), &err) !=
		    KETEN_OK) {
			log_err("event=batch_failed n=%zu reason=\"%s\"", n,
			        err.message);
			memcpy(last, before,
			       b->cfg->n_agencies * sizeof(*last));
		}
		log_debug("event=commit n=%zu us=%lld", n,
		          (long long)(clock_mono_us() - t0));
		for (size_t i = 0; i < n; i++) {
			batch[i]->item = items[i];
			answer(batch[i], &b->cfg->broker_key);
			if (items[i].status == KETEN_OK &&
			    items[i].op == STORE_SUBMIT)
				log_info(
				    "event=recorded agency=%s seq=%llu "
				    "dup=%d",
				    batch[i]->agency->id,
				    (unsigned long long)items[i].receipt.seq,
				    items[i].duplicate);
			if (job_send(out, batch[i], 0) != 0)
				fatalx("event=writer_reply_failed");
		}
		if ((j = notice_of(b, items, n)) != NULL &&
		    job_send(out, j, 0) != 0)
			fatalx("event=writer_reply_failed");
	}
	if (job_send(out, NULL, 0) != 0) /* the I/O thread may now finish */
		fatalx("event=writer_reply_failed");
	zmq_close(in);
	zmq_close(out);
	free(batch);
	free(items);
	free(last);
	free(before);
	return NULL;
}
