# CMake toolchain file for the JavaScript host's engine build (see
# .cargo/config.toml): deno_core's QuickJS backend compiles WAMR, whose
# configure step fetches SIMDe from GitHub. Use the headers of Debian's
# libsimde-dev instead and never touch the network.
set(FETCHCONTENT_SOURCE_DIR_SIMDE /usr/include CACHE PATH "" FORCE)
set(FETCHCONTENT_FULLY_DISCONNECTED ON CACHE BOOL "" FORCE)
