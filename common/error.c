/* Error codes and their table; the numbers are wire codes (docs/PROTOCOL.md).
 */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

const char *
keten_strerror(int code)
{
	switch (code) {
	case KETEN_OK:
		return "success";
	case KETEN_E_INTERNAL:
		return "internal error";
	case KETEN_E_NOMEM:
		return "out of memory";
	case KETEN_E_IO:
		return "input/output error";
	case KETEN_E_CONFIG:
		return "invalid region configuration";
	case KETEN_E_KEYFILE:
		return "bad key file";
	case KETEN_E_CONNECT:
		return "cannot connect to the broker";
	case KETEN_E_TIMEOUT:
		return "the broker did not answer in time";
	case KETEN_E_USAGE:
		return "invalid argument";
	case KETEN_E_RECEIPT:
		return "receipt does not verify";
	case KETEN_E_DECRYPT:
		return "sealed content cannot be opened";
	case KETEN_E_CHAIN:
		return "audit chain broken";
	case KETEN_E_SENDER_SIG:
		return "sender signature does not verify";
	case KETEN_E_FORKED:
		return "the broker's log is not an extension of one it showed";
	case KETEN_E_MALFORMED:
		return "malformed request";
	case KETEN_E_TOO_BIG:
		return "request too big";
	case KETEN_E_UNKNOWN_TYPE:
		return "unknown type";
	case KETEN_E_VERSION:
		return "unsupported protocol version";
	case KETEN_E_BADSIG:
		return "bad signature";
	case KETEN_E_SIGNER:
		return "signer is not the connected agency";
	case KETEN_E_RECIPIENT:
		return "unknown recipient";
	case KETEN_E_CONTENT_HASH:
		return "sealed content does not match its hash";
	case KETEN_E_ROUTE:
		return "route not allowed";
	case KETEN_E_ID_REUSED:
		return "message id reused";
	case KETEN_E_FORBIDDEN:
		return "request not allowed for this agency";
	case KETEN_E_STORAGE:
		return "the broker cannot store: storage full or failing";
	case KETEN_E_BAD_ACK:
		return "acknowledgement out of range";
	case KETEN_E_FIELD:
		return "invalid field";
	case KETEN_E_UNAVAILABLE:
		return "broker unavailable";
	case KETEN_E_CASE_UNKNOWN:
		return "unknown case";
	case KETEN_E_CASE_EXISTS:
		return "case already exists";
	case KETEN_E_CASE_CLOSED:
		return "case is closed";
	case KETEN_E_NOT_HOLDER:
		return "not the case's holder";
	case KETEN_E_NO_OFFER:
		return "no such open offer";
	case KETEN_E_NOT_OFFEREE:
		return "not the offer's recipient";
	case KETEN_E_OFFER_OPEN:
		return "the case has an open offer";
	case KETEN_E_WRONG_PARTY:
		return "message addressed to the wrong agency";
	case KETEN_E_CASE_FULL:
		return "too many agencies in the case";
	case KETEN_E_ACKNOWLEDGED:
		return "offer already acknowledged";
	}
	return "unknown error";
}

int
error_set(struct keten_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

void
error_clear(struct keten_error *err)
{
	if (err == NULL)
		return;
	err->code = KETEN_OK;
	err->message[0] = '\0';
}
