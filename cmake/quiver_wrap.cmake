# quiver_wrap.cmake - the CMake helper of `quiver wrap` (docs/profile.md,
# "Wrapping"), exported by the package (find_package(quiver)) and used in
# Quiver's own build tree:
#
#   quiver_wrap(<target> FUNCTIONS f [g ...] [CATALOG file] [RECORD | DEFER]
#               [PROTOTYPES "void f(...)" ...] [HEADERS h ...]
#               [OPENCL f=file.cl[:kernel][@group] ...])
#
# generates <target>_quiver_wrap.c with `quiver wrap` at build time, adds it
# to the target, links it with -Wl,--wrap=f,... and libquiver (not with
# RECORD: record-only interposers need no library; DEFER: calls return
# before their tasks run, `quiver wrap --defer`), and proves at link time
# that each wrapper can fire: before the link, nm and objdump look at the
# target's objects; no object calling f across files is an error (the
# wrapper would catch nothing), calls of f inside the file that defines it
# are a warning (--wrap does not catch them), and -flto is an error, at
# configure time and in the objects (--wrap silently catches nothing then).
#
# Run as a script (cmake -P) with QUIVER_WRAP_CHECK=1 it is that link-time
# check.
include_guard(GLOBAL)
set(_QUIVER_WRAP_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

function(_quiver_wrap_lto_flags target out)
  set(flags "${CMAKE_C_FLAGS}")
  foreach(cfg ${CMAKE_BUILD_TYPE} ${CMAKE_CONFIGURATION_TYPES})
    string(TOUPPER "${cfg}" cfg)
    string(APPEND flags " ${CMAKE_C_FLAGS_${cfg}}")
  endforeach()
  foreach(p COMPILE_OPTIONS LINK_OPTIONS)
    get_target_property(v ${target} ${p})
    if(v)
      string(APPEND flags " ${v}")
    endif()
  endforeach()
  set(lto "")
  if(flags MATCHES "(^| |;)-flto")
    set(lto "-flto in its flags")
  endif()
  get_target_property(ipo ${target} INTERPROCEDURAL_OPTIMIZATION)
  if(ipo OR CMAKE_INTERPROCEDURAL_OPTIMIZATION)
    set(lto "INTERPROCEDURAL_OPTIMIZATION")
  endif()
  set(${out} "${lto}" PARENT_SCOPE)
endfunction()

function(quiver_wrap target)
  cmake_parse_arguments(W "RECORD;DEFER" "CATALOG" "FUNCTIONS;PROTOTYPES;HEADERS;OPENCL"
                        ${ARGN})
  if(W_DEFER AND W_RECORD)
    message(FATAL_ERROR "quiver_wrap(${target}): DEFER is for runtime interposers, "
                        "not RECORD ones")
  endif()
  if(W_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "quiver_wrap(${target}): unexpected arguments "
                        "'${W_UNPARSED_ARGUMENTS}'; expected FUNCTIONS, CATALOG, RECORD, "
                        "DEFER, PROTOTYPES, HEADERS or OPENCL")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "quiver_wrap(${target}): no such target")
  endif()
  if(NOT W_FUNCTIONS)
    message(FATAL_ERROR "quiver_wrap(${target}): FUNCTIONS names no function")
  endif()
  _quiver_wrap_lto_flags(${target} lto)
  if(lto)
    message(FATAL_ERROR "quiver_wrap(${target}): the target is built with link-time "
                        "optimisation (${lto}); -Wl,--wrap catches no call under -flto, "
                        "silently. Build ${target} without -flto.")
  endif()
  # The quiver tool and the catalog: this build tree's, or the installed
  # package's (quiverConfig.cmake sets QUIVER_WRAP_CATALOG).
  if(TARGET quiver_cli)
    set(tool "$<TARGET_FILE:quiver_cli>")
    set(tool_dep quiver_cli)
    if(TARGET hls_emu_xclbins) # the shipped catalog names the emulated xclbins
      list(APPEND tool_dep hls_emu_xclbins)
    endif()
    if(NOT QUIVER_WRAP_CATALOG)
      set(QUIVER_WRAP_CATALOG "${quiver_BINARY_DIR}/share/quiver/kernels.yaml")
    endif()
  elseif(TARGET quiver::quiver_cli)
    set(tool "$<TARGET_FILE:quiver::quiver_cli>")
    set(tool_dep "")
  else()
    message(FATAL_ERROR "quiver_wrap(${target}): no quiver tool: find_package(quiver) first")
  endif()
  if(NOT W_CATALOG)
    set(W_CATALOG "${QUIVER_WRAP_CATALOG}")
  endif()
  get_filename_component(W_CATALOG "${W_CATALOG}" ABSOLUTE)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_quiver_wrap.c")
  string(JOIN "," funcs ${W_FUNCTIONS})
  set(args wrap --catalog "${W_CATALOG}" --functions "${funcs}" -o "${out}")
  set(deps "${W_CATALOG}" ${tool_dep})
  # A catalog quiver_add_emu_kernel() writes is read once its target made
  # it whole (the links to its boards, the builds): a clean build read it
  # too early (a user's test).
  string(MAKE_C_IDENTIFIER "${W_CATALOG}" cid)
  string(MD5 cid "${cid}")
  if(TARGET quiver_emu_catalog_${cid})
    list(APPEND deps quiver_emu_catalog_${cid})
  endif()
  if(W_RECORD)
    list(APPEND args --record)
  endif()
  if(W_DEFER)
    list(APPEND args --defer)
  endif()
  foreach(p ${W_PROTOTYPES})
    list(APPEND args --prototype "${p}")
  endforeach()
  foreach(h ${W_HEADERS})
    get_filename_component(h "${h}" ABSOLUTE)
    list(APPEND args --header "${h}")
    list(APPEND deps "${h}")
  endforeach()
  foreach(c ${W_OPENCL})
    if(c MATCHES "^([^=]+)=(.+)$")
      set(fn "${CMAKE_MATCH_1}")
      set(file "${CMAKE_MATCH_2}")
      set(kern "")
      set(group "")
      if(file MATCHES "^(.+)@group$")
        set(file "${CMAKE_MATCH_1}")
        set(group "@group")
      endif()
      if(file MATCHES "^(.+):([A-Za-z_][A-Za-z0-9_]*)$")
        set(file "${CMAKE_MATCH_1}")
        set(kern ":${CMAKE_MATCH_2}")
      endif()
      get_filename_component(file "${file}" ABSOLUTE)
      list(APPEND args --opencl "${fn}=${file}${kern}${group}")
      list(APPEND deps "${file}")
    else()
      message(FATAL_ERROR "quiver_wrap(${target}): OPENCL '${c}': expected F=FILE.cl[:KERNEL][@group]")
    endif()
  endforeach()
  add_custom_command(OUTPUT "${out}" COMMAND ${tool} ${args} DEPENDS ${deps}
                     COMMENT "quiver wrap: interposers of ${funcs} for ${target}" VERBATIM)
  target_sources(${target} PRIVATE "${out}")
  list(TRANSFORM W_FUNCTIONS PREPEND "--wrap=" OUTPUT_VARIABLE wraps)
  string(JOIN "," wraps ${wraps})
  target_link_options(${target} PRIVATE "LINKER:${wraps}")
  if(NOT W_RECORD)
    target_link_libraries(${target} PRIVATE quiver::quiver)
  endif()
  add_custom_command(TARGET ${target} PRE_LINK
    COMMAND "${CMAKE_COMMAND}" -DQUIVER_WRAP_CHECK=1 "-DTARGET=${target}"
            "-DFUNCTIONS=${funcs}" "-DOBJECTS=$<JOIN:$<TARGET_OBJECTS:${target}>,|>"
            "-DSKIP=${target}_quiver_wrap.c" "-DNM=${CMAKE_NM}" "-DOBJDUMP=${CMAKE_OBJDUMP}"
            -P "${_QUIVER_WRAP_SCRIPT}"
    VERBATIM)
