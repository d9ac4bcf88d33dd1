#include "frost/distributed/state_sync.h"

#include <torch/torch.h>

#include <cstring>
#include <sstream>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"

namespace frost::distributed {

namespace {
constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t fnv1a64_bytes(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

std::string hex(uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}
}  // namespace

namespace {
void broadcast_tensors(const std::vector<torch::Tensor>& tensors, comm::Communicator& comm,
                       int root) {
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<comm::Work>> works;
  std::vector<torch::Tensor> staged;  // non-contiguous tensors go through a contiguous copy
  std::vector<torch::Tensor> targets;
  auto issue = [&](const torch::Tensor& t) {
    if (t.is_contiguous()) {
      works.push_back(comm.broadcast_async(t, root));
    } else {
      staged.push_back(t.contiguous());
      targets.push_back(t);
      works.push_back(comm.broadcast_async(staged.back(), root));
    }
  };
  for (const auto& t : tensors) issue(t);
  for (auto& w : works) w->wait();
  for (size_t i = 0; i < staged.size(); ++i) targets[i].copy_(staged[i]);
}
}  // namespace

void broadcast_state(torch::nn::Module& module, comm::Communicator& comm, int root) {
  std::vector<torch::Tensor> tensors = module.parameters(true);
  for (const auto& b : module.buffers(true)) tensors.push_back(b);
  broadcast_tensors(tensors, comm, root);
}

void broadcast_buffers(torch::nn::Module& module, comm::Communicator& comm, int root) {
  broadcast_tensors(module.buffers(true), comm, root);
}

std::string module_signature(torch::nn::Module& module) {
  std::ostringstream os;
  for (const auto& p : module.named_parameters(true)) {
    os << "param " << p.key() << " " << p.value().sizes() << " " << p.value().scalar_type() << " "
       << p.value().requires_grad() << "\n";
  }
  for (const auto& b : module.named_buffers(true)) {
    os << "buffer " << b.key() << " " << b.value().sizes() << " " << b.value().scalar_type()
       << "\n";
  }
  return os.str();
}

uint64_t fnv1a64(const std::string& text) {
  return fnv1a64_bytes(text.data(), text.size(), kFnvOffset);
}

namespace {
// "[section] 'mine' on rank r, 'ref' on rank 0" for the first line that differs between two
// texts (INI-like: a "[section]" line sets the section of the lines after it).
std::string first_difference(const std::string& mine, const std::string& ref, int rank) {
  std::istringstream a(mine), b(ref);
  std::string la, lb, section;
  while (true) {
    const bool ha = static_cast<bool>(std::getline(a, la)),
               hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return "none";
    if (!ha) la = "<end>";
    if (!hb) lb = "<end>";
    if (la != lb || !ha || !hb) {
      auto cut = [](const std::string& s) { return s.size() > 160 ? s.substr(0, 160) + "..." : s; };
      return detail::str_cat(section.empty() ? "" : section + " ", "'", cut(la), "' on rank ", rank,
                             ", '", cut(lb), "' on rank 0");
    }
    if (!la.empty() && la.front() == '[' && la.back() == ']') section = la;
  }
}
}  // namespace

void check_same_across_ranks(const std::string& text, const std::string& what,
                             comm::Communicator& comm) {
  const int world = comm.world_size();
  auto mine = torch::tensor({static_cast<int64_t>(fnv1a64(text))}, torch::kLong);
  auto all = torch::empty({world}, torch::kLong);
  comm.all_gather(mine, all);
  const int64_t ref = all[0].item<int64_t>();
  std::vector<int> differ;
  for (int r = 1; r < world; ++r) {
    if (all[r].item<int64_t>() != ref) differ.push_back(r);
  }
  if (differ.empty()) return;
  // Every rank knows there is a difference, so all take part in sending rank 0's text; each
  // differing rank then names its first differing line.
  auto size = torch::tensor({static_cast<int64_t>(text.size())}, torch::kLong);
  comm.broadcast(size, 0);
  auto bytes = torch::empty({size.item<int64_t>()}, torch::kUInt8);
  if (comm.rank() == 0) std::memcpy(bytes.data_ptr(), text.data(), text.size());
  comm.broadcast(bytes, 0);
  const std::string ref_text(static_cast<const char*>(bytes.data_ptr()),
                             static_cast<size_t>(bytes.numel()));
  std::ostringstream os;
  os << "ranks disagree on the " << what << ": ";
  for (size_t i = 0; i < differ.size(); ++i) {
    os << (i ? ", " : "") << "rank " << differ[i] << " has "
       << hex(static_cast<uint64_t>(all[differ[i]].item<int64_t>()));
  }
  os << " but rank 0 has " << hex(static_cast<uint64_t>(ref));
  if (text != ref_text)
    os << "; first difference: " << first_difference(text, ref_text, comm.rank());
  os << "; every rank must be started with the same config file, command line, model and data";
  Error error(os.str());
  error.set_rank(comm.rank());
  throw error;
}

uint64_t state_digest(torch::nn::Module& module) {
  uint64_t h = kFnvOffset;
  auto add = [&](const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();  // the bytes are read on the host
    h = fnv1a64_bytes(c.data_ptr(), c.numel() * c.element_size(), h);
  };
  for (const auto& p : module.named_parameters(true)) add(p.value());
  for (const auto& b : module.named_buffers(true)) add(b.value());
  return h;
}

}  // namespace frost::distributed
