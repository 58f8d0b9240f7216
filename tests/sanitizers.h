#pragma once
// Which sanitizer instruments this build, the same under GCC (__SANITIZE_*__) and clang
// (__has_feature): tests that measure memory or fault on purpose adapt to it.
#if defined(__SANITIZE_ADDRESS__)
#define HEARTH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEARTH_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define HEARTH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HEARTH_TSAN 1
#endif
#endif
