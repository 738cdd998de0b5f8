// Bytecode images read from an OCI image layout directory (image-spec image-layout.md: the
// `oci-layout` file, `index.json`, `blobs/sha256/<hex>`), what `skopeo copy docker://REF
// oci:DIR:TAG` writes. The format of the image is bpfman's (docs/developer-guide/
// shipping-bytecode.md, platform/image/oci/extract.go): one layer holding one BPF object.
// Every blob is checked against its descriptor (size and sha256) before it is used.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "image/labels.h"
#include "manifest/bytecode.h"
#include "util/result.h"

namespace bpfrec {

/// Largest manifest, index or config blob read, in bytes (distribution's registry refuses
/// manifests over 4 MiB).
inline constexpr uint64_t kMaxImageJsonBytes = uint64_t{4} << 20;
/// Largest content of a tar layer (the sum of its entries' sizes), in bytes: a 16 MiB gzip
/// layer could otherwise inflate a thousandfold while the reader skips to its `.o`.
inline constexpr uint64_t kMaxLayerContentBytes = 4 * kMaxBytecodeBytes;

/// The node's architecture in the OCI platform vocabulary (image-spec image-index.md, Go's
/// GOARCH): "amd64", "arm64", "ppc64le", "s390x", "riscv64", "386", "arm"; of this build.
std::string_view node_architecture();

/// How the layer held the object (bpfman's Go extractor takes all four).
enum class LayerForm { TarGzip, Tar, GzipElf, Elf };
/// "tar+gzip", "tar", "gzip'd ELF", "ELF": for messages and status.
std::string_view to_string(LayerForm f);

/// What read_bytecode_image() is told.
struct ReadImageOptions {
  /// The platform.architecture to pick from an image index (the os is always "linux").
  std::string architecture = std::string(node_architecture());
  /// The index.json entry to read, by its org.opencontainers.image.ref.name annotation (the TAG
  /// of skopeo's oci:DIR:TAG); empty: index.json must list exactly one manifest.
  std::string ref_name;
};

/// One bytecode image, read and checked.
struct BytecodeImage {
  /// The object's bytes and their sha256 (its stamp is zero: it comes from no file of its own).
  Bytecode object;
  /// "sha256:<hex>" of the image manifest the object came from (the platform's, in an index).
  std::string manifest_digest;
  /// "sha256:<hex>" of the image index the manifest was picked from; empty without an index.
  std::string index_digest;
  /// The object's path in the tar layer; empty for a bare or gzip'd ELF layer.
  std::string object_path;
  LayerForm form = LayerForm::TarGzip;
  ImageLabels labels;
};

/// Reads the bytecode image that `layout_dir` (an OCI image layout) holds:
/// - index.json (image-spec image-layout.md) names the manifest (by options.ref_name, or its only
///   entry); a manifest that is an image index (OCI index or Docker manifest list) gives the child
///   for linux/options.architecture (image-spec image-index.md), one level deep;
/// - manifests: OCI image manifest or Docker v2 schema 2 (their media types); the config's
///   labels are read with labels_from_config();
/// - every blob (index, manifest, config, layer) is read from blobs/sha256/<hex> and must have its
///   descriptor's size and sha256 (image-spec descriptor.md); a layer whose descriptor or file is
///   over kMaxBytecodeBytes is refused before it is read (bpfman's 16 MiB cap);
/// - exactly one layer (bpfman's format), tar+gzip, tar, gzip'd ELF or bare ELF (told by its
///   content; zstd and non-distributable layers refused); from a tar, the one regular file named
///   `*.o` at its root (entries under directories are not looked at);
/// - the object: an ELF relocatable (ET_REL) with e_machine EM_BPF (247) in the node's byte
///   order (as bpfman's Go extractor checks), at most kMaxBytecodeBytes.
/// Errors name the file, blob (by digest and role), label or tar entry at fault; a digest
/// mismatch is ErrorKind::Invalid, a missing file ErrorKind::NotFound.
Result<BytecodeImage> read_bytecode_image(const std::string &layout_dir, const ReadImageOptions &options = {});

/// The whole of the regular file at `path` (opened O_NOFOLLOW), of at most `max` bytes: its size
/// is taken from fstat, so a larger file is refused before it is read. `what` starts each error
/// message. Errors: open/stat/read errno (ENOENT: ErrorKind::NotFound); not a regular file, too
/// large, shrank while read (ErrorKind::Invalid).
Result<std::string> read_capped_file(const std::string &path, uint64_t max, std::string_view what);

/// Whether `bytes` start with an ELF header of a BPF relocatable object in the node's byte
/// order (ELF gABI: e_ident, e_type at 16, e_machine at 18). `what` names it in errors.
/// Errors: not ELF, another machine (its number), another byte order, not ET_REL.
Result<void> check_bpf_elf(std::string_view bytes, std::string_view what);

}  // namespace bpfrec
