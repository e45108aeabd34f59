// The kernel call record: how TypeScript describes a call in the shared argument buffer
// (packages/tensor/src/native/args.ts writes it), decoded into a KernelCall and checked here.
//
//   [device, nInputs, nOutputs, nAttrs,
//    per tensor (inputs, then outputs): dtypeCode, ndim, storageAddress, storageBytes, offset,
//                                       ...shape, ...strides,
//    ...attrs]
//
// Every tensor travels with the extent of the storage block it views (the block's address and
// size in bytes) and its element offset in it, so the boundary checks each view against its
// storage on every call: a shape, stride or offset that TypeScript let through by mistake becomes a
// typed error here, never a read or write outside the block.
#pragma once
#include <cstddef>
#include "kiln/kernel.h"

namespace kiln {

constexpr int kCallHeader = 4;    // device, nInputs, nOutputs, nAttrs
constexpr int kTensorHeader = 5;  // dtypeCode, ndim, storageAddress, storageBytes, offset

// Decodes the record in args[0, len) into `c` (whose name and id are set), checking every field;
// throws a KilnError naming c.name and the argument on the first field out of range.
void decode_call(const double* args, size_t len, KernelCall& c);

}  // namespace kiln
