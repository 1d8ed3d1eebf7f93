# What `cmake --install` puts under the prefix, for find_package(idem) and pkg-config:
#   include/idem/                 the public headers, envelope.capnp and its generated header,
#                                 version.h
#   lib/libidem_*.a               the static libraries (compiled with -fPIC)
#   lib/cmake/idem/               idemConfig.cmake, idemConfigVersion.cmake, the exported targets
#   lib/pkgconfig/idem*.pc        idem, idem-testing, idem-nats
#   bin/idem                      the tool (when IDEM_BUILD_TOOLS)
# Exported targets: idem::idem (endpoints, host, embedded transport), idem::handlers (what a
# handler module links), idem::testing (include/idem/testing.h) and, in the component `nats`,
# idem::nats. idem::store, idem::store_records and idem::schema are what those link.
include(CMakePackageConfigHelpers)

set(IDEM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/idem)

set(IDEM_HEADERS_LEFT_OUT)
if(NOT IDEM_NATS)
  set(IDEM_HEADERS_LEFT_OUT PATTERN "nats_*.h" EXCLUDE)
endif()
install(DIRECTORY include/idem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.capnp" ${IDEM_HEADERS_LEFT_OUT})
install(FILES ${IDEM_GEN_DIR}/idem/envelope.capnp.h ${IDEM_GEN_DIR}/idem/http_call.capnp.h
  ${IDEM_GEN_DIR}/idem/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/idem)

set_target_properties(idem_framework PROPERTIES EXPORT_NAME idem)
set_target_properties(idem_handlers PROPERTIES EXPORT_NAME handlers)
set_target_properties(idem_testing PROPERTIES EXPORT_NAME testing)
set_target_properties(idem_store PROPERTIES EXPORT_NAME store)
set_target_properties(idem_store_records PROPERTIES EXPORT_NAME store_records)
set_target_properties(idem_schema PROPERTIES EXPORT_NAME schema)
install(TARGETS idem_framework idem_handlers idem_testing idem_store idem_store_records idem_schema
  EXPORT idemTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT idemTargets NAMESPACE idem:: DESTINATION ${IDEM_CMAKE_DIR})
if(IDEM_NATS)
  set_target_properties(idem_nats PROPERTIES EXPORT_NAME nats)
  install(TARGETS idem_nats EXPORT idemNatsTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT idemNatsTargets NAMESPACE idem:: DESTINATION ${IDEM_CMAKE_DIR})
endif()

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/idemConfig.cmake.in
  ${PROJECT_BINARY_DIR}/idemConfig.cmake INSTALL_DESTINATION ${IDEM_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
# 0.x: a new minor version may change the API and the module ABI.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/idemConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/idemConfig.cmake ${PROJECT_BINARY_DIR}/idemConfigVersion.cmake
  DESTINATION ${IDEM_CMAKE_DIR})

# pkg-config: the libraries are static, so each .pc lists what they link in Requires and Libs.
# Relocatable: the prefix is found from the .pc file's own directory (--prefix at install time).
file(RELATIVE_PATH IDEM_PC_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" IDEM_PC_PREFIX "${IDEM_PC_PREFIX}")
set(IDEM_PC_NAMES idem idem-testing)
if(IDEM_NATS)
  list(APPEND IDEM_PC_NAMES idem-nats)
endif()
foreach(pc ${IDEM_PC_NAMES})
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${pc}.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc
    @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

if(IDEM_BUILD_TOOLS)
  install(TARGETS idem RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
