/*
 * Against a real ketend: a referral's round trip, a duplicate submit, that
 * no agency sees another's messages, and that no plaintext of the sealed
 * content reaches the broker's data file or log.
 */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "harness.h"

static const char MARKER[] = "MARKER-noor-7f3a9c";

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

static int
contains(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static void
round_trip(struct harness *h, uint64_t first)
{
	struct keten_client *almere = harness_client(h, "lt-almere");
	struct keten_client *vt = harness_client(h, "vt-flevoland");
	struct keten_referral_content ct = harness_content(MARKER);
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_URGENT,
	                             .content = &ct};
	struct keten_receipt rc, rc2;
	struct keten_prepared *p;
	struct keten_inbox *in;
	struct keten_error err;
	uint8_t case_id[16], msg_id[16];
	uint64_t cursor;

	CHECK_INT(keten_prepare_referral(&p, almere, &ref, &err), KETEN_OK);
	keten_prepared_ids(case_id, msg_id, p);
	CHECK_INT(keten_submit(&rc, almere, p, &err), KETEN_OK);
	CHECK_INT(rc.seq, first);
	CHECK_INT(rc.proof.checkpoint.size, first);
	/* The newest leaf's path: one hash per full subtree to its left. */
	CHECK_INT(rc.proof.n_path, __builtin_popcountll(first - 1));
	CHECK(memcmp(rc.message_id, msg_id, 16) == 0);
	CHECK(memcmp(rc.proof.checkpoint.head_hash, rc.record_hash, 32) == 0);
	/* The receipt is evidence on its own: anyone with the region
	 * config can check it, and a changed record or proof fails. */
	CHECK_INT(keten_proof_check(h->config, rc.seq, rc.record_hash,
	                            &rc.proof, &err),
	          KETEN_OK);
	{
		struct keten_proof bad = rc.proof;
		uint8_t other[32];
		memcpy(other, rc.record_hash, 32);
		other[31] ^= 1;
		CHECK_INT(keten_proof_check(h->config, rc.seq, other, &rc.proof,
		                            &err),
		          KETEN_E_RECEIPT);
		bad.checkpoint.signed_at_us++;
		CHECK_INT(keten_proof_check(h->config, rc.seq, rc.record_hash,
		                            &bad, &err),
		          KETEN_E_RECEIPT);
		CHECK(strstr(err.message, "not signed") != NULL);
	}

	/* The same message again: recorded once, the same record again, in
	 * the checkpoint of the commit that answered it. */
	CHECK_INT(keten_submit(&rc2, almere, p, &err), KETEN_OK);
	CHECK_INT(rc2.seq, rc.seq);
	CHECK(memcmp(rc2.record_hash, rc.record_hash, 32) == 0);
	CHECK(memcmp(rc2.prev_hash, rc.prev_hash, 32) == 0);
	CHECK(rc2.received_at_us == rc.received_at_us);
	CHECK_INT(rc2.proof.checkpoint.size, first);
	CHECK_INT(harness_head(h, "lt-almere"), first);
	keten_prepared_free(&p);

	/* Veilig Thuis sees it, verified and opened. */
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 1);
	CHECK_INT(in->cursor, 0);
	if (in->n == 1) {
		const struct keten_message *m = &in->messages[0];
		CHECK_INT(m->status, KETEN_OK);
		CHECK_INT(m->seq, first);
		CHECK(strcmp(m->sender, "lt-almere") == 0);
		CHECK(strcmp(m->recipient, "vt-flevoland") == 0);
		CHECK(memcmp(m->case_id, case_id, 16) == 0);
		CHECK(memcmp(m->record_hash, rc.record_hash, 32) == 0);
		/* Delivered with its proof: in the log the broker signed. */
		CHECK(m->proof.checkpoint.size >= 1);
		CHECK_INT(keten_proof_check(h->config, m->seq, m->record_hash,
		                            &m->proof, &err),
		          KETEN_OK);
		CHECK_INT(m->urgency, KETEN_URGENCY_URGENT);
		CHECK(m->content != NULL);
		if (m->content) {
			CHECK(strcmp(m->content->child.name, MARKER) == 0);
			CHECK(strcmp(m->content->child.bsn, "111222333") == 0);
			CHECK_INT(m->content->n_concerns, 2);
			CHECK(strcmp(m->content->concerns[1],
			             "schoolverzuim") == 0);
			CHECK(m->content->family_informed);
		}
	}
	keten_inbox_free(&in);

	/* Unacknowledged, it comes again; acknowledged, it does not. */
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 1);
	keten_inbox_free(&in);
	CHECK_INT(keten_ack(&cursor, vt, first, &err), KETEN_OK);
	CHECK_INT(cursor, first);
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 0);
	CHECK_INT(in->cursor, first);
	keten_inbox_free(&in);
	/* Acknowledging again is harmless. */
	CHECK_INT(keten_ack(&cursor, vt, first, &err), KETEN_OK);
	CHECK_INT(cursor, first);

	keten_client_destroy(&almere);
	keten_client_destroy(&vt);
}

