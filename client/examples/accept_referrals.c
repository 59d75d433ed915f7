/*
 * A minimal agency integration, as Veilig Thuis would run it: take the
 * referrals (and handovers) offered to this agency, acknowledge each (the
 * sender sees it arrived), accept it (this agency now holds the case), and
 * only then move the inbox cursor past it. Run again after a crash, it
 * finds the same messages and finishes what it started. With --follow it
 * stays subscribed and takes each new offer as it is recorded.
 *
 *   cc accept_referrals.c $(pkg-config --cflags --libs keten) -o accept
 *   ./accept region.yaml vt-flevoland.key [--follow]
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <keten.h>

/* Sends one answer to the offer m made; 0, or the keten error code. */
static int
answer(struct keten_receipt *r, struct keten_client *c,
       const struct keten_message *m, enum keten_message_type type,
       struct keten_error *err)
{
	/* Name the offer itself: if it was withdrawn and the case offered
	 * anew, this answer must not land on the new offer. */
	struct keten_step s = {.type = type, .offer_id = m->message_id};

	memcpy(s.case_id, m->case_id, KETEN_CASE_ID_LEN);
	return keten_send_step(r, c, &s, err);
}

/* Acknowledges and accepts one offer (a referral or a handover) to this
 * agency; 0 once it is dealt with, or the keten error code. */
static int
take_case(struct keten_client *c, const struct keten_message *m,
          struct keten_error *err)
{
	struct keten_receipt r;
	int rc = answer(&r, c, m, KETEN_MSG_ACKNOWLEDGE, err);

	if (rc == KETEN_OK || rc == KETEN_E_ACKNOWLEDGED)
		rc = answer(&r, c, m, KETEN_MSG_ACCEPT, err);
	if (rc == KETEN_E_NO_OFFER) { /* answered before a crash, or gone */
		printf("#%" PRIu64 " %s from %s: no longer open\n", m->seq,
		       keten_message_type_name(m->type), m->sender);
		return KETEN_OK;
	}
	if (rc != KETEN_OK)
		return rc;
	printf("#%" PRIu64 " %s from %s: %s, accepted (record %" PRIu64 ")\n",
	       m->seq, keten_message_type_name(m->type), m->sender,
	       m->content ? m->content->child.name : "(no child named)", r.seq);
	return KETEN_OK;
}

int
main(int argc, char **argv)
{
	struct keten_client *c;
	struct keten_inbox *in;
	struct keten_error err;
	int follow = argc == 4 && strcmp(argv[3], "--follow") == 0, rc = 0;

	if (argc != 3 && !follow) {
		fprintf(stderr, "usage: accept CONFIG KEYFILE [--follow]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* a log line per message */
	if (keten_client_new(&c, argv[1], argv[2], &err) != KETEN_OK) {
		fprintf(stderr, "accept: %s\n", err.message);
		return 2;
	}
	/* Subscribe from the last acknowledged message; with --follow wait
	 * for new ones (25 s per request), else stop once none are left. */
	while (rc == 0) {
		uint64_t last = 0;
		int got = keten_receive(&in, c, 0, follow ? 25000 : 0, &err);
		if (got == KETEN_E_TIMEOUT || got == KETEN_E_CONNECT) {
			fprintf(stderr, "accept: %s; retrying\n", err.message);
			continue; /* the broker restarts, say */
		}
		if (got != KETEN_OK) {
			fprintf(stderr, "accept: %s\n", err.message);
			rc = 1;
			break;
		}
		if (in->n == 0 && !follow) {
			keten_inbox_free(&in);
			break;
		}
		for (size_t i = 0; i < in->n && rc == 0; i++) {
			const struct keten_message *m = &in->messages[i];
			/* Never act on a message that does not verify. */
			if (m->status != KETEN_OK) {
				fprintf(stderr, "accept: #%" PRIu64 ": %s\n",
				        m->seq, m->status_message);
				rc = 1;
			} else if ((m->type == KETEN_MSG_REFERRAL ||
			            m->type == KETEN_MSG_HANDOVER) &&
			           take_case(c, m, &err) != KETEN_OK) {
				fprintf(stderr, "accept: #%" PRIu64 ": %s\n",
				        m->seq, err.message);
				rc = 1;
			} else {
				/* A real desk would file feedback, questions
				 * and closes; this one shows them. */
				if (m->type != KETEN_MSG_REFERRAL &&
				    m->type != KETEN_MSG_HANDOVER)
					printf("#%" PRIu64 " %s from %s\n",
					       m->seq,
					       keten_message_type_name(m->type),
					       m->sender);
				last = m->seq; /* handled */
			}
		}
		/* Move the cursor only past what was handled: after a crash
		 * the rest comes again, never is lost. */
		if (last > 0 && keten_ack(NULL, c, last, &err) != KETEN_OK) {
			fprintf(stderr, "accept: %s\n", err.message);
			rc = 1;
		}
		keten_inbox_free(&in);
	}
	keten_client_destroy(&c);
	return rc;
}
