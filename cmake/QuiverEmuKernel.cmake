# QuiverEmuKernel.cmake - quiver_add_emu_kernel(): a user's HLS C kernel on
# an emulated board in one step. Exported by the CMake package
# (find_package(quiver)) and included in Quiver's own build by the examples.
# It runs at build time the steps docs/xclbin.md shows by hand:
#
#   quiver xclbin entry     the kernel's emulation entry NAME__emu
#   a shared library        the HLS C source and the entry, for the host
#   quiver xclbin build     the library packed into NAME.xclbin (sw_emu)
#   the catalog entry       NAME's arguments, the build for BOARD, its model,
#                           checked with `quiver check` once the xclbin exists
#
# quiver_add_emu_kernel(NAME
#     SOURCES file.c...         the HLS C source(s) of the kernel
#     BOARD board               an emulated FPGA board: its name (a board file
#                               of Quiver's share/quiver/boards/) or a file
#     ARGS "arg:dir:type[:size]"...  each argument in kernel order: dir is
#                               in, out, inout or scalar; type a catalog type
#                               (float, uint32, ...); size, for buffers, the
#                               catalog's size expression over the scalars
#     [TOP fn]                  the C top function (default NAME)
#     [IMPLEMENTS fn]           the function it implements (default NAME)
#     [PERF "{yaml}"]           the catalog's perf mapping; default
#                               {ii: 1, latency_cycles: 100, trip_count: SIZE}
#                               with SIZE the first buffer's size: a guess,
#                               give your synthesis report's figures
#     [RESOURCES "{yaml}"]      the catalog's resources mapping
#     [INCLUDE_DIRECTORIES dir...] [COMPILE_OPTIONS opt...] [LINK_LIBRARIES lib...]
#     [OUT_CATALOG file]        the catalog (default <binary dir>/NAME.catalog.yaml);
#                               kernels given the same file share one catalog
#     [BASE_CATALOG file]       a catalog whose kernels come first in it (the
#                               package's kernels.yaml): its text, then these
#                               kernels, with links beside the catalog to
#                               the directories beside the base, so that
#                               its relative paths still hold
#     [OUT_POLICY file])        also a runtime policy: that catalog, and the
#                               boards of its kernels as discovery.boards
#
# Makes the target NAME, which builds the xclbin (<binary dir>/NAME.xclbin),
# and one target per catalog that checks it once its kernels are built
# (both in `all`); sets in the caller's scope NAME_XCLBIN, NAME_CATALOG,
# NAME_CATALOG_TARGET (that catalog's target: what reads the catalog at
# build time depends on it) and NAME_POLICY (when asked).
# Uses the quiver CLI of the package (quiver::quiver_cli) or of the build
# tree (quiver_cli), and the boards of QUIVER_DATA_DIR (the package's
# share/quiver, or <Quiver's build>/share/quiver in its own build).

