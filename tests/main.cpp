// The Catch2 v2 runner: the only translation unit that defines main().
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
