/* libjpeg's error manager for this crate's C parts: a fatal error formats its message into the
 * caller's buffer and longjmps back to the setjmp in the same C function, so no longjmp ever
 * crosses a Rust frame; warnings are dropped (the callers are lenient, as PIL). */
#ifndef LT_JPEG_ERROR_H
#define LT_JPEG_ERROR_H

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>

#include <jpeglib.h>

struct lt_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char *msg;
    size_t msg_len;
};

static void lt_error_exit(j_common_ptr cinfo) {
    struct lt_error *e = (struct lt_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(e->msg, e->msg_len, "%s", text);
    longjmp(e->jump, 1);
}

static void lt_emit_message(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

/* Installs the manager on `err`; the caller then does `if (setjmp(err->jump)) ...`. */
static struct jpeg_error_mgr *lt_error_init(struct lt_error *err, char *msg, size_t msg_len) {
    struct jpeg_error_mgr *mgr = jpeg_std_error(&err->mgr);
    err->mgr.error_exit = lt_error_exit;
    err->mgr.emit_message = lt_emit_message;
    err->msg = msg;
    err->msg_len = msg_len;
    return mgr;
}

#endif
