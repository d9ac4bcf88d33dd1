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

}  // namespace frost::fs
