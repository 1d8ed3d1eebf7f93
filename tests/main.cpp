// The Catch2 main of idem_tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
