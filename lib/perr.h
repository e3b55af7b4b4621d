/*
 * perr.h - the one error table of parkd.
 *
 * Every failure the core, the protocol layer or the daemon reports to a
 * client is one of these.  The X-macro gives the enum, the JSON-RPC code,
 * the stable machine-readable reason and a default message from one list,
 * so that a code and its reason can never drift apart.
 */
#ifndef PARKD_PERR_H
#define PARKD_PERR_H

/*     name              code    reason                  default message */
#define PK_ERRORS(X)                                                              \
	X(OK,                0,      "ok",                   "ok")                    \
	X(PARSE,             -32700, "parse_error",          "parse error")           \
	X(INVALID_REQUEST,   -32600, "invalid_request",      "invalid request")       \
	X(LINE_TOO_LONG,     -32600, "line_too_long",        "line too long")         \
	X(METHOD_NOT_FOUND,  -32601, "method_not_found",     "method not found")      \
	X(INVALID_PARAMS,    -32602, "invalid_params",       "invalid params")        \
	X(INTERNAL,          -32603, "internal_error",       "internal error")        \
	X(AUTH_REQUIRED,     4010,   "auth_required",        "authentication required") \
	X(FORBIDDEN,         4030,   "forbidden",            "forbidden")             \
	X(NOT_FOUND,         4040,   "not_found",            "not found")             \
	X(PLATE_INSIDE,      4090,   "plate_inside",         "plate already inside")  \
	X(LOT_FULL,          4091,   "lot_full",             "no free spot")          \
	X(PAYMENT_REQUIRED,  4092,   "payment_required",     "payment required")      \
	X(AMOUNT_MISMATCH,   4093,   "amount_mismatch",      "amount does not match the amount due") \
	X(RESERVATION_CONFLICT, 4094, "reservation_conflict", "no reservable capacity") \
	X(QUEUE_FULL,        4095,   "queue_full",           "waitlist full")         \
	X(WRONG_GATE,        4096,   "wrong_gate",           "wrong gate")            \
	X(NOT_PRIMARY,       4210,   "not_primary",          "not the primary: send changes to data.primary") \
	X(RATE_LIMITED,      4290,   "rate_limited",         "rate limited")          \
	X(UNAVAILABLE,       5030,   "unavailable",          "unavailable")           \
	X(NO_STANDBY,        5030,   "no_standby",           "no standby has acknowledged in time; changes are refused")

typedef enum pk_err {
#define PK_ERR_ENUM(name, code, reason, msg) PK_E_##name,
	PK_ERRORS(PK_ERR_ENUM)
#undef PK_ERR_ENUM
	PK_E__COUNT
} pk_err;

#define PK_OK PK_E_OK

/* The JSON-RPC error.code of e. */
int pk_err_code(pk_err e);
/* The stable reason string (error.data.reason) of e; never NULL. */
const char *pk_err_reason(pk_err e);
/* A default human message for e; never NULL. */
const char *pk_err_message(pk_err e);

#endif
