// Result<T>: a value or an Error. The project's own expected-like type, because std::expected
// is not usable with this libstdc++ under Clang. Reading the value of an error (or the error
// of a value) is a programming bug and aborts, with _GLIBCXX_ASSERTIONS or not.
#pragma once

#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "stack/error.h"

namespace weir {

namespace detail {
[[noreturn]] inline void result_misuse() { std::abort(); }
}  // namespace detail

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "Result<Error> is ambiguous");

 public:
  using value_type = T;

  Result(const T& value) : storage_(std::in_place_index<0>, value) {}  // NOLINT
  Result(T&& value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Error error) : storage_(std::in_place_index<1>, error) {}  // NOLINT
  template <typename... Args>
  explicit Result(std::in_place_t, Args&&... args)
      : storage_(std::in_place_index<0>, std::forward<Args>(args)...) {}

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    if (!ok()) detail::result_misuse();
    return *std::get_if<0>(&storage_);
  }
  const T& value() const& {
    if (!ok()) detail::result_misuse();
    return *std::get_if<0>(&storage_);
  }
  T&& value() && {
    if (!ok()) detail::result_misuse();
    return std::move(*std::get_if<0>(&storage_));
  }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

  Error error() const {
    if (ok()) detail::result_misuse();
    return *std::get_if<1>(&storage_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(error), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const {
    if (!ok_) detail::result_misuse();
  }
  Error error() const {
    if (ok_) detail::result_misuse();
    return error_;
  }

 private:
  Error error_{};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace weir

// Returns the error of a Result-valued expression from the enclosing function.
#define WEIR_TRY(expr)                           \
  do {                                           \
    auto weir_try_result_ = (expr);              \
    if (!weir_try_result_) return weir_try_result_.error(); \
  } while (0)
