// What every part of the integration harness shares: the json alias and the chrono literals
// (30s, 20ms) that its default arguments and the tests use.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>

namespace it {

using json = nlohmann::json;
using namespace std::chrono_literals;

}  // namespace it
