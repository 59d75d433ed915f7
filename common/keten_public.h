/*
 * Types shared by common/ and the public API. This file is pasted verbatim
 * into the generated keten.h, so it must include nothing and name nothing
 * internal. Error numbers are wire codes: never renumber one.
 */
#ifndef KETEN_PUBLIC_H
#define KETEN_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum keten_err {
	KETEN_OK = 0,
	/* local failures: 1-99 */
	KETEN_E_INTERNAL = 1,    /* a bug: an invariant broke */
	KETEN_E_NOMEM = 2,       /* out of memory */
	KETEN_E_IO = 3,          /* a file could not be read or written */
	KETEN_E_CONFIG = 4,      /* the region config is invalid */
	KETEN_E_KEYFILE = 5,     /* a key file is missing, unsafe or damaged */
	KETEN_E_CONNECT = 6,     /* the broker could not be reached */
	KETEN_E_TIMEOUT = 7,     /* the broker did not answer in time */
	KETEN_E_USAGE = 8,       /* a caller passed an invalid argument */
	KETEN_E_RECEIPT = 9,     /* a receipt from the broker does not verify */
	KETEN_E_DECRYPT = 10,    /* sealed content could not be opened */
	KETEN_E_CHAIN = 11,      /* the audit found the chain broken */
	KETEN_E_SENDER_SIG = 12, /* a delivered message's signature is bad */
	KETEN_E_FORKED =
	    13, /* the broker's log does not extend one it showed */
	/* refusals by the broker: 100-199, sent on the wire */
	KETEN_E_MALFORMED = 100,    /* the frame is not a valid request */
	KETEN_E_TOO_BIG = 101,      /* the frame exceeds max_message_bytes */
	KETEN_E_UNKNOWN_TYPE = 102, /* unknown request or message type */
	KETEN_E_VERSION = 103,      /* unsupported protocol version */
	KETEN_E_BADSIG = 104,       /* the envelope signature does not verify */
	KETEN_E_SIGNER = 105,       /* signer is not the connected agency */
	KETEN_E_RECIPIENT = 106,    /* the recipient is not in the region */
	KETEN_E_CONTENT_HASH = 107, /* sealed content does not match its hash */
	KETEN_E_ROUTE = 108, /* this kind may not send this to that kind */
	KETEN_E_ID_REUSED =
	    109, /* message id already used for another message */
	KETEN_E_FORBIDDEN =
	    110, /* this agency's kind may not make this request */
	KETEN_E_STORAGE = 111, /* the broker cannot store: disk or map full */
	KETEN_E_BAD_ACK = 112, /* acknowledged a sequence never delivered */
	KETEN_E_FIELD = 113, /* a field of the message is missing or invalid */
	KETEN_E_UNAVAILABLE =
	    114, /* the broker is shutting down or overloaded */
	/* the case state machine (docs/PROTOCOL.md, "Cases") */
	KETEN_E_CASE_UNKNOWN = 115, /* no such case (or not yours to see) */
	KETEN_E_CASE_EXISTS = 116,  /* a referral reuses an open case's id */
	KETEN_E_CASE_CLOSED = 117,  /* nothing follows a close */
	KETEN_E_NOT_HOLDER = 118,   /* only the holder may do this */
	KETEN_E_NO_OFFER = 119,     /* no open offer, or not the one named */
	KETEN_E_NOT_OFFEREE = 120,  /* only the offer's recipient may answer */
	KETEN_E_OFFER_OPEN = 121,   /* the case already has an open offer */
	KETEN_E_WRONG_PARTY = 122, /* addressed to an agency it may not go to */
	KETEN_E_CASE_FULL = 123,   /* too many agencies in one case */
	KETEN_E_ACKNOWLEDGED = 124 /* the offer was already acknowledged */
};

#ifndef KETEN_API
#define KETEN_API __attribute__((visibility("default")))
#endif

#define KETEN_ERROR_MAX 256

/* An error a person can act on: the code, and a sentence with specifics. */
struct keten_error {
	int code;
	char message[KETEN_ERROR_MAX];
};

/* A short, static description of an error code; never NULL. */
KETEN_API const char *keten_strerror(int code);

enum keten_kind {
	KETEN_KIND_NONE = 0,
	KETEN_KIND_LOCAL_TEAM = 1,
	KETEN_KIND_VEILIG_THUIS = 2,
	KETEN_KIND_GI = 3,
	KETEN_KIND_RAAD = 4,
	KETEN_KIND_AUDITOR = 5
};

enum keten_urgency {
	KETEN_URGENCY_ROUTINE = 1,
	KETEN_URGENCY_URGENT = 2,
	KETEN_URGENCY_IMMEDIATE = 3
};

/* Message types; docs/PROTOCOL.md, "Messages", says who may send each.
 * The numbers are the wire's. */
enum keten_message_type {
	KETEN_MSG_REFERRAL = 1,     /* opens a case, offering it */
	KETEN_MSG_ACKNOWLEDGE = 2,  /* offer recipient: received */
	KETEN_MSG_ACCEPT = 3,       /* offer recipient: takes the case */
	KETEN_MSG_DECLINE = 4,      /* offer recipient: refuses, with reason */
	KETEN_MSG_HANDOVER = 5,     /* holder offers the case on */
	KETEN_MSG_WITHDRAW = 6,     /* holder takes its open offer back */
	KETEN_MSG_INFO_REQUEST = 7, /* offer recipient asks questions */
	KETEN_MSG_INFO_REPLY = 8,   /* holder answers them */
	KETEN_MSG_FEEDBACK = 9,     /* holder informs an earlier referrer */
	KETEN_MSG_CLOSE = 10,       /* holder ends the case */
	/* The broker's own, never an agency's message (PROTOCOL.md 22): */
	KETEN_MSG_ROSTER = 11,  /* a roster record: the region changed */
	KETEN_MSG_ROTATION = 12 /* a rotation statement, inside a roster one */
};
/* The last type an agency sends; envelopes go up to KETEN_MSG_ROTATION. */
#define KETEN_MSG_TYPE_MAX KETEN_MSG_CLOSE

