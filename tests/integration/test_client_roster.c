/*
 * Against a real ketend: libketen learns the region's roster from the
 * chain (PROTOCOL.md 22.6). Clients whose config lists no agencies send
 * and verify; a joined agency is known after a refresh or by itself; a
 * wrong broker key is refused with a sentence that says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "harness.h"

/* A client config of h's region: region, connect and the broker's keys
 * (sign_key replaced by bad_sign if not NULL), no agencies. */
static void
client_config(const struct harness *h, const char *path, const char *bad_sign)
{
	char line[1024];
	FILE *in = fopen(h->config, "r"), *out = fopen(path, "w");

	CHECK(in != NULL && out != NULL);
	if (in == NULL || out == NULL)
		exit(1);
	fprintf(out, "connect: tcp://127.0.0.1:%d\n", h->port);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strncmp(line, "agencies:", 9) == 0)
			break;
		if (strncmp(line, "region:", 7) == 0 ||
		    strncmp(line, "broker:", 7) == 0 ||
		    strncmp(line, "  transport_key:", 16) == 0)
			fputs(line, out);
		else if (strncmp(line, "  sign_key:", 11) == 0) {
			if (bad_sign != NULL)
				fprintf(out, "  sign_key: %s\n", bad_sign);
			else
				fputs(line, out);
		}
	}
	fclose(in);
	fclose(out);
}

static struct keten_client *
client_of(const struct harness *h, const char *config, const char *id)
{
	struct keten_client *c = NULL;
	struct keten_error err;

	CHECK_INT(keten_client_new(&c, config, harness_key(h, id), &err),
	          KETEN_OK);
	if (c == NULL) {
		fprintf(stderr, "client %s: %s\n", id, err.message);
		exit(1);
	}
	keten_client_set_state(c, NULL);
	return c;
}

static void
send_to(struct keten_client *from, const char *to, const char *marker, int want)
{
	struct keten_referral_content ct = harness_content(marker);
	struct keten_referral ref = {
	    .recipient = to, .urgency = KETEN_URGENCY_URGENT, .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;

	CHECK_INT(keten_send_referral(&rc, NULL, from, &ref, &err), want);
	if (want == KETEN_E_RECIPIENT)
		CHECK(strstr(err.message, to) != NULL);
}

/* vt receives one referral from sender, verified. */
static void
receive_from(struct keten_client *vt, const char *sender)
{
	struct keten_inbox *in = NULL;
	struct keten_error err;
	uint64_t cursor;

	CHECK_INT(keten_fetch(&in, vt, 16, &err), KETEN_OK);
	if (in == NULL)
		return;
	CHECK_INT(in->n, 1);
	if (in->n == 1) {
		CHECK_INT(in->messages[0].status, KETEN_OK);
		CHECK(strcmp(in->messages[0].sender, sender) == 0);
		CHECK(in->messages[0].content != NULL);
		CHECK_INT(keten_ack(&cursor, vt, in->messages[0].seq, &err),
		          KETEN_OK);
	}
	keten_inbox_free(&in);
}

int
main(void)
{
	static const char *const agencies[] = {"lt-almere:local_team",
	                                       "vt-flevoland:veilig_thuis"};
	struct harness h;
	struct keten_public_keys pub, other;
	struct keten_client *almere, *vt, *wrong, *urk;
	struct keten_error err;
	char cfg[400], bad[400], path[400];
	uint64_t head;
	FILE *f;

	harness_region(&h, agencies, 2, NULL);
	harness_start(&h);
	snprintf(cfg, sizeof(cfg), "%s/client.yaml", h.dir);
	client_config(&h, cfg, NULL);

	/* No agencies in either config: the roster is the chain's. */
	almere = client_of(&h, cfg, "lt-almere");
	vt = client_of(&h, cfg, "vt-flevoland");
	send_to(almere, "vt-flevoland", "ROSTER-1", KETEN_OK);
	receive_from(vt, "lt-almere");
	/* Not in the roster: refused before anything is sealed. */
	send_to(almere, "lt-urk", "ROSTER-X", KETEN_E_RECIPIENT);

	/* lt-urk joins: the broker records it at its next start. */
	snprintf(path, sizeof(path), "%s/lt-urk.key", h.dir);
	CHECK_INT(keten_keygen(&pub, path, "lt-urk", &err), KETEN_OK);
	CHECK((f = fopen(h.config, "a")) != NULL);
	fprintf(f,
	        "  - id: lt-urk\n    name: Test lt-urk\n    kind: local_team\n"
	        "    sign_key: %s\n    box_key: %s\n    transport_key: %s\n",
	        pub.sign_key, pub.box_key, pub.transport_key);
	fclose(f);
	CHECK_INT(harness_stop(&h), 0);
	harness_start(&h);
	strcpy(h.ids[h.n], "lt-urk");
	strcpy(h.keys[h.n], path);
	h.n++;

	/* almere's roster predates lt-urk until it is refreshed. */
	send_to(almere, "lt-urk", "ROSTER-2", KETEN_E_RECIPIENT);
	CHECK_INT(keten_client_refresh(almere, &err), KETEN_OK);
	/* Now known: refused by the route table (a local team refers to
	 * Veilig Thuis), no longer as an unknown recipient. */
	send_to(almere, "lt-urk", "ROSTER-3", KETEN_E_ROUTE);

	/* vt learns lt-urk by itself: the checkpoint's roster line. */
	urk = client_of(&h, cfg, "lt-urk");
	send_to(urk, "vt-flevoland", "ROSTER-4", KETEN_OK);
	receive_from(vt, "lt-urk");

	/* A config with another broker signing key: refused, saying so. */
	snprintf(bad, sizeof(bad), "%s/wrong.yaml", h.dir);
	snprintf(path, sizeof(path), "%s/other-broker.key", h.dir);
	CHECK_INT(keten_keygen(&other, path, "broker", &err), KETEN_OK);
	client_config(&h, bad, other.sign_key);
	wrong = client_of(&h, bad, "lt-almere");
	CHECK_INT(keten_ping(wrong, &head, &err), KETEN_E_CONFIG);
	CHECK(strstr(err.message, "broker.sign_key") != NULL);
	keten_client_destroy(&wrong);

	keten_client_destroy(&urk);
	keten_client_destroy(&vt);
	keten_client_destroy(&almere);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_failures ? 1 : 0;
}
