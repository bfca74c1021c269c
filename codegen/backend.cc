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

absl::StatusOr<StepSamples> LoadedModel::Benchmark(bool, int64_t, const BenchOptions&) {
  return absl::UnimplementedError("kiln bench: this device has no per-run kernel timing yet");
}

absl::Status LoadedModel::RunOnceOnHost(bool, int64_t) {
  return absl::UnimplementedError("kiln bench: this device cannot run the correctness gate yet");
}

absl::StatusOr<MachinePeak> Backend::MeasurePeak(int, const std::string&) const {
  return absl::UnimplementedError("kiln bench --calibrate: not measured on this device yet");
}

}  // namespace kiln::codegen
