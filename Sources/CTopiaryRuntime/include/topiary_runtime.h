#ifndef TOPIARY_RUNTIME_H
#define TOPIARY_RUNTIME_H
#include <stdint.h>

/// Sets flush-to-zero (bit 15) and denormals-are-zero (bit 6) in this thread's MXCSR:
/// subnormal Adam moments otherwise slow float work on x86 by an order of magnitude.
/// A no-op returning 0 on other architectures.
uint32_t topiary_enable_flush_to_zero(void);
/// This thread's MXCSR (0 where there is none), and a setter for probes that must restore it.
uint32_t topiary_read_mxcsr(void);
void topiary_write_mxcsr(uint32_t value);
/// CPU feature bits the BLAS kernel choice depends on (1 when present).
int topiary_cpu_has_avx512(void);   // AVX512 F, BW, DQ and VL: what OpenBLAS's SkylakeX kernels use
int topiary_cpu_has_avx2_fma(void); // what its Haswell kernels use
int topiary_cpu_has_avx512_bf16(void); // AVX-512 plus AVX512_BF16: what its Cooperlake kernels add

/// Installs a SIGINT/SIGTERM/SIGHUP handler that only sets a flag (async-signal-safe); the run
/// checks it between batches, finishes its current write, and stops cleanly.
void topiary_install_interrupt_handler(void);
/// 1 once SIGINT, SIGTERM or SIGHUP arrived (and stays 1); `topiary_clear_interrupt` resets it.
int topiary_interrupt_requested(void);
void topiary_clear_interrupt(void);
#endif