/* Six local teams refer to Veilig Thuis; nobody else sees any of it. */
static void
isolation(struct harness *h)
{
	static const char *teams[] = {"lt-almere",  "lt-lelystad",
	                              "lt-dronten", "lt-zeewolde",
	                              "lt-urk",     "lt-noordoostpolder"};
	static const char *others[] = {"lt-almere", "lt-lelystad", "gi-save",
	                               "raad-midden-nederland",
	                               "audit-inspectie"};
	struct keten_referral_content ct = harness_content("isolation");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_inbox *in;
	struct keten_error err;
	uint64_t first = harness_head(h, "lt-almere") + 1, seen = 0;

	for (size_t i = 0; i < 6; i++) {
		struct keten_client *c = harness_client(h, teams[i]);
		for (int j = 0; j < 3; j++)
			CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
			          KETEN_OK);
		keten_client_destroy(&c);
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		struct keten_client *c = harness_client(h, others[i]);
		CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
		CHECK_INT(in->n, 0);
		keten_inbox_free(&in);
		keten_client_destroy(&c);
	}
	/* Veilig Thuis gets all 18, in chain order, each from its sender. */
	struct keten_client *vt = harness_client(h, "vt-flevoland");
	CHECK_INT(keten_fetch(&in, vt, 1024, &err), KETEN_OK);
	CHECK_INT(in->n, 18);
	for (size_t i = 0; i < in->n; i++) {
		CHECK_INT(in->messages[i].seq, first + i);
		CHECK(strcmp(in->messages[i].sender, teams[i / 3]) == 0);
		CHECK_INT(in->messages[i].status, KETEN_OK);
		seen = in->messages[i].seq;
	}
	keten_inbox_free(&in);
	CHECK_INT(keten_ack(NULL, vt, seen, &err), KETEN_OK);
	keten_client_destroy(&vt);
}

int
main(void)
{
	struct harness h;
	char path[400];
	size_t n = 0;
	char *data;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	uint64_t first = harness_first_seq(&h); /* after the roster record */
	round_trip(&h, first);
	isolation(&h);
	CHECK_INT(harness_stop(&h), 0);

	/* Content is sealed: the marker is nowhere in the data or the log. */
	snprintf(path, sizeof(path), "%s/data.mdb", h.data);
	data = slurp(path, &n);
	CHECK(data != NULL && n > 0);
	CHECK(data && !contains(data, n, MARKER));
	CHECK(data && contains(data, n, "lt-almere")); /* routing is clear */
	free(data);
	data = slurp(h.log, &n);
	CHECK(data && !contains(data, n, MARKER));
	CHECK(data && !contains(data, n, "111222333"));
	free(data);

	/* A restarted broker keeps the chain and the cursor. */
	harness_start(&h);
	CHECK_INT(harness_head(&h, "lt-almere"), first + 18);
	struct keten_client *vt = harness_client(&h, "vt-flevoland");
	struct keten_inbox *in;
	struct keten_error err;
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 0);
	CHECK_INT(in->cursor, first + 18);
	keten_inbox_free(&in);
	keten_client_destroy(&vt);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_referral");
}
