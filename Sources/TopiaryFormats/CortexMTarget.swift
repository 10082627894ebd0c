/// A microcontroller an exported model is compiled for and emulated on: an Arm Cortex-M with a
/// single-precision FPU, as QEMU's MPS2 boards model it (flash-like memory at 0x0, RAM at
/// 0x20000000, 4 MiB each; semihosting for files and the exit status).
public enum CortexMTarget: String, Codable, CaseIterable, Sendable {
    case cortexM4 = "cortex-m4"
    case cortexM7 = "cortex-m7"

    /// QEMU's board with this core.
    var machine: String { self == .cortexM4 ? "mps2-an386" : "mps2-an500" }

    /// Code generation for the core: Thumb-2, hardware single-precision floats.
    var compilerFlags: [String] {
        switch self {
        case .cortexM4: return ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
        case .cortexM7: return ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]
        }
    }

    /// The reset vector: enable the FPU (CP10/CP11 full access in CPACR), copy initialised
    /// data from flash to RAM, then newlib's `_start` (which clears .bss and calls main).
    static let startup = """
    #include <stdint.h>
    extern uint32_t __stack_top, __data_load, __data_start, __data_end;
    extern void _start(void);
    void topiary_reset(void) {
        *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
        __asm volatile ("dsb\\n isb");
        for (uint32_t *s = &__data_load, *d = &__data_start; d < &__data_end;) *d++ = *s++;
        _start();
        for (;;) {}
    }
    static void topiary_fault(void) { for (;;) {} }
    __attribute__((section(".isr_vector"), used))
    const void *const topiary_vectors[16] = {
        &__stack_top, topiary_reset, topiary_fault, topiary_fault, topiary_fault, topiary_fault, topiary_fault,
        0, 0, 0, 0, topiary_fault, topiary_fault, 0, topiary_fault, topiary_fault,
    };

    """

    /// The memory map of the MPS2 boards' SSRAM as flash (code, constants) and RAM.
    static let linkerScript = """
    MEMORY {
        FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
        RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 4M
    }
    ENTRY(topiary_reset)
    SECTIONS {
        .isr_vector : { KEEP(*(.isr_vector)) } > FLASH
        .text : { *(.text*) *(.rodata*) KEEP(*(.init)) KEEP(*(.fini)) . = ALIGN(4); } > FLASH
        .ARM.exidx : { *(.ARM.exidx*) } > FLASH
        __data_load = LOADADDR(.data);
        .data : { __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; } > RAM AT > FLASH
        .bss (NOLOAD) : { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; } > RAM
        end = .; __end__ = .;
        __stack_top = ORIGIN(RAM) + LENGTH(RAM);
        __stack = __stack_top;
    }

    """
}
