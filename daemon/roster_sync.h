/*
 * The broker records the roster its config asks for (docs/PROTOCOL.md
 * 22.7): the difference between the chain's roster and the config, as
 * roster records it signs. Must never write but through store_apply, nor
 * record a change the config refuses.
 */
#ifndef KETEN_ROSTER_SYNC_H
#define KETEN_ROSTER_SYNC_H

#include "config.h"
#include "error.h"
#include "signer.h"
#include "store.h"

/*
 * Records the changes that take the store's roster to what c says
 * (roster_diff): on a log without a roster record the first one (a
 * BROKER change and a JOIN for every agency), else the difference, if
 * any, as one record (a difference of more than WIRE_ROSTER_CHANGES_MAX
 * changes is refused: it is made in steps). Call it
 * from the thread that holds w (ketend's main before the threads start;
 * the writer thread on a reload). Nothing is recorded if the config is
 * refused: roster_diff's sentence, or KETEN_E_CONFIG when an agency to
 * leave still holds a case or an open offer (store_agency_settled).
 */
int roster_sync(struct store *s, struct store_writer *w, const struct config *c,
                struct signer *sg, struct keten_error *err) WUR;

#endif
