// main() of the programs `kiln build` writes for one process.
#include "aot/program_commands.h"

int main(int argc, char** argv) { return kiln::aot::ProgramMain(argc, argv, nullptr); }
