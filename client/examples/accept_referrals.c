/*
 * A minimal agency integration, as Veilig Thuis would run it: take the
 * referrals addressed to this agency, acknowledge each (the sender sees
 * it arrived), accept it (this agency now holds the case), and only then
 * move the inbox cursor past it.
 *
 *   cc accept_referrals.c $(pkg-config --cflags --libs keten) -o accept
 *   ./accept region.yaml vt-flevoland.key
 */
#include <inttypes.h>
#include <stdio.h>

#include <keten.h>

/* Acknowledges and accepts one referral; 0 or the keten error code. */
static int
take_case(struct keten_client *c, const struct keten_message *m,
          struct keten_error *err)
{
	struct keten_receipt r;
	int rc;

	if ((rc = keten_acknowledge(&r, c, m->case_id, err)) != KETEN_OK &&
	    rc != KETEN_E_ACKNOWLEDGED) /* done before a crash: fine */
		return rc;
	if ((rc = keten_accept(&r, c, m->case_id, NULL, err)) != KETEN_OK)
		return rc;
	printf("#%" PRIu64 " referral from %s: %s, accepted (record %" PRIu64
	       ")\n",
	       m->seq, m->sender,
	       m->content ? m->content->child.name : "(content destroyed)",
	       r.seq);
	return KETEN_OK;
}

int
main(int argc, char **argv)
{
	struct keten_client *c;
	struct keten_inbox *in;
	struct keten_error err;
	int more, rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: accept CONFIG KEYFILE\n");
		return 2;
	}
	if (keten_client_new(&c, argv[1], argv[2], &err) != KETEN_OK) {
		fprintf(stderr, "accept: %s\n", err.message);
		return 2;
	}
	do {
		uint64_t last = 0;
		if (keten_fetch(&in, c, 0, &err) != KETEN_OK) {
			fprintf(stderr, "accept: %s\n", err.message);
			rc = 1;
			break;
		}
		for (size_t i = 0; i < in->n && rc == 0; i++) {
			const struct keten_message *m = &in->messages[i];
			/* Never act on a message that does not verify. */
			if (m->status != KETEN_OK) {
				fprintf(stderr, "accept: #%" PRIu64 ": %s\n",
				        m->seq, m->status_message);
				rc = 1;
			} else if (m->type == KETEN_MSG_REFERRAL &&
			           take_case(c, m, &err) != KETEN_OK) {
				fprintf(stderr, "accept: #%" PRIu64 ": %s\n",
				        m->seq, err.message);
				rc = 1;
			} else {
				last = m->seq; /* handled */
			}
		}
		/* Move the cursor only past what was handled: after a crash
		 * the rest comes again, never is lost. */
		if (last > 0 && keten_ack(NULL, c, last, &err) != KETEN_OK) {
			fprintf(stderr, "accept: %s\n", err.message);
			rc = 1;
		}
		more = in->more;
		keten_inbox_free(&in);
	} while (more && rc == 0);
	keten_client_destroy(&c);
	return rc;
}
