// genjax CPU convolution kernels (XLA FFI): im2col per block of output rows,
// kept in cache, and one BLAS sgemm per block.
//
// Layouts as genjax.nn.conv: x NHWC [B,H,W,C], kernel HWIO [KH,KW,C,O]
// (row-major it is the [KH*KW*C, O] matrix of an im2col product), y [B,HO,WO,O].
// Attributes: strides sh, sw and the low paddings pt, pl (the high paddings
// follow from the shapes). Three entry points:
//   genjax_conv_fwd(x, k)  -> y      y[b]   = cols(x[b]) @ K
//   genjax_conv_dx(dy, k)  -> dx     dx[b]  = col2im(dy[b] @ K^T)
//   genjax_conv_dw(x, dy)  -> dk     dk     = sum_b cols(x[b])^T @ dy[b]
// Work is split into fixed chunks of images (up to 4 per thread, for balance)
// run on XLA's intra-op thread pool;
// dk sums one partial per chunk in chunk order, so results do not depend on
// which thread ran what (deterministic, as a resumed run needs).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

extern "C" {
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };
void scipy_cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha,
                       const float* a, int lda, const float* b, int ldb, float beta,
                       float* c, int ldc);
void scipy_openblas_set_num_threads(int n);
}

namespace {

struct Geom {
  int64_t B, H, W, C, KH, KW, O, HO, WO, sh, sw, pt, pl;
  int64_t patch() const { return KH * KW * C; }
  // Output rows per im2col block: the block's columns stay under ~384 KiB.
  int64_t rows_per_block() const {
    int64_t per_row = WO * patch() * 4;
    return std::max<int64_t>(1, std::min<int64_t>(HO, (384 << 10) / std::max<int64_t>(per_row, 1)));
  }
};

// cols[(r - r0) * WO + ow, (i * KW + j) * C + c] = x_pad[sh*r + i, sw*ow + j, c]
void im2col(const Geom& g, const float* x, int64_t r0, int64_t r1, float* cols) {
  const int64_t P = g.patch();
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t ow = 0; ow < g.WO; ++ow) {
      float* dst = cols + ((r - r0) * g.WO + ow) * P;
      for (int64_t i = 0; i < g.KH; ++i) {
        const int64_t ih = g.sh * r + i - g.pt;
        for (int64_t j = 0; j < g.KW; ++j, dst += g.C) {
          const int64_t iw = g.sw * ow + j - g.pl;
          if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) {
            std::memset(dst, 0, g.C * sizeof(float));
          } else {
            std::memcpy(dst, x + (ih * g.W + iw) * g.C, g.C * sizeof(float));
          }
        }
      }
    }
  }
}

// The adjoint of im2col: dx_pad[sh*r + i, sw*ow + j, c] += cols[...] (dx zeroed by the caller).
void col2im(const Geom& g, const float* cols, int64_t r0, int64_t r1, float* dx) {
  const int64_t P = g.patch();
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t ow = 0; ow < g.WO; ++ow) {
      const float* src = cols + ((r - r0) * g.WO + ow) * P;
      for (int64_t i = 0; i < g.KH; ++i) {
        const int64_t ih = g.sh * r + i - g.pt;
        for (int64_t j = 0; j < g.KW; ++j, src += g.C) {
          const int64_t iw = g.sw * ow + j - g.pl;
          if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
          float* d = dx + (ih * g.W + iw) * g.C;
          for (int64_t c = 0; c < g.C; ++c) d[c] += src[c];
        }
      }
    }
  }
}

// Runs fn(chunk) for chunk in [0, n) on the pool; the caller works too and
// waits only for chunks already claimed, so it never waits on a task that a
// busy pool has not started.
void parallel_chunks(ffi::ThreadPool& pool, int64_t n, const std::function<void(int64_t)>& fn) {
  struct State {
    std::atomic<int64_t> next{0};
    int64_t done = 0;
    std::mutex mu;
    std::condition_variable cv;
  };
  auto st = std::make_shared<State>();
  auto work = [st, n, &fn]() {
    for (int64_t c; (c = st->next.fetch_add(1)) < n;) {
      fn(c);
      std::lock_guard<std::mutex> lock(st->mu);
      if (++st->done == n) st->cv.notify_all();
    }
  };
  // Tasks that start after every chunk is claimed return at once; they never
  // touch fn (only the shared counter), so fn may go out of scope by then.
  for (int64_t t = 1; t < std::min<int64_t>(n, pool.num_threads()); ++t) {
    pool.Schedule([st, n, work]() { if (st->next.load() < n) work(); });
  }
  work();
  std::unique_lock<std::mutex> lock(st->mu);
  st->cv.wait(lock, [&] { return st->done == n; });
}

int64_t num_chunks(ffi::ThreadPool& pool, int64_t batch) {
  return std::max<int64_t>(1, std::min<int64_t>(batch, 4 * std::max<int64_t>(1, pool.num_threads())));
}

using Dims = ffi::Span<const int64_t>;

// x [B,H,W,C], kernel [KH,KW,C,O], y [B,HO,WO,O].
Geom geom(Dims xd, Dims kd, Dims yd, int64_t sh, int64_t sw, int64_t pt, int64_t pl) {
  return Geom{xd[0], xd[1], xd[2], xd[3], kd[0], kd[1], kd[3], yd[1], yd[2], sh, sw, pt, pl};
}

