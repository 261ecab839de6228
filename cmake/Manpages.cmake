# Man pages rendered from their Markdown sources (NAME.SECTION.md) with
# pandoc, when pandoc is installed (Debian: `pandoc`), into man/SECTION.
# Optional for a developer build: without it nothing is rendered, the build
# does not fail, and tests/docs skips its rendering test. The packages
# build-depend on pandoc, so they always carry the pages. Included once
# from the top-level CMakeLists.txt; tests/docs uses the variables below.
set(JIT_MANPAGE_SOURCES
    ${PROJECT_SOURCE_DIR}/pam_module/pam_jit.8.md
    ${PROJECT_SOURCE_DIR}/nss_module/libnss_jit.8.md
    ${PROJECT_SOURCE_DIR}/jitctl/jitctl.1.md
    ${PROJECT_SOURCE_DIR}/helperd/jit-helperd.8.md
    ${PROJECT_SOURCE_DIR}/helperd/helperd.conf.5.md
    ${PROJECT_SOURCE_DIR}/ssh/jit-authorized-keys.8.md
    ${PROJECT_SOURCE_DIR}/authority/jit-authority.8.md
    ${PROJECT_SOURCE_DIR}/authority/jitadm.1.md)
set(JIT_MANPAGE_FILTER ${CMAKE_CURRENT_LIST_DIR}/manpage-tables.lua)
# -smart: "--json" must stay two ASCII hyphens, not become an en dash.
set(JIT_PANDOC_MAN_OPTIONS --standalone --from markdown-smart --to man --lua-filter ${JIT_MANPAGE_FILTER})
find_program(PANDOC_EXECUTABLE pandoc)

if(PANDOC_EXECUTABLE)
  set(jit_manpages "")
  file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/man)
  foreach(src IN LISTS JIT_MANPAGE_SOURCES)
    get_filename_component(page ${src} NAME_WLE)  # e.g. jitctl.1
    string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
    set(out ${PROJECT_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out}
      COMMAND ${PANDOC_EXECUTABLE} ${JIT_PANDOC_MAN_OPTIONS} --output ${out} ${src}
      DEPENDS ${src} ${JIT_MANPAGE_FILTER}
      COMMENT "Rendering man page ${page}"
      VERBATIM)
    list(APPEND jit_manpages ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(manpages ALL DEPENDS ${jit_manpages})
else()
  message(STATUS "pandoc not found: man pages are not rendered (install pandoc to get them)")
endif()
