/* sizeclass.c — the lookup table for requests up to 1 KiB (layer L2). The
 * rest of the mapping is arithmetic in sizeclass.h; tests/sizeclass_test.cc
 * checks both against the definition for every size.
 */
#include "hakmem/sizeclass.h"

// One entry per byte count, so that malloc indexes it with the size itself
// (no rounding arithmetic): G(c) is the 16 sizes (16(i-1), 16i] of class c.
#define G(c) c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c
const uint8_t hak_class_of_size[HAK_SMALL_TABLE + 1] = {
    0,                                                                   // size 0
    G(0),  G(1),  G(2),  G(3),  G(4),  G(5),  G(6),  G(7),               // .. 128: steps of 16
    G(8),  G(9),  G(10), G(11), G(12), G(13), G(14), G(15),              // .. 256: steps of 16
    G(16), G(16), G(17), G(17), G(18), G(18), G(19), G(19),              // .. 512: steps of 32
    G(20), G(20), G(21), G(21), G(22), G(22), G(23), G(23),              //
    G(24), G(24), G(24), G(24), G(25), G(25), G(25), G(25),              // .. 1024: steps of 64
    G(26), G(26), G(26), G(26), G(27), G(27), G(27), G(27),              //
    G(28), G(28), G(28), G(28), G(29), G(29), G(29), G(29),              //
    G(30), G(30), G(30), G(30), G(31), G(31), G(31), G(31),              //
};
#undef G
_Static_assert(sizeof hak_class_of_size == HAK_SMALL_TABLE + 1, "one entry per size up to 1 KiB");
