// Container image references in the grammar of distribution/reference (the Go package docker,
// podman, skopeo and CRI-O share): [REGISTRY[:PORT]/]REPOSITORY with a tag, a digest, or (refused
// here) both.
#pragma once

#include <string>
#include <string_view>

#include <utility>

namespace bpfrec {

/// One image reference as given, split into its parts; nothing is normalised (no "docker.io",
/// no "library/", no ":latest"): the node's tools resolve short names through registries.conf.
struct ImageReference {
  /// REGISTRY[:PORT] when the first component names one (it has a '.' or a ':' or is
  /// "localhost", and more components follow, as docker and podman read a name); else empty.
  std::string registry;
  /// The path components after the registry, joined by '/' (e.g. "bpfman-bytecode/xdp_pass").
  std::string repository;
  /// The tag without its ':' ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}); empty when a digest is given.
  std::string tag;
  /// "sha256:" and 64 lower-case hex digits; empty when a tag is given.
  std::string digest;

  /// REGISTRY/REPOSITORY (or REPOSITORY alone), as given.
  std::string name() const { return registry.empty() ? repository : registry + "/" + repository; }
  /// NAME:TAG or NAME@DIGEST, what skopeo and podman take after "docker://".
  std::string str() const { return name() + (digest.empty() ? ":" + tag : "@" + digest); }
};

/// What parse_image_reference() read: the reference, or why `text` is not one. Not a Result<>
/// (util/result.h): the manifest parser includes this header, and its libFuzzer build (clang 14,
/// fuzz/run) cannot compile libstdc++ 12's <expected> (clang before 19 lacks the __cpp_concepts
/// it requires).
class [[nodiscard]] ParsedImageReference {
 public:
  /// A reference that parsed.
  ParsedImageReference(ImageReference ref) : ref_(std::move(ref)) {}  // NOLINT: implicit, as Result<>'s
  /// A refusal; `error` is not empty.
  static ParsedImageReference refused(std::string error) {
    ParsedImageReference p{ImageReference{}};
    p.error_ = std::move(error);
    return p;
  }
  /// True when the text parsed.
  explicit operator bool() const { return error_.empty(); }
  const ImageReference &operator*() const { return ref_; }
  const ImageReference *operator->() const { return &ref_; }
  /// Why the text is not a reference (the text quoted); empty when it parsed.
  const std::string &error() const { return error_; }

 private:
  ImageReference ref_;
  std::string error_;
};

/// Parses `text` as NAME:TAG or NAME@sha256:HEX (distribution/reference): NAME is path
/// components of [a-z0-9] separated by '.', '_', '__' or '-'s, joined by '/', at most 255
/// characters, the first possibly a registry host[:port]. Errors (messages quote `text` and the
/// part at fault): neither tag nor digest (an implicit ":latest" moves), a tag next to the digest
/// (which one a tool pulls differs between tools), a digest other than sha256: with 64
/// lower-case hex digits (the only one this reconciler verifies), a malformed tag, an empty or
/// malformed name.
ParsedImageReference parse_image_reference(std::string_view text);

}  // namespace bpfrec
