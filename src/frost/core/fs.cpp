#include "frost/core/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "frost/core/error.h"

namespace frost::fs {

namespace {
std::string errno_text() { return std::strerror(errno); }

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // best effort for directories on exotic file systems
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

std::string temp_path_for(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

void commit_temp_file(const std::string& tmp, const std::string& path) {
  int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string why = errno_text();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error("cannot fsync '" + tmp + "' before renaming it to '" + path + "': " + why);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
  const auto dir = std::filesystem::path(path).parent_path();
  fsync_path(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = temp_path_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error("cannot create '" + tmp + "' (for '" + path + "'): " + errno_text());
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error("cannot write '" + tmp + "' (for '" + path + "'): " + why);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
  commit_temp_file(tmp, path);
}

void create_directories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  FROST_CHECK(!ec, "cannot create directory '", dir, "': ", ec.message());
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

namespace {
// nftw callback: removes each entry after its children (FTW_DEPTH).
std::string g_remove_failed;  // guarded by g_remove_mu
int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  if (::remove(path) != 0) {
    g_remove_failed = detail::str_cat(path, ": ", std::strerror(errno));
    return 1;
  }
  return 0;
}
std::mutex g_remove_mu;  // nftw's callback has no user pointer
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    FROST_CHECK(errno == ENOENT, "cannot remove '", path, "': ", std::strerror(errno));
    return;
  }
  std::lock_guard<std::mutex> g(g_remove_mu);
  g_remove_failed.clear();
  const int rc = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  FROST_CHECK(rc == 0, "cannot remove '", path, "': ",
              g_remove_failed.empty() ? std::string(std::strerror(errno)) : g_remove_failed);
}

}  // namespace frost::fs
