#include "image/bytecode_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/sha256.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

using nlohmann::json;

// Media types (image-spec media-types.md; Docker's image manifest v2 schema 2).
constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

constexpr uint16_t kEmBpf = 247;  // e_machine of BPF objects (ELF gABI, linux/elf-em.h)
constexpr uint16_t kEtRel = 1;

// A content error (a blob that does not match, a malformed document): the input is wrong.
template <typename... Args>
std::unexpected<Error> invalid(fmt::format_string<Args...> f, Args &&...args) {
  return std::unexpected<Error>(
      Error{0, fmt::format(f, std::forward<Args>(args)...), ErrorKind::Invalid});
}

// image-spec descriptor.md, the fields read here.
struct Descriptor {
  std::string media_type, digest, hex;
  uint64_t size = 0;
  std::string os, architecture, ref_name;
};

bool is_index(std::string_view t) { return t == kOciIndex || t == kDockerList; }
bool is_manifest(std::string_view t) { return t == kOciManifest || t == kDockerManifest; }

std::string str_field(const json &j, const char *key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Descriptor> parse_descriptor(const json &j, std::string_view what) {
  if (!j.is_object()) return invalid("{}: a descriptor that is not a JSON object", what);
  Descriptor d;
  d.media_type = str_field(j, "mediaType");
  d.digest = str_field(j, "digest");
  // Only sha256 is verified; the hex part names the blob file, so it is checked before use.
  constexpr std::string_view kAlg = "sha256:";
  const std::string_view hex = std::string_view(d.digest).substr(std::min(d.digest.size(), kAlg.size()));
  if (!d.digest.starts_with(kAlg) || !is_sha256_hex(hex))
    return invalid("{}: digest '{}' is not sha256: and 64 lower-case hex digits", what, d.digest);
  d.hex = hex;
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned())
    return invalid("{}: descriptor of {} has no size (a non-negative integer)", what, d.digest);
  d.size = size->get<uint64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    d.os = str_field(*p, "os");
    d.architecture = str_field(*p, "architecture");
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object()) d.ref_name = str_field(*a, kRefNameAnnotation.data());
  return d;
}

}  // namespace

Result<std::string> read_capped_file(const std::string &path, uint64_t max, std::string_view what) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return fail_errno(errno, "{}: open {}", what, path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "{}: stat {}", what, path);
  if (!S_ISREG(st.st_mode)) return invalid("{}: {} is not a regular file", what, path);
  if (static_cast<uint64_t>(st.st_size) > max)
    return invalid("{}: {} is {} bytes, more than the {} accepted", what, path, st.st_size, max);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, "{}: read {}", what, path);
    if (n == 0) return invalid("{}: {} shrank while it was read", what, path);
    got += static_cast<size_t>(n);
  }
  return out;
}

namespace {

// A blob of the layout, checked against its descriptor: the size first (before any read, and
// against `max`), then the sha256 of what was read.
Result<std::string> read_blob(const std::string &dir, const Descriptor &d, std::string_view role, uint64_t max) {
  const std::string what = fmt::format("{} blob {}", role, d.digest);
  if (d.size > max)
    return invalid("{}: its descriptor gives {} bytes, more than the {} accepted", what, d.size, max);
  const std::string path = dir + "/blobs/sha256/" + d.hex;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) != d.size)
    return invalid("{}: {} is {} bytes, its descriptor says {}", what, path, st.st_size, d.size);
  auto bytes = read_capped_file(path, d.size, what);
  if (!bytes) return fail(bytes.error());
  if (bytes->size() != d.size)
    return invalid("{}: {} is {} bytes, its descriptor says {}", what, path, bytes->size(), d.size);
  if (const std::string got = sha256_hex(*bytes); got != d.hex)
    return invalid("{}: content has sha256:{}: the blob was altered or truncated", what, got);
  return bytes;
}

Result<json> parse_json(const std::string &text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalid("{}: not a JSON object", what);
  return j;
}

// The document's media type: its descriptor's, which the document's own mediaType (when it has
// one) must repeat (image-spec manifest.md, image-index.md).
Result<std::string> media_type_of(const Descriptor &d, const json &doc, std::string_view what) {
  const std::string own = str_field(doc, "mediaType");
  if (!own.empty() && !d.media_type.empty() && own != d.media_type)
    return invalid("{}: its mediaType '{}' differs from its descriptor's '{}'", what, own, d.media_type);
  if (!d.media_type.empty()) return d.media_type;
  if (!own.empty()) return own;
  // image-spec lets an OCI manifest leave mediaType out; tell it by its fields.
  if (doc.contains("manifests")) return std::string(kOciIndex);
  return std::string(kOciManifest);
}

