/*
 * libketen internals shared by its files. Nothing here is public; the
 * public API is keten.h only.
 */
#ifndef KETEN_CLIENT_H
#define KETEN_CLIENT_H

#include "chain.h"
#include "config.h"
#include "keten.h"
#include "keys.h"
#include "note.h"
#include "record.h"
#include "state.h"
#include "wire.h"

struct roster;

#define CLIENT_OLD_KEYS_MAX 8 /* earlier key files a client may hold */

struct inflight {
	uint64_t ticket;
	const struct keten_prepared *p;
	struct state_known known; /* what it was sent with */
};

struct keten_client {
	struct config *cfg;
	struct keys *keys;
	/* keten_client_add_old_key: earlier key files of this agency, only
	 * to open content sealed to their box keys (guarded memory). */
	struct keys *old_keys[CLIENT_OLD_KEYS_MAX];
	size_t n_old_keys;
	/* Who this client is: self, the key file's id and public keys
	 * (the roster says whether they are in force: client_me_check).
	 * NULL for a witness. */
	const struct agency *me;
	struct agency self;
	char *keys_path;
	/* roster.c: the region's roster as the chain recorded it (NULL: not
	 * fetched yet), the broker keys of its history as note keys (with
	 * the configured one: what a state note may be signed with), and
	 * the newest roster seq a verified checkpoint named. */
	struct roster *roster;
	struct roster **retired; /* rosters a fetch replaced; freed last */
	size_t n_retired;
	struct note_key bk_now; /* the newest broker key: parses replies */
	struct note_key *bks;
	struct state_keys bkset;
	uint64_t roster_want;
	bool roster_fetching;
	char who[160]; /* the agency id, or "witness NAME" */
	void *zctx, *sock, *mon;
	int timeout_ms;
	uint64_t next_id;
	int connected;   /* a CURVE handshake has succeeded */
	int auth_failed; /* the broker's ZAP refused our transport key */
	int proto_failed;
	struct inflight *inflight;
	size_t n_inflight;
	unsigned handshakes; /* CURVE handshakes so far: a reconnect adds one */
	unsigned disconnects; /* connections the broker (or network) closed */
	bool resolved;        /* connect's host name resolved (client_send) */
	/* The last request sent: its size, and the disconnects by then. A
	 * connection closed after a frame above the broker's hard limit
	 * (PROTOCOL.md 4.5) is its only answer. */
	size_t sent_len;
	unsigned sent_disconnects;
	uint64_t sub_after; /* the subscription delivered up to here */
	/* The last checkpoint whose signature verified, fields and
	 * signature: a batch's receipts all carry the same one, checked
	 * once. */
	bool has_cp_ok;
	struct keten_checkpoint cp_ok;
	/* The newest checkpoint verified to extend every earlier one (size
	 * 0: none yet), its file (NULL: in memory only), and what the last
	 * request was sent with. */
	char *state_path;
	bool state_loaded;
	bool state_dirty; /* newer than the file */
	int64_t state_saved_us;
	struct keten_checkpoint state;
	struct state_memo memo; /* the last consistency proof that held */
	uint64_t state_gen;     /* +1 whenever the state changes */
	struct state_known sent;
	/* Checkpoints whose signature verified that no proof links to the
	 * state yet (link.c), and how many consistency requests linked one
	 * (for tests and the benchmark). */
	struct keten_checkpoint *pending;
	size_t n_pending, cap_pending;
	bool linking;
	uint64_t links;
	/* Those read from the state's .pending file (a client that stopped
	 * before it linked them): dropped from the file once linked. */
	struct keten_checkpoint *loaded;
	size_t n_loaded;
	/* The consistency request in flight in a pipeline (ticket 0: none):
	 * the checkpoint it links and what it was sent with. */
	uint64_t link_ticket;
	uint64_t link_next; /* the next link request's id, below LINK_ID */
	struct keten_checkpoint link_p;
	struct state_known link_k;
	/* KETEN_E_FORKED's sentence: every later call returns it. */
	bool forked;
	struct keten_error forked_err;
	/* inbox.c: the first message this client saw fail verification
	 * (seq 0: none), which keten_ack will not pass, and why; gen is
	 * refresh_gen when it was first seen failing, so a skip can tell a
	 * verdict reached after a later refresh. skipped: the last seq
	 * skipped as forged, recorded in skip_path (<key file>.skipped). */
	struct {
		uint64_t seq, gen;
		char why[KETEN_ERROR_MAX];
	} stop;
	uint64_t refresh_gen; /* +1 per keten_client_refresh that loaded */
	uint64_t skipped;
	char *skip_path;
};

struct keten_prepared {
	uint8_t *envelope;
	size_t envelope_len;
	uint8_t *sealed;
	size_t sealed_len;
	uint8_t message_id[KETEN_MSG_ID_LEN];
	uint8_t case_id[KETEN_CASE_ID_LEN];
};

/* Seals plain (if not NULL) to `to`, sets b's content hash, signs b and
 * packs the envelope into p; p's ids are taken from b. */
int client_finish_prepare(struct keten_prepared *p, struct keten_client *c,
                          struct body *b, const uint8_t *plain,
                          size_t plain_len, const struct agency *to,
                          struct keten_error *err) WUR;
/* The public view of a record the audit verified. */
struct audit_info;
void client_record_public(struct keten_record *out,
                          const struct audit_info *info);
/* The public view of a case state and its due times, overdue at at_us. */
void client_case_public(struct keten_case *out, const struct wire_case *wc,
                        int64_t at_us);

/* KETEN_OK if cp carries the region broker's signature (else
 * KETEN_E_RECEIPT) and extends the client's state by the reply's proof
 * from k, what the request was sent with (else KETEN_E_FORKED, and the
 * client is poisoned); the state then advances if it can. Remembers the
 * last one that verified, so the replies of one commit cost one
 * signature check. */
