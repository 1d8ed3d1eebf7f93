// Catch2's implementation without its main(): tests/sim_world.cpp (linked for the oracles)
// reports through Catch2 macros.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
