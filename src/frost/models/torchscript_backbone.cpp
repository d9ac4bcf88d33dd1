// TorchScript backbone: a torch::jit::Module behind the BackboneImpl interface.
//
// Note [TorchScript parameters in a torch::nn::Module]
// Everything in Frost that acts on parameters — the strategy's requires_grad, the gradient
// reducer's hooks, the optimizer, the rank-0 broadcast, state_dict_items, model.pt — walks
// torch::nn::Module::named_parameters()/named_buffers(). The jit module keeps its tensors in
// object slots that torch::nn::Module does not see, and register_parameter rejects dotted
// names. So the wrapper mirrors the jit module hierarchy with plain torch::nn::Module children
// (one per jit submodule, same names, same order) and registers each jit tensor in its child.
// register_parameter/register_buffer store the at::Tensor handle, i.e. the same TensorImpl as
// the jit slot: autograd metadata (requires_grad, .grad, hooks) and storage are shared, and
// torch::nn::Module::to() moves tensors with set_data, which keeps the TensorImpl. The
// state_dict order (own parameters, own buffers, then children depth-first) matches PyTorch's
// state_dict of the scripted module.
// Tensors held as plain attributes (neither parameter nor buffer) are not mirrored: like in
// PyTorch, they are not part of the state and are not moved by .to().

#include "frost/models/torchscript_backbone.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <sstream>
#include <utility>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"

namespace frost::models {
namespace {

std::string first_line(const std::string& text, size_t max_chars = 400) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > max_chars) line = line.substr(0, max_chars) + "...";
  return line;
}

std::string error_text(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

/// The gist of a TorchScript interpreter error: its message is "The following operation failed
/// in the TorchScript interpreter." + a Python-style traceback + "RuntimeError: <cause>"; keep
/// the cause.
std::string interpreter_error(const std::string& text) {
  const size_t cause = text.rfind("Error: ");
  if (cause == std::string::npos) return first_line(text, 1000);
  const size_t line_start = text.rfind('\n', cause);
  return first_line(text.substr(line_start == std::string::npos ? 0 : line_start + 1), 1000);
}

/// Registers the tensors of `src` (not recursively) in `dst`, then mirrors each child.
/// See Note [TorchScript parameters in a torch::nn::Module].
void mirror_module(torch::nn::Module& dst, const torch::jit::Module& src) {
  for (const auto& p : src.named_parameters(/*recurse=*/false)) {
    if (p.value.defined()) dst.register_parameter(p.name, p.value, p.value.requires_grad());
  }
  for (const auto& b : src.named_buffers(/*recurse=*/false)) {
    if (b.value.defined()) dst.register_buffer(b.name, b.value);
  }
  for (const auto& c : src.named_children()) {
    auto child = std::make_shared<torch::nn::Module>("TorchScript." + c.name);
    mirror_module(*child, c.value);
    dst.register_module(c.name, child);
  }
}

class TorchScriptBackboneImpl : public BackboneImpl {
 public:
  TorchScriptBackboneImpl(const std::string& path, int64_t feature_dim) : path_(path) {
    FROST_CHECK(fs::exists(path), "model.torchscript: no such file '", path,
                "' (save the module with torch.jit.save)");
    try {
      module_ = torch::jit::load(path, torch::kCPU);
    } catch (const std::exception& e) {
      throw Error("model.torchscript: cannot load '" + path +
                  "' as a TorchScript module (is it a torch.jit.save archive, not a torch.save "
                  "state_dict?): " +
                  first_line(error_text(e)));
    }

    int64_t attribute_dim = 0;
    if (module_.hasattr("feature_dim")) {
      const c10::IValue v = module_.attr("feature_dim");
      FROST_CHECK(v.isInt(), "model.torchscript '", path, "': attribute feature_dim is a ",
                  v.tagKind(), ", expected an int (the width D of the features)");
      attribute_dim = v.toInt();
    }
    FROST_CHECK(feature_dim == 0 || attribute_dim == 0 || feature_dim == attribute_dim,
                "model.feature_dim = ", feature_dim, " but the TorchScript module '", path,
                "' says feature_dim = ", attribute_dim, "; set model.feature_dim = 0 or ",
                attribute_dim);
    feature_dim_ = feature_dim > 0 ? feature_dim : attribute_dim;
    FROST_CHECK(feature_dim_ >= 1, "model.torchscript '", path,
                "': the width D of the features is unknown: give the module an int attribute "
                "(self.feature_dim = D before torch.jit.script; tracing drops attributes) or set "
                "model.feature_dim = D");

    const auto& schema = module_.get_method("forward").function().getSchema();
    const size_t inputs = schema.arguments().size() - 1;  // minus self
    FROST_CHECK(inputs == 1 || inputs == 2, "model.torchscript '", path, "': forward takes ",
                inputs, " inputs (", schema,
                "); expected forward(x) or forward(x, attention_mask)");
    takes_mask_ = inputs == 2;
    mask_optional_ =
        takes_mask_ && schema.arguments()[2].type()->kind() == c10::TypeKind::OptionalType;

    mirror_module(*this, module_);
    module_.train(is_training());
  }

  using BackboneImpl::forward;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& attention_mask) override {
    std::vector<c10::IValue> inputs{x};
    if (takes_mask_) {
      if (attention_mask.defined()) {
        inputs.emplace_back(attention_mask);
      } else if (mask_optional_) {
        inputs.emplace_back(c10::IValue());
      } else {
        inputs.emplace_back(torch::ones_like(x));
      }
    }
    c10::IValue out;
    try {
      out = module_.forward(std::move(inputs));
    } catch (const std::exception& e) {
      throw Error("TorchScript backbone '" + path_ + "': forward failed on input " + shape_str(x) +
                  ": " + interpreter_error(error_text(e)));
    }
    FROST_CHECK(out.isTensor(), "TorchScript backbone '", path_, "': forward returned a ",
                out.tagKind(), "; it must return the features, one tensor [B, ", feature_dim_, "]");
    torch::Tensor features = out.toTensor();
    FROST_CHECK(features.dim() == 2 && features.size(0) == x.size(0) &&
                    features.size(1) == feature_dim_ && features.is_floating_point(),
                "TorchScript backbone '", path_, "': forward returned ", shape_str(features),
                " for input ", shape_str(x), "; expected floating-point features [", x.size(0),
                ", ", feature_dim_,
                "] (feature_dim from the module attribute or model.feature_dim)");
    return features.scalar_type() == torch::kFloat ? features : features.to(torch::kFloat);
  }

  int64_t feature_dim() const override { return feature_dim_; }

  void train(bool on = true) override {
    torch::nn::Module::train(on);
    module_.train(on);
  }

 private:
  static std::string shape_str(const torch::Tensor& t) {
    std::ostringstream os;
    os << t.sizes() << ' ' << t.scalar_type();
    return os.str();
  }

  std::string path_;
  torch::jit::Module module_;
  int64_t feature_dim_ = 0;
  bool takes_mask_ = false;
  bool mask_optional_ = false;
};

}  // namespace

std::shared_ptr<BackboneImpl> make_torchscript_backbone(const std::string& path,
                                                        int64_t feature_dim) {
  FROST_CHECK(feature_dim >= 0, "model.feature_dim must be >= 0, got ", feature_dim);
  return std::make_shared<TorchScriptBackboneImpl>(path, feature_dim);
}

}  // namespace frost::models