int client_checkpoint(struct keten_client *c, const struct keten_checkpoint *cp,
                      const struct state_known *k,
                      const struct consistency *proof,
                      struct keten_error *err) WUR;
/* KETEN_OK if cp holds (client_checkpoint) and path proves record seq
 * with record_hash is in it; then *out gets both. Else KETEN_E_RECEIPT
 * naming the record. */
int client_proof(struct keten_proof *out, struct keten_client *c, uint64_t seq,
                 const uint8_t record_hash[32],
                 const struct keten_checkpoint *cp, const uint8_t (*path)[32],
                 size_t n_path, const struct state_known *k,
                 const struct consistency *proof, struct keten_error *err) WUR;
/* Poisons the client with err's KETEN_E_FORKED sentence; returns it. */
int client_poison(struct keten_client *c, struct keten_error *err);
/* link.c: holds cp, which its reply's proof did not link to the state
 * (once per size and root). */
int link_hold(struct keten_client *c, const struct keten_checkpoint *cp,
              struct keten_error *err) WUR;
/* Drops the pending checkpoints equal to the state. */
void link_settle(struct keten_client *c);
/* In a pipeline: sends a consistency request for one pending checkpoint
 * if none is in flight; its reply is link_reply's. */
void link_start(struct keten_client *c);
/* The reply r (rc: client_wait's code) to link_start's request: KETEN_OK
 * (linked, or to be tried again) or KETEN_E_FORKED. */
int link_reply(struct keten_client *c, const struct reply *r, int rc,
               struct keten_error *err) WUR;
/* Links every pending checkpoint by consistency requests, when nothing
 * is in flight (else does nothing): KETEN_OK, KETEN_E_FORKED (poisoned)
 * or the call's error (the rest stay pending). */
int link_all(struct keten_client *c, struct keten_error *err) WUR;
/* Writes the state file if the state is newer than it (state_store);
 * KETEN_E_FORKED (poisoned) if the file holds another tree of its size. */
int client_state_flush(struct keten_client *c, struct keten_error *err) WUR;
/* Writes the checkpoints held for linking to the state's .pending file
 * (with what it holds), less those loaded from it and linked since. */
int client_pending_flush(struct keten_client *c, struct keten_error *err) WUR;

/* roster.c. Fetches the roster records the client lacks (PROTOCOL.md
 * 22.6) if it has none yet or a checkpoint named a newer one: each
 * proven in the reply's checkpoint, applied in order, the checkpoint
 * verified with the broker key in force at its size, the configured
 * broker key found in the chain's history. KETEN_E_CONFIG if it is not
 * (a wrong broker.sign_key); else the call's or the roster's error. */
int client_roster_sync(struct keten_client *c, struct keten_error *err) WUR;
/* Fetches whatever the chain recorded after the roster the client has. */
int client_roster_fetch(struct keten_client *c, struct keten_error *err) WUR;
/* Whether a fetch (if one may go out now) found roster records the
 * client did not have: a record refused by an unknown signer or key may
 * then be judged again. A failed fetch counts as none. */
bool client_roster_newer(struct keten_client *c);
/* KETEN_OK if cp carries the signature of the broker key in force at its
 * size (fetching the roster first when cp names a newer one and nothing
 * is in flight); else KETEN_E_RECEIPT with a sentence. */
int client_cp_verify(struct keten_client *c, const struct keten_checkpoint *cp,
                     struct keten_error *err) WUR;
/* The agency id's entry with its keys in force now, from the roster
 * (fetched if need be); NULL with err (KETEN_E_SIGNER: never a member,
 * left, revoked; or the fetch's error). what names the role in the
 * sentence ("recipient"). */
const struct agency *client_roster_now(struct keten_client *c, const char *id,
                                       const char *what,
                                       struct keten_error *err);
/* KETEN_OK if the key file's keys are this agency's keys in force in the
 * roster (fetched if need be); else a sentence that says what to do. */
int client_me_check(struct keten_client *c, struct keten_error *err) WUR;
/* Before a request goes out: a poisoned client goes no further, and the
 * state file is read once (with the chain's broker keys once known). */
int client_state_ready(struct keten_client *c, struct keten_error *err) WUR;

/* A client that connects as a witness (no agency keys): it may only
 * ping and cosign. */
int client_new_witness(struct keten_client **out, const char *config_path,
                       const char *name, const uint8_t curve_pk[32],
                       const uint8_t curve_sk[32], struct keten_error *err) WUR;

/* Sends a request (its request_id is assigned and returned in *id), with
 * known_size set from the state (c->sent records it); KETEN_E_FORKED once
 * the client is poisoned, or an error loading the state file. */
int client_send(struct keten_client *c, uint64_t *id, struct request *r,
                struct keten_error *err);
/* Waits for a reply; with want != 0 skips replies to other requests.
 * An error reply is returned as its code (r is then cleared). */
int client_wait(struct keten_client *c, struct reply *r, uint64_t want,
                struct keten_error *err);
/* client_call for a read that waits at the broker: until deadline
 * (monotonic µs), sending req again whenever the connection was made anew
 * meanwhile (a restarted broker forgot the waiting read). On an error r
 * may hold an error reply: clear it. */
int client_call_until(struct keten_client *c, struct reply *r,
                      struct request *req, int64_t deadline,
                      struct keten_error *err);
/* Reads pending socket monitor events (connects, refused keys). */
void client_read_monitor(struct keten_client *c);
/* send + wait for this request's reply. */
int client_call(struct keten_client *c, struct reply *r, struct request *req,
                struct keten_error *err);

#endif
