// Umbrella header: the optimizer sweeps and the sparse/quantized inference kernels.
#include "topiary_kernels.h"
#include "topiary_sparse.h"
#include "topiary_convolution.h"
#include "topiary_direct_convolution.h"
#include "topiary_activation.h"
#include "topiary_normalization.h"
#include "topiary_loss.h"
