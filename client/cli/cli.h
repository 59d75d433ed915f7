/*
 * The keten command-line tool: shared options, exit codes and output
 * helpers. Uses only the public keten.h, like any agency system would.
 */
#ifndef KETEN_CLI_H
#define KETEN_CLI_H

#include <stdio.h>

#include "keten.h"

/* Exit codes: what a script can rely on. */
#define EXIT_OK      0
#define EXIT_REFUSED 1 /* the broker refused, or a verification failed */
#define EXIT_USAGE   2 /* bad arguments, config or key file */
#define EXIT_CONNECT 3 /* cannot reach the broker */

/* --config/--key, defaulting to $KETEN_CONFIG / $KETEN_KEY. */
struct cli_common {
	const char *config;
	const char *key;
	int timeout_ms;
	int json;
	const char *state;       /* --state: NULL for the key file's default */
	const char *old_keys[8]; /* --old-key FILE, repeatable */
	size_t n_old_keys;
};

/* Handles a common option; returns 1 if ch was one, 0 if not. */
int cli_common_option(struct cli_common *o, int ch, const char *arg);
void cli_common_defaults(struct cli_common *o);
/* Connects as the key's agency; on failure prints why and exits with its
 * status (2 usage or bad files, 3 cannot connect). */
struct keten_client *cli_connect(const struct cli_common *o);
/* Prints "keten VERB: message" and returns the exit code for err. */
int cli_fail(const char *verb, const struct keten_error *err);
/* The exit code for an error code. */
int cli_exit_code(int code);

/* Common long options, to splice into each verb's table. */
#define CLI_OPT_STATE   0x100 /* --state has no short form */
#define CLI_OPT_OLD_KEY 0x101 /* nor --old-key */
#define CLI_COMMON_OPTIONS                                                     \
	{"config", required_argument, NULL, 'c'},                              \
	    {"key", required_argument, NULL, 'k'},                             \
	    {"timeout", required_argument, NULL, 'T'},                         \
	    {"state", required_argument, NULL, CLI_OPT_STATE},                 \
	    {"old-key", required_argument, NULL, CLI_OPT_OLD_KEY},             \
	{                                                                      \
		"json", no_argument, NULL, 'j'                                 \
	}
#define CLI_COMMON_SHORT "c:k:"
#define CLI_COMMON_HELP                                                        \
	"  -c, --config FILE   region config (default $KETEN_CONFIG)\n"        \
	"  -k, --key FILE      this agency's key file (default $KETEN_KEY)\n"  \
	"      --timeout SEC   how long to wait for the broker (default 10)\n" \
	"      --state FILE    the newest checkpoint seen (default: the key\n" \
	"                      file's path + '.checkpoint')\n"                 \
	"      --old-key FILE  an earlier key file of this agency, to open\n"  \
	"                      what was sealed to it (repeatable)\n"           \
	"      --json          machine-readable output\n"                      \
	"  -h, --help          this text\n"

/* ---- text from elsewhere (cli_text.c) ---- */

/*
 * Every string the CLI prints that another agency, the broker or the
 * library chose goes through one of these three. For a person: valid
 * UTF-8 passes unchanged, a tab becomes a space, and each byte of a control
 * character (C0, DEL, C1) or of invalid UTF-8 is shown as \xNN, so
 * nothing reaches the terminal that it would act on.
 */
/* s as one line: a line break is a control character too. NULL: nothing. */
void cli_put_text(FILE *f, const char *s);
/* s as lines: trailing line breaks are dropped, a line break (LF or CRLF)
 * starts a new line indented by indent spaces. NULL: nothing. */
void cli_put_lines(FILE *f, const char *s, int indent);
/* JSON output: s quoted, always valid JSON. Control characters are escaped
 * (\u00XX, or \n and \t), each invalid UTF-8 byte becomes \ufffd; NULL is
 * "". */
void json_str(FILE *f, const char *s);
/* Whether the n bytes at s are valid UTF-8 (shortest forms, no
 * surrogates). */
