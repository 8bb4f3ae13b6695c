// ACTLAB_HD marks small inline functions that CPU kernels and their CUDA
// twins share (the per-element math of the activations).
#pragma once

#ifdef __CUDACC__
#define ACTLAB_HD __host__ __device__
#else
#define ACTLAB_HD
#endif