// A manifest or index blob: read and checked against `d`, parsed, with its media type.
struct Document {
  json doc;
  std::string type, what;
};

Result<Document> read_document(const std::string &dir, const Descriptor &d) {
  auto text = read_blob(dir, d, "manifest", kMaxImageJsonBytes);
  if (!text) return fail(text.error());
  Document out{{}, {}, fmt::format("manifest blob {}", d.digest)};
  auto doc = parse_json(*text, out.what);
  if (!doc) return fail(doc.error());
  auto type = media_type_of(d, *doc, out.what);
  if (!type) return fail(type.error());
  out.doc = std::move(*doc);
  out.type = std::move(*type);
  return out;
}

Result<Descriptor> pick_platform(const json &index, std::string_view arch, std::string_view what) {
  auto m = index.find("manifests");
  if (m == index.end() || !m->is_array()) return invalid("{}: no manifests array", what);
  std::vector<std::string> seen;
  for (size_t i = 0; i < m->size(); ++i) {
    auto d = parse_descriptor((*m)[i], fmt::format("{} manifests[{}]", what, i));
    if (!d) return fail(d.error());
    if (d->os == "linux" && d->architecture == arch) return d;
    seen.push_back(fmt::format("{}/{}", d->os.empty() ? "?" : d->os, d->architecture.empty() ? "?" : d->architecture));
  }
  return invalid("{}: no manifest for linux/{} (it has {})", what, arch,
                 seen.empty() ? std::string("none") : fmt::format("{}", fmt::join(seen, ", ")));
}

struct ArchiveDeleter {
  // archive_read_free() also closes; the archive owns no memory of ours (read from `bytes`).
  void operator()(archive *a) const { (void)archive_read_free(a); }
};

struct Extracted {
  std::string bytes, path;
  LayerForm form;
};

// Reads up to `max` + 1 bytes of the current entry (one more tells "too large").
Result<std::string> read_entry(archive *a, uint64_t max, std::string_view what) {
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    const la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n < 0) return invalid("{}: {}", what, archive_error_string(a));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) return invalid("{}: more than {} bytes", what, max);
  }
  return out;
}

std::string root_name(std::string_view p) {
  while (p.starts_with("./") || p.starts_with("/")) p.remove_prefix(p.front() == '/' ? 1 : 2);
  return std::string(p);
}

// The object in a layer, told by its content as bpfman's Go extractor does: an ELF, a gzip'd
// ELF, or a (gzip'd) tar with one `*.o` at its root.
Result<Extracted> extract_object(const std::string &layer, std::string_view what) {
  const bool gzip = layer.size() >= 2 && static_cast<unsigned char>(layer[0]) == 0x1f &&
                    static_cast<unsigned char>(layer[1]) == 0x8b;
  if (layer.starts_with("\x7f" "ELF")) return Extracted{layer, "", LayerForm::Elf};
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a) return fail("{}: archive_read_new failed", what);
  (void)archive_read_support_filter_gzip(a.get());
  (void)archive_read_support_format_tar(a.get());
  (void)archive_read_support_format_raw(a.get());  // a gzip'd ELF: one entry, the data
  if (archive_read_open_memory(a.get(), layer.data(), layer.size()) != ARCHIVE_OK)
    return invalid("{}: {}", what, archive_error_string(a.get()));
  archive_entry *entry = nullptr;
  int rc = archive_read_next_header(a.get(), &entry);
  if (rc == ARCHIVE_EOF) return invalid("{}: an empty layer, no BPF object in it", what);
  if (rc < ARCHIVE_WARN) return invalid("{}: {}", what, archive_error_string(a.get()));
  if (archive_format(a.get()) == ARCHIVE_FORMAT_RAW) {
    auto bytes = read_entry(a.get(), kMaxBytecodeBytes, fmt::format("{}: the decompressed object", what));
    if (!bytes) return fail(bytes.error());
    if (!gzip || !bytes->starts_with("\x7f" "ELF"))
      return invalid("{}: neither a tar archive nor an ELF object (bare or gzip'd)", what);
    return Extracted{std::move(*bytes), "", LayerForm::GzipElf};
  }
  std::vector<std::string> objects, elsewhere;
  Extracted out{"", "", gzip ? LayerForm::TarGzip : LayerForm::Tar};
  uint64_t content = 0;
  for (; rc != ARCHIVE_EOF; rc = archive_read_next_header(a.get(), &entry)) {
    if (rc < ARCHIVE_WARN) return invalid("{}: {}", what, archive_error_string(a.get()));
    const char *raw = archive_entry_pathname(entry);
    const std::string name = root_name(raw ? raw : "");
    const uint64_t size = archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0
                              ? static_cast<uint64_t>(archive_entry_size(entry))
                              : 0;
    content += size;
    if (content > kMaxLayerContentBytes)
      return invalid("{}: its tar entries hold more than {} bytes", what, kMaxLayerContentBytes);
    if (name.size() <= 2 || !name.ends_with(".o")) continue;
    if (name.find('/') != std::string::npos) {
      elsewhere.push_back(name);
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != nullptr)
      return invalid("{}: tar entry '{}' is not a regular file", what, name);
    objects.push_back(name);
    if (objects.size() > 1) continue;
    if (size > kMaxBytecodeBytes)
      return invalid("{}: tar entry '{}' is {} bytes, more than the {} accepted", what, name, size, kMaxBytecodeBytes);
    auto bytes = read_entry(a.get(), kMaxBytecodeBytes, fmt::format("{}: tar entry '{}'", what, name));
    if (!bytes) return fail(bytes.error());
    out.bytes = std::move(*bytes);
    out.path = name;
  }
  if (objects.size() > 1)
    return invalid("{}: {} .o files at the root of the layer ({}); bpfman's format has one", what, objects.size(),
                   fmt::join(objects, ", "));
  if (objects.empty())
    return invalid("{}: no .o file at the root of the layer{}", what,
                   elsewhere.empty() ? std::string() : fmt::format(" (only under directories: {})", fmt::join(elsewhere, ", ")));
  return out;
}

}  // namespace

