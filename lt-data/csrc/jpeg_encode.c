/* Encodes an RGB image as a baseline JPEG (4:2:0, accurate integer DCT, as TurboJPEG does for
 * the builder's other settings) with a restart marker after every MCU, through libjpeg-turbo's
 * libjpeg API (TurboJPEG 2.1 has no restart setting). The markers make any rectangle of MCUs
 * decodable on its own: the loader assembles the MCUs a crop needs into a smaller JPEG instead
 * of entropy-decoding every row above and every column beside it (src/image/restart.rs). They
 * cost about 2.5 bytes an MCU. libjpeg's longjmp error path stays inside this file
 * (lt_jpeg_error.h). */
#include <stdlib.h>
#include <string.h>

#include "lt_jpeg_error.h"

enum { LT_OK = 0, LT_ERROR = 1 };

/* On LT_OK, *out (malloc'd by libjpeg; release with lt_jpeg_free) holds *out_len bytes. The
 * caller checks the dimensions first (1 to 65,500 a side), so errors are not expected here. */
int lt_jpeg_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height, int quality,
                       unsigned char **out, unsigned long *out_len, char *msg, size_t msg_len) {
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
    c.image_width = width;
    c.image_height = height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.dct_method = JDCT_ISLOW;
    c.restart_interval = 1;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * width * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *out = buf;
    *out_len = len;
    return LT_OK;
}

void lt_jpeg_free(unsigned char *p) { free(p); }
