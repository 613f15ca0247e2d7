/* sizeclass.c — the lookup table for requests up to 1 KiB (layer L2). The
 * rest of the mapping is arithmetic in sizeclass.h; tests/sizeclass_test.cc
 * checks both against the definition for every size.
 */
#include "hakmem/sizeclass.h"

// Entry i: the class of sizes in (16(i-1), 16i]; entry 0 is size 0.
const uint8_t hak_class_of_small[65] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,                   // 0 .. 128: steps of 16
    8,  9,  10, 11, 12, 13, 14, 15,                      // .. 256: steps of 16
    16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21,      // .. 512: steps of 32
    22, 22, 23, 23,                                      //
    24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26,      // .. 1024: steps of 64
    27, 27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29,      //
    30, 30, 30, 30, 31, 31, 31, 31,                      //
};