set(_QV_EMU_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")
if(NOT QUIVER_DATA_DIR AND DEFINED quiver_BINARY_DIR)
  set(QUIVER_DATA_DIR ${quiver_BINARY_DIR}/share/quiver)
endif()

# _qv_emu_c_type(catalog-type OUT): the C type the signature takes (errors
# name the caller's `where` and argument `a`).
function(_qv_emu_c_type type out)
  set(map_int8 int8_t)
  set(map_uint8 uint8_t)
  set(map_int16 int16_t)
  set(map_uint16 uint16_t)
  set(map_int32 int32_t)
  set(map_uint32 uint32_t)
  set(map_int64 int64_t)
  set(map_uint64 uint64_t)
  set(map_half uint16_t)
  set(map_float float)
  set(map_double double)
  if(NOT DEFINED map_${type})
    message(FATAL_ERROR "${where}: ARGS '${a}': unknown type '${type}' (int8, uint8, int16, "
                        "uint16, int32, uint32, int64, uint64, half, float, double)")
  endif()
  set(${out} ${map_${type}} PARENT_SCOPE)
endfunction()

# _qv_emu_board(board OUT_FILE OUT_NAME OUT_PLATFORM): the board file, the
# board's name and its platform. The catalog check loads the board again
# with Quiver's own reader; here only the two keys the build needs are read.
function(_qv_emu_board board out_file out_name out_platform)
  if(EXISTS ${board} AND NOT IS_DIRECTORY ${board})
    get_filename_component(file ${board} ABSOLUTE)
  else()
    if(NOT QUIVER_DATA_DIR)
      message(FATAL_ERROR "quiver_add_emu_kernel: BOARD ${board}: QUIVER_DATA_DIR is not set "
                          "(find_package(quiver) sets it)")
    endif()
    file(GLOB_RECURSE candidates ${QUIVER_DATA_DIR}/boards/*.yaml)
    set(file "")
    foreach(f ${candidates})
      file(STRINGS ${f} line REGEX "^name:[ \t]*${board}[ \t]*(#.*)?$" LIMIT_COUNT 1)
      if(line)
        set(file ${f})
        break()
      endif()
    endforeach()
    if(NOT file)
      message(FATAL_ERROR "quiver_add_emu_kernel: BOARD ${board}: no board of that name "
                          "in ${QUIVER_DATA_DIR}/boards, and no such file")
    endif()
  endif()
  file(STRINGS ${file} name REGEX "^name:" LIMIT_COUNT 1)
  file(STRINGS ${file} platform REGEX "^platform:" LIMIT_COUNT 1)
  file(STRINGS ${file} emulation REGEX "^emulation:[ \t]*true" LIMIT_COUNT 1)
  string(REGEX REPLACE "^name:[ \t]*([^ \t#]+).*" "\\1" name "${name}")
  string(REGEX REPLACE "^platform:[ \t]*([^ \t#]+).*" "\\1" platform "${platform}")
  if(NOT name OR NOT platform OR NOT emulation)
    message(FATAL_ERROR "quiver_add_emu_kernel: BOARD ${board}: ${file} is not an emulated "
                        "board with a name and a platform (emulation: true)")
  endif()
  set(${out_file} ${file} PARENT_SCOPE)
  set(${out_name} ${name} PARENT_SCOPE)
  set(${out_platform} ${platform} PARENT_SCOPE)
endfunction()

# _qv_emu_base(base catalog OUT_TEXT): the base catalog's text, to which
# the kernels' entries are appended. The links its relative paths need are
# made at build time, before the check (the script mode at the end of this
# file): a build tree's bitstreams/ exists only once built. Its `kernels` must be its last key,
# a block list indented by two spaces (as the package's kernels.yaml): the
# appended entries continue that list. `quiver check` then reads the whole.
function(_qv_emu_base base catalog out)
  if(NOT EXISTS ${base} OR IS_DIRECTORY ${base})
    message(FATAL_ERROR "${where}: BASE_CATALOG ${base}: no such file")
  endif()
  file(READ ${base} text)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${base})
  string(FIND "\n${text}" "\nkernels:" at)
  set(tail "")
  if(at GREATER -1)
    string(SUBSTRING "\n${text}" ${at} -1 tail)
  endif()
  # The lines after `kernels:` (REGEX REPLACE would apply ^ again after each match).
  set(rest "")
  if(tail MATCHES "^(\n[^\n]*)(\n.*)$")
    set(rest "${CMAKE_MATCH_2}")
  endif()
  if(NOT tail MATCHES "^\nkernels:[ \t]*(#[^\n]*)?\n" OR NOT rest MATCHES "\n  - " OR
     rest MATCHES "\n[A-Za-z_\"'{[]")
    message(FATAL_ERROR "${where}: BASE_CATALOG ${base}: expected `kernels:` as its last "
                        "key, a list with its items at two spaces (\"  - name: ...\")")
  endif()
  if(NOT text MATCHES "\n$")
    string(APPEND text "\n")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

function(quiver_add_emu_kernel name)
  cmake_parse_arguments(K ""
    "BOARD;TOP;IMPLEMENTS;PERF;RESOURCES;OUT_CATALOG;OUT_POLICY;BASE_CATALOG"
    "SOURCES;ARGS;INCLUDE_DIRECTORIES;COMPILE_OPTIONS;LINK_LIBRARIES" ${ARGN})
  set(where "quiver_add_emu_kernel(${name})")
  if(K_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${where}: unexpected arguments: ${K_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "${where}: NAME must be a C identifier")
  endif()
  foreach(req SOURCES BOARD ARGS)
    if(NOT K_${req})
      message(FATAL_ERROR "${where}: ${req} is required")
    endif()
  endforeach()
  if(TARGET quiver::quiver_cli)
    set(cli quiver::quiver_cli)
    set(cli_dep "")
  elseif(TARGET quiver_cli)
    set(cli quiver_cli)
    set(cli_dep quiver_cli)
  else()
    message(FATAL_ERROR "${where}: no quiver CLI target (find_package(quiver) first)")
  endif()
  if(NOT K_IMPLEMENTS)
    set(K_IMPLEMENTS ${name})
  endif()
  _qv_emu_board(${K_BOARD} board_file board_name platform)

  # The signature (quiver xclbin) and the catalog's args, from ARGS.
  set(sig "")
  set(args "")
  set(first_size "")
  foreach(a ${K_ARGS})
    string(REPLACE ":" ";" parts "${a}")
    list(LENGTH parts np)
    if(np LESS 3)
      message(FATAL_ERROR "${where}: ARGS '${a}': expected name:dir:type[:size]")
    endif()
    list(GET parts 0 an)
    list(GET parts 1 dir)
    list(GET parts 2 type)
    _qv_emu_c_type(${type} ctype)
    if(dir STREQUAL "scalar")
      if(NOT np EQUAL 3)
        message(FATAL_ERROR "${where}: ARGS '${a}': a scalar has no size")
      endif()
      string(APPEND sig "${an}:${ctype}, ")
      list(APPEND args "{name: ${an}, dir: scalar, type: ${type}}")
    elseif(dir MATCHES "^(in|out|inout)$")
      if(NOT np EQUAL 4)
        message(FATAL_ERROR "${where}: ARGS '${a}': a buffer needs its size: name:${dir}:${type}:SIZE")
      endif()
      list(GET parts 3 size)
      if(dir STREQUAL "in")
        string(APPEND sig "${an}:const ${ctype}*, ")
      else()
        string(APPEND sig "${an}:${ctype}*, ")
      endif()
      list(APPEND args "{name: ${an}, dir: ${dir}, type: ${type}, size: ${size}}")
      if(first_size STREQUAL "")
        set(first_size "${size}")
      endif()
    else()
      message(FATAL_ERROR "${where}: ARGS '${a}': dir '${dir}' is not in, out, inout or scalar")
    endif()
  endforeach()
  string(REGEX REPLACE ", $" "" sig "${name}(${sig}")
  string(APPEND sig ")")
  if(NOT K_PERF)
    if(first_size STREQUAL "")
      message(FATAL_ERROR "${where}: PERF is required for a kernel without buffers")
    endif()
    set(K_PERF "{ii: 1, latency_cycles: 100, trip_count: ${first_size}}")
  endif()
  string(JOIN ", " args ${args})

  # The emulation library: the source as it is, no sanitizer (it is loaded
  # from memory into whatever process runs it), and its entry. A TOP other
  # than NAME: the entry's call of NAME is renamed (NAME__emu is another token).
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/${name}.emu)
  set(entry ${dir}/${name}_emu.c)
  add_custom_command(OUTPUT ${entry}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${cli} xclbin entry --kernel "${sig}" -o ${entry}
    DEPENDS ${cli_dep} VERBATIM
    COMMENT "quiver xclbin entry ${name}")
  set(lib ${name}_emu_lib)
  add_library(${lib} SHARED ${K_SOURCES} ${entry})
  if(K_TOP AND NOT K_TOP STREQUAL name)
    set_source_files_properties(${entry} PROPERTIES COMPILE_DEFINITIONS "${name}=${K_TOP}")
  endif()
  target_include_directories(${lib} PRIVATE ${K_INCLUDE_DIRECTORIES})
  target_link_libraries(${lib} PRIVATE ${K_LINK_LIBRARIES})
  set_target_properties(${lib} PROPERTIES
    COMPILE_OPTIONS "-O2;-Wno-unknown-pragmas;${K_COMPILE_OPTIONS}"
    LINK_OPTIONS "" C_VISIBILITY_PRESET default
    LIBRARY_OUTPUT_DIRECTORY ${dir})
  set(xclbin ${CMAKE_CURRENT_BINARY_DIR}/${name}.xclbin)
  add_custom_command(OUTPUT ${xclbin}
    COMMAND ${cli} xclbin build -o ${xclbin} --platform ${platform} --mode sw_emu
            --kernel "${sig}" --bitstream $<TARGET_FILE:${lib}>
    DEPENDS ${lib} ${cli_dep} VERBATIM
    COMMENT "quiver xclbin build ${name}.xclbin (sw_emu, ${platform})")
  add_custom_target(${name} ALL DEPENDS ${xclbin})

  # The catalog: one per file, made at generation time from what every
  # kernel of it added to its target's properties, checked once its xclbins
  # are built.
  if(NOT K_OUT_CATALOG)
    set(K_OUT_CATALOG ${CMAKE_CURRENT_BINARY_DIR}/${name}.catalog.yaml)
  endif()
  get_filename_component(catalog ${K_OUT_CATALOG} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  string(MAKE_C_IDENTIFIER "${catalog}" cid)
  string(MD5 cid "${cid}")
  set(ctgt quiver_emu_catalog_${cid})
  set(entry_yaml "  - {name: ${name}, implements: ${K_IMPLEMENTS}, args: [${args}], builds: [{board: ${board_name}, xclbin: ${xclbin}}], perf: ${K_PERF}")
  if(K_RESOURCES)
    string(APPEND entry_yaml ", resources: ${K_RESOURCES}")
  endif()
  string(APPEND entry_yaml "}")
  get_filename_component(board_dir ${board_file} DIRECTORY)
  set(base "")
  if(K_BASE_CATALOG)
    get_filename_component(base ${K_BASE_CATALOG} ABSOLUTE)
  endif()
  if(TARGET ${ctgt})
    get_property(had TARGET ${ctgt} PROPERTY QV_EMU_BASE)
    if(NOT "${had}" STREQUAL "${base}")
      message(FATAL_ERROR "${where}: the catalog ${catalog} has BASE_CATALOG '${had}', "
                          "not '${base}'")
    endif()
  else()
    add_custom_target(${ctgt} ALL DEPENDS ${catalog}.checked)
    set_property(TARGET ${ctgt} PROPERTY QV_EMU_BASE "${base}")
    set(head "# Generated by quiver_add_emu_kernel() (QuiverEmuKernel.cmake) in
# ${CMAKE_CURRENT_SOURCE_DIR}/CMakeLists.txt: edit that, not this file.
")
    set(entries "$<JOIN:$<TARGET_PROPERTY:${ctgt},QV_EMU_ENTRIES>,
>
")
    if(base)
      _qv_emu_base(${base} ${catalog} base_text)
      file(GENERATE OUTPUT ${catalog} CONTENT
"${head}# ${base} first, then the kernels made there.
${base_text}${entries}")
    else()
      file(GENERATE OUTPUT ${catalog} CONTENT
"${head}boards: [$<JOIN:$<REMOVE_DUPLICATES:$<TARGET_PROPERTY:${ctgt},QV_EMU_BOARD_DIRS>>,$<COMMA> >]
kernels:
${entries}")
    endif()
    set(link "")
    get_filename_component(bdir "${base}" DIRECTORY)
    get_filename_component(cdir ${catalog} DIRECTORY)
    if(base AND NOT bdir STREQUAL cdir)
      set(link COMMAND ${CMAKE_COMMAND} -DQV_EMU_LINK_FROM=${bdir} -DQV_EMU_LINK_TO=${cdir}
               -P ${_QV_EMU_SCRIPT})
    endif()
    add_custom_command(OUTPUT ${catalog}.checked
      ${link}
      COMMAND ${cli} check -q ${catalog}
      COMMAND ${CMAKE_COMMAND} -E touch ${catalog}.checked
      DEPENDS ${catalog} "$<TARGET_PROPERTY:${ctgt},QV_EMU_XCLBINS>" ${cli_dep}
      VERBATIM COMMENT "quiver check ${catalog}")
  endif()
  set_property(TARGET ${ctgt} APPEND PROPERTY QV_EMU_ENTRIES "${entry_yaml}")
  set_property(TARGET ${ctgt} APPEND PROPERTY QV_EMU_BOARD_DIRS "${board_dir}")
  set_property(TARGET ${ctgt} APPEND PROPERTY QV_EMU_BOARD_FILES "${board_file}")
  set_property(TARGET ${ctgt} APPEND PROPERTY QV_EMU_XCLBINS "${xclbin}")
  add_dependencies(${ctgt} ${name})

  if(K_OUT_POLICY)
    get_filename_component(policy ${K_OUT_POLICY} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
    get_property(had TARGET ${ctgt} PROPERTY QV_EMU_POLICY)
    if(had AND NOT had STREQUAL policy)
      message(FATAL_ERROR "${where}: the catalog ${catalog} already has the policy ${had}")
    elseif(NOT had)
      set_property(TARGET ${ctgt} PROPERTY QV_EMU_POLICY ${policy})
      file(GENERATE OUTPUT ${policy} CONTENT
"# Generated by quiver_add_emu_kernel() (QuiverEmuKernel.cmake): the default
# devices (CPU, OpenCL, FPGA), the emulated boards of the catalog's kernels.
catalog: ${catalog}
discovery:
  boards: [$<JOIN:$<REMOVE_DUPLICATES:$<TARGET_PROPERTY:${ctgt},QV_EMU_BOARD_FILES>>,$<COMMA> >]
")
    endif()
    set(${name}_POLICY ${policy} PARENT_SCOPE)
  endif()
  set(${name}_XCLBIN ${xclbin} PARENT_SCOPE)
  set(${name}_CATALOG ${catalog} PARENT_SCOPE)
  set(${name}_CATALOG_TARGET ${ctgt} PARENT_SCOPE)
endfunction()

# ---- script mode: the links of a BASE_CATALOG (cmake -P) -----------------
# cmake -DQV_EMU_LINK_FROM=dir -DQV_EMU_LINK_TO=dir -P QuiverEmuKernel.cmake
# links each directory of FROM into TO (boards/, bitstreams/...), where TO
# has nothing of that name, so that the base catalog's relative paths hold
# for the catalog written in TO. Only directories: nothing this file writes
# can go through a link into the base's directory.
if(CMAKE_SCRIPT_MODE_FILE AND QV_EMU_LINK_FROM AND QV_EMU_LINK_TO)
  file(MAKE_DIRECTORY ${QV_EMU_LINK_TO})
  file(GLOB children RELATIVE ${QV_EMU_LINK_FROM} ${QV_EMU_LINK_FROM}/*)
  foreach(c ${children})
    if(IS_DIRECTORY ${QV_EMU_LINK_FROM}/${c} AND NOT EXISTS ${QV_EMU_LINK_TO}/${c} AND
       NOT IS_SYMLINK ${QV_EMU_LINK_TO}/${c})
      file(CREATE_LINK ${QV_EMU_LINK_FROM}/${c} ${QV_EMU_LINK_TO}/${c} SYMBOLIC)
    endif()
  endforeach()
endif()