// Calls block(chunk, b, r0, r1, cols) for every image b and block [r0, r1) of
// its output rows, images split into fixed chunks run on the pool; cols is
// the chunk's im2col buffer (rows_per_block * WO * patch floats).
void for_blocks(ffi::ThreadPool& pool, const Geom& g,
                const std::function<void(int64_t, int64_t, int64_t, int64_t, float*)>& block,
                int64_t chunks) {
  const int64_t rb = g.rows_per_block();
  parallel_chunks(pool, chunks, [&](int64_t c) {
    std::vector<float> cols(rb * g.WO * g.patch());
    for (int64_t b = c * g.B / chunks; b < (c + 1) * g.B / chunks; ++b) {
      for (int64_t r0 = 0; r0 < g.HO; r0 += rb) {
        block(c, b, r0, std::min(g.HO, r0 + rb), cols.data());
      }
    }
  });
}

ffi::Error ConvFwd(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> k,
                   ffi::ResultBuffer<ffi::F32> y, int64_t sh, int64_t sw, int64_t pt,
                   int64_t pl) {
  const Geom g = geom(x.dimensions(), k.dimensions(), y->dimensions(), sh, sw, pt, pl);
  const float* xp = x.typed_data();
  const float* kp = k.typed_data();
  float* yp = y->typed_data();
  for_blocks(pool, g, [&](int64_t, int64_t b, int64_t r0, int64_t r1, float* cols) {
    im2col(g, xp + b * g.H * g.W * g.C, r0, r1, cols);
    scipy_cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, (r1 - r0) * g.WO, g.O, g.patch(), 1.f,
                      cols, g.patch(), kp, g.O, 0.f, yp + (b * g.HO + r0) * g.WO * g.O, g.O);
  }, num_chunks(pool, g.B));
  return ffi::Error::Success();
}

ffi::Error ConvDx(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> k,
                  ffi::ResultBuffer<ffi::F32> dx, int64_t sh, int64_t sw, int64_t pt,
                  int64_t pl) {
  const Geom g = geom(dx->dimensions(), k.dimensions(), dy.dimensions(), sh, sw, pt, pl);
  const float* dyp = dy.typed_data();
  const float* kp = k.typed_data();
  float* dxp = dx->typed_data();
  for_blocks(pool, g, [&](int64_t, int64_t b, int64_t r0, int64_t r1, float* cols) {
    float* dxb = dxp + b * g.H * g.W * g.C;
    if (r0 == 0) std::memset(dxb, 0, g.H * g.W * g.C * sizeof(float));
    scipy_cblas_sgemm(kRowMajor, kNoTrans, kTrans, (r1 - r0) * g.WO, g.patch(), g.O, 1.f,
                      dyp + (b * g.HO + r0) * g.WO * g.O, g.O, kp, g.O, 0.f, cols, g.patch());
    col2im(g, cols, r0, r1, dxb);
  }, num_chunks(pool, g.B));
  if (g.HO == 0) std::memset(dxp, 0, g.B * g.H * g.W * g.C * sizeof(float));
  return ffi::Error::Success();
}

ffi::Error ConvDw(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy,
                  ffi::ResultBuffer<ffi::F32> dk, int64_t sh, int64_t sw, int64_t pt,
                  int64_t pl) {
  const Geom g = geom(x.dimensions(), dk->dimensions(), dy.dimensions(), sh, sw, pt, pl);
  const float* xp = x.typed_data();
  const float* dyp = dy.typed_data();
  const int64_t chunks = num_chunks(pool, g.B), ksize = g.patch() * g.O;
  std::vector<float> partial(chunks * ksize, 0.f);
  for_blocks(pool, g, [&](int64_t c, int64_t b, int64_t r0, int64_t r1, float* cols) {
    im2col(g, xp + b * g.H * g.W * g.C, r0, r1, cols);
    scipy_cblas_sgemm(kRowMajor, kTrans, kNoTrans, g.patch(), g.O, (r1 - r0) * g.WO, 1.f,
                      cols, g.patch(), dyp + (b * g.HO + r0) * g.WO * g.O, g.O, 1.f,
                      partial.data() + c * ksize, g.O);
  }, chunks);
  float* out = dk->typed_data();
  std::memcpy(out, partial.data(), ksize * sizeof(float));
  for (int64_t c = 1; c < chunks; ++c) {
    const float* p = partial.data() + c * ksize;
    for (int64_t i = 0; i < ksize; ++i) out[i] += p[i];
  }
  return ffi::Error::Success();
}

// Every entry point: (thread pool, two f32 operands) -> one f32 result, attrs sh, sw, pt, pl.
auto binding() {
  return ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::Buffer<ffi::F32>>()
      .Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()
      .Attr<int64_t>("sh").Attr<int64_t>("sw").Attr<int64_t>("pt").Attr<int64_t>("pl");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(genjax_conv_fwd, ConvFwd, binding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(genjax_conv_dx, ConvDx, binding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(genjax_conv_dw, ConvDw, binding());

extern "C" void genjax_conv_init() { scipy_openblas_set_num_threads(1); }
