/*
 * The case state machine (docs/PROTOCOL.md, "Cases"): who holds a case,
 * which offer is open, who referred it. A pure function of the messages
 * recorded so far, so the broker's writer, the auditor and every client
 * compute the same holder from the chain. Must never read a clock or a file.
 */
#ifndef KETEN_CASE_H
#define KETEN_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/* A case's status is the public enum keten_case_status; a case no referral
 * opened yet (a zeroed struct case_state) has none. */
#define CASE_NONE ((enum keten_case_status)0)

#define CASE_PARTIES_MAX KETEN_CASE_PARTIES_MAX
/* The longest encoding case_encode writes. */
#define CASE_ENCODED_MAX (128 + CASE_PARTIES_MAX * (KETEN_ID_MAX + 2))

struct case_party {
	char id[KETEN_ID_MAX + 1];
	bool referred; /* made an offer that was accepted: may get feedback */
};

struct case_offer {
	uint8_t message_id[KETEN_MSG_ID_LEN];
	uint64_t seq;
	enum keten_message_type type; /* referral or handover */
	uint8_t to;                   /* index into parties */
	int64_t at_us;                /* broker time of the offer's record */
	int64_t acked_us;             /* 0 until acknowledged */
	int64_t respond_by_us; /* as the offer said; 0 = region default */
	uint32_t questions;
};

struct case_state {
	uint8_t id[KETEN_CASE_ID_LEN];
	enum keten_case_status status;
	uint8_t holder; /* index into parties */
	uint8_t n_parties;
	enum keten_outcome outcome; /* when closed */
	uint32_t messages;
	uint64_t opened_seq, last_seq;
	int64_t opened_at_us, updated_at_us;
	struct case_offer offer; /* when status is KETEN_CASE_OFFERED */
	struct case_party parties[CASE_PARTIES_MAX];
};

/* What the state machine reads of one recorded message. */
struct case_msg {
	enum keten_message_type type;
	const char *sender;
	const char *recipient; /* "" for close */
	const uint8_t *message_id;
	const uint8_t *case_id;
	const uint8_t *offer_id;    /* answers and withdraw; NULL if absent */
	uint64_t seq;               /* the record it is (or would be) */
	int64_t at_us;              /* broker time of that record */
	int64_t respond_by_us;      /* referral, handover */
	enum keten_outcome outcome; /* close */
};

struct body;
/* The state machine's view of a decoded body recorded as seq at at_us;
 * m points into b. */
void case_msg_of(struct case_msg *m, const struct body *b, uint64_t seq,
                 int64_t at_us);

/*
 * Applies m to st (CASE_NONE with a zeroed st for a case not seen yet).
 * On success st is the state after m. On a refusal st is unchanged, and
 * the code (KETEN_E_CASE_* and friends) and err's sentence name the rule.
 */
int case_step(struct case_state *st, const struct case_msg *m,
              struct keten_error *err) WUR;

/* The holder's agency id. */
const char *case_holder(const struct case_state *st);
/* Whether agency is a party to the case (may see it). */
bool case_involves(const struct case_state *st, const char *agency);
/* The agencies to deliver m to once it is recorded: its recipient, or for
 * a close every party but the sender. Returns how many were written. */
size_t case_recipients(const char *out[CASE_PARTIES_MAX],
                       const struct case_state *after,
                       const struct case_msg *m);

/* The open offer's due times under the region's deadlines: acknowledge by,
 * and decide by (0 while the decision clock has not started). */
void case_offer_due(int64_t *ack_due_us, int64_t *decide_due_us,
                    const struct case_state *st, const struct config *c);
/* Whether the open offer is overdue at now_us. */
bool case_overdue(const struct case_state *st, const struct config *c,
                  int64_t now_us);

/* Storage form (not a wire format: only daemon/store_cases.c keeps it). */
size_t case_encode(uint8_t out[CASE_ENCODED_MAX], const struct case_state *st);
int case_decode(struct case_state *st, const uint8_t *buf, size_t len) WUR;

#endif
