/* commit.c - the one commit step (see commit.h). */
#define LOG_COMPONENT "journal"

#include "commit.h"

#include "journal.h"
#include "log.h"
#include "publish.h"
#include "record.h"
#include "regstore.h"
#include "server.h"

int
commit_changes(struct server *s, const garage *g, const struct changes *ch,
    int acks_earlier, uint64_t *hold)
{
	char id[UUID_BUFSZ];
	uint64_t lsn = 0;

	*hold = 0;
	if (s->journal == NULL)
		return 0;
	for (size_t i = 0; i < ch->n; i++) {
		const char *side = NULL;
		size_t side_len = 0;
		int failed = 0;

		server_new_id(s, id);
		jw_reset(&s->recw);
		record_write(g, &ch->v[i], id, &s->recw);
		/* The registry's share, and its facts for its own store. */
		if (s->regstore != NULL)
			failed = regstore_follow(s->regstore, &ch->v[i], &side,
			    &side_len) != 0;
		if (failed || jw_failed(&s->recw))
			lsn = 0;
		else if (side_len > 0)
			lsn = journal_append_side(s->journal, s->recw.buf,
			    s->recw.len, side, side_len);
		else
			lsn = journal_append(s->journal, s->recw.buf, s->recw.len);
		if (lsn == 0) {
			/* Memory now holds a change the disk will not: undo it by a rebuild. */
			log_err("could not journal a change, rebuilding the state from disk");
			journal_force_failure(s->journal, "append: out of memory");
			return -1;
		}
		*hold = lsn;
		publish_change(s, &ch->v[i], s->recw.buf, s->recw.len, lsn);
	}
	if (s->regstore != NULL)
		regstore_committed(s->regstore, ch);
	/* An answer about an earlier change waits for whatever is not yet durable. */
	if (acks_earlier && journal_last(s->journal) > *hold)
		*hold = journal_last(s->journal);
	return 0;
}
