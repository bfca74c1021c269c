#include "codegen/cpu/buffer_alias_scopes.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "llvm/AsmParser/Parser.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/SourceMgr.h"

namespace kiln::cpu {
namespace {

// A kernel in the emitters' ABI: buffer pointers loaded from `slots` (slot 0 at byte 0, slot 1
// at byte 8), a value read and written in place through slot 0, a copy into slot 1, and a
// stack temporary.
constexpr char kKernel[] = R"(
define void @kernel(ptr noalias %slots, i64 %begin, i64 %end) {
entry:
  %buf0 = load ptr, ptr %slots, align 8
  %slot1 = getelementptr inbounds i8, ptr %slots, i64 8
  %buf1 = load ptr, ptr %slot1, align 8
  %tmp = alloca float, align 4
  %at0 = getelementptr inbounds float, ptr %buf0, i64 %begin
  %x = load float, ptr %at0, align 4, !name !0
  %y = fadd float %x, 1.0
  store float %y, ptr %at0, align 4, !name !1
  %at1 = getelementptr inbounds float, ptr %buf1, i64 %end
  store float %x, ptr %at1, align 4, !name !2
  store float %y, ptr %tmp, align 4, !name !3
  ret void
}
!0 = !{!"read slot 0"}
!1 = !{!"write slot 0"}
!2 = !{!"write slot 1"}
!3 = !{!"write stack"}
)";

class BufferAliasScopesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llvm::SMDiagnostic error;
    module_ = llvm::parseAssemblyString(kKernel, error, context_);
    ASSERT_NE(module_, nullptr) << error.getMessage().str();
    DeclareSlotsDisjoint(*module_->getFunction("kernel"));
  }

  // The access tagged !name !{!"tag"}.
  llvm::Instruction* Access(const std::string& tag) {
    for (llvm::Instruction& inst : llvm::instructions(*module_->getFunction("kernel"))) {
      const llvm::MDNode* name = inst.getMetadata("name");
      if (name != nullptr && llvm::cast<llvm::MDString>(name->getOperand(0))->getString() == tag) {
        return &inst;
      }
    }
    ADD_FAILURE() << "no access tagged " << tag;
    return nullptr;
  }

  static const llvm::MDNode* Scope(const llvm::Instruction* inst) {
    return inst->getMetadata(llvm::LLVMContext::MD_alias_scope);
  }
  static const llvm::MDNode* NoAlias(const llvm::Instruction* inst) {
    return inst->getMetadata(llvm::LLVMContext::MD_noalias);
  }

  llvm::LLVMContext context_;
  std::unique_ptr<llvm::Module> module_;
};

TEST_F(BufferAliasScopesTest, EachSlotIsAScopeDisjointFromTheOthers) {
  const llvm::Instruction* write1 = Access("write slot 1");
  const llvm::Instruction* read0 = Access("read slot 0");
  ASSERT_NE(Scope(write1), nullptr);
  ASSERT_NE(Scope(read0), nullptr);
  EXPECT_NE(Scope(write1), Scope(read0));
  // Slot 1's store is declared apart from slot 0's scope, and the other way round.
  ASSERT_EQ(NoAlias(write1)->getNumOperands(), 1u);
  EXPECT_EQ(NoAlias(write1)->getOperand(0), Scope(read0)->getOperand(0));
  EXPECT_EQ(NoAlias(read0)->getOperand(0), Scope(write1)->getOperand(0));
}

// A value written in place shares its target's slot: the read and the write may alias.
TEST_F(BufferAliasScopesTest, AccessesThroughOneSlotShareItsScope) {
  EXPECT_EQ(Scope(Access("read slot 0")), Scope(Access("write slot 0")));
  EXPECT_EQ(NoAlias(Access("read slot 0")), NoAlias(Access("write slot 0")));
}

TEST_F(BufferAliasScopesTest, OtherMemoryIsLeftToLlvm) {
  const llvm::Instruction* stack = Access("write stack");
  EXPECT_EQ(Scope(stack), nullptr);
  EXPECT_EQ(NoAlias(stack), nullptr);
}

}  // namespace
}  // namespace kiln::cpu
