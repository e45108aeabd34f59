# The GPU code Kiln's CUDA addon carries, and by default every extension built with
# kiln_add_extension: one list, so that an extension runs wherever Kiln's addon does.
# KILN_CUDA_ARCHS (build.mjs passes it on every build of the addon; an extension's build takes it
# from the environment through kiln-build-extension, or from -DKILN_CUDA_ARCHS):
#   release  machine code for sm_75 (T4, RTX 20), sm_80 (A100, A30), sm_86 (RTX 30, A10, A40), sm_89
#            (RTX 40, L4, L40) and sm_90 (H100, H200), plus compute_90 PTX that the driver compiles
#            for newer GPUs (Blackwell and on) when the addon loads. CUDA 13 builds nothing older.
#   dev      (the default) what the everyday and CI builds need: sm_90 machine code for the team's
#            GPU machine (H200) and compute_75 PTX, which any other GPU from sm_75 on compiles at
#            load; one machine-code pass instead of five.
#   or a CMAKE_CUDA_ARCHITECTURES list of one's own, e.g. "86-real" for a local RTX 3090.
set(KILN_CUDA_ARCHS dev CACHE STRING "GPU code in the CUDA addon: release, dev or a CMAKE_CUDA_ARCHITECTURES list")
if(KILN_CUDA_ARCHS STREQUAL "release")
  set(KILN_CUDA_ARCHITECTURES 75-real 80-real 86-real 89-real 90-real 90-virtual)
elseif(KILN_CUDA_ARCHS STREQUAL "dev")
  set(KILN_CUDA_ARCHITECTURES 75-virtual 90-real)
else()
  set(KILN_CUDA_ARCHITECTURES ${KILN_CUDA_ARCHS})
endif()
