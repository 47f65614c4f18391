/* Encodes an image as a baseline JPEG (4:2:0, accurate integer DCT, as TurboJPEG does for the
 * builder's other settings) with a restart marker after every MCU, through libjpeg-turbo's
 * libjpeg API (TurboJPEG 2.1 has no restart setting), from RGB pixels or from Y, Cb and Cr
 * planes already in 4:2:0 (libjpeg's raw-data input: no colour conversion, no downsampling).
 * The markers make any rectangle of MCUs decodable on its own: the loader assembles the MCUs a
 * crop needs into a smaller JPEG instead of entropy-decoding every row above and every column
 * beside it (src/image/restart.rs). They cost about 2.5 bytes an MCU. libjpeg's longjmp error
 * path stays inside this file (lt_jpeg_error.h). */
#include <stdlib.h>
#include <string.h>

#include "lt_jpeg_error.h"

enum { LT_OK = 0, LT_ERROR = 1 };

/* The settings both inputs share; then starts compressing. */
static void start(struct jpeg_compress_struct *c, unsigned width, unsigned height, int quality,
                  J_COLOR_SPACE in, boolean raw) {
    c->image_width = width;
    c->image_height = height;
    c->input_components = 3;
    c->in_color_space = in;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    c->dct_method = JDCT_ISLOW;
    c->restart_interval = 1;
    c->raw_data_in = raw;
    jpeg_start_compress(c, TRUE);
}

/* Writes the image's rows: RGB scanlines from planes[0], or (raw) the Y, Cb and Cr planes, 16
 * luma and 8 chroma rows a call; planes padded to whole MCUs as lt_jpeg_encode says. */
static void write_rows(struct jpeg_compress_struct *c, const unsigned char *const planes[3],
                       const unsigned strides[3], boolean raw) {
    while (c->next_scanline < c->image_height) {
        JDIMENSION y = c->next_scanline;
        if (!raw) {
            JSAMPROW row = (JSAMPROW)(planes[0] + (size_t)y * strides[0]);
            jpeg_write_scanlines(c, &row, 1);
            continue;
        }
        JSAMPROW rows[3][16];
        JSAMPARRAY image[3] = {rows[0], rows[1], rows[2]};
        for (int p = 0; p < 3; p++)
            for (int i = 0; i < (p ? 8 : 16); i++)
                rows[p][i] = (JSAMPROW)(planes[p] + (size_t)((p ? y / 2 : y) + i) * strides[p]);
        jpeg_write_raw_data(c, image, 16);
    }
}

/* Encodes RGB (planes[0], rows strides[0] apart) or, when `raw`, 4:2:0 Y, Cb and Cr planes
 * whose rows are padded to a multiple of 16 (luma) or 8 (chroma) samples and which have rows
 * up to the height rounded up to 16 (luma) or half that (chroma). On LT_OK, *out (malloc'd by
 * libjpeg; release with lt_jpeg_free) holds *out_len bytes. The caller checks the dimensions
 * first (1 to 65,500 a side), so errors are not expected here. */
int lt_jpeg_encode(const unsigned char *const planes[3], const unsigned strides[3], int raw,
                   unsigned width, unsigned height, int quality, unsigned char **out,
                   unsigned long *out_len, char *msg, size_t msg_len) {
    struct jpeg_compress_struct c;
    struct lt_error e;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    memset(&c, 0, sizeof c);
    c.err = lt_error_init(&e, msg, msg_len);
    if (setjmp(e.jump)) {
        jpeg_destroy_compress(&c);
        return LT_ERROR;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    start(&c, width, height, quality, raw ? JCS_YCbCr : JCS_RGB, raw ? TRUE : FALSE);
    write_rows(&c, planes, strides, raw ? TRUE : FALSE);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *out = buf;
    *out_len = len;
    return LT_OK;
}

void lt_jpeg_free(unsigned char *p) { free(p); }
