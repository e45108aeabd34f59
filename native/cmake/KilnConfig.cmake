# Kiln's CMake package, for extension libraries built outside Kiln's repository:
#
#   cmake_minimum_required(VERSION 3.20)
#   project(my_ops LANGUAGES CXX)
#   find_package(Kiln REQUIRED)          # kiln-build-extension passes Kiln_DIR (this folder)
#   kiln_add_extension(my_ops SOURCES src/my_ops.cc src/my_ops.cu)
#
# It finds the headers of the installed @kiln/native package (include/ beside this folder) and
# compiles .cc/.cpp files with the C++ compiler and .cu files with nvcc, for the GPU architectures
# of Kiln's own CUDA addon (KilnCuda.cmake). Where nvcc is not found (or KILN_CUDA is OFF) the .cu
# files are left out with a message: the library then has CPU kernels only, and loading it on a
# machine with a GPU says so. The library links the CUDA runtime statically, so it loads on
# machines without the toolkit, as Kiln's addon does. Extensions do not use Node-API at all, so
# nvcc never sees napi.h.
include_guard(GLOBAL)

get_filename_component(Kiln_NATIVE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(Kiln_INCLUDE_DIR "${Kiln_NATIVE_DIR}/include")
file(READ "${Kiln_NATIVE_DIR}/package.json" _kiln_package_json)
string(JSON Kiln_VERSION GET "${_kiln_package_json}" version)
unset(_kiln_package_json)
include("${CMAKE_CURRENT_LIST_DIR}/KilnCuda.cmake")
option(KILN_CUDA "Compile the CUDA kernels of Kiln extensions when nvcc is available" ON)

# kiln_add_extension(<name> SOURCES <files>... [OUTPUT_DIRECTORY <dir>])
#   Builds <name>.so (a shared library with Kiln's entry point, kiln/extension/entry.cc) into
#   OUTPUT_DIRECTORY (default: the build folder). A macro, because enabling CUDA must happen at
#   the file scope of the caller.
macro(kiln_add_extension name)
  cmake_parse_arguments(_KILN_EXT "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  set(_kiln_cu_sources ${_KILN_EXT_SOURCES})
  list(FILTER _kiln_cu_sources INCLUDE REGEX "\\.cu$")
  set(_kiln_with_cuda OFF)
  if(_kiln_cu_sources AND KILN_CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
      include(CheckLanguage)
      check_language(CUDA)
    endif()
    if(CMAKE_CUDA_COMPILER)
      enable_language(CUDA)
      find_package(CUDAToolkit REQUIRED)
      set(_kiln_with_cuda ON)
    endif()
  endif()
  if(_kiln_cu_sources AND NOT _kiln_with_cuda)
    message(STATUS "kiln: nvcc not found (or KILN_CUDA=OFF): ${name} is built without its CUDA kernels")
  endif()
  _kiln_add_extension("${name}" "${_KILN_EXT_OUTPUT_DIRECTORY}" ${_kiln_with_cuda} ${_KILN_EXT_SOURCES})
endmacro()

function(_kiln_add_extension name output_dir with_cuda)
  set(host_sources ${ARGN})
  list(FILTER host_sources EXCLUDE REGEX "\\.cu$")
  set(cu_sources ${ARGN})
  list(FILTER cu_sources INCLUDE REGEX "\\.cu$")
  add_library(${name} MODULE ${host_sources} "${Kiln_INCLUDE_DIR}/kiln/extension/entry.cc")
  if(NOT output_dir)
    set(output_dir "${CMAKE_BINARY_DIR}")
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "" SUFFIX ".so"
    CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON POSITION_INDEPENDENT_CODE ON
    LIBRARY_OUTPUT_DIRECTORY "${output_dir}")
  target_include_directories(${name} PRIVATE "${Kiln_INCLUDE_DIR}")
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-O3 -fno-math-errno>)
  if(with_cuda AND cu_sources)
    # nvcc compiles the kernels apart; the library itself is linked by the C++ compiler
    add_library(${name}_cuda_kernels OBJECT ${cu_sources})
    set_target_properties(${name}_cuda_kernels PROPERTIES
      CUDA_STANDARD 17 CUDA_ARCHITECTURES "${KILN_CUDA_ARCHITECTURES}" POSITION_INDEPENDENT_CODE ON)
    target_include_directories(${name}_cuda_kernels PRIVATE "${Kiln_INCLUDE_DIR}")
    target_compile_options(${name}_cuda_kernels PRIVATE -O3 --expt-relaxed-constexpr -Xcompiler=-fPIC,-fvisibility=hidden)
    target_sources(${name} PRIVATE $<TARGET_OBJECTS:${name}_cuda_kernels>)
    set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
    target_link_libraries(${name} PRIVATE CUDA::cudart_static)
    message(STATUS "kiln: ${name} with CUDA kernels for ${KILN_CUDA_ARCHITECTURES} (${CMAKE_CUDA_COMPILER})")
  endif()
endfunction()