int cli_utf8_valid(const char *s, size_t n);
int cmd_keygen(int argc, char **argv);
int cmd_witness(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_ack(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_audit(int argc, char **argv);
/* Lists the audit verbs, one a line after indent: "audit VERB summary". */
void cli_audit_verbs(FILE *f, const char *indent);
/* acknowledge, accept, decline, handover, withdraw, ask, answer, feedback,
 * close: one function, argv[0] says which step (step.c). */
int cmd_step(int argc, char **argv);
int cmd_cases(int argc, char **argv);
int cmd_case(int argc, char **argv);

/* ---- messages (inbox.c) ---- */

/* Prints one delivered message to stdout as 'keten inbox' shows it: for a
 * person, a header line and the opened content indented below it (or why
 * it failed verification); with json, one JSON object on one line. */
void cli_message_print(const struct keten_message *m, int json);
/* Says on stderr that message m, which did not verify, stops the cursor
 * before it, why, and what to do; then says what keten does next. */
void cli_unverified(const char *verb, const struct keten_message *m,
                    const char *then);
/* Skips message i of in as proven forged (keten_inbox_skip_forged) and
 * says so on stderr, naming the file it is recorded in (key + ".skipped");
 * else returns the library's code with err set. */
int cli_skip_forged(const char *verb, struct keten_inbox *in, size_t i,
                    struct keten_client *c, const char *key,
                    struct keten_error *err);

/* ---- stopping a follow on a signal (cli_stop.c) ---- */

/*
 * For verbs that follow the broker until told to stop (keten watch, keten
 * audit replay --follow). cli_stop_install makes SIGINT and SIGTERM ask
 * for a stop. While the verb is busy (cli_stop_busy(1): writing a message
 * out, acknowledging it) the signal only sets the flag, which the verb
 * checks when the message is done. While it is idle (cli_stop_busy(0),
 * the default: waiting for the broker, its output flushed) the signal
 * ends the process at once with status 0, as nothing is half done then:
 * the library retries its waits after EINTR, so a flag alone would wait
 * out the whole wait. A second signal of the same kind ends it at once,
 * busy or not (default action).
 */
void cli_stop_install(void);
/* Whether SIGINT or SIGTERM asked for a stop. */
int cli_stop_asked(void);
void cli_stop_busy(int busy);

/* ---- times (cli_time.c) ---- */

/* Microseconds since the epoch, by this machine's clock. */
int64_t cli_time_now(void);
/* An ISO 8601 UTC time from microseconds since the epoch. */
void cli_time(char out[32], int64_t us);
/* Parses a moment: ISO 8601 UTC "2026-11-30T17:00:00Z", or a span from
 * now_us, "+DURATION" or "-DURATION" in keten's one duration grammar
 * (keten_duration_add: "+2d", "-90s", "+5wd"). 0, or -1 if arg is
 * neither; err's message then says why a span's duration was refused, and
 * is empty if arg was no span. */
int cli_time_parse(int64_t *us, struct keten_error *err, const char *arg,
                   int64_t now_us);
/* Prints why cli_time_parse refused arg, given to --OPT of VERB: the
 * duration grammar's sentence, or "takes FORMS, not 'ARG'". */
void cli_time_refused(const char *verb, const char *opt, const char *forms,
                      const char *arg, const struct keten_error *err);
/* cli_time_parse for --at, from now; on failure prints "keten VERB: --at
 * takes ..." and returns -1. */
int cli_time_parse_at(int64_t *at_us, const char *verb, const char *arg);
/* A span as a person reads it: "3d4h", "2h13m", "15m", "40s". */
void cli_time_span(char out[32], int64_t us);
/* "2h ago", or "in 2h" when then_us lies after at_us: for due times. */
void cli_time_ago(char out[40], int64_t then_us, int64_t at_us);
/* The age of a record time, never negative: "3d4h", or "0s" when then_us
 * lies after at_us (a clock behind). */
void cli_time_age(char out[32], int64_t then_us, int64_t at_us);
/* How long ago a record time was: "2h ago", or "in the future (clock
 * behind?)" when then_us lies after at_us. */
void cli_time_since(char out[40], int64_t then_us, int64_t at_us);
/* JSON output: ,"key":"2026-11-30T17:00:00Z", or ,"key":null for 0. */
void cli_time_json(const char *key, int64_t us);

/* ---- word lists a person types (cli_words.c) ---- */

/* The lists: decline reasons and outcomes hold libketen's words (its
 * keten_*_name functions), urgencies the CLI's own; NONE has no words. */
enum cli_words {
	CLI_WORDS_NONE,
	CLI_WORDS_REASON,
	CLI_WORDS_OUTCOME,
	CLI_WORDS_URGENCY
};

/* "routine", "urgent", "immediate"; "?" if unknown. */
const char *cli_words_urgency(enum keten_urgency u);
/* The urgency named word, or 0. */
enum keten_urgency cli_words_urgency_parse(const char *word);
/* For --help: one line per word, indented, its meaning in a column after
 * the longest word (a word with no meaning stands alone). */
void cli_words_help(FILE *f, enum cli_words list, int indent);
/* Prints "keten VERB: --OPT is a, b or c, not 'ARG'" to stderr. */
void cli_words_refused(const char *verb, const char *opt, enum cli_words list,
                       const char *arg);

/* ---- TEXT options (cli_atfile.c) ---- */

/* A TEXT option's value as given in *text: "@FILE" is replaced by FILE's
 * contents, read whole into *loaded (the caller frees it), and "@@..." by
 * "@..."; anything else stays. On a file that cannot be read or is not
 * UTF-8 text, prints "keten VERB: --OPT @FILE: why" and returns -1. */
int cli_atfile_resolve(const char **text, char **loaded, const char *verb,
                       const char *opt);
/* cli_atfile_resolve for every TEXT option of every verb, the one way: a
 * NULL *text (not given) is left alone; a required one that is empty once
 * read prints "keten VERB: --OPT is empty". 0, or -1 when it printed. */
int cli_atfile_text(const char **text, char **loaded, const char *verb,
                    const char *opt, int required);
/* The --help words for TEXT options, the same in every verb. */
#define CLI_TEXT_HELP                                                          \
	"TEXT may be @FILE to read it from a file (UTF-8); write @@ for a\n"   \
	"literal leading @.\n\n"

/* ---- the case views (cases.c) ---- */

/* Prints cases one line each under a header, ages and offers judged at
 * at_us (or, with json, one JSON object per line); with overdue_only,
 * only the overdue ones. Returns how many overdue cases it printed. */
size_t cli_cases_print(const struct keten_case *cs, size_t n, int64_t at_us,
                       int json, int overdue_only);
/* "held", or "closed (OUTCOME)". */
void cli_cases_status(char out[48], const struct keten_case *k);
/* Prints one case as a JSON object, with no line break. */
void cli_cases_json(const struct keten_case *k);

#endif
