# podpath_bpf_object(<name> SOURCE <file.bpf.c> [DEFINES <macros...>] [DEPENDS <files...>])
#
# clang -target bpf -> <name>.bpf.o -> bpftool gen skeleton -> <name>.skel.h, exposed
# as the INTERFACE target <name>_skel (link it to get the include path and libbpf).
# Every header under bpf/ and vmlinux/ is a dependency, so editing the ABI header
# rebuilds the object and the skeleton.

find_program(PODPATH_BPF_CLANG NAMES clang clang-19 clang-16 clang-15 clang-14)
find_program(PODPATH_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
if(NOT PODPATH_BPF_CLANG OR NOT PODPATH_BPFTOOL)
  message(FATAL_ERROR
    "podpath: the BPF programs need clang and bpftool (scripts/install-deps installs them); "
    "configure with -DPODPATH_BPF=OFF to build only the layers below the BPF pipeline and their unit tests")
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(PODPATH_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(PODPATH_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "podpath: unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(PODPATH_BPF_CFLAGS -g -O2 -target bpf -D__TARGET_ARCH_${PODPATH_BPF_ARCH}
    -Wall -Werror=undef -Wno-unused-function -fno-stack-protector)

function(podpath_bpf_object name)
  cmake_parse_arguments(ARG "" "SOURCE" "DEFINES;DEPENDS" ${ARGN})
  list(TRANSFORM ARG_DEFINES PREPEND -D)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE})
  set(outdir ${CMAKE_CURRENT_BINARY_DIR})
  set(obj ${outdir}/${name}.bpf.o)
  set(skel ${outdir}/${name}.skel.h)
  file(GLOB bpf_headers ${PROJECT_SOURCE_DIR}/bpf/*.h ${PROJECT_SOURCE_DIR}/vmlinux/*.h
       ${PROJECT_SOURCE_DIR}/vmlinux/${PODPATH_BPF_ARCH}/vmlinux.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${PODPATH_BPF_CLANG} ${PODPATH_BPF_CFLAGS} ${ARG_DEFINES}
            -I${PROJECT_SOURCE_DIR}/bpf -I${PROJECT_SOURCE_DIR}/vmlinux
            -c ${src} -o ${obj}
    DEPENDS ${src} ${bpf_headers} ${ARG_DEPENDS}
    COMMENT "BPF ${ARG_SOURCE}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${PODPATH_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel SYSTEM INTERFACE ${outdir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
  set_property(GLOBAL APPEND PROPERTY PODPATH_BPF_OBJECTS ${obj})
endfunction()
