/*
 * A minimal agency integration: fetch the referrals addressed to this
 * agency, handle each (here: print the child's name), acknowledge them.
 *
 *   cc inbox_ack.c $(pkg-config --cflags --libs keten) -o inbox_ack
 *   ./inbox_ack region.yaml vt-flevoland.key
 */
#include <inttypes.h>
#include <stdio.h>

#include <keten.h>

int
main(int argc, char **argv)
{
	struct keten_client *c;
	struct keten_inbox *in;
	struct keten_error err;
	uint64_t last = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: inbox_ack CONFIG KEYFILE\n");
		return 2;
	}
	if (keten_client_new(&c, argv[1], argv[2], &err) != KETEN_OK) {
		fprintf(stderr, "inbox_ack: %s\n", err.message);
		return 2;
	}
	do {
		if (keten_fetch(&in, c, 0, &err) != KETEN_OK) {
			fprintf(stderr, "inbox_ack: %s\n", err.message);
			keten_client_destroy(&c);
			return 1;
		}
		for (size_t i = 0; i < in->n; i++) {
			const struct keten_message *m = &in->messages[i];
			if (m->status != KETEN_OK) {
				/* Never act on, or acknowledge past, a message
				 * that does not verify: report it instead. */
				fprintf(stderr, "inbox_ack: #%" PRIu64 ": %s\n",
				        m->seq, m->status_message);
				keten_inbox_free(&in);
				keten_client_destroy(&c);
				return 1;
			}
			printf("#%" PRIu64 " referral from %s: %s\n", m->seq,
			       m->sender,
			       m->content ? m->content->child.name
			                  : "(destroyed)");
			last = m->seq;
		}
		/* Acknowledge only after handling: a crash before this line
		 * means the same messages come again, never that one is lost.
		 */
		if (in->n > 0 && keten_ack(NULL, c, last, &err) != KETEN_OK) {
			fprintf(stderr, "inbox_ack: %s\n", err.message);
			keten_inbox_free(&in);
			keten_client_destroy(&c);
			return 1;
		}
		int more = in->more;
		keten_inbox_free(&in);
		if (!more)
			break;
	} while (1);
	keten_client_destroy(&c);
	return 0;
}
