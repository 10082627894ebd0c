import TopiaryExperiment

// OpenBLAS picks its kernels when it loads, before this line runs: re-execute with a better
// OPENBLAS_CORETYPE first if it fell back to generic ones.
BLASBootstrap.reexecIfNeeded()
TopiaryCommand.main()
