# Warnings as errors and the usual distribution hardening for every target.
add_compile_options(
  -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wno-unused-parameter
  -fstack-protector-strong -fstack-clash-protection -fcf-protection
  -fno-plt)
if(NOT JIT_SANITIZE AND NOT JIT_FUZZ)
  # FORTIFY needs optimisation; ASan builds run unoptimised-ish and conflict with it.
  add_compile_options($<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
endif()
add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--as-needed)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
include(CheckPIESupported)
check_pie_supported()

if(JIT_FUZZ)
  # Every library a fuzzer links carries libFuzzer's coverage and the
  # sanitizers (build only the fuzz targets: the NSS/PAM modules do not link so).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(JIT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Shared objects loaded into other processes export only their entry points:
# jit_exports(target version-script)
function(jit_exports target script)
  target_link_options(${target} PRIVATE "-Wl,--version-script=${script}" -Wl,--no-undefined)
  set_target_properties(${target} PROPERTIES LINK_DEPENDS "${script}"
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
endfunction()
