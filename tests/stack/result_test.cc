#include "stack/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace weir {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error::kInvalidArgument;
  return v;
}

Status check(bool good) {
  if (!good) return Error::kBadMessage;
  return ok_status();
}

Status chained(int v) {
  WEIR_TRY(parse_positive(v));
  WEIR_TRY(check(v < 100));
  return ok_status();
}

TEST(ResultTest, ValueAndError) {
  auto good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(static_cast<bool>(good));
  EXPECT_EQ(*good, 3);
  EXPECT_EQ(good.value(), 3);
  EXPECT_EQ(good.value_or(9), 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), Error::kInvalidArgument);
  EXPECT_EQ(bad.value_or(9), 9);
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, 5);
  std::unique_ptr<int> taken = std::move(r).value();
  EXPECT_EQ(*taken, 5);
}

TEST(ResultTest, InPlaceAndArrow) {
  Result<std::string> r(std::in_place, 3, 'x');
  EXPECT_EQ(*r, "xxx");
  EXPECT_EQ(r->size(), 3u);
  r->push_back('y');
  EXPECT_EQ(r.value(), "xxxy");
  const Result<std::vector<int>> v(std::vector<int>{1, 2});
  EXPECT_EQ(v->size(), 2u);
}

TEST(ResultTest, Status) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  ok.value();
  Status bad = Error::kTimedOut;
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), Error::kTimedOut);
  EXPECT_TRUE(ok_status().ok());
}

TEST(ResultTest, TryPropagatesFirstError) {
  EXPECT_TRUE(chained(5).ok());
  EXPECT_EQ(chained(0).error(), Error::kInvalidArgument);
  EXPECT_EQ(chained(500).error(), Error::kBadMessage);
}

TEST(ResultDeathTest, MisuseAborts) {
  EXPECT_DEATH((void)parse_positive(-1).value(), "");
  EXPECT_DEATH((void)parse_positive(1).error(), "");
  EXPECT_DEATH(Status(Error::kIo).value(), "");
  EXPECT_DEATH((void)ok_status().error(), "");
}

TEST(ErrorTest, ErrnoMapping) {
  EXPECT_EQ(to_errno(Error::kConnectionRefused), ECONNREFUSED);
  EXPECT_EQ(error_from_errno(ECONNRESET), Error::kConnectionReset);
  EXPECT_EQ(error_from_errno(EWOULDBLOCK), Error::kWouldBlock);
  EXPECT_EQ(error_from_errno(EXDEV), Error::kIo);  // no Error for it
  EXPECT_EQ(error_name(Error::kConnectionReset), "connection reset");
  EXPECT_EQ(error_name(static_cast<Error>(-7)), "unknown error");
}

}  // namespace
}  // namespace weir