std::string_view node_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#else
#error "node_architecture: add this architecture's GOARCH name"
#endif
}

std::string_view to_string(LayerForm f) {
  switch (f) {
    case LayerForm::TarGzip: return "tar+gzip";
    case LayerForm::Tar: return "tar";
    case LayerForm::GzipElf: return "gzip'd ELF";
    case LayerForm::Elf: return "ELF";
  }
  return "?";
}

Result<void> check_bpf_elf(std::string_view b, std::string_view what) {
  if (b.size() < 20 || !b.starts_with("\x7f" "ELF")) return invalid("{}: not an ELF object", what);
  const auto byte = [&](size_t i) { return static_cast<uint16_t>(static_cast<unsigned char>(b[i])); };
  const uint16_t data = byte(5);  // EI_DATA: 1 little-endian, 2 big-endian
  if (data != 1 && data != 2) return invalid("{}: ELF byte order (EI_DATA) {} is neither 1 nor 2", what, data);
  const auto half = [&](size_t i) {
    return data == 1 ? static_cast<uint16_t>(byte(i) | byte(i + 1) << 8) : static_cast<uint16_t>(byte(i) << 8 | byte(i + 1));
  };
  if (const uint16_t machine = half(18); machine != kEmBpf)
    return invalid("{}: ELF e_machine is {}, not EM_BPF ({}): an object for another machine", what, machine, kEmBpf);
  const uint16_t host = std::endian::native == std::endian::little ? 1 : 2;
  if (data != host)
    return invalid("{}: a {}-endian BPF object on a {}-endian node", what, data == 1 ? "little" : "big",
                   host == 1 ? "little" : "big");
  if (const uint16_t type = half(16); type != kEtRel)
    return invalid("{}: ELF e_type is {}, not a relocatable object (ET_REL)", what, type);
  return {};
}

