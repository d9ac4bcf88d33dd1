// Whole-file reads for the tokenizer files and the inputs of frost-prep text. No LibTorch.
#pragma once

#include <string>

namespace frost::text {

/// The bytes of `path`, read whole (binary mode: no newline translation). `what` names the file
/// in errors ("BPE merges file"). Throws frost::Error "PATH: cannot open the WHAT (strerror)"
/// when it cannot be opened, "PATH: error reading the WHAT" on a read error.
std::string read_text_file(const std::string& path, const char* what);

}  // namespace frost::text
