# libweir for embedders: `cmake --install` puts shared and static libraries, the headers, a
# CMake package (find_package(weir) -> weir::weir) and pkg-config files under the prefix.
#
# The installed libraries are made of the same objects as the project's layer libraries (no
# second compile). What a consumer inherits from them is only where the headers are and what
# to link: the project's own flags (warnings as errors, hardening, -O2) live on weir_options,
# which the installed targets never name. libpcap is needed only by libweir_pcap (the pcap
# file and sniffer endpoints); the DPDK endpoint is not part of the package.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(WEIR_PACKAGE_LAYERS weir_capi weir_tcp weir_udp weir_ipv4 weir_ipv6 weir_link_core weir_stack)
set(weir_package_objects)
foreach(layer ${WEIR_PACKAGE_LAYERS})
  get_target_property(type ${layer} TYPE)
  if(type STREQUAL "STATIC_LIBRARY")
    list(APPEND weir_package_objects $<TARGET_OBJECTS:${layer}>)
  endif()
endforeach()

# Where the headers are, in the tree and installed. The project's headers include each other
# from the repository root ("stack/stack.h"), so include/weir is on the path too.
set(weir_public_includes
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/capi/include>
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/weir>)

add_library(weir_shared SHARED ${weir_package_objects})
add_library(weir_static STATIC ${weir_package_objects})
foreach(t weir_shared weir_static)
  set_target_properties(${t} PROPERTIES OUTPUT_NAME weir LINKER_LANGUAGE CXX)
  target_include_directories(${t} INTERFACE ${weir_public_includes})
  target_compile_features(${t} INTERFACE cxx_std_20)
endforeach()
set_target_properties(weir_shared PROPERTIES VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR} EXPORT_NAME weir)
set_target_properties(weir_static PROPERTIES EXPORT_NAME weir_static)
# A C program linking the static library needs the C++ runtime the objects use.
target_link_libraries(weir_static INTERFACE stdc++ m)

add_library(weir_pcap_shared SHARED $<TARGET_OBJECTS:weir_link_pcap>)
add_library(weir_pcap_static STATIC $<TARGET_OBJECTS:weir_link_pcap>)
foreach(t weir_pcap_shared weir_pcap_static)
  set_target_properties(${t} PROPERTIES OUTPUT_NAME weir_pcap LINKER_LANGUAGE CXX)
endforeach()
set_target_properties(weir_pcap_shared PROPERTIES VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR} EXPORT_NAME pcap)
set_target_properties(weir_pcap_static PROPERTIES EXPORT_NAME pcap_static)
target_link_libraries(weir_pcap_shared PUBLIC weir_shared PRIVATE ${PCAP_LINK_LIBRARIES})
target_link_libraries(weir_pcap_static INTERFACE weir_static ${PCAP_LINK_LIBRARIES})

install(TARGETS weir_shared weir_static weir_pcap_shared weir_pcap_static EXPORT weirTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# Headers: the C API and the C++ umbrella at <weir/...>, and the layers' headers the public
# C++ ones include, under include/weir/<layer>/ (docs/embedding.md lists the public ones).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/capi/include/weir DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir stack link ipv4 ipv6 udp tcp tcp/cc)
  file(GLOB headers ${PROJECT_SOURCE_DIR}/${dir}/*.h)
  install(FILES ${headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/weir/${dir})
endforeach()

set(weir_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/weir)
install(EXPORT weirTargets NAMESPACE weir:: DESTINATION ${weir_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/weirConfig.cmake.in
  ${PROJECT_BINARY_DIR}/weirConfig.cmake INSTALL_DESTINATION ${weir_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/weirConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/weirConfig.cmake ${PROJECT_BINARY_DIR}/weirConfigVersion.cmake
  DESTINATION ${weir_cmake_dir})

# The .pc files find the prefix from where they are (pkg-config's pcfiledir), so an install
# with `cmake --install --prefix` anywhere works without editing them.
file(RELATIVE_PATH WEIR_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" WEIR_PC_TO_PREFIX "${WEIR_PC_TO_PREFIX}")
foreach(pc weir weir-pcap)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# In the tree, examples/ link these names, as an installed consumer does.
add_library(weir::weir ALIAS weir_shared)
add_library(weir::weir_static ALIAS weir_static)
add_library(weir::pcap ALIAS weir_pcap_shared)
