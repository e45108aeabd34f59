#!/usr/bin/env bash
# Checks Kiln's declarations of cuBLASLt and cuDNN (native/cuda/cublaslt_api.h, cudnn_api.h)
# against NVIDIA's real headers: compiles tools/gpu/check-nvidia-decls.cc, whose static_asserts
# compare every enum value, enum size, function signature and struct layout. Run it where the
# headers are (the GPU machine: cuBLAS in the CUDA toolkit, cuDNN in PyTorch's pip wheel):
#
#   bash tools/gpu/check-nvidia-decls.sh            (remote.sh step: decl-check)
#
# Environment: CUDA_HOME (default /usr/local/cuda), KILN_CUDNN_INCLUDE (the folder holding
# cudnn.h; default: the first found among pip's nvidia/cudnn/include folders, /usr/include and
# the toolkit's include), CXX (default g++).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
CUDNN_INC=${KILN_CUDNN_INCLUDE:-}
if [ -z "$CUDNN_INC" ]; then
  shopt -s nullglob
  for d in ${VIRTUAL_ENV:+$VIRTUAL_ENV/lib/python3*/site-packages/nvidia/cudnn/include} \
           /opt/*/.venv/lib/python3*/site-packages/nvidia/cudnn/include /opt/*/lib/python3*/site-packages/nvidia/cudnn/include \
           /usr/local/lib/python3*/dist-packages/nvidia/cudnn/include /usr/lib/python3/dist-packages/nvidia/cudnn/include \
           /usr/include /usr/include/x86_64-linux-gnu "$CUDA_INC"; do
    if [ -f "$d/cudnn.h" ]; then CUDNN_INC=$d; break; fi
  done
  shopt -u nullglob
fi
[ -f "$CUDA_INC/cublasLt.h" ] || { echo "check-nvidia-decls: no cublasLt.h in $CUDA_INC (set CUDA_HOME)"; exit 2; }
[ -n "$CUDNN_INC" ] && [ -f "$CUDNN_INC/cudnn.h" ] || { echo "check-nvidia-decls: no cudnn.h found (set KILN_CUDNN_INCLUDE)"; exit 2; }

version() {   # version FILE MAJOR_MACRO MINOR_MACRO PATCH_MACRO
  local f=$1
  printf '%s.%s.%s' "$(sed -n "s/^#define $2 *\([0-9]*\).*/\1/p" "$f" | head -1)" \
    "$(sed -n "s/^#define $3 *\([0-9]*\).*/\1/p" "$f" | head -1)" "$(sed -n "s/^#define $4 *\([0-9]*\).*/\1/p" "$f" | head -1)"
}
CUBLAS_V=$(version "$CUDA_INC/cublas_api.h" CUBLAS_VER_MAJOR CUBLAS_VER_MINOR CUBLAS_VER_PATCH)
CUDNN_V=$(version "$CUDNN_INC/cudnn_version.h" CUDNN_MAJOR CUDNN_MINOR CUDNN_PATCHLEVEL)
echo "check-nvidia-decls: cuBLASLt $CUBLAS_V headers in $CUDA_INC, cuDNN $CUDNN_V headers in $CUDNN_INC"

CXX=${CXX:-g++}
"$CXX" -std=c++17 -fsyntax-only -Wno-deprecated-declarations -I"$CUDA_INC" -I"$CUDNN_INC" -I"$ROOT/native/cuda" \
  "$ROOT/tools/gpu/check-nvidia-decls.cc"
values=$(cat "$ROOT/native/cuda/cublaslt_api.h" "$ROOT/native/cuda/cudnn_api.h" | grep -cE '^ *X\((cublas|cudnn)[A-Za-z_]*_t, [A-Z_0-9]+, ')
echo "check-nvidia-decls: OK: Kiln's declarations ($values enum values, every signature, enum size and struct field Kiln uses) match cuBLASLt $CUBLAS_V and cuDNN $CUDNN_V"
