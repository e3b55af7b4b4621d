/* waitlist.c - the waitlist of capacity.md: queues, positions, expiry and the outcome mailbox. */
#include "waitlist.h"

#include <stdlib.h>
#include <string.h>

#include "dict.h"

/*
 * How the waitlist is kept.
 *
 * 1. Every waiting entry sits in the FIFO of its (class, needs) pair, a
 *    doubly linked list, so a cancel in the middle is O(1).  The non-empty
 *    queues are kept in an array sorted by the arrival number of their
 *    head (qord).  A match walks that array and asks only the heads: O(Q).
 *    A new entry joins a queue at its tail, and a new queue has the newest
 *    head of all, so it goes to the end of qord; only the removal of a head
 *    moves a queue, towards the end, by a short walk.
 *
 * 2. Positions come from a Fenwick tree over "slots": each waiting entry
 *    takes the next slot when it arrives and the tree counts the waiting
 *    entries per slot, so the entries ahead of one are a prefix sum,
 *    O(log n).  Slot order is arrival order.  When the slots run out, the
 *    waiting entries (also linked in one list in arrival order) are
 *    renumbered 1..n and the tree is rebuilt in O(size); the tree is then
 *    sized to at least twice n, so a rebuild comes at most every n + 2
 *    arrivals, O(1) amortized.  Arrival numbers (seq) are never renumbered:
 *    they are what the journal and snapshots record.
 *
 * 3. Two binary min-heaps: waiting entries by (expires_at, seq), for the
 *    expiry timer, and kept outcomes by (outcome_at, seq), for forgetting.
 *    An entry is in exactly one of them, and its key in both cases is
 *    ent_key() below, so one set of heap functions serves both.  Outcome
 *    times need not arrive in order (an expiry found at start-up is dated
 *    back to its expires_at), which is why this is a heap and not a list.
 *
 * 4. Nothing but an add or a restore allocates.  Each reserves everything
 *    it could need before it changes anything: room in both heaps for
 *    every entry (so an entry moving from waiting to outcome never needs
 *    memory), a slot in qord, a Fenwick slot, the record, the queue and the
 *    dict entries.  Assign, cancel, expire and prune therefore cannot fail
 *    for memory, and a failed add leaves the waitlist as it was.
 */

#define FW_MIN 16		/* smallest Fenwick tree (slots) */
#define HEAP_MIN 16		/* smallest heap array */
#define QKEY_SZ 25		/* 8 hex digits of the class, 16 of the needs */

struct wl_queue {
	int cls;
	uint64_t needs;
	struct wl_ent *head, *tail;
	size_t n;
	size_t ord;		/* index in waitlist.qord */
	char key[QKEY_SZ];	/* the queues dict borrows it */
};

struct wl_ent {
	struct waitlist_entry e;	/* first: the caller's view casts back */
	struct wl_queue *q;		/* waiting: its queue; else NULL */
	struct wl_ent *qprev, *qnext;	/* waiting: neighbours in the queue */
	struct wl_ent *aprev, *anext;	/* waiting: neighbours by arrival */
	size_t hidx;			/* index in the heap it is in */
	size_t slot;			/* waiting: Fenwick slot (1-based) */
};

struct wl_heap {
	struct wl_ent **a;
	size_t n, cap;
};

struct waitlist {
	struct waitlist_limits lim;
	uint64_t next_seq;

	dict *by_id;			/* id -> entry, waiting and kept outcomes */
	dict *by_plate;			/* plate -> entry, waiting only */
	dict *queues;			/* queue key -> non-empty queue */

	struct wl_ent *first, *last;	/* waiting, arrival order */
	size_t nwaiting;

	struct wl_queue **qord;		/* non-empty queues by head seq */
	size_t nq, qcap;

	/*
	 * Invariants that make transitions allocation-free:
	 * expiry.cap >= nwaiting and outcomes.cap >= nwaiting + outcomes.n.
	 */
	struct wl_heap expiry;		/* waiting, by (expires_at, seq) */
	struct wl_heap outcomes;	/* kept outcomes, by (outcome_at, seq) */

