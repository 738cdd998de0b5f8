// Plain file-system helpers: existence, reading, listing, atomic writes, temp dirs, removal.
#pragma once

#include <string>
#include <vector>

namespace it {

/// Whether anything (also a dangling symlink) exists at path (lstat).
bool path_exists(const std::string& path);
/// The whole file, empty when it cannot be read.
std::string read_file(const std::string& path);
std::vector<std::string> list_dir(const std::string& path);  ///< names, sorted; empty if missing
/// Writes `.<name>.tmp` in dir, then renames it to `name` (what an editor or config tool does).
void write_file_atomic(const std::string& dir, const std::string& name, const std::string& content);
/// rm -rf path; errors are ignored.
void remove_tree(const std::string& path);
/// A new directory /tmp/<prefix>XXXXXX (mkdtemp); throws std::runtime_error on failure.
std::string make_temp_dir(const std::string& prefix);
/// Every file and directory under root, relative, sorted ("a", "a/prog", ...).
std::vector<std::string> list_tree(const std::string& root);

}  // namespace it
