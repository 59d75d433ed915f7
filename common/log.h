/*
 * One log line per event, strict logfmt (ts=... level=... prog=...
 * event=... key=value), to stderr for the journal. Never log content,
 * secrets or a BSN: only routing metadata.
 */
#ifndef KETEN_LOG_H
#define KETEN_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/*
 * Sets the program name and the level, and whether stderr is the systemd
 * journal ($JOURNAL_STREAM is "DEV:INODE" of stderr, systemd.exec(5)):
 * then every line begins with its kernel-style priority, <3> error, <4>
 * warn, <6> info, <7> debug (<2> fatalx), which journald stores as the
 * priority and strips; what follows stays logfmt.
 */
void log_init(const char *progname, enum log_level level);
/*
 * fmt is a sequence of key=value fields, keys lower_snake, values bare
 * (no space, quote, '=' or control byte) or written by log_q. The line
 * is prefixed "ts=YYYY-MM-DDTHH:MM:SS.mmmZ level=L prog=P "; a control
 * byte that reaches it anyway is written as '?'.
 */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* For broken invariants only (bugs), never for bad input. */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * s as a logfmt value for a "%s": bare if it is non-empty and holds no
 * space, '"', '=', '\' or control byte; else in double quotes with '"',
 * '\', newline, tab and CR escaped (\" \\ \n \t \r) and other control
 * bytes as \xHH. Cut (still closed) past LOG_Q_MAX bytes. The result
 * lives in a thread-local ring of LOG_Q_RING buffers: valid until as
 * many more calls in the same thread, so up to LOG_Q_RING per line.
 */
#define LOG_Q_MAX  512
#define LOG_Q_RING 8
const char *log_q(const char *s);

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
