# cmake -DLIST=FILE -DMUST=TARGET -DMUST_NOT=TARGET -P link_check.cmake: FILE
# lists the targets a program reaches through its link graph, one a line;
# MUST must be among them and MUST_NOT must not.
cmake_minimum_required(VERSION 3.25)
file(STRINGS ${LIST} targets)
if(NOT MUST IN_LIST targets)
  message(FATAL_ERROR "${MUST} is not linked (reached: ${targets})")
endif()
if(MUST_NOT IN_LIST targets)
  message(FATAL_ERROR "${MUST_NOT} is linked (reached: ${targets})")
endif()
message(STATUS "links ${MUST}, not ${MUST_NOT}")
