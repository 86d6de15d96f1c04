// INT4 storage: two 4-bit codes per byte along the last dim. Element 2j goes to
// the low nibble (bits 0..3) and element 2j+1 to the high nibble; a nibble holds
// the code's low four bits, i.e. two's complement for signed codes in [-8, 7] and
// plain binary for unsigned codes in [0, 15] (asymmetric). 8-bit codes need no
// packing: they are stored as int8/uint8 as they are.
#pragma once

#include <ATen/ATen.h>

namespace quarot {

// codes: int8 in [-8, 7] or uint8 in [0, 15], shape [..., cols] with cols even,
// CPU or CUDA. Returns uint8 [..., cols / 2] on the same device. `name` names the
// tensor in error messages.
at::Tensor pack_int4(const at::Tensor& codes, const char* name = "codes");

// Inverse of pack_int4: uint8 [..., n] -> [..., 2n], int8 in [-8, 7] when
// `is_signed`, else uint8 in [0, 15].
at::Tensor unpack_int4(const at::Tensor& packed, bool is_signed = true, const char* name = "packed codes");

}  // namespace quarot