enum keten_decline_reason {
	KETEN_DECLINE_NOT_COMPETENT = 1, /* not this agency's task */
	KETEN_DECLINE_NO_CAPACITY = 2,
	KETEN_DECLINE_INSUFFICIENT_INFO = 3,
	KETEN_DECLINE_WRONG_REGION = 4,
	KETEN_DECLINE_OTHER = 5 /* the note says why */
};
#define KETEN_DECLINE_MAX KETEN_DECLINE_OTHER /* the last reason */

enum keten_outcome {
	KETEN_OUTCOME_COMPLETED = 1,      /* the help or measure is finished */
	KETEN_OUTCOME_VOLUNTARY_CARE = 2, /* continued in voluntary care */
	KETEN_OUTCOME_NO_CONCERNS = 3,    /* concerns not confirmed */
	KETEN_OUTCOME_MOVED = 4,          /* the family left the region */
	KETEN_OUTCOME_OTHER = 5
};
#define KETEN_OUTCOME_MAX KETEN_OUTCOME_OTHER /* the last outcome */

enum keten_case_status {
	KETEN_CASE_OFFERED = 1, /* an offer is open; the holder still holds */
	KETEN_CASE_HELD = 2,    /* held, no open offer */
	KETEN_CASE_CLOSED = 3
};

/* Names as the CLI and config use them ("info_request", "no_capacity",
 * "voluntary_care"); "?" if unknown. The _parse functions return 0 for an
 * unknown word. Every value from 1 to its _MAX has a name, so a caller
 * can list the words. */
KETEN_API const char *keten_message_type_name(enum keten_message_type t);
KETEN_API enum keten_message_type keten_message_type_parse(const char *word);
KETEN_API const char *keten_decline_reason_name(enum keten_decline_reason r);
KETEN_API enum keten_decline_reason
keten_decline_reason_parse(const char *word);
KETEN_API const char *keten_outcome_name(enum keten_outcome o);
KETEN_API enum keten_outcome keten_outcome_parse(const char *word);
/* A case status word: "offered", "held", "closed". */
KETEN_API const char *keten_case_status_name(enum keten_case_status s);

#define KETEN_ID_MAX           63 /* longest agency id, in bytes */
#define KETEN_CASE_ID_LEN      16
#define KETEN_MSG_ID_LEN       16
#define KETEN_HASH_LEN         32
#define KETEN_KEY_LEN          32
#define KETEN_CASE_PARTIES_MAX 16 /* the most agencies in one case */
/* The longest proof bundle read (keten_proof_bundle_check): a record of
 * the largest envelope the broker takes is well below it. */
#define KETEN_PROOF_BUNDLE_MAX (64u << 20)

/*
 * A checkpoint: the broker's signature over the log as one commit left it
 * (docs/PROTOCOL.md 10.2). It signs the chain head and the SHA-256 Merkle
 * tree head over every record, so one signature covers the whole batch.
 * The signature is over the checkpoint's signed-note text, which these
 * fields and the origin "keten/<region>" determine.
 */
struct keten_checkpoint {
	uint64_t size;                     /* records in the log: the head */
	uint8_t head_hash[KETEN_HASH_LEN]; /* record hash of record `size` */
	uint8_t root[KETEN_HASH_LEN]; /* Merkle tree head, records 1..size */
	uint64_t access_size;         /* entries in the access log */
	uint8_t access_head[KETEN_HASH_LEN]; /* the access log's head hash */
	uint64_t roster_seq;   /* newest roster record <= size; 0: none (a
	                        * note before storage schema 6) */
	int64_t signed_at_us;  /* broker clock, µs since epoch */
	uint8_t signature[64]; /* broker Ed25519, of the note */
};

struct keten_person {
	const char *name;
	const char *date_of_birth; /* YYYY-MM-DD, or "" if not known */
	const char *bsn;           /* nine digits, or "" if not known */
};

/* The bounds of the content checks (keten_referral_check): the earliest
 * date of birth, and how many days ahead a decision deadline may lie. */
#define KETEN_DATE_MIN            "1900-01-01"
#define KETEN_RESPOND_BY_MAX_DAYS 366

/* The sealed part of a referral: only the recipient can read it. */
struct keten_referral_content {
	struct keten_person child;
	const struct keten_person *household;
	size_t n_household;
	const char *parental_authority; /* who holds gezag */
	const char *const *concerns;
	size_t n_concerns;
	const char *safety_assessment;
	const char *request; /* what is asked of the recipient */
	const char *legal_basis;
	bool family_informed;
	bool family_consented;
	const char *notes;
};

/* The sealed part of a handover: the dossier for a warm handover. */
struct keten_dossier {
	const char *known; /* what is known about child and family */
	const char *safety_conditions; /* veiligheidsvoorwaarden */
	const char *monitoring_plan;
	bool family_informed; /* whether the family knows of the handover */
	const char *notes;
};

#endif
