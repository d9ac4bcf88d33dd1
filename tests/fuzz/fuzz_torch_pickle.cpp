// Fuzz target: the input is the data.pkl of a torch.save archive, given to parse_torch_pickle,
// Frost's restricted unpickler (Note [Frost's torch.save unpickler] in torch_pickle.cpp), which
// load_torch_state_dict runs on every .pt/.pth/.bin weights file. A successful parse must be a
// well-formed document: every index inside it, every tensor view inside its storage.
#include <cstddef>
#include <cstdint>

#include "frost/models/torch_pickle.h"
#include "fuzz_util.h"

using frost::models::PickleDocument;
using Kind = frost::models::PickleNode::Kind;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PickleDocument doc;
  const bool ok = frost::fuzz::succeeds_or_frost_error(
      [&] { doc = frost::models::parse_torch_pickle(data, size, "fuzz.pth"); });
  if (!ok) return 0;
  FUZZ_EXPECT(doc.root < doc.nodes.size());
  for (const auto& n : doc.nodes) {
    for (size_t i : n.items) FUZZ_EXPECT(i < doc.nodes.size());
    if (n.kind == Kind::kDict) FUZZ_EXPECT(n.items.size() % 2 == 0);
    if (n.kind != Kind::kTensor) continue;
    FUZZ_EXPECT(n.sizes.size() == n.strides.size());
    FUZZ_EXPECT(n.storage_offset >= 0 && n.storage_numel >= 0);
    // Recompute the last element the view reaches (no overflow: the parser checked).
    int64_t numel = 1, last = n.storage_offset;
    for (size_t d = 0; d < n.sizes.size(); ++d) {
      FUZZ_EXPECT(n.sizes[d] >= 0 && n.strides[d] >= 0);
      numel *= n.sizes[d];
    }
    if (numel == 0) continue;
    for (size_t d = 0; d < n.sizes.size(); ++d) last += (n.sizes[d] - 1) * n.strides[d];
    FUZZ_EXPECT(last < n.storage_numel);
  }
  return 0;
}
