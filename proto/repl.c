/* repl.c - the replication stream as bytes (see repl.h). */
#include "repl.h"

#include <stdlib.h>
#include <string.h>

#include "jread.h"

void
repl_header(unsigned char out[REPL_HEADER], enum repl_type type, size_t len)
{
	uint32_t n = (uint32_t)len + 1;

	out[0] = (unsigned char)n;
	out[1] = (unsigned char)(n >> 8);
	out[2] = (unsigned char)(n >> 16);
	out[3] = (unsigned char)(n >> 24);
	out[4] = (unsigned char)type;
}

/* ---- reading frames ---- */

int
repl_feed(struct repl_reader *r, const void *data, size_t n)
{
	/* Consumed frames go first, so the buffer holds one frame and a read. */
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		unsigned char *nb;

		while (cap < r->len + n)
			cap *= 2;
		if ((nb = realloc(r->buf, cap)) == NULL)
			return -1;
		r->buf = nb;
		r->cap = cap;
	}
	if (n > 0)
		memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

static int
known_type(unsigned t)
{
	switch (t) {
	case REPL_HELLO: case REPL_ACK: case REPL_WELCOME: case REPL_REFUSED:
	case REPL_STATUS: case REPL_SNAPSHOT: case REPL_DATA: case REPL_RECORDS:
	case REPL_IMAGE: case REPL_SIDE:
		return 1;
	default:
		return 0;
	}
}

int
repl_next(struct repl_reader *r, enum repl_type *type,
    const unsigned char **body, size_t *len)
{
	const unsigned char *p;
	size_t have = r->len - r->off;
	uint32_t n;

	if (have < REPL_HEADER)
		return 0;
	p = r->buf + r->off;
	n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
	/* Judged before waiting for the body: a bad length never buffers. */
	if (n == 0 || n > REPL_MAX_FRAME || !known_type(p[4]))
		return -1;
	if (have < 4 + (size_t)n)
		return 0;
	*type = (enum repl_type)p[4];
	*body = p + REPL_HEADER;
	*len = n - 1;
	r->off += 4 + (size_t)n;
	return 1;
}

size_t
repl_buffered(const struct repl_reader *r)
{
	return r->len - r->off;
}

