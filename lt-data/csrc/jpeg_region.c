/* Decodes a rectangle of a JPEG through libjpeg-turbo's libjpeg API: rows above the rectangle
 * are skipped (entropy-decoded only), rows below are never read, and columns outside it are
 * not inverse-transformed, upsampled or colour-converted (jpeg_skip_scanlines,
 * jpeg_crop_scanline). libjpeg reports errors by longjmp, which must not cross Rust frames: it
 * stays inside this file (lt_jpeg_error.h), and the caller gets a status and a message.
 *
 * Output is RGB, greyscale sources included, as TurboJPEG's. Lenient as the loader's full
 * decode: warnings (corrupt data, a stream that ends early) are ignored and whatever did not
 * decode is grey, as PIL does. */
#include <string.h>

#include "lt_jpeg_error.h"

enum { LT_OK = 0, LT_ERROR = 1, LT_UNSUPPORTED = 2 };

/* The region asked for, in pixels of the image scaled by 1/denom, and what was decoded. */
struct lt_region {
    unsigned denom;            /* in: 1, 2, 4 or 8 */
    unsigned x0, x1, y0, y1;   /* in: columns [x0, x1) and rows [y0, y1) wanted */
    unsigned out_x0, out_width; /* out: the columns decoded (from an iMCU boundary before x0) */
};

static int lt_region_rows(struct jpeg_decompress_struct *c, struct lt_region *r,
                          unsigned char *out, size_t cap) {
    /* The first and last columns decoded lack a neighbour for fancy upsampling (the last one
     * is upsampled as if it were the image's edge): decode one column more on each side, so
     * every column asked for is exactly that of the full decode. */
    JDIMENSION xoff = r->x0 > 0 ? r->x0 - 1 : 0, width;
    if (r->x1 <= r->x0 || r->y1 <= r->y0 || r->x1 > c->output_width || r->y1 > c->output_height)
        return LT_UNSUPPORTED;
    width = (r->x1 < c->output_width ? r->x1 + 1 : r->x1) - xoff;
    jpeg_crop_scanline(c, &xoff, &width);
    r->out_x0 = xoff;
    r->out_width = width;
    size_t stride = (size_t)width * 3;
    if (stride * (r->y1 - r->y0) > cap)
        return LT_UNSUPPORTED;
    if (r->y0 > 0 && jpeg_skip_scanlines(c, r->y0) != r->y0)
        return LT_ERROR;
    for (unsigned y = r->y0; y < r->y1;) {
        JSAMPROW row = out + (size_t)(y - r->y0) * stride;
        JDIMENSION got = jpeg_read_scanlines(c, &row, 1);
        if (got == 0)
            return LT_ERROR;
        y += got;
    }
    return LT_OK;
}

/* Returns LT_OK, LT_ERROR (message in msg) or LT_UNSUPPORTED (CMYK / YCCK, a region outside
 * the scaled image, or cap too small: the caller decodes another way). */
int lt_jpeg_decode_region(const unsigned char *data, size_t len, struct lt_region *r,
                          unsigned char *out, size_t cap, char *msg, size_t msg_len) {
    struct jpeg_decompress_struct c;
    struct lt_error e;
    volatile int status = LT_OK;
    memset(&c, 0, sizeof c);
    c.err = lt_error_init(&e, msg, msg_len);
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&c);
        return LT_ERROR;
    }
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, data, (unsigned long)len);
    jpeg_read_header(&c, TRUE);
    if (c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK) {
        status = LT_UNSUPPORTED;
    } else {
        c.out_color_space = JCS_RGB;
        c.scale_num = 1;
        c.scale_denom = r->denom;
        jpeg_start_decompress(&c);
        status = lt_region_rows(&c, r, out, cap);
        if (status == LT_ERROR)
            snprintf(msg, msg_len, "the stream ended before the rows asked for");
    }
    jpeg_destroy_decompress(&c);
    return status;
}