endfunction()

# ---- the link-time check (cmake -P) -------------------------------------
if(CMAKE_SCRIPT_MODE_FILE AND QUIVER_WRAP_CHECK)
  string(REPLACE "|" ";" objects "${OBJECTS}")
  string(REPLACE "," ";" functions "${FUNCTIONS}")
  foreach(f ${functions})
    set(called_${f} "")
  endforeach()
  foreach(obj ${objects})
    get_filename_component(name "${obj}" NAME)
    if(SKIP AND name MATCHES "^${SKIP}")
      continue()
    endif()
    execute_process(COMMAND "${OBJDUMP}" -h "${obj}" OUTPUT_VARIABLE heads
                    ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "quiver_wrap(${TARGET}): ${obj} is no object file objdump reads "
                          "(LLVM bitcode from -flto?): ${err}")
    endif()
    if(heads MATCHES "\\.gnu\\.lto_")
      message(FATAL_ERROR "quiver_wrap(${TARGET}): ${obj} was compiled with -flto; "
                          "-Wl,--wrap catches no call under link-time optimisation. "
                          "Build ${TARGET} without -flto.")
    endif()
    execute_process(COMMAND "${NM}" "${obj}" OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
    set(relocs "")
    foreach(f ${functions})
      if(syms MATCHES "(^|\n)[ \t]*U ${f}(\n|$)")
        list(APPEND called_${f} "${name}")
      endif()
      if(syms MATCHES "(^|\n)[0-9a-fA-F]* [tT] ${f}(\n|$)")
        if(NOT relocs)
          execute_process(COMMAND "${OBJDUMP}" -r "${obj}" OUTPUT_VARIABLE relocs)
        endif()
        # Relocations against f in code: calls (or its address taken) in the
        # file that defines it.
        string(REGEX MATCHALL "RELOCATION RECORDS FOR \\[\\.(text|data)[^]\n]*\\]:\n([^\n]+\n)*"
               secs "${relocs}")
        set(inside 0)
        foreach(s ${secs})
          if(s MATCHES "[ \t]${f}([-+]0x[0-9a-fA-F]+)?\n")
            set(inside 1)
          endif()
        endforeach()
        if(syms MATCHES "(^|\n)[0-9a-fA-F]* t ${f}(\n|$)")
          message(WARNING "quiver_wrap(${TARGET}): ${f} is static in ${name}: its calls "
                          "cannot be wrapped")
        elseif(inside)
          message(WARNING "quiver_wrap(${TARGET}): ${name} defines ${f} and also calls it "
                          "(or takes its address): those calls are not wrapped; only calls "
                          "from other files reach __wrap_${f} (QUIVER_WRAP_STATS=1 counts them)")
        endif()
      endif()
    endforeach()
  endforeach()
  foreach(f ${functions})
    if(NOT called_${f})
      message(FATAL_ERROR "quiver_wrap(${TARGET}): no object file of ${TARGET} calls ${f} "
                          "from outside the file that defines it (nm shows no undefined "
                          "reference to ${f}), so -Wl,--wrap=${f} would catch no call")
    endif()
  endforeach()
endif()
