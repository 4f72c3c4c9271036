# install.cmake - what a Quiver program reads at run time, laid out the same
# way in the build tree and in an installation, and how installed programs
# find libquiver. Included by host/CMakeLists.txt.
#
#   <datadir>/quiver/quiver.yaml      the default policy (config/quiver.yaml)
#   <datadir>/quiver/kernels.yaml     the kernel catalog (config/kernels.yaml)
#   <datadir>/quiver/boards/          the board and platform files (boards/)
#   <datadir>/quiver/platforms/       platforms for `quiver plan` (partition/platforms/)
#   <datadir>/quiver/bitstreams/emu/  the emulated boards' xclbins (hls/)
#
# Relative paths inside these files resolve against the file that names
# them, so the tree works wherever it lies: <build>/share/quiver in the
# build tree, <prefix>/share/quiver once installed. The build writes nothing
# into the source tree.
set(QV_DATA_BUILD_DIR ${PROJECT_BINARY_DIR}/share/quiver)
set(QV_DATA_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/quiver)

# The build tree's copy (copied again when a source file changes).
file(GLOB_RECURSE QV_DATA_BOARDS CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
     ${PROJECT_SOURCE_DIR}/boards/*.yaml)
foreach(f ${QV_DATA_BOARDS})
  configure_file(${PROJECT_SOURCE_DIR}/${f} ${QV_DATA_BUILD_DIR}/${f} COPYONLY)
endforeach()
file(GLOB QV_DATA_PLATFORMS CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/partition
     ${PROJECT_SOURCE_DIR}/partition/platforms/*.yaml)
foreach(f ${QV_DATA_PLATFORMS})
  configure_file(${PROJECT_SOURCE_DIR}/partition/${f} ${QV_DATA_BUILD_DIR}/${f} COPYONLY)
endforeach()
foreach(f quiver.yaml kernels.yaml)
  configure_file(${PROJECT_SOURCE_DIR}/config/${f} ${QV_DATA_BUILD_DIR}/${f} COPYONLY)
endforeach()

install(FILES ${PROJECT_SOURCE_DIR}/config/quiver.yaml ${PROJECT_SOURCE_DIR}/config/kernels.yaml
        DESTINATION ${QV_DATA_INSTALL_DIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/boards/ DESTINATION ${QV_DATA_INSTALL_DIR}/boards
        FILES_MATCHING PATTERN "*.yaml")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/partition/platforms/
        DESTINATION ${QV_DATA_INSTALL_DIR}/platforms FILES_MATCHING PATTERN "*.yaml")
# The CMake helper quiver_wrap(), beside quiverConfig.cmake, which includes it.
install(FILES ${PROJECT_SOURCE_DIR}/cmake/quiver_wrap.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/quiver)
# The CMake functions of the package (quiverConfig.cmake includes them).
install(FILES ${PROJECT_SOURCE_DIR}/cmake/QuiverEmuKernel.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/quiver)

# The runtime finds the default policy relative to the library (or to the
# program that linked the static library), else in the build tree it was
# built in, else at the configured datadir (host/src/config/default_path.c).
file(RELATIVE_PATH QV_DATA_FROM_LIBDIR ${CMAKE_INSTALL_FULL_LIBDIR}
     ${CMAKE_INSTALL_FULL_DATADIR}/quiver)
file(RELATIVE_PATH QV_DATA_FROM_BINDIR ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_FULL_DATADIR}/quiver)
set_property(SOURCE ${PROJECT_SOURCE_DIR}/host/src/config/default_path.c APPEND PROPERTY
  COMPILE_DEFINITIONS QV_DATA_FROM_LIBDIR="${QV_DATA_FROM_LIBDIR}"
  QV_DATA_FROM_BINDIR="${QV_DATA_FROM_BINDIR}"
  QV_DATA_INSTALLED="${CMAKE_INSTALL_FULL_DATADIR}/quiver"
  QV_BUILD_TREE="${PROJECT_BINARY_DIR}")

# qv_install_program(TARGET): installs a program that links libquiver into
# bindir with a RUNPATH to libdir relative to itself ($ORIGIN), so that it
# runs from any prefix, moved or not, without LD_LIBRARY_PATH.
function(qv_install_program target)
  file(RELATIVE_PATH rel ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
  set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN/${rel}")
  install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
