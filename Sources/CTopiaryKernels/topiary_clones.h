#ifndef TOPIARY_CLONES_H
#define TOPIARY_CLONES_H
// Kernels compiled three times (AVX-512, AVX2, baseline x86-64) and chosen at load time by the
// CPU: Swift builds for baseline x86-64, where these loops would not vectorise.
#if defined(__x86_64__) && defined(__GNUC__)
#define TOPIARY_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TOPIARY_CLONES
#endif
#endif
