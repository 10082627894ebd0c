#include <signal.h>
#include "topiary_runtime.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

uint32_t topiary_enable_flush_to_zero(void) {
    _mm_setcsr(_mm_getcsr() | 0x8040u);
    return _mm_getcsr();
}
uint32_t topiary_read_mxcsr(void) { return _mm_getcsr(); }
void topiary_write_mxcsr(uint32_t value) { _mm_setcsr(value); }
int topiary_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
int topiary_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
int topiary_cpu_has_avx512_bf16(void) {
    if (!topiary_cpu_has_avx512()) return 0;   // also checks the OS saves the ZMM state
    unsigned int eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0), "c"(0));
    if (eax < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
    return (eax >> 5) & 1;   // CPUID.(EAX=7, ECX=1):EAX bit 5 = AVX512_BF16
}
#else
uint32_t topiary_enable_flush_to_zero(void) { return 0; }
uint32_t topiary_read_mxcsr(void) { return 0; }
void topiary_write_mxcsr(uint32_t value) { (void)value; }
int topiary_cpu_has_avx512(void) { return 0; }
int topiary_cpu_has_avx2_fma(void) { return 0; }
int topiary_cpu_has_avx512_bf16(void) { return 0; }
#endif

static volatile sig_atomic_t interrupt_flag = 0;
static void on_interrupt(int signal_number) { (void)signal_number; interrupt_flag = 1; }
void topiary_install_interrupt_handler(void) {
    struct sigaction action = {0};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, 0);
    sigaction(SIGTERM, &action, 0);
    // A closed terminal or ssh session: stop as cleanly as for SIGTERM.
    sigaction(SIGHUP, &action, 0);
    // A parent may have spawned us with these signals blocked (the mask is inherited).
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &wanted, 0);
}
int topiary_interrupt_requested(void) { return interrupt_flag != 0; }
void topiary_clear_interrupt(void) { interrupt_flag = 0; }
