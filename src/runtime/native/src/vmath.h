// exp and tanh written so that compilers vectorise them (std::exp/std::tanh are scalar calls):
// exp is Cephes' expf polynomial with the 2^n scale built from integer bits; tanh is Eigen's
// rational approximation. Max error measured against double precision: exp 2e-6 relative,
// tanh 3e-7 absolute.
#pragma once
#include <cstdint>
#include <cstring>

namespace hddm {

inline float FastExp(float x) {
  x = x < -87.3365f ? -87.3365f : (x > 88.3762f ? 88.3762f : x);
  // n = round(x / ln 2), by truncation of x/ln2 +- 0.5 (no floor: it would not vectorise on SSE2).
  const float t = x * 1.44269504088896341f;
  const int32_t n = static_cast<int32_t>(t + (t >= 0.0f ? 0.5f : -0.5f));
  const float fn = static_cast<float>(n);
  float r = x - fn * 0.693359375f;
  r = r + fn * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline float FastTanh(float x) {
  const float clamped = x < -7.90531110763549805f ? -7.90531110763549805f : (x > 7.90531110763549805f ? 7.90531110763549805f : x);
  const float x2 = clamped * clamped;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * clamped;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float r = p / q;
  // Below 4e-4, tanh(x) = x to float precision, and the ratio above loses relative accuracy.
  return (x > -0.0004f && x < 0.0004f) ? x : r;
}

}  // namespace hddm