	uint32_t *fw;			/* [fwcap + 1], fw[0] unused */
	size_t fwcap;
	size_t fwnext;			/* the next free slot */
};

static const char *const state_names[] = {
	[WAITLIST_WAITING] = "waiting",
	[WAITLIST_ASSIGNED] = "assigned",
	[WAITLIST_EXPIRED] = "expired",
	[WAITLIST_CANCELLED] = "cancelled",
};

const char *
waitlist_state_name(enum waitlist_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[s];
}

/* ---- argument checks ---- */

static int
limits_ok(const struct waitlist_limits *lim)
{
	return lim != NULL && lim->max_depth <= WAITLIST_MAX_DEPTH &&
	    lim->max_timeout_s >= 1 &&
	    lim->max_timeout_s <= WAITLIST_MAX_TIMEOUT_S &&
	    lim->keep_outcomes_s >= 0 &&
	    lim->keep_outcomes_s <= WAITLIST_MAX_KEEP_S;
}

static int
time_ok(int64_t t)
{
	return t >= WAITLIST_TIME_MIN && t <= WAITLIST_TIME_MAX;
}

/*
 * Copies a canonical UUID text to out in lower case (ids are compared as
 * strings, and either case names the same id).  -1 when s is not one.
 */
static int
id_fold(const char *s, char out[UUID_BUFSZ])
{
	unsigned char raw[16];

	if (s == NULL || strnlen(s, UUID_BUFSZ) != UUID_STRLEN ||
	    uuid_parse(s, raw) != 0)
		return -1;
	for (size_t i = 0; i <= UUID_STRLEN; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') :
		    s[i];
	return 0;
}

static int
plate_ok(const char *p)
{
	size_t n;

	if (p == NULL)
		return 0;
	n = strnlen(p, PLATE_BUFSZ);
	return n >= 1 && n <= PLATE_MAX;
}

static struct wl_ent *
ent_of(const struct waitlist_entry *e)
{
	/* The view is the first member of the record it belongs to. */
	return (struct wl_ent *)(uintptr_t)e;
}

/* ---- heaps ---- */

static int64_t
ent_key(const struct wl_ent *x)
{
	return x->e.state == WAITLIST_WAITING ? x->e.expires_at :
	    x->e.outcome_at;
}

static int
ent_before(const struct wl_ent *x, const struct wl_ent *y)
{
	int64_t kx = ent_key(x), ky = ent_key(y);

	return kx < ky || (kx == ky && x->e.seq < y->e.seq);
}

static void
heap_place(struct wl_heap *h, size_t i, struct wl_ent *x)
{
	h->a[i] = x;
	x->hidx = i;
}

static void
heap_up(struct wl_heap *h, size_t i)
{
	struct wl_ent *x = h->a[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!ent_before(x, h->a[p]))
			break;
		heap_place(h, i, h->a[p]);
		i = p;
	}
	heap_place(h, i, x);
}

static void
heap_down(struct wl_heap *h, size_t i)
{
	struct wl_ent *x = h->a[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && ent_before(h->a[c + 1], h->a[c]))
			c++;
		if (!ent_before(h->a[c], x))
			break;
		heap_place(h, i, h->a[c]);
		i = c;
	}
	heap_place(h, i, x);
}

/* The caller has made room (h->cap > h->n). */
static void
heap_push(struct wl_heap *h, struct wl_ent *x)
{
	heap_place(h, h->n++, x);
	heap_up(h, h->n - 1);
}

static void
heap_remove(struct wl_heap *h, struct wl_ent *x)
{
	size_t i = x->hidx;
	struct wl_ent *last = h->a[--h->n];

	if (i == h->n)
		return;
	heap_place(h, i, last);
	heap_down(h, i);
	heap_up(h, last->hidx);
}

