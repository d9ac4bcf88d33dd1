// Reading and writing torch pickle archives (the zip format of torch.save / torch::pickle_save).
#pragma once

#include <ATen/core/ivalue.h>

#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace frost::models {

/// Unpickles the zip archive written by `torch::pickle_save` or Python's `torch.save` straight
/// from the file at `path`: each tensor record is read from the file into that tensor's own
/// storage, so loading peaks at the size of the tensors, where `torch::pickle_load` first needs
/// the whole file as a byte vector (twice the memory). Tensors come back on the CPU with their
/// saved dtypes and shapes. Throws what LibTorch throws (c10::Error, a std::exception) for a
/// missing file or one that is not such an archive; callers add the file's role to the message.
c10::IValue load_pickle_file(const std::string& path);

/// Reads the {name: tensor} state dict of the torch.save zip archive at `path`: Python's
/// torch.save(model.state_dict()) (an OrderedDict with its _metadata) or of a plain dict, e.g. a
/// torchvision .pth or a Hugging Face pytorch_model.bin; also a Frost model.pt. Frost's own
/// restricted unpickler reads data.pkl (Note [Frost's torch.save unpickler] in torch_pickle.cpp:
/// no Python object's code runs, no LibTorch Unpickler), and LibTorch's PyTorchStreamReader
/// reads the zip and the data/<key> records.
///
/// `key` says where the state dict is: "" for the pickle's top-level dict, else a '.'-separated
/// path of dict keys ("model", "state_dict", "ema.model"), for checkpoints such as
/// {"model": state_dict, "optimizer": ..., "epoch": 3}.
///
/// Returns (name, tensor) in the file's order (a key stored twice: the last value, as Python).
/// Tensors are on the CPU with their saved dtypes (float32, float16, bfloat16, integers, bool),
/// sizes, strides and storage offsets; tensors that share a storage in the file (views, tied
/// weights) share one here; requires_grad is false. An nn.Parameter loads as its tensor. Only
/// the records of the chosen state dict are read, each once, straight into its storage (peak
/// memory: those tensors plus data.pkl).
///
/// Throws frost::Error naming `path` for: a missing file; a legacy (non-zip) torch.save file,
/// with the Python line that converts it; a file that is not a zip archive or a damaged one
/// (truncated: LibTorch's reason); a data.pkl that Frost's unpickler refuses (torch_pickle.h);
/// a big-endian archive; a record shorter than its storage; a `key` that is not there (the
/// keys that are, listed); a value that is not a {string: tensor} dict (the offending entry
/// named, and where the file's state dicts are when they are nested).
std::vector<std::pair<std::string, at::Tensor>> load_torch_state_dict(const std::string& path,
                                                                      const std::string& key = "");

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
