// Unit tests of the core string helpers.
#include <gtest/gtest.h>

#include <string>

#include "frost/core/strings.h"

namespace frost {
namespace {

TEST(Printable, KeepsPrintableAsciiAndUtf8) {
  EXPECT_EQ(printable("train.epochs = 3 # comment"), "train.epochs = 3 # comment");
  const std::string utf8 = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // "café € 😀"
  EXPECT_EQ(printable(utf8), utf8);
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EscapesControlBytes) {
  EXPECT_EQ(printable("a\tb\nc\rd"), "a\\x09b\\x0Ac\\x0Dd");
  EXPECT_EQ(printable(std::string("\x7F" "ELF\x02\x01\x01\0\0", 9)),
            "\\x7FELF\\x02\\x01\\x01\\x00\\x00");
  EXPECT_EQ(printable("\x1B[2J"), "\\x1B[2J");  // a terminal escape sequence is shown, not obeyed
  EXPECT_EQ(printable("\xC2\x9B" "2J"), "\\xC2\\x9B2J");  // C1 control CSI (U+009B)
  EXPECT_EQ(printable("\xC2\xA0"), "\xC2\xA0");  // U+00A0, the first character after C1
}

TEST(Printable, EscapesInvalidUtf8) {
  EXPECT_EQ(printable("\xFF\xFE"), "\\xFF\\xFE");
  EXPECT_EQ(printable("x\xC3"), "x\\xC3");                 // truncated sequence
  EXPECT_EQ(printable("\xC0\xAF"), "\\xC0\\xAF");          // overlong '/'
  EXPECT_EQ(printable("\xE0\x80\xAF"), "\\xE0\\x80\\xAF");  // overlong, three bytes
  EXPECT_EQ(printable("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // surrogate U+D800
  EXPECT_EQ(printable("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable("\x80" "a"), "\\x80a");              // lone continuation byte
}

TEST(Printable, ShowsAtMostMaxBytesWithoutCuttingACharacter) {
  EXPECT_EQ(printable("abcdef", 3), "abc...");
  EXPECT_EQ(printable("abc", 3), "abc");
  EXPECT_EQ(printable("ab\xC3\xA9z", 3), "ab...");  // the 2-byte character does not fit
  EXPECT_EQ(printable("\x01\x02\x03", 2), "\\x01\\x02...");
  EXPECT_EQ(printable("abc", 0), "...");
}

}  // namespace
}  // namespace frost
