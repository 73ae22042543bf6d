#include "common.h"

namespace hddm {

Args::Args(napi_env env, napi_callback_info info, size_t count) : env_(env) {
  if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr) != napi_ok || argc_ < count) {
    fail("wrong number of arguments");
  }
}

void Args::fail(const char* message) {
  if (ok_) {
    bool pending = false;
    napi_is_exception_pending(env_, &pending);
    if (!pending) napi_throw_range_error(env_, nullptr, message);
  }
  ok_ = false;
}

static bool typed_array(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) != napi_ok) return false;
  return type == want;
}

float* Args::f32(size_t i, size_t min_length, bool nullable) {
  if (!ok_) return nullptr;
  if (nullable) {
    napi_valuetype t;
    napi_typeof(env_, argv_[i], &t);
    if (t == napi_null || t == napi_undefined) return nullptr;
  }
  void* data = nullptr;
  size_t length = 0;
  if (!typed_array(env_, argv_[i], napi_float32_array, &data, &length)) {
    fail("expected a Float32Array");
    return nullptr;
  }
  if (length < min_length) {
    fail("Float32Array too short for the given shape");
    return nullptr;
  }
  return static_cast<float*>(data);
}

size_t Args::f32_length(size_t i) {
  void* data = nullptr;
  size_t length = 0;
  if (!ok_ || !typed_array(env_, argv_[i], napi_float32_array, &data, &length)) {
    fail("expected a Float32Array");
    return 0;
  }
  return length;
}

const int32_t* Args::i32(size_t i, size_t* length) {
  void* data = nullptr;
  if (!ok_) return nullptr;
  if (!typed_array(env_, argv_[i], napi_int32_array, &data, length)) {
    fail("expected an Int32Array");
    return nullptr;
  }
  return static_cast<const int32_t*>(data);
}

double Args::number(size_t i) {
  double v = 0;
  if (ok_ && napi_get_value_double(env_, argv_[i], &v) != napi_ok) fail("expected a number");
  return v;
}

int64_t Args::integer(size_t i, int64_t min_value) {
  int64_t v = 0;
  if (ok_ && napi_get_value_int64(env_, argv_[i], &v) != napi_ok) fail("expected an integer");
  if (ok_ && v < min_value) fail("integer argument out of range");
  return v;
}

bool Args::boolean(size_t i) {
  bool v = false;
  if (ok_ && napi_get_value_bool(env_, argv_[i], &v) != napi_ok) fail("expected a boolean");
  return v;
}

std::string Args::str(size_t i) {
  char buf[1024];
  size_t len = 0;
  if (ok_ && napi_get_value_string_utf8(env_, argv_[i], buf, sizeof buf, &len) != napi_ok) {
    fail("expected a string");
    return std::string();
  }
  return std::string(buf, len);
}

napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

void Export(napi_env env, napi_value exports, const char* name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &f);
  napi_set_named_property(env, exports, name, f);
}

}  // namespace hddm

static napi_value Init(napi_env env, napi_value exports) {
  hddm::RegisterBlas(env, exports);
  hddm::RegisterElementwise(env, exports);
  hddm::RegisterLayout(env, exports);
  hddm::RegisterFused(env, exports);
  hddm::RegisterAttention(env, exports);
  hddm::RegisterAdam(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
