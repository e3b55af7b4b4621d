/*
 * mcall.h - what method handlers kept outside methods.c share with it:
 * the param readers and error helpers (defined in methods.c, with the
 * same rules as its own: every failure sets c->err and c->msg in the
 * readers' "params.name: what is wrong" form), and the handlers that
 * live in files of their own (mregistry.c: the vehicle registry).
 */
#ifndef PARKD_MCALL_H
#define PARKD_MCALL_H

#include <stddef.h>
#include <stdint.h>

#include "methods.h"

/* Fails the call with e and a message (NULL: the error's default). */
void mcall_fail(struct call *c, pk_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* invalid_params for the param called name; returns -1. */
int mcall_bad_param(struct call *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A string param; *out NULL when absent and optional.  0 or -1. */
int mcall_string(struct call *c, const char *name, int required,
    size_t maxlen, const char **out);
/* An integer param in [min, max]; *out untouched when absent.  0 or -1. */
int mcall_int(struct call *c, const char *name, int required, int64_t min,
    int64_t max, int64_t *out);
/* A plate param, normalised into out; *present says whether it was given. */
int mcall_plate(struct call *c, const char *name, int required,
    char out[PLATE_BUFSZ], int *present);
/* 1 when changes can be made durable now, else 0 (c->err set). */
int mcall_writable(struct call *c);

/* The vehicle registry (registry.md). */
void m_vehicle_register(struct call *c);
void m_vehicle_get(struct call *c);
void m_vehicle_list(struct call *c);
void m_vehicle_delete(struct call *c);
void m_retention(struct call *c);
void m_purge(struct call *c);

#endif
