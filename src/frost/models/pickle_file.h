// Reading torch pickle archives (torch.save / torch::pickle_save) from a file.
#pragma once

#include <ATen/core/ivalue.h>

#include <exception>
#include <string>

namespace frost::models {

/// Unpickles the zip archive written by `torch::pickle_save` or Python's `torch.save` straight
/// from the file at `path`: each tensor record is read from the file into that tensor's own
/// storage, so loading peaks at the size of the tensors, where `torch::pickle_load` first needs
/// the whole file as a byte vector (twice the memory). Tensors come back on the CPU with their
/// saved dtypes and shapes. Throws what LibTorch throws (c10::Error, a std::exception) for a
/// missing file or one that is not such an archive; callers add the file's role to the message.
c10::IValue load_pickle_file(const std::string& path);

/// The message of an exception LibTorch threw, for wrapping in a frost::Error: a c10::Error's
/// what_without_backtrace() (its what() appends LibTorch's C++ backtrace, "Exception raised
/// from ... frame #0: ...", which means nothing to a user), else what().
std::string torch_error_message(const std::exception& e);

}  // namespace frost::models
