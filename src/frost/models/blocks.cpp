#include "frost/models/blocks.h"

#include <algorithm>
#include <cctype>
#include <cstddef>

namespace frost::models {
namespace {

bool all_digits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

struct Key {
  std::string text;
  bool numbered = false;
};

// Note [Backbone blocks]: the prefix up to the first all-digit component, else the first
// component.
Key block_key(const std::string& name) {
  size_t begin = 0;
  std::string first;
  while (begin <= name.size()) {
    const size_t dot = name.find('.', begin);
    const size_t end = dot == std::string::npos ? name.size() : dot;
    const std::string part = name.substr(begin, end - begin);
    if (begin == 0) first = part;
    if (all_digits(part)) return {name.substr(0, end), true};
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  return {first, false};
}

}  // namespace

std::vector<BackboneBlock> group_blocks(const std::vector<std::string>& param_names) {
  // Distinct keys in order of first appearance, with their parameters.
  std::vector<Key> keys;
  std::vector<std::vector<std::string>> members;
  for (const auto& name : param_names) {
    const Key key = block_key(name);
    auto it =
        std::find_if(keys.begin(), keys.end(), [&](const Key& k) { return k.text == key.text; });
    if (it == keys.end()) {
      keys.push_back(key);
      members.emplace_back();
      it = keys.end() - 1;
    }
    members[static_cast<size_t>(it - keys.begin())].push_back(name);
  }
  // The unnumbered keys before the first numbered one merge into one block, as do those after
  // the last numbered one; with no numbered key at all, each key is its own block.
  const auto is_numbered = [](const Key& k) { return k.numbered; };
  const auto first_it = std::find_if(keys.begin(), keys.end(), is_numbered);
  const size_t first = static_cast<size_t>(first_it - keys.begin());
  size_t last = keys.size();  // one past the last numbered key
  while (last > 0 && !keys[last - 1].numbered) --last;
  std::vector<BackboneBlock> blocks;
  const auto merge = [&](size_t from, size_t to) {
    if (from >= to) return;
    BackboneBlock b;
    for (size_t i = from; i < to; ++i) {
      b.name += (i == from ? "" : "+") + keys[i].text;
      b.params.insert(b.params.end(), members[i].begin(), members[i].end());
    }
    blocks.push_back(std::move(b));
  };
  if (first == keys.size()) {  // nothing numbered
    for (size_t i = 0; i < keys.size(); ++i) merge(i, i + 1);
    return blocks;
  }
  merge(0, first);
  for (size_t i = first; i < last; ++i) merge(i, i + 1);
  merge(last, keys.size());
  return blocks;
}

}  // namespace frost::models
