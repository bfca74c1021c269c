#include "codegen/backend.h"

#include "runtime/trainer.h"
#include "support/status.h"

namespace kiln::codegen {

absl::Status FillProfileInputs(runtime::Entry& entry) {
  for (const runtime::BufferSpec& buffer : entry.spec().buffers) {
    if (buffer.role != runtime::BufferRole::kInput) continue;
    KILN_ASSIGN_OR_RETURN(runtime::BufferView view, entry.Input(buffer.name));
    for (int64_t i = 0; i < view.num_elements(); ++i) {
      if (buffer.type == runtime::ElementType::kI64) {
        view.i64()[i] = 0;
      } else {
        view.f32()[i] = buffer.name == runtime::kLearningRateInput
                            ? 1e-6f
                            : static_cast<float>((i % 17) - 8) / 8.0f;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::codegen