/* Makes room for at least need entries; -1 (heap unchanged) when out of memory. */
static int
heap_reserve(struct wl_heap *h, size_t need)
{
	size_t cap = h->cap > 0 ? h->cap : HEAP_MIN;
	struct wl_ent **a;

	if (need <= h->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	a = realloc(h->a, cap * sizeof(*a));
	if (a == NULL)
		return -1;
	h->a = a;
	h->cap = cap;
	return 0;
}

/* Gives back memory after a large drop; keeps at least need.  Cannot fail. */
static void
heap_trim(struct wl_heap *h, size_t need)
{
	size_t cap = HEAP_MIN;
	struct wl_ent **a;

	while (cap < 2 * need)
		cap *= 2;
	if (h->cap <= 4 * cap)
		return;
	a = realloc(h->a, cap * sizeof(*a));
	if (a == NULL)
		return;		/* keeping the bigger array is fine */
	h->a = a;
	h->cap = cap;
}

/* ---- the Fenwick tree of waiting slots ---- */

static size_t
lowbit(size_t i)
{
	return i & (~i + 1);
}

static void
fw_add(waitlist *wl, size_t i, int up)
{
	for (; i <= wl->fwcap; i += lowbit(i))
		wl->fw[i] = up ? wl->fw[i] + 1 : wl->fw[i] - 1;
}

/* Waiting entries in slots 1..i. */
static size_t
fw_sum(const waitlist *wl, size_t i)
{
	size_t s = 0;

	for (; i > 0; i -= lowbit(i))
		s += wl->fw[i];
	return s;
}

/*
 * Makes sure the next arrival has a slot: when they have run out,
 * renumbers the waiting entries 1..n in arrival order into a tree of at
 * least twice n + 1 slots.  -1 (nothing changed) when out of memory.
 */
static int
fw_reserve(waitlist *wl)
{
	size_t need = wl->nwaiting + 1, cap = FW_MIN, slot = 0;
	uint32_t *fw = wl->fw;

	if (wl->fwnext <= wl->fwcap)
		return 0;
	while (cap < 2 * need)
		cap *= 2;
	if (cap != wl->fwcap) {
		fw = calloc(cap + 1, sizeof(*fw));
		if (fw == NULL) {
			/* A smaller tree was only to save memory. */
			if (cap > wl->fwcap)
				return -1;
			fw = wl->fw;
			cap = wl->fwcap;
		}
	}
	if (fw != wl->fw) {
		free(wl->fw);
		wl->fw = fw;
		wl->fwcap = cap;
	}
	memset(wl->fw, 0, (wl->fwcap + 1) * sizeof(*wl->fw));
	for (struct wl_ent *x = wl->first; x != NULL; x = x->anext) {
		x->slot = ++slot;
		wl->fw[slot] = 1;
	}
	/* Linear build: each node passes its sum up to its parent. */
	for (size_t i = 1; i <= wl->fwcap; i++) {
		size_t p = i + lowbit(i);
		if (p <= wl->fwcap)
			wl->fw[p] += wl->fw[i];
	}
	wl->fwnext = slot + 1;
	return 0;
}

/* ---- queues ---- */

/* The queues dict's key of a pair: fixed-width hex, cheaper than printf. */
static void
queue_key(int cls, uint64_t needs, char out[QKEY_SZ])
{
	static const char hex[] = "0123456789abcdef";
	uint32_t c = (uint32_t)cls;
	int k = 0;

	for (int sh = 28; sh >= 0; sh -= 4)
		out[k++] = hex[(c >> sh) & 0xf];
	for (int sh = 60; sh >= 0; sh -= 4)
		out[k++] = hex[(needs >> sh) & 0xf];
	out[k] = '\0';
}

static uint64_t
head_seq(const struct wl_queue *q)
{
	return q->head->e.seq;
}

/* Removes the (now empty) queue at qord[i] and frees it. */
static void
queue_drop(waitlist *wl, struct wl_queue *q)
{
	for (size_t i = q->ord; i + 1 < wl->nq; i++) {
		wl->qord[i] = wl->qord[i + 1];
		wl->qord[i]->ord = i;
	}
	wl->nq--;
	dict_del(wl->queues, q->key);
	free(q);
}

/* q's head was replaced by a later one: move q towards the end of qord. */
static void
queue_resort(waitlist *wl, struct wl_queue *q)
{
	size_t i = q->ord;
	uint64_t s = head_seq(q);

	while (i + 1 < wl->nq && head_seq(wl->qord[i + 1]) < s) {
		wl->qord[i] = wl->qord[i + 1];
		wl->qord[i]->ord = i;
		i++;
	}
	wl->qord[i] = q;
	q->ord = i;
}

/* ---- life and death ---- */

waitlist *
waitlist_new(const struct waitlist_limits *lim)
{
	waitlist *wl;

	if (!limits_ok(lim))
		return NULL;
	wl = calloc(1, sizeof(*wl));
	if (wl == NULL)
		return NULL;
	wl->lim = *lim;
	wl->next_seq = 1;
	wl->fwnext = 1;		/* fwcap 0: the first add sizes the tree */
	wl->by_id = dict_new();
	wl->by_plate = dict_new();
	wl->queues = dict_new();
	if (wl->by_id == NULL || wl->by_plate == NULL || wl->queues == NULL) {
		waitlist_free(wl);
		return NULL;
	}
	return wl;
}

void
waitlist_free(waitlist *wl)
{
	if (wl == NULL)
		return;
	for (size_t i = 0; i < wl->expiry.n; i++)
		free(wl->expiry.a[i]);
	for (size_t i = 0; i < wl->outcomes.n; i++)
		free(wl->outcomes.a[i]);
	for (size_t i = 0; i < wl->nq; i++)
		free(wl->qord[i]);
	free(wl->expiry.a);
	free(wl->outcomes.a);
	free(wl->qord);
	free(wl->fw);
	dict_free(wl->by_id);
	dict_free(wl->by_plate);
	dict_free(wl->queues);
	free(wl);
}

pk_err
waitlist_set_limits(waitlist *wl, const struct waitlist_limits *lim)
{
	if (!limits_ok(lim))
		return PK_E_INVALID_PARAMS;
	wl->lim = *lim;
	return PK_OK;
}

void
waitlist_limits(const waitlist *wl, struct waitlist_limits *lim)
{
	*lim = wl->lim;
}

/* ---- entering ---- */

/*
 * Reserves what one more entry needs and links img in as waiting.
 * Everything that can fail comes before the first change.
 */
static pk_err
enter_waiting(waitlist *wl, const struct waitlist_entry *img,
    struct wl_ent **out)
{
	char key[QKEY_SZ];
	struct wl_queue *q, *newq = NULL;
	struct wl_ent *x;

	if (heap_reserve(&wl->expiry, wl->nwaiting + 1) != 0 ||
	    heap_reserve(&wl->outcomes, wl->nwaiting + wl->outcomes.n + 1) != 0)
		return PK_E_INTERNAL;
	if (wl->nq == wl->qcap) {
		size_t cap = wl->qcap > 0 ? 2 * wl->qcap : 8;
		struct wl_queue **a = realloc(wl->qord, cap * sizeof(*a));
		if (a == NULL)
			return PK_E_INTERNAL;
		wl->qord = a;
		wl->qcap = cap;
	}
	if (fw_reserve(wl) != 0)
		return PK_E_INTERNAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return PK_E_INTERNAL;
	x->e = *img;
	queue_key(img->cls, img->needs, key);
	q = dict_get(wl->queues, key);
	if (q == NULL) {
		newq = calloc(1, sizeof(*newq));
		if (newq == NULL)
			goto fail;
		newq->cls = img->cls;
		newq->needs = img->needs;
		memcpy(newq->key, key, sizeof(key));
		q = newq;
	}
	if (dict_set(wl->by_id, x->e.id, x) != 0)
		goto fail;
	if (dict_set(wl->by_plate, x->e.plate, x) != 0) {
		dict_del(wl->by_id, x->e.id);
		goto fail;
	}
	if (newq != NULL && dict_set(wl->queues, newq->key, newq) != 0) {
		dict_del(wl->by_plate, x->e.plate);
		dict_del(wl->by_id, x->e.id);
		goto fail;
	}

	/* From here on nothing can fail. */
	if (newq != NULL) {
		newq->ord = wl->nq;
		wl->qord[wl->nq++] = newq;
	}
	x->q = q;
	x->qprev = q->tail;
	if (q->tail != NULL)
		q->tail->qnext = x;
	else
		q->head = x;
	q->tail = x;
	q->n++;
	x->aprev = wl->last;
	if (wl->last != NULL)
		wl->last->anext = x;
	else
		wl->first = x;
	wl->last = x;
	x->slot = wl->fwnext++;
	fw_add(wl, x->slot, 1);
	heap_push(&wl->expiry, x);
	wl->nwaiting++;
	if (x->e.seq >= wl->next_seq)
		wl->next_seq = x->e.seq + 1;
	*out = x;
	return PK_OK;

fail:
	free(newq);
	free(x);
	return PK_E_INTERNAL;
}

pk_err
waitlist_add(waitlist *wl, const struct waitlist_add_in *in, int64_t now,
    const struct waitlist_entry **out, int *existing)
{
	struct waitlist_entry img;
	struct wl_ent *x;
	pk_err err;

	*out = NULL;
	*existing = 0;
	if (in == NULL || !plate_ok(in->plate) || in->cls < 0 || in->gate < 0 ||
	    !time_ok(now) || in->timeout_s < 1 ||
	    in->timeout_s > wl->lim.max_timeout_s ||
	    !time_ok(now + in->timeout_s))
		return PK_E_INVALID_PARAMS;
	memset(&img, 0, sizeof(img));
	if (id_fold(in->id, img.id) != 0)
		return PK_E_INVALID_PARAMS;
	if ((x = dict_get(wl->by_plate, in->plate)) != NULL) {
		*out = &x->e;
		*existing = 1;
		return PK_OK;
	}
	if (wl->nwaiting >= wl->lim.max_depth)
		return PK_E_QUEUE_FULL;
	if (dict_get(wl->by_id, img.id) != NULL)
		return PK_E_INVALID_PARAMS;
	memcpy(img.plate, in->plate, strnlen(in->plate, PLATE_MAX) + 1);
	img.state = WAITLIST_WAITING;
	img.cls = in->cls;
	img.needs = in->needs;
	img.gate = in->gate;
	img.seq = wl->next_seq;
	img.queued_at = now;
	img.expires_at = now + in->timeout_s;
	err = enter_waiting(wl, &img, &x);
	if (err == PK_OK)
		*out = &x->e;
	return err;
}

/* ---- leaving the queue ---- */

/* Unlinks a waiting entry from everything that holds waiting entries. */
static void
unwait(waitlist *wl, struct wl_ent *x)
{
	struct wl_queue *q = x->q;
	int was_head = q->head == x;

	if (x->qprev != NULL)
		x->qprev->qnext = x->qnext;
	else
		q->head = x->qnext;
	if (x->qnext != NULL)
		x->qnext->qprev = x->qprev;
	else
		q->tail = x->qprev;
	q->n--;
	if (q->n == 0)
		queue_drop(wl, q);
	else if (was_head)
		queue_resort(wl, q);
	x->q = NULL;
	x->qprev = x->qnext = NULL;

	if (x->aprev != NULL)
		x->aprev->anext = x->anext;
	else
		wl->first = x->anext;
	if (x->anext != NULL)
		x->anext->aprev = x->aprev;
	else
		wl->last = x->aprev;
	x->aprev = x->anext = NULL;

	fw_add(wl, x->slot, 0);
	x->slot = 0;
	dict_del(wl->by_plate, x->e.plate);
	heap_remove(&wl->expiry, x);
	wl->nwaiting--;
}

/* Waiting -> an outcome; room in the outcome heap is guaranteed. */
static void
settle(waitlist *wl, struct wl_ent *x, enum waitlist_state st, int64_t at)
{
	unwait(wl, x);
	x->e.state = st;
	x->e.outcome_at = at;
	heap_push(&wl->outcomes, x);
}

static struct wl_ent *
lookup(const waitlist *wl, const char *id)
{
	char key[UUID_BUFSZ];

	if (id_fold(id, key) != 0)
		return NULL;
	return dict_get(wl->by_id, key);
}

const struct waitlist_entry *
waitlist_match(const waitlist *wl, waitlist_fits_fn fits, void *ud)
{
	for (size_t i = 0; i < wl->nq; i++) {
		const struct wl_queue *q = wl->qord[i];
		if (fits(ud, q->cls, q->needs, q->head->e.gate))
			return &q->head->e;
	}
	return NULL;
}

pk_err
waitlist_assign(waitlist *wl, const char *id, const char *ticket, int64_t at)
{
	char tk[UUID_BUFSZ];
	struct wl_ent *x;

	if (id_fold(ticket, tk) != 0 || !time_ok(at))
		return PK_E_INVALID_PARAMS;
	if ((x = lookup(wl, id)) == NULL)
		return PK_E_NOT_FOUND;
	if (x->e.state != WAITLIST_WAITING)
		return PK_E_INVALID_PARAMS;
	memcpy(x->e.ticket, tk, sizeof(tk));
	settle(wl, x, WAITLIST_ASSIGNED, at);
	return PK_OK;
}

pk_err
waitlist_cancel(waitlist *wl, const char *id, int64_t at,
    const struct waitlist_entry **out, int *changed)
{
	struct wl_ent *x;

	*out = NULL;
	*changed = 0;
	if (!time_ok(at))
		return PK_E_INVALID_PARAMS;
	if ((x = lookup(wl, id)) == NULL)
		return PK_E_NOT_FOUND;
	if (x->e.state == WAITLIST_WAITING) {
		settle(wl, x, WAITLIST_CANCELLED, at);
		*changed = 1;
	}
	*out = &x->e;
	return PK_OK;
}

pk_err
waitlist_expire(waitlist *wl, const char *id)
{
	struct wl_ent *x;

	if ((x = lookup(wl, id)) == NULL)
		return PK_E_NOT_FOUND;
	if (x->e.state != WAITLIST_WAITING)
		return PK_E_INVALID_PARAMS;
	settle(wl, x, WAITLIST_EXPIRED, x->e.expires_at);
	return PK_OK;
}

size_t
waitlist_expire_due(waitlist *wl, int64_t now, waitlist_expired_fn fn,
    void *ud)
{
	size_t n = 0;

	while (wl->expiry.n > 0 && wl->expiry.a[0]->e.expires_at <= now) {
		struct wl_ent *x = wl->expiry.a[0];
		settle(wl, x, WAITLIST_EXPIRED, x->e.expires_at);
		n++;
		if (fn != NULL)
			fn(ud, &x->e);
	}
	return n;
}

size_t
waitlist_prune(waitlist *wl, int64_t now)
{
	size_t n = 0;

	while (wl->outcomes.n > 0 &&
	    wl->outcomes.a[0]->e.outcome_at + wl->lim.keep_outcomes_s < now) {
		struct wl_ent *x = wl->outcomes.a[0];
		heap_remove(&wl->outcomes, x);
		dict_del(wl->by_id, x->e.id);
		free(x);
		n++;
	}
	if (n > 0) {
		heap_trim(&wl->expiry, wl->nwaiting);
		heap_trim(&wl->outcomes, wl->nwaiting + wl->outcomes.n);
	}
	return n;
}

int
waitlist_next_expiry(const waitlist *wl, int64_t *at)
{
	if (wl->expiry.n == 0)
		return -1;
	*at = wl->expiry.a[0]->e.expires_at;
	return 0;
}

const struct waitlist_entry *
waitlist_next_expiring(const waitlist *wl)
{
	return wl->expiry.n > 0 ? &wl->expiry.a[0]->e : NULL;
}

int
waitlist_next_due(const waitlist *wl, int64_t *at)
{
	int64_t t;
	int have = waitlist_next_expiry(wl, &t) == 0;

	if (wl->outcomes.n > 0) {
		int64_t f = wl->outcomes.a[0]->e.outcome_at +
		    wl->lim.keep_outcomes_s + 1;
		if (!have || f < t)
			t = f;
		have = 1;
	}
	if (!have)
		return -1;
	*at = t;
	return 0;
}

/* ---- look-ups ---- */

const struct waitlist_entry *
waitlist_get(const waitlist *wl, const char *id)
{
	struct wl_ent *x = lookup(wl, id);

	return x != NULL ? &x->e : NULL;
}

const struct waitlist_entry *
waitlist_waiting_plate(const waitlist *wl, const char *plate)
{
	struct wl_ent *x;

	if (!plate_ok(plate))
		return NULL;
	x = dict_get(wl->by_plate, plate);
	return x != NULL ? &x->e : NULL;
}

size_t
waitlist_position(const waitlist *wl, const struct waitlist_entry *e)
{
	if (e == NULL || e->state != WAITLIST_WAITING)
		return 0;
	return fw_sum(wl, ent_of(e)->slot);
}

size_t
waitlist_waiting_count(const waitlist *wl)
{
	return wl->nwaiting;
}

size_t
waitlist_outcome_count(const waitlist *wl)
{
	return wl->outcomes.n;
}

size_t
waitlist_queue_count(const waitlist *wl)
{
	return wl->nq;
}

/* ---- snapshots and replay ---- */

const struct waitlist_entry *
waitlist_iter_next(const waitlist *wl, struct waitlist_iter *it)
{
	if (it->phase == 0) {
		const struct wl_ent *x = it->i == 0 ? wl->first :
		    ((const struct wl_ent *)it->p)->anext;
		it->i = 1;
		it->p = x;
		if (x != NULL)
			return &x->e;
		it->phase = 1;
		it->i = 0;
	}
	if (it->phase == 1 && it->i < wl->outcomes.n)
		return &wl->outcomes.a[it->i++]->e;
	it->phase = 2;
	return NULL;
}

uint64_t
waitlist_next_seq(const waitlist *wl)
{
	return wl->next_seq;
}

void
waitlist_restore_seq(waitlist *wl, uint64_t seq)
{
	if (seq > wl->next_seq)
		wl->next_seq = seq;
}

pk_err
waitlist_restore(waitlist *wl, const struct waitlist_entry *img)
{
	struct waitlist_entry e;
	struct wl_ent *x;

	if (img == NULL || !plate_ok(img->plate) || img->cls < 0 ||
	    img->gate < 0 || img->seq == 0 || img->seq == UINT64_MAX ||
	    !time_ok(img->queued_at) || !time_ok(img->expires_at) ||
	    img->expires_at <= img->queued_at)
		return PK_E_INVALID_PARAMS;
	memset(&e, 0, sizeof(e));
	if (id_fold(img->id, e.id) != 0 || lookup(wl, e.id) != NULL)
		return PK_E_INVALID_PARAMS;
	memcpy(e.plate, img->plate, strnlen(img->plate, PLATE_MAX) + 1);
	e.state = img->state;
	e.cls = img->cls;
	e.needs = img->needs;
	e.gate = img->gate;
	e.seq = img->seq;
	e.queued_at = img->queued_at;
	e.expires_at = img->expires_at;

	switch (img->state) {
	case WAITLIST_WAITING:
		if (img->outcome_at != 0 || img->ticket[0] != '\0' ||
		    dict_get(wl->by_plate, e.plate) != NULL ||
		    (wl->last != NULL && img->seq <= wl->last->e.seq))
			return PK_E_INVALID_PARAMS;
		return enter_waiting(wl, &e, &x);
	case WAITLIST_ASSIGNED:
		if (id_fold(img->ticket, e.ticket) != 0)
			return PK_E_INVALID_PARAMS;
		break;
	case WAITLIST_EXPIRED:
	case WAITLIST_CANCELLED:
		if (img->ticket[0] != '\0')
			return PK_E_INVALID_PARAMS;
		break;
	default:
		return PK_E_INVALID_PARAMS;
	}
	if (!time_ok(img->outcome_at))
		return PK_E_INVALID_PARAMS;
	e.outcome_at = img->outcome_at;

	if (heap_reserve(&wl->outcomes, wl->nwaiting + wl->outcomes.n + 1) != 0)
		return PK_E_INTERNAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return PK_E_INTERNAL;
	x->e = e;
	if (dict_set(wl->by_id, x->e.id, x) != 0) {
		free(x);
		return PK_E_INTERNAL;
	}
	heap_push(&wl->outcomes, x);
	if (x->e.seq >= wl->next_seq)
		wl->next_seq = x->e.seq + 1;
	return PK_OK;
}