void
repl_reader_free(struct repl_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* ---- messages ---- */

void
repl_hello_write(struct jw *w, const struct repl_hello *h)
{
	jw_obj(w);
	jw_kstr(w, "token", h->token);
	jw_kuint(w, "last", h->last);
	jw_kuint(w, "epoch", h->epoch);
	jw_kstr(w, "listen", h->listen);
	jw_kstr(w, "facility", h->facility);
	jw_kbool(w, "fence", h->fence);
	jw_obj_end(w);
}

void
repl_info_write(struct jw *w, const struct repl_info *i)
{
	jw_obj(w);
	jw_kuint(w, "epoch", i->epoch);
	jw_kuint(w, "last", i->last);
	jw_kstr(w, "listen", i->listen);
	jw_kstr(w, "audit", i->audit);
	jw_kuint(w, "audit_lsn", i->audit_lsn);
	jw_obj_end(w);
}

void
repl_refusal_write(struct jw *w, const struct repl_refusal *r)
{
	jw_obj(w);
	jw_kstr(w, "reason", r->reason);
	jw_kstr(w, "message", r->message);
	jw_kuint(w, "epoch", r->epoch);
	jw_kstr(w, "listen", r->listen);
	jw_obj_end(w);
}

void
repl_snapshot_write(struct jw *w, const struct repl_snapshot *s)
{
	jw_obj(w);
	jw_kuint(w, "lsn", s->lsn);
	jw_kuint(w, "bytes", s->bytes);
	jw_obj_end(w);
}

void
repl_fence_write(struct jw *w, const struct repl_fence *f)
{
	jw_obj(w);
	jw_kuint(w, "epoch", f->epoch);
	jw_kstr(w, "by", f->by);
	jw_obj_end(w);
}

/* LSNs and counts as JSON carries integers exactly. */
#define NUM_MAX ((int64_t)1 << 53)

/* A required string copied into dst (cap bytes, NUL included). */
static int
get_str(const cJSON *o, const char *key, char *dst, size_t cap, struct jerr *e)
{
	const char *s;

	if (jr_str(o, "", key, JR_REQUIRED, cap - 1, &s, e) < 0)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int
get_u64(const cJSON *o, const char *key, uint64_t *out, struct jerr *e)
{
	int64_t v = 0;

	if (jr_int(o, "", key, JR_REQUIRED, 0, NUM_MAX, &v, e) < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int
get_u32(const cJSON *o, const char *key, uint32_t *out, struct jerr *e)
{
	int64_t v = 0;

	if (jr_int(o, "", key, JR_REQUIRED, 0, UINT32_MAX, &v, e) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Parses body as an object of exactly the members in keys (all required). */
static cJSON *
open_body(const void *body, size_t len, const char *const *keys, struct jerr *e)
{
	cJSON *o = json_parse(body, len, "message", e);

	if (o == NULL)
		return NULL;
	if (jr_object(o, "", NULL, JR_REQUIRED, keys, &(const cJSON *){ NULL },
	    e) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int
repl_hello_read(const void *body, size_t len, struct repl_hello *h,
    struct jerr *e)
{
	static const char *const keys[] = { "token", "last", "epoch", "listen",
	    "facility", "fence", NULL };
	cJSON *o = open_body(body, len, keys, e);
	int rc = -1;

	memset(h, 0, sizeof(*h));
	if (o == NULL)
		return -1;
	if (get_str(o, "token", h->token, sizeof(h->token), e) == 0 &&
	    get_u64(o, "last", &h->last, e) == 0 &&
	    get_u32(o, "epoch", &h->epoch, e) == 0 &&
	    get_str(o, "listen", h->listen, sizeof(h->listen), e) == 0 &&
	    get_str(o, "facility", h->facility, sizeof(h->facility), e) == 0 &&
	    jr_bool(o, "", "fence", JR_REQUIRED, &h->fence, e) > 0)
		rc = 0;
	if (rc == 0 && h->epoch == 0)
		rc = jerr_set(e, "epoch", "must be at least 1");
	cJSON_Delete(o);
	return rc;
}

int
repl_info_read(const void *body, size_t len, struct repl_info *i,
    struct jerr *e)
{
	static const char *const keys[] = { "epoch", "last", "listen", "audit",
	    "audit_lsn", NULL };
	cJSON *o = open_body(body, len, keys, e);
	int rc = -1;

	memset(i, 0, sizeof(*i));
	if (o == NULL)
		return -1;
	if (get_u32(o, "epoch", &i->epoch, e) == 0 &&
	    get_u64(o, "last", &i->last, e) == 0 &&
	    get_str(o, "listen", i->listen, sizeof(i->listen), e) == 0 &&
	    get_str(o, "audit", i->audit, sizeof(i->audit), e) == 0 &&
	    get_u64(o, "audit_lsn", &i->audit_lsn, e) == 0)
		rc = 0;
	cJSON_Delete(o);
	return rc;
}

int
repl_refusal_read(const void *body, size_t len, struct repl_refusal *r,
    struct jerr *e)
{
	static const char *const keys[] = { "reason", "message", "epoch",
	    "listen", NULL };
	cJSON *o = open_body(body, len, keys, e);
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (o == NULL)
		return -1;
	if (get_str(o, "reason", r->reason, sizeof(r->reason), e) == 0 &&
	    get_str(o, "message", r->message, sizeof(r->message), e) == 0 &&
	    get_u32(o, "epoch", &r->epoch, e) == 0 &&
	    get_str(o, "listen", r->listen, sizeof(r->listen), e) == 0)
		rc = 0;
	cJSON_Delete(o);
	return rc;
}

int
repl_snapshot_read(const void *body, size_t len, struct repl_snapshot *s,
    struct jerr *e)
{
	static const char *const keys[] = { "lsn", "bytes", NULL };
	cJSON *o = open_body(body, len, keys, e);
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (o == NULL)
		return -1;
	if (get_u64(o, "lsn", &s->lsn, e) == 0 &&
	    get_u64(o, "bytes", &s->bytes, e) == 0)
		rc = 0;
	if (rc == 0 && s->lsn == 0)
		rc = jerr_set(e, "lsn", "must be at least 1");
	cJSON_Delete(o);
	return rc;
}

int
repl_fence_read(const void *body, size_t len, struct repl_fence *f,
    struct jerr *e)
{
	static const char *const keys[] = { "epoch", "by", NULL };
	cJSON *o = open_body(body, len, keys, e);
	int rc = -1;

	memset(f, 0, sizeof(*f));
	if (o == NULL)
		return -1;
	if (get_u32(o, "epoch", &f->epoch, e) == 0 &&
	    get_str(o, "by", f->by, sizeof(f->by), e) == 0)
		rc = 0;
	if (rc == 0 && f->epoch < 2)
		rc = jerr_set(e, "epoch", "must be at least 2");
	cJSON_Delete(o);
	return rc;
}

void
repl_ack_write(unsigned char out[8], uint64_t lsn)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(lsn >> (8 * i));
}

int
repl_ack_read(const void *body, size_t len, uint64_t *lsn)
{
	const unsigned char *p = body;
	uint64_t v = 0;

	if (len != 8)
		return -1;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	*lsn = v;
	return 0;
}

long
repl_records_check(const void *body, size_t len, uint64_t next, size_t *bad)
{
	struct wal_rec rec;
	size_t off = 0;
	long n = 0;

	*bad = 0;
	while (off < len) {
		size_t at = off;

		if (wal_next(body, len, &off, &rec) != WAL_OK || rec.lsn != next) {
			*bad = at;
			return -1;
		}
		next++;
		n++;
	}
	if (n == 0)
		return -1;
	return n;
}

long
repl_side_check(const void *body, size_t len, uint64_t after, uint64_t *last,
    size_t *bad)
{
	struct wal_rec rec;
	size_t off = 0;
	long n = 0;

	*bad = 0;
	while (off < len) {
		size_t at = off;

		if (wal_next(body, len, &off, &rec) != WAL_OK || rec.lsn <= after) {
			*bad = at;
			return -1;
		}
		after = rec.lsn;
		n++;
	}
	if (n == 0)
		return -1;
	*last = after;
	return n;
}

long
repl_image_check(const void *body, size_t len, uint64_t *lsn, size_t *bad)
{
	struct wal_rec rec;
	size_t off = 0;
	long n = 0;

	*bad = 0;
	while (off < len) {
		size_t at = off;

		if (wal_next(body, len, &off, &rec) != WAL_OK || rec.lsn == 0 ||
		    (*lsn != 0 && rec.lsn != *lsn)) {
			*bad = at;
			return -1;
		}
		*lsn = rec.lsn;
		n++;
	}
	return n;
}
