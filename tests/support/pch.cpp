// The translation unit that makes the suites' precompiled header (tests/CMakeLists.txt).
