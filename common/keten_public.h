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

#define KETEN_ID_MAX           63 /* longest agency id, in bytes */
#define KETEN_CASE_ID_LEN      16
#define KETEN_MSG_ID_LEN       16
#define KETEN_HASH_LEN         32
#define KETEN_KEY_LEN          32
#define KETEN_CASE_PARTIES_MAX 16 /* the most agencies in one case */

struct keten_person {
	const char *name;
	const char *date_of_birth; /* YYYY-MM-DD */
	const char *bsn;
};

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
