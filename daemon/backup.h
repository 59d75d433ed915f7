/*
 * ketend --backup: a verified, compacted copy of a live data directory.
 * Never writes to the live data directory.
 */
#ifndef KETEN_BACKUP_H
#define KETEN_BACKUP_H

/*
 * Copies the data directory of the region config at config_path into
 * dest (store_backup: new or empty, mode 0700; data.mdb mode 0600),
 * verifies the copy with the audit of `keten audit verify`, and prints
 * its path, head (seq and hash) and checkpoint (size, root, time) on
 * stdout. A failure is one sentence on stderr. Returns ketend's exit
 * status: 0 a verified copy, 1 no copy or one that does not verify.
 */
int backup_run(const char *dest, const char *config_path);

#endif
