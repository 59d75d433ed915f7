/*
 * The single writer: takes every verified job waiting, appends them in one
 * durable LMDB transaction (group commit), then signs and releases the
 * receipts. No receipt leaves before its commit is on disk, and no read's
 * reply before its access log entry is. After each commit it tells the I/O
 * thread whose inboxes grew, so waiting subscriptions wake.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "job.h"
#include "log.h"

static void
answer(struct broker *b, struct job *j)
{
	struct reply r;

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
	} else {
		r.kind = WIRE_REP_RECEIPT;
		r.receipt = j->item.receipt;
		/* Deterministic Ed25519: a duplicate gets the same bytes. */
		signer_receipt(b->signer, &r.receipt);
	}
	job_reply(j, &r);
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
	struct broker *b = arg;
	unsigned max = b->cfg->batch_max, done = 0;
	struct job **batch = calloc(max, sizeof(*batch));
	struct store_item *items = calloc(max, sizeof(*items));
	void *in = zmq_socket(b->zctx, ZMQ_PULL);
	void *out = zmq_socket(b->zctx, ZMQ_PUSH);
	struct keten_error err;

	if (!batch || !items || !in || !out || zmq_bind(in, EP_WRITER) != 0 ||
	    zmq_connect(out, EP_REPLIES) != 0)
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
		if (store_apply(b->store, items, n, clock_now_us(), &err) !=
		    KETEN_OK)
			log_err("event=batch_failed n=%zu reason=\"%s\"", n,
			        err.message);
		log_debug("event=commit n=%zu us=%lld", n,
		          (long long)(clock_mono_us() - t0));
		for (size_t i = 0; i < n; i++) {
			batch[i]->item = items[i];
			answer(b, batch[i]);
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
	return NULL;
}
