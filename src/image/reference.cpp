#include "image/reference.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include <fmt/format.h>

#include "util/sha256.h"

namespace bpfrec {
namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A repository path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* (distribution/reference).
bool path_component(std::string_view s) {
  size_t i = 0;
  auto run = [&] {
    const size_t from = i;
    while (i < s.size() && lower_alnum(s[i])) ++i;
    return i > from;
  };
  if (!run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') ++i;
    else if (s[i] == '_') i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    else if (s[i] == '-') while (i < s.size() && s[i] == '-') ++i;
    else return false;
    if (!run()) return false;
  }
  return true;
}

// A registry host: dot-separated labels of [A-Za-z0-9-] (not starting or ending with '-'),
// then an optional :port.
bool domain(std::string_view s) {
  std::string_view host = s;
  if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    const std::string_view port = s.substr(colon + 1);
    if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    host = s.substr(0, colon);
  }
  if (host.empty()) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-' ||
        !std::all_of(label.begin(), label.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }))
      return false;
    start = dot + 1;
  }
  return true;
}

// A tag: [\w][\w.-]{0,127} (distribution/reference).
bool valid_tag(std::string_view t) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (t.empty() || t.size() > 128 || !word(t.front())) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

std::string quoted(std::string_view s) { return fmt::format("'{}'", s); }

template <typename... Args>
ParsedImageReference refuse(fmt::format_string<Args...> f, Args &&...args) {
  return ParsedImageReference::refused(fmt::format(f, std::forward<Args>(args)...));
}

// distribution/reference's NameTotalLengthMax.
constexpr size_t kMaxNameLength = 255;

}  // namespace

ParsedImageReference parse_image_reference(std::string_view text) {
  ImageReference ref;
  std::string_view name = text;
  if (const auto at = text.find('@'); at != std::string_view::npos) {
    name = text.substr(0, at);
    const std::string_view digest = text.substr(at + 1);
    constexpr std::string_view kAlg = "sha256:";
    if (!digest.starts_with(kAlg))
      return refuse("{}: the digest must be sha256:<64 hex digits>, got {}", quoted(text), quoted(digest));
    const std::string_view hex = digest.substr(kAlg.size());
    if (!is_sha256_hex(hex))
      return refuse("{}: the digest must be sha256: and 64 lower-case hex digits, got {} characters after sha256:",
                  quoted(text), hex.size());
    ref.digest = digest;
  }
  // A ':' after the last '/' starts the tag; one before it is a registry's port.
  const auto slash = name.rfind('/');
  if (auto colon = name.find(':', slash == std::string_view::npos ? 0 : slash); colon != std::string_view::npos) {
    if (!ref.digest.empty())
      return refuse("{}: a tag next to the digest ({}): give NAME@sha256:DIGEST alone (which of the two a tool pulls "
                  "differs between tools)",
                  quoted(text), quoted(name.substr(colon)));
    const std::string_view tag = name.substr(colon + 1);
    if (!valid_tag(tag))
      return refuse("{}: tag {} must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
                  quoted(text), quoted(tag));
    ref.tag = tag;
    name = name.substr(0, colon);
  }
  if (ref.tag.empty() && ref.digest.empty())
    return refuse("{}: no tag or digest: give NAME:TAG or NAME@sha256:DIGEST (an implicit ':latest' moves)",
                quoted(text));
  if (name.empty())
    return refuse("{}: no image name before the {}", quoted(text), ref.digest.empty() ? "tag" : "digest");
  if (name.size() > kMaxNameLength)
    return refuse("{}: the name is {} characters long, at most {}", quoted(text), name.size(), kMaxNameLength);
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = name.find('/', start);
    parts.push_back(name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  size_t first_path = 0;
  // As docker and podman read a name: the first component is a registry when there are more and
  // it has a '.' or a ':' or is "localhost".
  if (parts.size() > 1 && (parts[0].find_first_of(".:") != std::string_view::npos || parts[0] == "localhost")) {
    if (!domain(parts[0])) return refuse("{}: {} is not a registry host[:port]", quoted(text), quoted(parts[0]));
    ref.registry = parts[0];
    first_path = 1;
  }
  for (size_t i = first_path; i < parts.size(); ++i)
    if (!path_component(parts[i]))
      return refuse("{}: repository path component {} must be lower-case letters and digits, separated by '.', '_', "
                  "'__' or '-'",
                  quoted(text), quoted(parts[i]));
  ref.repository = name.substr(ref.registry.empty() ? 0 : ref.registry.size() + 1);
  return ref;
}

}  // namespace bpfrec
