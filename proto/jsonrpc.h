/*
 * jsonrpc.h - JSON-RPC 2.0 over parkd's lines: request parsing and
 * response building (protocol.md sections 2 and 3).
 *
 * Pure: a framed line in, requests out; results in, response lines out.
 *
 * Parsing is strict RFC 8259, by the one parser (lib/json.h), which also
 * records the raw text of every request's "id": it is echoed byte for
 * byte (cJSON would turn 12345678901234567890 into a double).
 *
 * Responses are written with lib/jsonw.h, never with cJSON's printer
 * (which prints 2^53 - 1 as a different number).
 */
#ifndef PARKD_JSONRPC_H
#define PARKD_JSONRPC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "jsonw.h"
#include "perr.h"

/* Most requests in one batch. */
#define RPC_MAX_BATCH 1000
/* Size of the errmsg buffers below, NUL included. */
#define RPC_ERRMSG_LEN 160

/* Ids of up to RPC_ID_SHORT - 1 bytes are kept in the request itself. */
#define RPC_ID_SHORT 24
/* Method names of up to RPC_METHOD_SHORT - 1 bytes may be kept in the line's message. */
#define RPC_METHOD_SHORT 32

/*
 * One request of a line.
 *
 * When err is PK_OK the request is well formed: method is a non-empty
 * string and params an object or NULL; id NULL means a notification (run
 * it, send no response).
 *
 * When err is not PK_OK the request is invalid and MUST be answered with
 * an error response (JSON-RPC 2.0 answers invalid requests even when they
 * carry no id), using id when it is not NULL and null otherwise.  err is
 * PK_E_INVALID_REQUEST (not an object, bad or missing "jsonrpc"/"method",
 * an id that is not a string/number/null, params that is neither an object
 * nor an array, unknown members) or PK_E_INVALID_PARAMS (params given as
 * an array: well-formed JSON-RPC, but parkd takes parameters by name only).
 */
typedef struct rpc_req {
	char *id;		/* raw JSON text of the id exactly as received
				 * ("7", "\"a\\u0062\"", "null"), NUL-terminated,
				 * owned by the rpc_msg; NULL when absent */
	/*
	 * Where id points when the id is short (most are): no malloc and
	 * free a request.  So a request is not copied by value.
	 */
	char id_short[RPC_ID_SHORT];
	const char *method;	/* borrowed from the tree; NULL when err set */
	cJSON *params;		/* borrowed from the tree; NULL when absent
				 * or err set */
	pk_err err;		/* PK_OK or why the request is invalid */
	char errmsg[RPC_ERRMSG_LEN]; /* human message for err, "" if PK_OK */
} rpc_req;

/*
 * One parsed line.  Everything in it is owned by it and freed by
 * rpc_msg_free; method and params of its requests point into root.
 *
 * When err is not PK_OK the whole line is bad: answer one error response
 * with id null; root is NULL, n is 0 and reqs NULL.  err is PK_E_PARSE
 * (what json_parse refuses: not UTF-8, not RFC 8259 JSON, nested deeper
 * than JSON_MAX_DEPTH, duplicate member names) or PK_E_INVALID_REQUEST (the value is neither an
 * object nor an array, an empty batch, a batch of more than RPC_MAX_BATCH).
 *
 * Otherwise is_batch says whether the line was an array (answer with one
 * array of the non-notification responses, see rpc_batch_join, or with
 * nothing when there are none) and reqs holds n >= 1 requests in order.
 */
typedef struct rpc_msg {
	cJSON *root;		/* the whole tree, owned */
	int is_batch;		/* 1 when the line was a batch array */
	size_t n;		/* number of requests in reqs */
	rpc_req *reqs;		/* n requests, owned (&one when not a batch) */
	pk_err err;		/* PK_OK or why the whole line is bad */
	char errmsg[RPC_ERRMSG_LEN]; /* human message for err, "" if PK_OK */
	rpc_req one;		/* the request of a line that is not a batch */
	/*
	 * A lone request's method when the envelope was read without a tree
	 * (rpc_parse's fast path): root is then params, or NULL.
	 */
	char method_short[RPC_METHOD_SHORT];
} rpc_msg;

/*
 * Parses one framed line (len bytes at line, not necessarily
 * NUL-terminated; it is not kept).  Returns NULL only on allocation
 * failure; the caller frees the result with rpc_msg_free.
 */
rpc_msg *rpc_parse(const char *line, size_t len);
/*
 * rpc_parse without its fast path: every line through the whole tree.
 * The same answer for every line (the tests hold rpc_parse to it).
 */
rpc_msg *rpc_parse_general(const char *line, size_t len);

/* Frees m, its tree and its ids.  Accepts NULL. */
void rpc_msg_free(rpc_msg *m);

/*
 * Responses are written with the one JSON writer (lib/jsonw.h).  id_raw is
 * the raw id text from rpc_req.id, copied verbatim (it must be a JSON
 * string, number or null, as rpc_parse guarantees); NULL writes null.
 */

/* {"jsonrpc":"2.0","id":<id> -- the object is left open. */
void rpc_response_begin(struct jw *w, const char *id_raw);
/*
 * {"jsonrpc":"2.0","id":<id>,"result": -- the caller writes the result
 * value and closes the object (jw_obj_end).
 */
void rpc_result_begin(struct jw *w, const char *id_raw);

/*
 * A whole error response as one value:
 * {"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,"message":<message>,
 *  "data":{"reason":<reason>,...}}}
 * code and reason come from the error table; message NULL means the
 * table's default message.  edata (may be NULL) holds extra members of
 * data written after jw_members(); they follow "reason".  e == PK_OK is a
 * caller bug and is reported as PK_E_INTERNAL.
 */
void rpc_error(struct jw *w, const char *id_raw, pk_err e, const char *message,
    const struct jw *edata);
/*
 * What rpc_error writes after the id, "error":{...}, as members (after
 * jw_members(w)), for a caller that answers many ids with one error: it
 * keeps this text and writes each answer as rpc_response_begin, a comma,
 * the text (jw_splice) and jw_obj_end.
 */
void rpc_error_members(struct jw *w, pk_err e, const char *message,
    const struct jw *edata);
/* The same as a malloc'd line without newline; NULL when out of memory. */
char *rpc_error_line(const char *id_raw, pk_err e, const char *message,
    const struct jw *edata);

#endif
