/* Jobs and their replies; must never hold a job in two threads at once. */
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"
#include "metrics.h"

const char *
job_peer(const struct job *j)
{
	if (j->agency != NULL)
		return j->agency->id;
	return j->witness != NULL ? j->witness->name : "?";
}

struct job *
job_new(void)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	zmq_msg_init(&j->frame);
	return j;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	zmq_msg_close(&j->frame);
	wire_request_clear(&j->req);
	free(j->out);
	free(j->notice_woke);
	liveconf_release(&j->reload);
	liveconf_release(&j->gen);
	free(j);
}

void
job_reply(struct job *j, struct reply *r, const struct note_key *broker)
{
	free(j->out);
	j->out = NULL;
	j->out_len = 0;
	r->request_id = j->req.request_id ? j->req.request_id : j->peek_id;
	if (wire_reply_encode(&j->out, &j->out_len, r, broker) != KETEN_OK)
		log_err("event=reply_encode_failed"); /* sent as no reply */
}

void
job_reply_error(struct job *j, int code, const char *message)
{
	struct reply r = {.kind = WIRE_REP_ERROR};

	r.error.code = code;
	r.error.message = message;
	metrics_refusal(code);
	job_reply(j, &r, NULL); /* no checkpoint */
}

int
job_send(void *sock, struct job *j, int flags)
{
	return zmq_send(sock, &j, sizeof(j), flags) == sizeof(j) ? 0 : -1;
}

int
job_recv(void *sock, struct job **j, int flags)
{
	int n = zmq_recv(sock, j, sizeof(*j), flags);

	if (n < 0)
		return -1;
	if (n != sizeof(*j))
		fatalx("event=bad_inproc_message bytes=%d", n);
	return 0;
}
