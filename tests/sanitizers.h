// Whether this test binary (and so the kiln built beside it) runs under AddressSanitizer.
// ASan reserves terabytes of address space for its shadow memory, so tests that cap the address
// space (setrlimit RLIMIT_AS, `ulimit -v`) to make a regression fail fast cannot use the cap there;
// the behaviour they check (nothing allocated from a hostile header) is the same without it.
#ifndef KILN_TESTS_SANITIZERS_H_
#define KILN_TESTS_SANITIZERS_H_

namespace kiln::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace kiln::testing

#endif  // KILN_TESTS_SANITIZERS_H_
