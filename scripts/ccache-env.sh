# Sourced by scripts/run-tests.sh and .ci/run: compile through ccache
# (installed by install-deps.sh) so that a rebuild of unchanged sources is
# cheap. CMake reads CMAKE_<LANG>_COMPILER_LAUNCHER from the environment for
# every new build tree, the package builds included. JIT_NO_CCACHE=1: off.
if [ "${JIT_NO_CCACHE:-0}" != 1 ] && command -v ccache >/dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
fi
