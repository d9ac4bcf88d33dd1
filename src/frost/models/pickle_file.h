// Reading and writing torch pickle archives (the zip format of torch.save / torch::pickle_save).
#pragma once

#include <ATen/core/ivalue.h>

#include <exception>
#include <string>
#include <vector>

namespace frost::models {

/// Unpickles the zip archive written by `torch::pickle_save` or Python's `torch.save` straight
/// from the file at `path`: each tensor record is read from the file into that tensor's own
/// storage, so loading peaks at the size of the tensors, where `torch::pickle_load` first needs
/// the whole file as a byte vector (twice the memory). Tensors come back on the CPU with their
/// saved dtypes and shapes. Throws what LibTorch throws (c10::Error, a std::exception) for a
/// missing file or one that is not such an archive; callers add the file's role to the message.
c10::IValue load_pickle_file(const std::string& path);

/// `value` (a dict, list, tensor, string or number, nested) as the bytes of a torch.save zip
/// archive without TorchScript type tags, so that Python's torch.load reads it with
/// weights_only=True (Note [Plain pickles] in weights.cpp); tensors are saved on their device
/// (move them to the CPU first for a file that loads anywhere). Throws what LibTorch throws.
std::vector<char> save_pickle_bytes(const c10::IValue& value);

/// The message of an exception LibTorch threw, for wrapping in a frost::Error: a c10::Error's
/// what_without_backtrace() (its what() appends LibTorch's C++ backtrace, "Exception raised
/// from ... frame #0: ...", which means nothing to a user), else what().
std::string torch_error_message(const std::exception& e);

}  // namespace frost::models
