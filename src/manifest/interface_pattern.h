// What the `interface` key of an xdp/tc attach point may say: an interface name, an fnmatch(3)
// glob, or "@primary". Pure: the expansion against the node's interfaces lives in
// reconcile/interfaces.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bpfrec {

/// The selector for "the interface that carries the default route" (bpfman's operator calls it
/// primaryNodeInterface).
inline constexpr std::string_view kPrimaryInterface = "@primary";

/// Longest glob accepted, in characters (a name has at most 15; brackets make globs longer).
inline constexpr size_t kMaxInterfaceGlob = 64;

enum class InterfaceSelector {
  Name,     // a literal interface name
  Glob,     // contains '*', '?' or '[': matched with fnmatch(3), flags 0
  Primary,  // "@primary"
};

/// How `value` selects interfaces. Any '*', '?' or '[' makes a glob (a backslash escapes one of
/// them, as in fnmatch(3)); a value starting with '@' is a selector. Assumes a valid value.
InterfaceSelector interface_selector(std::string_view value);

/// True for globs and "@primary": values that expand_interfaces() replaces by concrete names.
inline bool is_interface_pattern(std::string_view value) {
  return interface_selector(value) != InterfaceSelector::Name;
}

/// Checks an `interface` value; nullopt when valid, else why not (for a positioned diagnostic).
/// Names follow the kernel's dev_valid_name() (net/core/dev.c): 1..15 characters, not "." or
/// "..", no '/', ':' or white space. Globs: at most kMaxInterfaceGlob characters, made of
/// characters a name may hold plus fnmatch(3)'s '*', '?', '[...]' (with '!'/'^' negation,
/// ranges and [:class:]) and '\' escapes; every '[' closed; able to match some name of at most
/// 15 characters. Selectors: only "@primary".
std::optional<std::string> interface_value_error(std::string_view value);

}  // namespace bpfrec
