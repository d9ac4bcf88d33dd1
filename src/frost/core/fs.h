// Atomic file writes (DESIGN invariant 7): write to a temporary name in the same directory,
// fsync it, rename it over the final name, fsync the directory. A reader sees the old file
// or the new one, never a half-written one, even if the process is killed mid-write.
#pragma once

#include <string>

namespace frost::fs {

/// Temporary name used while writing `path`: "<path>.tmp.<pid>" (same directory, so the
/// rename is atomic on POSIX file systems).
std::string temp_path_for(const std::string& path);

/// fsyncs `tmp`, renames it to `path` and fsyncs the directory. On failure removes `tmp` and
/// throws frost::Error naming both paths and strerror(errno).
void commit_temp_file(const std::string& tmp, const std::string& path);

/// Writes `size` bytes to `path` atomically (temp file, fsync, rename). Throws frost::Error.
void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

/// Creates `dir` and its parents if missing. Throws frost::Error.
void create_directories(const std::string& dir);
bool exists(const std::string& path);
/// Removes `path` and, for a directory, everything under it (symbolic links are removed, not
/// followed); a missing `path` is not an error. Throws frost::Error naming the entry that could
/// not be removed. Use this, not std::filesystem::remove_all: PyPI's libtorch.so exports its own
/// copy of remove_all, which the dynamic linker binds Frost's calls to, and with LibTorch 2.11
/// that copy jumps to address 0 as soon as it has a directory to walk.
void remove_tree(const std::string& path);

}  // namespace frost::fs