Result<BytecodeImage> read_bytecode_image(const std::string &layout_dir, const ReadImageOptions &options) {
  auto layout = read_capped_file(layout_dir + "/oci-layout", kMaxImageJsonBytes, "image layout");
  if (!layout) return fail(layout.error().with_message(layout.error().message + " (not an OCI image layout)"));
  auto layout_json = parse_json(*layout, layout_dir + "/oci-layout");
  if (!layout_json) return fail(layout_json.error());
  if (str_field(*layout_json, "imageLayoutVersion").empty())
    return invalid("{}/oci-layout: no imageLayoutVersion", layout_dir);

  const std::string index_path = layout_dir + "/index.json";
  auto index_text = read_capped_file(index_path, kMaxImageJsonBytes, "image layout");
  if (!index_text) return fail(index_text.error());
  auto index = parse_json(*index_text, index_path);
  if (!index) return fail(index.error());
  auto entries = index->find("manifests");
  if (entries == index->end() || !entries->is_array()) return invalid("{}: no manifests array", index_path);
  std::vector<Descriptor> candidates;
  std::vector<std::string> names;
  for (size_t i = 0; i < entries->size(); ++i) {
    auto d = parse_descriptor((*entries)[i], fmt::format("{} manifests[{}]", index_path, i));
    if (!d) return fail(d.error());
    names.push_back(d->ref_name.empty() ? d->digest : d->ref_name);
    if (options.ref_name.empty() || d->ref_name == options.ref_name) candidates.push_back(std::move(*d));
  }
  if (candidates.empty())
    return invalid("{}: no manifest{} (it lists: {})", index_path,
                   options.ref_name.empty() ? std::string() : fmt::format(" named '{}'", options.ref_name),
                   names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
  if (candidates.size() > 1)
    return invalid("{}: {} manifests{}; name the one to read (org.opencontainers.image.ref.name): {}", index_path,
                   candidates.size(), options.ref_name.empty() ? "" : fmt::format(" named '{}'", options.ref_name),
                   fmt::join(names, ", "));

  BytecodeImage out;
  Descriptor desc = candidates.front();
  auto read = read_document(layout_dir, desc);
  if (!read) return fail(read.error());
  if (is_index(read->type)) {
    out.index_digest = desc.digest;
    auto child = pick_platform(read->doc, options.architecture, fmt::format("image index blob {}", desc.digest));
    if (!child) return fail(child.error());
    desc = std::move(*child);
    read = read_document(layout_dir, desc);
    if (!read) return fail(read.error());
    if (is_index(read->type))
      return invalid("{}: an image index inside an image index (one level is read)", read->what);
  }
  const json *doc = &read->doc;
  const std::string &what = read->what;
  if (!is_manifest(read->type))
    return invalid("{}: media type '{}' is neither an OCI image manifest ({}) nor a Docker v2 schema 2 manifest ({})",
                   what, read->type, kOciManifest, kDockerManifest);
  out.manifest_digest = desc.digest;

  auto config_it = doc->find("config");
  if (config_it == doc->end()) return invalid("{}: no config descriptor", what);
  auto config_desc = parse_descriptor(*config_it, what + " config");
  if (!config_desc) return fail(config_desc.error());
  auto config_text = read_blob(layout_dir, *config_desc, "config", kMaxImageJsonBytes);
  if (!config_text) return fail(config_text.error());
  const std::string config_what = fmt::format("config blob {}", config_desc->digest);
  auto config = parse_json(*config_text, config_what);
  if (!config) return fail(config.error());
  auto labels = labels_from_config(*config, config_what);
  if (!labels) return fail(labels.error());
  out.labels = std::move(*labels);

  auto layers = doc->find("layers");
  if (layers == doc->end() || !layers->is_array() || layers->size() != 1)
    return invalid("{}: {} layers; bpfman's format has exactly one", what,
                   layers != doc->end() && layers->is_array() ? layers->size() : 0);
  auto layer_desc = parse_descriptor(layers->front(), what + " layers[0]");
  if (!layer_desc) return fail(layer_desc.error());
  const std::string &lt = layer_desc->media_type;
  if (lt.find("zstd") != std::string::npos || lt.find("nondistributable") != std::string::npos ||
      lt.find("foreign") != std::string::npos)
    return invalid("layer blob {}: media type '{}' is not read (tar, tar+gzip or an ELF object are)",
                   layer_desc->digest, lt);
  auto layer = read_blob(layout_dir, *layer_desc, "layer", kMaxBytecodeBytes);
  if (!layer) return fail(layer.error());
  const std::string layer_what = fmt::format("layer blob {}", layer_desc->digest);
  auto object = extract_object(*layer, layer_what);
  if (!object) return fail(object.error());
  const std::string object_what =
      object->path.empty() ? layer_what : fmt::format("{}: tar entry '{}'", layer_what, object->path);
  if (auto ok = check_bpf_elf(object->bytes, object_what); !ok) return fail(ok.error());

  out.object.digest = sha256_hex(object->bytes);
  out.object.bytes = std::make_shared<const std::string>(std::move(object->bytes));
  out.object_path = std::move(object->path);
  out.form = object->form;
  return out;
}

}  // namespace bpfrec
