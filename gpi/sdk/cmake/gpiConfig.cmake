# gpiConfig.cmake: the CMake package of GPI Sandbox's native-plugin SDK.
#
#   find_package(gpi 1.0 CONFIG REQUIRED)      # -Dgpi_DIR="$(gpi sdk --cmakedir)"
#   gpi_add_plugin(my_plugin SOURCES src/my_plugin.c CAPABILITIES draw)
#
# Provides:
#   gpi::plugin_api     INTERFACE target: the include folder of gpi_plugin.h, C99
#   GPI_INCLUDE_DIR     that folder
#   GPI_ABI_MAJOR/MINOR the ABI version of the shipped header
#   GPI_PYTHON          the Python interpreter gpi runs on (for tests: -m gpi ...)
#   gpi_add_plugin()    see gpiPlugin.cmake
# The package version is the ABI version (gpiConfigVersion.cmake): asking for
# 1.0 accepts any 1.x header, asking for 2.0 fails.

get_filename_component(_gpi_sdk_dir "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(GPI_INCLUDE_DIR "${_gpi_sdk_dir}/include")
set(GPI_ABI_MAJOR 1)
set(GPI_ABI_MINOR 1)
if(NOT DEFINED GPI_PYTHON)
  # sdk/ lives in the gpi package: <site-packages>/gpi/sdk; the interpreter that runs `gpi`
  # put us here, so ask the environment first and fall back to whatever python3 is found.
  if(DEFINED ENV{GPI_PYTHON})
    set(GPI_PYTHON "$ENV{GPI_PYTHON}")
  else()
    find_program(GPI_PYTHON NAMES python3 python NAMES_PER_DIR)
  endif()
endif()

if(NOT TARGET gpi::plugin_api)
  add_library(gpi::plugin_api INTERFACE IMPORTED)
  set_target_properties(gpi::plugin_api PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${GPI_INCLUDE_DIR}"
    INTERFACE_COMPILE_FEATURES c_std_99)
endif()

include("${CMAKE_CURRENT_LIST_DIR}/gpiPlugin.cmake")
