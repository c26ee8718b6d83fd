/* strkit self-test driver.
 *
 * Calls every public strkit function with fixed inputs and compares the
 * results with known answers.  Prints one line per module and a summary;
 * exits with status 0 only if every check passed.  Output is fully
 * deterministic so that it can be diffed between builds. */
#include "strkit/algo.h"
#include "strkit/common.h"
#include "strkit/encode.h"
#include "strkit/hash.h"
#include "strkit/mem.h"
#include "strkit/num.h"
#include "strkit/parse.h"
#include "strkit/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned g_checks;
static unsigned g_failed;
static unsigned g_module_failed;
static const char *g_module;

static void check_impl(bool ok, const char *expr, int line)
{
    g_checks++;
    if (!ok) {
        g_failed++;
        g_module_failed++;
        printf("  check failed (line %d): %s\n", line, expr);
    }
}

static void check_str_impl(const char *got, const char *want,
                           const char *expr, int line)
{
    bool ok = got != NULL && strcmp(got, want) == 0;
    check_impl(ok, expr, line);
    if (!ok)
        printf("    got \"%s\", want \"%s\"\n", got ? got : "(null)", want);
}

#define CHECK(cond) check_impl((cond) ? true : false, #cond, __LINE__)
#define CHECK_STR(got, want) check_str_impl((got), (want), #got, __LINE__)

static void module_begin(const char *name)
{
    g_module = name;
    g_module_failed = 0;
}

static void module_end(void)
{
    if (g_module_failed == 0)
        printf("%s ok\n", g_module);
    else
        printf("%s FAILED (%u)\n", g_module, g_module_failed);
}

/* ------------------------------------------------------------------ */

static void test_common(void)
{
    char buf[8];
    sk_slice a = sk_slice_cstr("apple");
    sk_slice b = sk_slice_make("applesauce", 5);

    module_begin("common");
    CHECK(a.len == 5);
    CHECK(sk_slice_eq_cstr(a, "apple"));
    CHECK(!sk_slice_eq_cstr(a, "apples"));
    CHECK(sk_slice_cmp(a, b) == 0);
    CHECK(sk_slice_cmp(sk_slice_cstr("app"), a) < 0);
    CHECK(sk_slice_cmp(sk_slice_cstr("b"), a) > 0);
    CHECK(sk_slice_cmp(sk_slice_cstr(""), sk_slice_cstr("")) == 0);
    CHECK(sk_slice_copy(a, buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "apple");
    CHECK(sk_slice_copy(sk_slice_cstr("too long!"), buf, sizeof buf) ==
          SK_ERR_SPACE);
    CHECK_STR(sk_status_str(SK_OK), "ok");
    CHECK_STR(sk_status_str(SK_ERR_SPACE), "buffer too small");
    CHECK_STR(sk_status_str(SK_ERR_NOTFOUND), "not found");
    CHECK_STR(sk_version(), "1.4.0");
    module_end();
}

static void test_base64(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob",
                                        "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",
                                        "Zm9v",     "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    unsigned char all[256];
    unsigned char back[256];
    char text[400];
    size_t n;
    size_t i;

    module_begin("base64");
    for (i = 0; i < SK_ARRAY_LEN(plain); i++) {
        size_t len = strlen(plain[i]);
        CHECK(sk_base64_encoded_len(len) == strlen(coded[i]));
        CHECK(sk_base64_encode(plain[i], len, text) == strlen(coded[i]));
        CHECK_STR(text, coded[i]);
        CHECK(sk_base64_decode(coded[i], strlen(coded[i]), back, sizeof back,
                               &n) == SK_OK);
        CHECK(n == len && memcmp(back, plain[i], len) == 0);
    }
    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    n = sk_base64_encode(all, sizeof all, text);
    CHECK(n == 344);
    CHECK(strncmp(text, "AAECAwQFBgcICQoLDA0O", 20) == 0);
    CHECK(sk_base64_decode(text, n, back, sizeof back, &n) == SK_OK);
    CHECK(n == 256 && memcmp(all, back, 256) == 0);
    CHECK(sk_base64_decode("Zm9vYg", 6, back, sizeof back, &n) == SK_OK);
    CHECK(n == 4 && memcmp(back, "foob", 4) == 0);
    CHECK(sk_base64_decode("Zg=", 3, back, sizeof back, &n) == SK_ERR_INVALID);
    CHECK(sk_base64_decode("Zh==", 4, back, sizeof back, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_base64_decode("Z", 1, back, sizeof back, &n) == SK_ERR_INVALID);
    CHECK(sk_base64_decode("Zm9v!", 5, back, sizeof back, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_base64_decode("Zm9vYmFy", 8, back, 5, &n) == SK_ERR_SPACE);
    module_end();
}

static void test_base32(void)
{
    unsigned char back[64];
    char text[64];
    size_t n;

    module_begin("base32");
    CHECK(sk_base32_encoded_len(6) == 16);
    CHECK(sk_base32_encode("foobar", 6, text) == 16);
    CHECK_STR(text, "MZXW6YTBOI======");
    CHECK(sk_base32_encode("f", 1, text) == 8);
    CHECK_STR(text, "MY======");
    CHECK(sk_base32_encode("", 0, text) == 0);
    CHECK_STR(text, "");
    CHECK(sk_base32_decode("MZXW6YTBOI======", 16, back, sizeof back, &n) ==
          SK_OK);
    CHECK(n == 6 && memcmp(back, "foobar", 6) == 0);
    CHECK(sk_base32_decode("mzxw6ytb", 8, back, sizeof back, &n) == SK_OK);
    CHECK(n == 5 && memcmp(back, "fooba", 5) == 0);
    CHECK(sk_base32_decode("MZX", 3, back, sizeof back, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_base32_decode("MZ1W", 4, back, sizeof back, &n) ==
          SK_ERR_INVALID);
    module_end();
}

static void test_hex(void)
{
    static const unsigned char bytes[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x7f};
    unsigned char back[8];
    char text[16];
    size_t n;

    module_begin("hex");
    CHECK(sk_hex_encode(bytes, sizeof bytes, text, false) == 12);
    CHECK_STR(text, "deadbeef007f");
    sk_hex_encode(bytes, 4, text, true);
    CHECK_STR(text, "DEADBEEF");
    CHECK(sk_hex_decode("DeAdBeEf007F", 12, back, sizeof back, &n) == SK_OK);
    CHECK(n == 6 && memcmp(back, bytes, 6) == 0);
    CHECK(sk_hex_decode("abc", 3, back, sizeof back, &n) == SK_ERR_INVALID);
    CHECK(sk_hex_decode("zz", 2, back, sizeof back, &n) == SK_ERR_INVALID);
    CHECK(sk_hex_decode("00112233445566778899", 20, back, sizeof back, &n) ==
          SK_ERR_SPACE);
    CHECK(sk_hex_digit_value('a') == 10 && sk_hex_digit_value('F') == 15);
    CHECK(sk_hex_digit_value('g') == -1);
    module_end();
}

static void test_utf8(void)
{
    static const char hello[] = "h\xc3\xa9llo";
    char out[4];
    uint32_t cp = 0;
    uint32_t c;
    bool roundtrip = true;

    module_begin("utf8");
    CHECK(sk_utf8_count(hello, strlen(hello)) == 5);
    CHECK(sk_utf8_valid(hello, strlen(hello)));
    CHECK(sk_utf8_decode("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20AC);
    CHECK(sk_utf8_decode("\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600);
    CHECK(sk_utf8_decode("A", 1, &cp) == 1 && cp == 'A');
    CHECK(sk_utf8_decode("\xc0\xaf", 2, &cp) == 0);     /* overlong */
    CHECK(sk_utf8_decode("\xed\xa0\x80", 3, &cp) == 0); /* surrogate */
    CHECK(sk_utf8_decode("\xe2\x82", 2, &cp) == 0);     /* truncated */
    CHECK(sk_utf8_decode("\x80", 1, &cp) == 0);         /* continuation */
    CHECK(sk_utf8_decode("\xf4\x90\x80\x80", 4, &cp) == 0); /* > U+10FFFF */
    CHECK(!sk_utf8_valid("ab\xff", 3));
    CHECK(sk_utf8_count("ab\xff", 3) == SIZE_MAX);
    CHECK(sk_utf8_encode(0x10FFFF, out) == 4);
    CHECK(memcmp(out, "\xf4\x8f\xbf\xbf", 4) == 0);
    CHECK(sk_utf8_encode(0xE9, out) == 2 && memcmp(out, "\xc3\xa9", 2) == 0);
    CHECK(sk_utf8_encode(0x110000, out) == 0);
    CHECK(sk_utf8_encode(0xD800, out) == 0);
    for (c = 0; c <= 0x10FFFF; c += 97) {
        size_t len = sk_utf8_encode(c, out);
        uint32_t got = 0;
        if (c >= 0xD800 && c <= 0xDFFF) {
            if (len != 0)
                roundtrip = false;
            continue;
        }
        if (len == 0 || sk_utf8_decode(out, len, &got) != len || got != c)
            roundtrip = false;
    }
    CHECK(roundtrip);
    module_end();
}

static void test_rle(void)
{
    static const unsigned char want[] = {3, 'a', 1, 'b', 2, 'c', 5, 'd'};
    unsigned char enc[32];
    unsigned char dec[400];
    char many[300];
    size_t n;
    size_t m;

    module_begin("rle");
    CHECK(sk_rle_encode("aaabccddddd", 11, enc, sizeof enc, &n) == SK_OK);
    CHECK(n == sizeof want && memcmp(enc, want, n) == 0);
    CHECK(sk_rle_decode(enc, n, dec, sizeof dec, &m) == SK_OK);
    CHECK(m == 11 && memcmp(dec, "aaabccddddd", 11) == 0);
    memset(many, 'x', sizeof many);
    CHECK(sk_rle_encode(many, sizeof many, enc, sizeof enc, &n) == SK_OK);
    CHECK(n == 4 && enc[0] == 255 && enc[2] == 45 && enc[3] == 'x');
    CHECK(sk_rle_decode(enc, n, dec, sizeof dec, &m) == SK_OK && m == 300);
    CHECK(sk_rle_decode(enc, n, dec, 299, &m) == SK_ERR_SPACE);
    enc[0] = 0;
    CHECK(sk_rle_decode(enc, 2, dec, sizeof dec, &m) == SK_ERR_INVALID);
    CHECK(sk_rle_decode(enc, 3, dec, sizeof dec, &m) == SK_ERR_INVALID);
    CHECK(sk_rle_encode("abc", 3, enc, 4, &n) == SK_ERR_SPACE);
    CHECK(sk_rle_encode("", 0, enc, sizeof enc, &n) == SK_OK && n == 0);
    module_end();
}

static void test_url(void)
{
    static const char raw[] = "a b&c=d/\xc3\xa9~_.-";
    char enc[64];
    char dec[64];
    size_t n;

    module_begin("url");
    CHECK(sk_url_encode(raw, strlen(raw), enc, sizeof enc, &n) == SK_OK);
    CHECK_STR(enc, "a%20b%26c%3Dd%2F%C3%A9~_.-");
    CHECK(sk_url_decode(enc, n, dec, sizeof dec, &n) == SK_OK);
    CHECK_STR(dec, raw);
    CHECK(sk_url_decode("a+b%20c", 7, dec, sizeof dec, &n) == SK_OK);
    CHECK_STR(dec, "a b c");
    CHECK(sk_url_decode("%zz", 3, dec, sizeof dec, &n) == SK_ERR_INVALID);
    CHECK(sk_url_decode("%4", 2, dec, sizeof dec, &n) == SK_ERR_INVALID);
    CHECK(sk_url_encode("a b", 3, enc, 4, &n) == SK_ERR_SPACE);
    module_end();
}

static void test_roman(void)
{
    char buf[20];
    int v;
    bool roundtrip = true;

    module_begin("roman");
    CHECK(sk_roman_from_int(1994, buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "MCMXCIV");
    CHECK(sk_roman_from_int(3999, buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "MMMCMXCIX");
    CHECK(sk_roman_from_int(4, buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "IV");
    CHECK(sk_roman_from_int(0, buf, sizeof buf) == SK_ERR_RANGE);
    CHECK(sk_roman_from_int(4000, buf, sizeof buf) == SK_ERR_RANGE);
    CHECK(sk_roman_from_int(3888, buf, 10) == SK_ERR_SPACE);
    CHECK(sk_roman_to_int("MCMXCIV") == 1994);
    CHECK(sk_roman_to_int("XLII") == 42);
    CHECK(sk_roman_to_int("IIII") == 0);
    CHECK(sk_roman_to_int("IC") == 0);
    CHECK(sk_roman_to_int("") == 0);
    CHECK(sk_roman_to_int("XQ") == 0);
    for (v = 1; v <= 3999; v++) {
        if (sk_roman_from_int(v, buf, sizeof buf) != SK_OK ||
            sk_roman_to_int(buf) != v)
            roundtrip = false;
    }
    CHECK(roundtrip);
    module_end();
}

static void test_escape(void)
{
    static const char raw[] = "a\tb\"c\\\n\x01\x7f";
    char enc[64];
    char dec[64];
    size_t n;

    module_begin("escape");
    CHECK(sk_c_escape(raw, strlen(raw), enc, sizeof enc, &n) == SK_OK);
    CHECK_STR(enc, "a\\tb\\\"c\\\\\\n\\x01\\x7f");
    CHECK(sk_c_unescape(enc, n, dec, sizeof dec, &n) == SK_OK);
    CHECK(n == strlen(raw) && memcmp(dec, raw, n) == 0);
    CHECK(sk_c_escape("a\0b", 3, enc, sizeof enc, &n) == SK_OK);
    CHECK_STR(enc, "a\\0b");
    CHECK(sk_c_unescape("\\q", 2, dec, sizeof dec, &n) == SK_ERR_INVALID);
    CHECK(sk_c_unescape("\\x4", 3, dec, sizeof dec, &n) == SK_ERR_INVALID);
    CHECK(sk_c_unescape("abc\\", 4, dec, sizeof dec, &n) == SK_ERR_INVALID);
    CHECK(sk_c_unescape("\\'", 2, dec, sizeof dec, &n) == SK_OK);
    CHECK_STR(dec, "'");
    CHECK(sk_c_unescape("", 0, dec, 0, &n) == SK_ERR_SPACE);
    CHECK(sk_c_escape("\n", 1, enc, 2, &n) == SK_ERR_SPACE);
    module_end();
}

static void test_caesar(void)
{
    char s[32];

    module_begin("caesar");
    strcpy(s, "Hello, World!");
    sk_caesar(s, 3);
    CHECK_STR(s, "Khoor, Zruog!");
    sk_caesar(s, -3);
    CHECK_STR(s, "Hello, World!");
    sk_caesar(s, 29);
    CHECK_STR(s, "Khoor, Zruog!");
    sk_caesar(s, -55);
    CHECK_STR(s, "Hello, World!");
    strcpy(s, "abcXYZ");
    sk_rot13(s);
    CHECK_STR(s, "nopKLM");
    sk_rot13(s);
    CHECK_STR(s, "abcXYZ");
    module_end();
}

/* ------------------------------------------------------------------ */

static void test_checksums(void)
{
    static const char fox[] = "The quick brown fox jumps over the lazy dog";
    unsigned char *big = malloc(20000);
    size_t i;
    uint32_t crc;

    module_begin("checksum");
    CHECK(sk_crc32("123456789", 9) == 0xCBF43926u);
    CHECK(sk_crc32(fox, strlen(fox)) == 0x414FA339u);
    CHECK(sk_crc32("", 0) == 0);
    crc = sk_crc32_update(0, "12345", 5);
    crc = sk_crc32_update(crc, "6789", 4);
    CHECK(crc == 0xCBF43926u);
    CHECK(sk_crc32c("123456789", 9) == 0xE3069283u);
    CHECK(sk_adler32("Wikipedia", 9) == 0x11E60398u);
    CHECK(sk_adler32(fox, strlen(fox)) == 0x5BDC0FDAu);
    CHECK(sk_adler32("", 0) == 1);
    CHECK(sk_fletcher16("abcde", 5) == 0xC8F0);
    CHECK(sk_fletcher16("abcdef", 6) == 0x2057);
    if (big != NULL) {
        for (i = 0; i < 20000; i++)
            big[i] = (unsigned char)((i * 7 + 3) & 0xFF);
        CHECK(sk_adler32(big, 20000) == 0x2800E92Bu);
        CHECK(sk_crc32(big, 20000) == 0xDEBDA163u);
        free(big);
    } else {
        CHECK(!"allocation failed");
    }
    CHECK(sk_luhn_valid("79927398713"));
    CHECK(!sk_luhn_valid("79927398710"));
    CHECK(!sk_luhn_valid("7992a398713"));
    CHECK(!sk_luhn_valid(""));
    CHECK(sk_luhn_check_digit("7992739871") == 3);
    CHECK(sk_luhn_check_digit("x") == -1);
    module_end();
}

static void test_hashes(void)
{
    uint64_t seen[64];
    size_t i;
    size_t j;
    bool distinct = true;

    module_begin("hash");
    CHECK(sk_fnv1a32("", 0) == 0x811C9DC5u);
    CHECK(sk_fnv1a32("a", 1) == 0xE40C292Cu);
    CHECK(sk_fnv1a32("foobar", 6) == 0xBF9CF968u);
    CHECK(sk_fnv1a64("a", 1) == 0xAF63DC4C8601EC8Cull);
    CHECK(sk_fnv1a64("foobar", 6) == 0x85944171F73967E8ull);
    CHECK(sk_djb2("hello") == 0x0F923099u);
    CHECK(sk_djb2("") == 5381);
    CHECK(sk_sdbm("hello") == 0x28D19932u);
    CHECK(sk_mix64(0) == 0);
    CHECK(sk_mix64(1) == 0x5692161D100B05E5ull);
    CHECK(sk_mix32(1) == 0x688990C0u);
    CHECK(sk_hash_combine(1, 2) == 0x3706970B052F16B1ull);
    for (i = 0; i < SK_ARRAY_LEN(seen); i++)
        seen[i] = sk_hash_combine(42, i);
    for (i = 0; i < SK_ARRAY_LEN(seen); i++)
        for (j = i + 1; j < SK_ARRAY_LEN(seen); j++)
            if (seen[i] == seen[j])
                distinct = false;
    CHECK(distinct);
    module_end();
}

/* ------------------------------------------------------------------ */

static void test_trim_split(void)
{
    sk_slice parts[8];
    sk_slice t;
    char buf[64];
    size_t n;

    module_begin("split");
    t = sk_trim(sk_slice_cstr("  hi there \n"));
    CHECK(sk_slice_eq_cstr(t, "hi there"));
    CHECK(sk_slice_eq_cstr(sk_trim_left(sk_slice_cstr("\t x ")), "x "));
    CHECK(sk_slice_eq_cstr(sk_trim_right(sk_slice_cstr("\t x ")), "\t x"));
    CHECK(sk_trim(sk_slice_cstr(" \r\n\v\f ")).len == 0);
    CHECK(sk_is_space(' ') && !sk_is_space('x'));

    n = sk_split("a,b,,c", ',', parts, 8);
    CHECK(n == 4);
    CHECK(sk_slice_eq_cstr(parts[0], "a") && sk_slice_eq_cstr(parts[1], "b"));
    CHECK(parts[2].len == 0 && sk_slice_eq_cstr(parts[3], "c"));
    CHECK(sk_split("", ',', parts, 8) == 1 && parts[0].len == 0);
    CHECK(sk_split("x,y,z", ',', parts, 2) == 3);

    n = sk_tokenize("  the  quick,brown ,", " ,", parts, 8);
    CHECK(n == 3);
    CHECK(sk_slice_eq_cstr(parts[0], "the"));
    CHECK(sk_slice_eq_cstr(parts[1], "quick"));
    CHECK(sk_slice_eq_cstr(parts[2], "brown"));
    CHECK(sk_tokenize(" ,, ", " ,", parts, 8) == 0);

    parts[0] = sk_slice_cstr("a");
    parts[1] = sk_slice_cstr("bb");
    parts[2] = sk_slice_cstr("ccc");
    CHECK(sk_join(parts, 3, "-", buf, sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "a-bb-ccc");
    CHECK(n == 8);
    CHECK(sk_join(parts, 0, "-", buf, sizeof buf, &n) == SK_OK && n == 0);
    CHECK(sk_join(parts, 3, ", ", buf, 8, &n) == SK_ERR_SPACE);
    module_end();
}

static void test_replace_case(void)
{
    char buf[64];
    char s[64];
    size_t n;

    module_begin("replace");
    CHECK(sk_replace("the cat sat on the mat", "at", "og", buf, sizeof buf,
                     &n) == SK_OK);
    CHECK_STR(buf, "the cog sog on the mog");
    CHECK(sk_replace("aaa", "a", "bb", buf, sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "bbbbbb");
    CHECK(n == 6);
    CHECK(sk_replace("abc", "x", "y", buf, sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "abc");
    CHECK(sk_replace("abc", "", "y", buf, sizeof buf, &n) == SK_ERR_INVALID);
    CHECK(sk_replace("abcabc", "b", "", buf, sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "acac");
    CHECK(sk_replace("aaaa", "a", "xyz", buf, 10, &n) == SK_ERR_SPACE);

    strcpy(s, "hello wORLD foo-bar 9lives");
    sk_to_upper(s);
    CHECK_STR(s, "HELLO WORLD FOO-BAR 9LIVES");
    sk_to_lower(s);
    CHECK_STR(s, "hello world foo-bar 9lives");
    sk_to_title(s);
    CHECK_STR(s, "Hello World Foo-Bar 9lives");
    CHECK(sk_casecmp("HeLLo", "hello") == 0);
    CHECK(sk_casecmp("apple", "Banana") < 0);
    CHECK(sk_casecmp("abc", "ab") > 0);
    CHECK(sk_starts_with("prefix-body", "prefix"));
    CHECK(!sk_starts_with("pre", "prefix"));
    CHECK(sk_starts_with("x", ""));
    CHECK(sk_ends_with("file.tar.gz", ".gz"));
    CHECK(!sk_ends_with("gz", ".tar.gz"));
    strcpy(s, "abcde");
    sk_reverse(s, 5);
    CHECK_STR(s, "edcba");
    sk_reverse(s, 0);
    CHECK_STR(s, "edcba");
    CHECK(sk_is_palindrome("A man, a plan, a canal: Panama"));
    CHECK(sk_is_palindrome(""));
    CHECK(!sk_is_palindrome("palindrome"));
    module_end();
}

static void test_search(void)
{
    static const char hay[] = "hello world";
    char long_hay[300];
    char needle[80];
    size_t i;

    module_begin("search");
    CHECK(sk_find(hay, 11, "o", 1) == 4);
    CHECK(sk_rfind(hay, 11, "o", 1) == 7);
    CHECK(sk_find(hay, 11, "xyz", 3) == -1);
    CHECK(sk_rfind(hay, 11, "hello", 5) == 0);
    CHECK(sk_find(hay, 11, "", 0) == 0);
    CHECK(sk_rfind(hay, 11, "", 0) == 11);
    CHECK(sk_count("abababa", 7, "aba", 3) == 2);
    CHECK(sk_count("aaaa", 4, "a", 1) == 4);
    CHECK(sk_count("aaaa", 4, "", 0) == 0);
    CHECK(sk_kmp_find("ababcabcabababd", 15, "ababd", 5) == 10);
    CHECK(sk_kmp_find("aaaaab", 6, "aab", 3) == 3);
    CHECK(sk_kmp_find("abc", 3, "abcd", 4) == -1);
    CHECK(sk_kmp_find("abc", 3, "", 0) == 0);
    for (i = 0; i < sizeof long_hay; i++)
        long_hay[i] = (char)('a' + i % 3);
    for (i = 0; i < sizeof needle; i++)
        needle[i] = (char)('a' + (i + 2) % 3);
    CHECK(sk_kmp_find(long_hay, sizeof long_hay, needle, sizeof needle) == 2);
    CHECK(sk_find(long_hay, sizeof long_hay, needle, sizeof needle) == 2);
    needle[79] = 'z';
    CHECK(sk_kmp_find(long_hay, sizeof long_hay, needle, sizeof needle) == -1);
    module_end();
}

static void test_distance(void)
{
    module_begin("distance");
    CHECK(sk_levenshtein("kitten", "sitting") == 3);
    CHECK(sk_levenshtein("flaw", "lawn") == 2);
    CHECK(sk_levenshtein("", "abc") == 3);
    CHECK(sk_levenshtein("abc", "") == 3);
    CHECK(sk_levenshtein("same", "same") == 0);
    CHECK(sk_levenshtein("intention", "execution") == 5);
    CHECK(sk_lcs_length("ABCBDAB", "BDCABA") == 4);
    CHECK(sk_lcs_length("AGGTAB", "GXTXAYB") == 4);
    CHECK(sk_lcs_length("", "abc") == 0);
    CHECK(sk_lcs_length("abc", "def") == 0);
    module_end();
}

static void test_wildcard(void)
{
    module_begin("wildcard");
    CHECK(sk_wildcard_match("*.c", "main.c"));
    CHECK(!sk_wildcard_match("*.c", "main.h"));
    CHECK(sk_wildcard_match("a?c", "abc"));
    CHECK(!sk_wildcard_match("a?c", "ac"));
    CHECK(sk_wildcard_match("a*b*c", "aXXbYYc"));
    CHECK(!sk_wildcard_match("a*b", "acbx"));
    CHECK(sk_wildcard_match("", ""));
    CHECK(sk_wildcard_match("*", ""));
    CHECK(sk_wildcard_match("**a**", "bab"));
    CHECK(!sk_wildcard_match("", "x"));
    CHECK(sk_wildcard_match("*aaa*aab", "aaaaaaaaaaaaab"));
    module_end();
}

static void test_layout(void)
{
    char buf[128];
    size_t n;
    char code[5];

    module_begin("layout");
    CHECK(sk_wordwrap("the quick brown fox jumps over the lazy dog", 10, buf,
                      sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "the quick\nbrown fox\njumps over\nthe lazy\ndog");
    CHECK(n == strlen(buf));
    CHECK(sk_wordwrap("  spaced   out  ", 80, buf, sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "spaced out");
    CHECK(sk_wordwrap("abcdefghijkl xy", 5, buf, sizeof buf, &n) == SK_OK);
    CHECK_STR(buf, "abcdefghijkl\nxy");
    CHECK(sk_wordwrap("x", 0, buf, sizeof buf, &n) == SK_ERR_INVALID);
    CHECK(sk_wordwrap("hello world", 20, buf, 6, &n) == SK_ERR_SPACE);

    CHECK(sk_pad_left("42", 5, '0', buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "00042");
    CHECK(sk_pad_right("ab", 4, '.', buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "ab..");
    CHECK(sk_center("hi", 6, '*', buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "**hi**");
    CHECK(sk_center("hi", 5, '-', buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "-hi--");
    CHECK(sk_pad_left("toolong", 3, ' ', buf, sizeof buf) == SK_OK);
    CHECK_STR(buf, "toolong");
    CHECK(sk_pad_left("42", 5, '0', buf, 5) == SK_ERR_SPACE);

    sk_soundex("Robert", code);
    CHECK_STR(code, "R163");
    sk_soundex("Rupert", code);
    CHECK_STR(code, "R163");
    sk_soundex("Ashcraft", code);
    CHECK_STR(code, "A261");
    sk_soundex("Tymczak", code);
    CHECK_STR(code, "T522");
    sk_soundex("Pfister", code);
    CHECK_STR(code, "P236");
    sk_soundex("lee", code);
    CHECK_STR(code, "L000");
    sk_soundex("123", code);
    CHECK_STR(code, "");
    module_end();
}

/* ------------------------------------------------------------------ */

static void test_parse_int(void)
{
    int64_t v = 0;
    uint64_t u = 0;

    module_begin("parse_int");
    CHECK(sk_parse_i64("123", 3, 10, &v) == SK_OK && v == 123);
    CHECK(sk_parse_i64("-9223372036854775808", 20, 10, &v) == SK_OK &&
          v == INT64_MIN);
    CHECK(sk_parse_i64("9223372036854775807", 19, 10, &v) == SK_OK &&
          v == INT64_MAX);
    CHECK(sk_parse_i64("9223372036854775808", 19, 10, &v) == SK_ERR_RANGE);
    CHECK(sk_parse_i64("-9223372036854775809", 20, 10, &v) == SK_ERR_RANGE);
    CHECK(sk_parse_i64("0xff", 4, 0, &v) == SK_OK && v == 255);
    CHECK(sk_parse_i64("-0x10", 5, 0, &v) == SK_OK && v == -16);
    CHECK(sk_parse_i64("ff", 2, 16, &v) == SK_OK && v == 255);
    CHECK(sk_parse_i64("0b1010", 6, 0, &v) == SK_OK && v == 10);
    CHECK(sk_parse_i64("0o17", 4, 0, &v) == SK_OK && v == 15);
    CHECK(sk_parse_i64("z", 1, 36, &v) == SK_OK && v == 35);
    CHECK(sk_parse_i64("1_000_000", 9, 10, &v) == SK_OK && v == 1000000);
    CHECK(sk_parse_i64("+7", 2, 10, &v) == SK_OK && v == 7);
    CHECK(sk_parse_i64("12a", 3, 10, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("", 0, 10, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("-", 1, 10, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("_1", 2, 10, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("1__0", 4, 10, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("1_", 2, 10, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("10", 2, 1, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_i64("0x", 2, 0, &v) == SK_ERR_INVALID);
    CHECK(sk_parse_u64("18446744073709551615", 20, 10, &u) == SK_OK &&
          u == UINT64_MAX);
    CHECK(sk_parse_u64("18446744073709551616", 20, 10, &u) == SK_ERR_RANGE);
    CHECK(sk_parse_u64("-1", 2, 10, &u) == SK_ERR_INVALID);
    CHECK(sk_parse_u64("0XDEADBEEF", 10, 16, &u) == SK_OK && u == 0xDEADBEEF);
    module_end();
}

static void test_format_int(void)
{
    char buf[80];

    module_begin("format_int");
    CHECK(sk_format_u64(UINT64_MAX, 10, buf, sizeof buf) == 20);
    CHECK_STR(buf, "18446744073709551615");
    CHECK(sk_format_u64(5, 2, buf, sizeof buf) == 3);
    CHECK_STR(buf, "101");
    CHECK(sk_format_u64(35, 36, buf, sizeof buf) == 1);
    CHECK_STR(buf, "z");
    CHECK(sk_format_u64(0, 10, buf, sizeof buf) == 1);
    CHECK_STR(buf, "0");
    CHECK(sk_format_u64(255, 16, buf, 2) == 0);
    CHECK(sk_format_u64(1, 37, buf, sizeof buf) == 0);
    CHECK(sk_format_i64(INT64_MIN, 10, buf, sizeof buf) == 20);
    CHECK_STR(buf, "-9223372036854775808");
    CHECK(sk_format_i64(-255, 16, buf, sizeof buf) == 3);
    CHECK_STR(buf, "-ff");
    CHECK(sk_format_grouped(1234567, ',', buf, sizeof buf) == 9);
    CHECK_STR(buf, "1,234,567");
    sk_format_grouped(-1000, ',', buf, sizeof buf);
    CHECK_STR(buf, "-1,000");
    sk_format_grouped(999, ',', buf, sizeof buf);
    CHECK_STR(buf, "999");
    sk_format_grouped(0, '_', buf, sizeof buf);
    CHECK_STR(buf, "0");
    sk_format_grouped(INT64_MIN, '.', buf, sizeof buf);
    CHECK_STR(buf, "-9.223.372.036.854.775.808");
    CHECK(sk_format_grouped(1234, ',', buf, 5) == 0);
    CHECK(sk_humanize_bytes(0, buf, sizeof buf) == 3);
    CHECK_STR(buf, "0 B");
    sk_humanize_bytes(1023, buf, sizeof buf);
    CHECK_STR(buf, "1023 B");
    sk_humanize_bytes(1536, buf, sizeof buf);
    CHECK_STR(buf, "1.5 KiB");
    sk_humanize_bytes(1048576, buf, sizeof buf);
    CHECK_STR(buf, "1.0 MiB");
    sk_humanize_bytes(UINT64_MAX, buf, sizeof buf);
    CHECK_STR(buf, "15.9 EiB");
    CHECK(sk_humanize_bytes(1536, buf, 7) == 0);
    module_end();
}

static void test_arith(void)
{
    int64_t x = 0;
    int64_t y = 0;
    int64_t inv = 0;

    module_begin("arith");
    CHECK(sk_gcd(48, 18) == 6);
    CHECK(sk_gcd(0, 7) == 7 && sk_gcd(7, 0) == 7);
    CHECK(sk_lcm(4, 6) == 12 && sk_lcm(0, 5) == 0);
    CHECK(sk_egcd(240, 46, &x, &y) == 2 && 240 * x + 46 * y == 2);
    CHECK(sk_modinv(3, 11, &inv) == SK_OK && inv == 4);
    CHECK(sk_modinv(-3, 11, &inv) == SK_OK && inv == 7);
    CHECK(sk_modinv(6, 9, &inv) == SK_ERR_INVALID);
    CHECK(sk_modinv(3, 1, &inv) == SK_ERR_INVALID);
    CHECK(sk_mulmod(UINT64_C(1) << 63, UINT64_C(1) << 63,
                    UINT64_MAX - 58) == 13835058055282164538ull);
    CHECK(sk_mulmod(UINT64_MAX - 1, UINT64_MAX - 2, UINT64_MAX - 58) == 3192);
    CHECK(sk_powmod(2, 10, 1000) == 24);
    CHECK(sk_powmod(3, 1000000000000000000ull, 1000000007) == 246336683);
    CHECK(sk_powmod(5, 0, 1) == 0);
    CHECK(sk_isqrt(0) == 0 && sk_isqrt(15) == 3 && sk_isqrt(16) == 4);
    CHECK(sk_isqrt(UINT64_MAX) == 4294967295u);
    CHECK(sk_icbrt(27) == 3 && sk_icbrt(26) == 2 && sk_icbrt(0) == 0);
    CHECK(sk_icbrt(UINT64_MAX) == 2642245u);
    CHECK(sk_add_i64(INT64_MAX, 1, &x) == false);
    CHECK(sk_add_i64(INT64_MIN, -1, &x) == false);
    CHECK(sk_add_i64(40, 2, &x) && x == 42);
    CHECK(sk_sub_i64(INT64_MIN, 1, &x) == false);
    CHECK(sk_sub_i64(0, INT64_MIN, &x) == false);
    CHECK(sk_sub_i64(-1, INT64_MIN, &x) && x == INT64_MAX);
    CHECK(sk_mul_i64(INT64_MIN, -1, &x) == false);
    CHECK(sk_mul_i64(-(INT64_C(1) << 31), INT64_C(1) << 32, &x) &&
          x == INT64_MIN);
    CHECK(sk_mul_i64(-6, 7, &x) && x == -42);
    CHECK(sk_mul_i64(INT64_C(1) << 32, INT64_C(1) << 31, &x) == false);
    {
        uint64_t u = 0;
        CHECK(sk_mul_u64(UINT64_C(1) << 32, UINT64_C(1) << 32, &u) == false);
        CHECK(sk_mul_u64(0, UINT64_MAX, &u) && u == 0);
    }
    module_end();
}

static void test_primes(void)
{
    uint32_t primes[32];
    uint64_t factors[16];
    size_t n;

    module_begin("primes");
    CHECK(!sk_is_prime(0) && !sk_is_prime(1));
    CHECK(sk_is_prime(2) && sk_is_prime(3) && sk_is_prime(97));
    CHECK(!sk_is_prime(561)); /* Carmichael number */
    CHECK(!sk_is_prime(3215031751ull));
    CHECK(sk_is_prime(2305843009213693951ull)); /* 2^61 - 1 */
    CHECK(sk_is_prime(18446744073709551557ull));
    CHECK(!sk_is_prime(UINT64_MAX));
    n = sk_sieve(100, primes, 32);
    CHECK(n == 25 && primes[0] == 2 && primes[24] == 97);
    CHECK(sk_sieve(10000, primes, 32) == 1229);
    CHECK(sk_sieve(1, primes, 32) == 0);
    n = sk_factorize(360, factors, 16);
    CHECK(n == 6 && factors[0] == 2 && factors[2] == 2 && factors[3] == 3 &&
          factors[5] == 5);
    n = sk_factorize(600851475143ull, factors, 16);
    CHECK(n == 4 && factors[0] == 71 && factors[1] == 839 &&
          factors[2] == 1471 && factors[3] == 6857);
    n = sk_factorize(2305843009213693951ull, factors, 16);
    CHECK(n == 1 && factors[0] == 2305843009213693951ull);
    n = sk_factorize(4294967297ull, factors, 16); /* 2^32 + 1 */
    CHECK(n == 2 && factors[0] == 641 && factors[1] == 6700417);
    n = sk_factorize(UINT64_MAX, factors, 16);
    CHECK(n == 7 && factors[0] == 3 && factors[1] == 5 && factors[2] == 17 &&
          factors[3] == 257 && factors[4] == 641 && factors[5] == 65537 &&
          factors[6] == 6700417);
    CHECK(sk_factorize(1024, factors, 4) == 10 && factors[3] == 2);
    CHECK(sk_factorize(1, factors, 16) == 0);
    module_end();
}

static void test_bits(void)
{
    uint32_t i;
    bool gray_ok = true;

    module_begin("bits");
    CHECK(sk_popcount32(0xFFFFFFFFu) == 32 && sk_popcount32(0xA5) == 4);
    CHECK(sk_popcount32(0) == 0);
    CHECK(sk_clz32(1) == 31 && sk_clz32(0) == 32 && sk_clz32(0x80000000u) == 0);
    CHECK(sk_clz32(0x00F00000u) == 8);
    CHECK(sk_ctz32(8) == 3 && sk_ctz32(0) == 32 && sk_ctz32(0x80000000u) == 31);
    CHECK(sk_next_pow2(17) == 32 && sk_next_pow2(1) == 1);
    CHECK(sk_next_pow2(0) == 1 && sk_next_pow2(64) == 64);
    CHECK(sk_reverse_bits32(1) == 0x80000000u);
    CHECK(sk_reverse_bits32(0x12345678u) == 0x1E6A2C48u);
    CHECK(sk_rotl32(0x80000001u, 1) == 3 && sk_rotl32(5, 32) == 5);
    CHECK(sk_is_pow2(1) && sk_is_pow2(UINT64_C(1) << 63));
    CHECK(!sk_is_pow2(0) && !sk_is_pow2(12));
    CHECK(sk_gray_encode(5) == 7);
    for (i = 0; i < 5000; i++) {
        uint32_t g = sk_gray_encode(i);
        if (sk_gray_decode(g) != i ||
            sk_popcount32(g ^ sk_gray_encode(i + 1)) != 1)
            gray_ok = false;
    }
    CHECK(gray_ok);
    module_end();
}

static void test_date(void)
{
    char buf[16];
    int64_t z = 0;
    int64_t y;
    unsigned m;
    unsigned d;
    bool roundtrip = true;

    module_begin("date");
    CHECK(sk_days_from_civil(1970, 1, 1) == 0);
    CHECK(sk_days_from_civil(2000, 3, 1) == 11017);
    CHECK(sk_days_from_civil(2024, 2, 29) == 19782);
    CHECK(sk_days_from_civil(1, 1, 1) == -719162);
    CHECK(sk_days_from_civil(9999, 12, 31) == 2932896);
    CHECK(sk_days_from_civil(1900, 3, 1) == -25508);
    sk_civil_from_days(-1, &y, &m, &d);
    CHECK(y == 1969 && m == 12 && d == 31);
    sk_civil_from_days(19782, &y, &m, &d);
    CHECK(y == 2024 && m == 2 && d == 29);
    CHECK(sk_weekday(0) == 4);
    CHECK(sk_weekday(10957) == 6);
    CHECK(sk_weekday(-1) == 3);
    CHECK(sk_weekday(-719162) == 1);
    CHECK(sk_is_leap_year(2000) && sk_is_leap_year(2024));
    CHECK(!sk_is_leap_year(1900) && !sk_is_leap_year(2023));
    CHECK(sk_days_in_month(2024, 2) == 29 && sk_days_in_month(2023, 2) == 28);
    CHECK(sk_days_in_month(2023, 4) == 30 && sk_days_in_month(2023, 13) == 0);
    CHECK(sk_day_of_year(2024, 12, 31) == 366);
    CHECK(sk_day_of_year(2023, 3, 1) == 60);
    CHECK(sk_format_date(19782, buf, sizeof buf) == 10);
    CHECK_STR(buf, "2024-02-29");
    sk_format_date(-719162, buf, sizeof buf);
    CHECK_STR(buf, "0001-01-01");
    CHECK(sk_parse_date("2000-03-01", &z) == SK_OK && z == 11017);
    CHECK(sk_parse_date("2023-02-29", &z) == SK_ERR_RANGE);
    CHECK(sk_parse_date("2023-2-28", &z) == SK_ERR_INVALID);
    CHECK(sk_parse_date("2023-02-28x", &z) == SK_ERR_INVALID);
    CHECK(sk_parse_date("20", &z) == SK_ERR_INVALID);
    for (z = -1000000; z <= 3000000; z += 37) {
        int64_t back;
        sk_civil_from_days(z, &y, &m, &d);
        back = sk_days_from_civil(y, m, d);
        if (back != z || m < 1 || m > 12 || d < 1 ||
            d > sk_days_in_month(y, m))
            roundtrip = false;
    }
    CHECK(roundtrip);
    module_end();
}

static void test_fixed(void)
{
    char buf[32];
    sk_q16 q = 0;
    sk_q16 a = 98304;  /* 1.5 */
    sk_q16 b = 147456; /* 2.25 */

    module_begin("fixed");
    CHECK(sk_q16_from_int(3) == 196608);
    CHECK(sk_q16_from_int(40000) == INT32_MAX);
    CHECK(sk_q16_from_int(-40000) == INT32_MIN);
    CHECK(sk_q16_mul(a, b) == 221184);
    CHECK(sk_q16_mul(-a, b) == -221184);
    sk_q16_format(sk_q16_mul(a, b), buf, sizeof buf);
    CHECK_STR(buf, "3.3750");
    CHECK(sk_q16_div(sk_q16_from_int(1), sk_q16_from_int(3), &q) == SK_OK);
    CHECK(q == 21845);
    sk_q16_format(q, buf, sizeof buf);
    CHECK_STR(buf, "0.3333");
    CHECK(sk_q16_div(a, 0, &q) == SK_ERR_INVALID);
    sk_q16_format(-163840, buf, sizeof buf);
    CHECK_STR(buf, "-2.5000");
    sk_q16_format(65535, buf, sizeof buf);
    CHECK_STR(buf, "1.0000");
    sk_q16_format(INT32_MIN, buf, sizeof buf);
    CHECK_STR(buf, "-32768.0000");
    CHECK(sk_q16_format(a, buf, 4) == 0);
    CHECK(sk_q16_mul(INT32_MAX, INT32_MAX) == INT32_MAX);
    module_end();
}

static void test_sequences(void)
{
    module_begin("sequences");
    CHECK(sk_fib(0) == 0 && sk_fib(1) == 1 && sk_fib(10) == 55);
    CHECK(sk_fib(93) == 12200160415121876738ull);
    CHECK(sk_fib(94) == 0);
    CHECK(sk_fib_mod(10, 1000) == 55);
    CHECK(sk_fib_mod(1000, 1000000007) == 517691607);
    CHECK(sk_fib_mod(93, UINT64_MAX) == 12200160415121876738ull);
    CHECK(sk_fib_mod(100000, UINT64_MAX) == 14856832390961661735ull);
    CHECK(sk_fib_mod(12345, 1) == 0);
    CHECK(sk_digit_sum(12345) == 15 && sk_digit_sum(0) == 0);
    CHECK(sk_digital_root(12345) == 6 && sk_digital_root(0) == 0);
    CHECK(sk_digital_root(9) == 9);
    CHECK(sk_reverse_digits(1200) == 21 && sk_reverse_digits(12345) == 54321);
    CHECK(sk_is_armstrong(153) && sk_is_armstrong(9474));
    CHECK(sk_is_armstrong(0) && !sk_is_armstrong(154));
    CHECK(!sk_is_armstrong(UINT64_MAX));
    CHECK(sk_collatz_steps(27) == 111 && sk_collatz_steps(1) == 0);
    CHECK(sk_collatz_steps(0) == 0 && sk_collatz_steps(97) == 118);
    module_end();
}

static void test_bigint(void)
{
    sk_bigint a;
    sk_bigint b;
    sk_bigint c;
    char buf[128];
    uint32_t rem = 0;

    module_begin("bigint");
    sk_bigint_init(&a);
    sk_bigint_init(&b);
    sk_bigint_init(&c);
    CHECK(sk_bigint_factorial(&a, 30) == SK_OK);
    CHECK(sk_bigint_to_string(&a, buf, sizeof buf) == 33);
    CHECK_STR(buf, "265252859812191058636308480000000");
    CHECK(sk_bigint_pow(&b, 2, 100) == SK_OK);
    sk_bigint_to_string(&b, buf, sizeof buf);
    CHECK_STR(buf, "1267650600228229401496703205376");
    CHECK(sk_bigint_pow(&c, 3, 40) == SK_OK);
    sk_bigint_to_string(&c, buf, sizeof buf);
    CHECK_STR(buf, "12157665459056928801");
    CHECK(sk_bigint_pow(&c, 7, 0) == SK_OK);
    sk_bigint_to_string(&c, buf, sizeof buf);
    CHECK_STR(buf, "1");

    CHECK(sk_bigint_divmod_small(&b, 7, &rem) == SK_OK && rem == 2);
    sk_bigint_to_string(&b, buf, sizeof buf);
    CHECK_STR(buf, "181092942889747057356671886482");
    CHECK(sk_bigint_mul_small(&b, 7) == SK_OK);
    CHECK(sk_bigint_set_u64(&c, 2) == SK_OK);
    CHECK(sk_bigint_add(&b, &b, &c) == SK_OK);
    sk_bigint_to_string(&b, buf, sizeof buf);
    CHECK_STR(buf, "1267650600228229401496703205376");
    CHECK(sk_bigint_divmod_small(&b, 0, &rem) == SK_ERR_INVALID);

    CHECK(sk_bigint_parse(&a, "999999999999999999") == SK_OK);
    CHECK(sk_bigint_parse(&c, "1") == SK_OK);
    CHECK(sk_bigint_add(&a, &a, &c) == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "1000000000000000000");
    CHECK(sk_bigint_sub(&a, &a, &c) == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "999999999999999999");
    CHECK(sk_bigint_sub(&c, &c, &a) == SK_ERR_RANGE);
    CHECK(sk_bigint_mul(&a, &a, &a) == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "999999999999999998000000000000000001");
    CHECK(sk_bigint_cmp(&a, &c) > 0 && sk_bigint_cmp(&c, &a) < 0);
    CHECK(sk_bigint_cmp(&a, &a) == 0);
    CHECK(sk_bigint_sub(&a, &a, &a) == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "0");
    CHECK(sk_bigint_parse(&a, "000123") == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "123");
    CHECK(sk_bigint_parse(&a, "12x") == SK_ERR_INVALID);
    CHECK(sk_bigint_parse(&a, "") == SK_ERR_INVALID);
    CHECK(sk_bigint_set_u64(&a, UINT64_MAX) == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "18446744073709551615");
    CHECK(sk_bigint_to_string(&a, buf, 20) == 0);
    CHECK(sk_bigint_mul_small(&a, 0) == SK_OK);
    sk_bigint_to_string(&a, buf, sizeof buf);
    CHECK_STR(buf, "0");
    sk_bigint_free(&a);
    sk_bigint_free(&b);
    sk_bigint_free(&c);
    module_end();
}

/* ------------------------------------------------------------------ */

static void test_arena(void)
{
    sk_arena a;
    size_t i;
    bool aligned = true;
    bool intact = true;
    int32_t *blocks[50];
    char *s;

    module_begin("arena");
    sk_arena_init(&a, 256);
    for (i = 0; i < 50; i++) {
        size_t k;
        blocks[i] = sk_arena_alloc(&a, 10 * sizeof(int32_t), 16);
        if (blocks[i] == NULL || (uintptr_t)blocks[i] % 16 != 0) {
            aligned = false;
            break;
        }
        for (k = 0; k < 10; k++)
            blocks[i][k] = (int32_t)(i * 10 + k);
    }
    CHECK(aligned);
    for (i = 0; aligned && i < 50; i++) {
        size_t k;
        for (k = 0; k < 10; k++)
            if (blocks[i][k] != (int32_t)(i * 10 + k))
                intact = false;
    }
    CHECK(intact);
    CHECK(a.total == 50 * 10 * sizeof(int32_t));
    s = sk_arena_strdup(&a, "arena string");
    CHECK_STR(s, "arena string");
    CHECK(sk_arena_alloc(&a, 8, 3) == NULL);
    CHECK(sk_arena_alloc(&a, 5000, 8) != NULL); /* larger than a block */
    sk_arena_reset(&a);
    CHECK(a.total == 0);
    CHECK(sk_arena_alloc(&a, 16, 8) != NULL);
    sk_arena_free(&a);
    CHECK(a.head == NULL);
    module_end();
}

static void test_vec(void)
{
    sk_vec v;
    int64_t x = 0;
    int64_t i;
    bool ok = true;

    module_begin("vec");
    sk_vec_init(&v);
    CHECK(!sk_vec_pop(&v, &x));
    for (i = 0; i < 100; i++)
        if (sk_vec_push(&v, i * i) != SK_OK)
            ok = false;
    CHECK(ok && v.len == 100 && v.data[99] == 9801);
    CHECK(sk_vec_insert(&v, 0, -1) == SK_OK && v.data[0] == -1);
    CHECK(v.data[1] == 0 && v.len == 101);
    CHECK(sk_vec_insert(&v, 101, 7) == SK_OK && v.data[101] == 7);
    CHECK(sk_vec_insert(&v, 500, 7) == SK_ERR_RANGE);
    CHECK(sk_vec_remove(&v, 0, &x) && x == -1 && v.data[0] == 0);
    CHECK(sk_vec_remove(&v, 5, NULL) && v.data[5] == 36);
    CHECK(!sk_vec_remove(&v, 1000, &x));
    CHECK(sk_vec_pop(&v, &x) && x == 7);
    CHECK(v.len == 99);
    CHECK(sk_vec_reserve(&v, 1000) == SK_OK && v.cap >= 1000);
    sk_vec_free(&v);
    CHECK(v.data == NULL && v.len == 0);
    module_end();
}

static void test_strbuf(void)
{
    sk_strbuf b;

    module_begin("strbuf");
    sk_strbuf_init(&b);
    CHECK_STR(sk_strbuf_cstr(&b), "");
    CHECK(sk_strbuf_puts(&b, "count=") == SK_OK);
    CHECK(sk_strbuf_printf(&b, "%d/%s/%05.1f", 42, "x", 2.5) == SK_OK);
    CHECK(sk_strbuf_putc(&b, ';') == SK_OK);
    CHECK(sk_strbuf_repeat(&b, '-', 3) == SK_OK);
    CHECK(sk_strbuf_append(&b, "abcdef", 2) == SK_OK);
    CHECK_STR(sk_strbuf_cstr(&b), "count=42/x/002.5;---ab");
    CHECK(b.len == 22);
    sk_strbuf_clear(&b);
    CHECK_STR(sk_strbuf_cstr(&b), "");
    CHECK(sk_strbuf_repeat(&b, 'z', 1000) == SK_OK && b.len == 1000);
    CHECK(b.data[999] == 'z' && b.data[1000] == '\0');
    sk_strbuf_free(&b);
    module_end();
}

struct map_dump {
    sk_strbuf out;
    size_t limit;
};

static bool dump_entry(const char *key, int64_t value, void *ctx)
{
    struct map_dump *d = ctx;
    sk_strbuf_printf(&d->out, "%s=%lld;", key, (long long)value);
    return --d->limit > 0;
}

static void test_map(void)
{
    static const char text[] =
        "the cat and the dog and the bird saw the cat";
    sk_map m;
    sk_slice words[16];
    size_t nw;
    size_t i;
    int64_t v = 0;
    struct map_dump dump;
    char key[16];
    bool ok = true;

    module_begin("hashmap");
    sk_map_init(&m);
    CHECK(sk_map_get(&m, "missing", &v) == SK_ERR_NOTFOUND);
    CHECK(!sk_map_remove(&m, "missing"));
    nw = sk_tokenize(text, " ", words, 16);
    CHECK(nw == 11);
    for (i = 0; i < nw; i++) {
        char w[16];
        sk_slice_copy(words[i], w, sizeof w);
        sk_map_add(&m, w, 1);
    }
    CHECK(m.count == 6);
    CHECK(sk_map_get(&m, "the", &v) == SK_OK && v == 4);
    CHECK(sk_map_get(&m, "cat", &v) == SK_OK && v == 2);
    CHECK(sk_map_put(&m, "dog", 10) == SK_OK);
    CHECK(sk_map_get(&m, "dog", &v) == SK_OK && v == 10);
    CHECK(sk_map_remove(&m, "and"));
    CHECK(sk_map_get(&m, "and", &v) == SK_ERR_NOTFOUND);
    CHECK(m.count == 5);

    sk_strbuf_init(&dump.out);
    dump.limit = 100;
    sk_map_each_sorted(&m, dump_entry, &dump);
    CHECK_STR(sk_strbuf_cstr(&dump.out), "bird=1;cat=2;dog=10;saw=1;the=4;");
    sk_strbuf_clear(&dump.out);
    dump.limit = 2;
    sk_map_each_sorted(&m, dump_entry, &dump);
    CHECK_STR(sk_strbuf_cstr(&dump.out), "bird=1;cat=2;");
    sk_strbuf_free(&dump.out);

    /* Stress insertion, deletion and re-lookup across many resizes. */
    for (i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%u", (unsigned)i);
        if (sk_map_put(&m, key, (int64_t)i) != SK_OK)
            ok = false;
    }
    for (i = 0; i < 2000; i += 3) {
        snprintf(key, sizeof key, "k%u", (unsigned)i);
        if (!sk_map_remove(&m, key))
            ok = false;
    }
    for (i = 0; i < 2000; i++) {
        sk_status st;
        snprintf(key, sizeof key, "k%u", (unsigned)i);
        st = sk_map_get(&m, key, &v);
        if (i % 3 == 0 ? st != SK_ERR_NOTFOUND
                       : (st != SK_OK || v != (int64_t)i))
            ok = false;
    }
    CHECK(ok);
    CHECK(m.count == 5 + 2000 - 667);
    CHECK(sk_map_get(&m, "the", &v) == SK_OK && v == 4);
    sk_map_free(&m);
    CHECK(m.count == 0 && m.slots == NULL);
    module_end();
}

static void test_ring(void)
{
    sk_ring r;
    char out[16];

    module_begin("ringbuf");
    CHECK(sk_ring_init(&r, 8) == SK_OK);
    CHECK(sk_ring_write(&r, "abcde", 5) == 5);
    CHECK(sk_ring_read(&r, out, 3) == 3 && memcmp(out, "abc", 3) == 0);
    CHECK(sk_ring_write(&r, "fghijklm", 8) == 6); /* wraps, then full */
    CHECK(r.len == 8);
    CHECK(sk_ring_write(&r, "z", 1) == 0);
    CHECK(sk_ring_peek(&r, out, 4) == 4 && memcmp(out, "defg", 4) == 0);
    CHECK(sk_ring_read(&r, out, 16) == 8 && memcmp(out, "defghijk", 8) == 0);
    CHECK(sk_ring_read(&r, out, 1) == 0);
    sk_ring_free(&r);
    CHECK(sk_ring_init(&r, 0) == SK_OK);
    CHECK(sk_ring_write(&r, "a", 1) == 0);
    sk_ring_free(&r);
    module_end();
}

static void test_bitset(void)
{
    sk_bitset b;

    module_begin("bitset");
    CHECK(sk_bitset_init(&b, 130) == SK_OK);
    sk_bitset_set(&b, 0);
    sk_bitset_set(&b, 64);
    sk_bitset_set(&b, 129);
    sk_bitset_set(&b, 130); /* out of range: ignored */
    CHECK(sk_bitset_count(&b) == 3);
    CHECK(sk_bitset_test(&b, 64) && !sk_bitset_test(&b, 63));
    CHECK(!sk_bitset_test(&b, 500));
    CHECK(sk_bitset_next(&b, 0) == 0 && sk_bitset_next(&b, 1) == 64);
    CHECK(sk_bitset_next(&b, 65) == 129 && sk_bitset_next(&b, 130) == 130);
    sk_bitset_clear(&b, 64);
    CHECK(sk_bitset_count(&b) == 2 && sk_bitset_next(&b, 1) == 129);
    sk_bitset_clear(&b, 129);
    CHECK(sk_bitset_next(&b, 1) == 130);
    sk_bitset_free(&b);
    module_end();
}

static void test_heap(void)
{
    sk_heap h;
    sk_rng r;
    int64_t prev = INT64_MIN;
    int64_t x = 0;
    size_t i;
    size_t popped = 0;
    bool ordered = true;

    module_begin("heap");
    sk_heap_init(&h);
    CHECK(!sk_heap_pop(&h, &x) && !sk_heap_peek(&h, &x));
    sk_rng_seed(&r, 99);
    for (i = 0; i < 500; i++)
        sk_heap_push(&h, (int64_t)sk_rng_below(&r, 1000) - 500);
    sk_heap_push(&h, -1000);
    CHECK(sk_heap_peek(&h, &x) && x == -1000);
    while (sk_heap_pop(&h, &x)) {
        if (x < prev)
            ordered = false;
        prev = x;
        popped++;
    }
    CHECK(ordered && popped == 501);
    sk_heap_free(&h);
    module_end();
}

static void test_list(void)
{
    sk_arena a;
    sk_list_node *head = NULL;
    sk_list_node *n;
    static const int64_t vals[] = {5, -2, 9, 0, 5, 3, 11, -7};
    static const int64_t sorted[] = {-7, -2, 0, 3, 5, 5, 9, 11};
    size_t i;
    bool ok = true;

    module_begin("list");
    sk_arena_init(&a, 128);
    for (i = 0; i < SK_ARRAY_LEN(vals); i++)
        head = sk_list_push_front(&a, head, vals[i]);
    CHECK(sk_list_length(head) == 8);
    CHECK(head->value == -7);
    head = sk_list_reverse(head);
    CHECK(head->value == 5 && head->next->value == -2);
    head = sk_list_sort(head);
    for (i = 0, n = head; n != NULL; n = n->next, i++)
        if (i >= 8 || n->value != sorted[i])
            ok = false;
    CHECK(ok && i == 8);
    CHECK(sk_list_sort(NULL) == NULL && sk_list_reverse(NULL) == NULL);
    sk_arena_free(&a);
    module_end();
}

static void test_trie(void)
{
    static const char *const words[] = {"car", "cart", "care", "cat",
                                        "dog", "do",   "car"};
    sk_trie t;
    size_t i;

    module_begin("trie");
    CHECK(sk_trie_init(&t) == SK_OK);
    for (i = 0; i < SK_ARRAY_LEN(words); i++)
        CHECK(sk_trie_insert(&t, words[i]) == SK_OK);
    CHECK(t.words == 6);
    CHECK(sk_trie_contains(&t, "cart") && sk_trie_contains(&t, "do"));
    CHECK(!sk_trie_contains(&t, "ca") && !sk_trie_contains(&t, "cars"));
    CHECK(sk_trie_count_prefix(&t, "car") == 3);
    CHECK(sk_trie_count_prefix(&t, "ca") == 4);
    CHECK(sk_trie_count_prefix(&t, "") == 6);
    CHECK(sk_trie_count_prefix(&t, "x") == 0);
    CHECK(sk_trie_longest_prefix(&t, "cartoon") == 4);
    CHECK(sk_trie_longest_prefix(&t, "ca") == 0);
    CHECK(sk_trie_longest_prefix(&t, "dogs") == 3);
    sk_trie_free(&t);
    module_end();
}

/* ------------------------------------------------------------------ */

static void fill_random(int32_t *a, size_t n, uint64_t seed)
{
    sk_rng r;
    size_t i;

    sk_rng_seed(&r, seed);
    for (i = 0; i < n; i++)
        a[i] = (int32_t)sk_rng_below(&r, 1000) - 500;
}

static void test_sorting(void)
{
    enum { N = 1000 };
    static int32_t ref[N];
    static int32_t work[N];
    static uint32_t uwork[N];
    int32_t small[] = {3, -1, 2, 2, 0};
    size_t i;
    int algo;
    bool ok = true;

    module_begin("sort");
    fill_random(ref, N, 7);
    sk_quicksort(ref, N);
    CHECK(sk_is_sorted(ref, N));
    for (algo = 0; algo < 4; algo++) {
        fill_random(work, N, 7);
        switch (algo) {
        case 0:
            CHECK(sk_mergesort(work, N) == SK_OK);
            break;
        case 1:
            sk_heapsort(work, N);
            break;
        case 2:
            sk_insertion_sort(work, N);
            break;
        default:
            sk_shellsort(work, N);
            break;
        }
        if (memcmp(work, ref, sizeof ref) != 0)
            ok = false;
    }
    CHECK(ok);
    for (i = 0; i < N; i++)
        uwork[i] = (uint32_t)(ref[N - 1 - i] * 2654435761u);
    CHECK(sk_radix_sort(uwork, N) == SK_OK);
    ok = true;
    for (i = 1; i < N; i++)
        if (uwork[i - 1] > uwork[i])
            ok = false;
    CHECK(ok);
    for (i = 0; i < N; i++)
        work[i] = 42;
    sk_quicksort(work, N);
    CHECK(sk_is_sorted(work, N) && work[0] == 42);
    for (i = 0; i < N; i++)
        work[i] = (int32_t)(N - i);
    sk_quicksort(work, N);
    CHECK(sk_is_sorted(work, N) && work[0] == 1);
    sk_quicksort(small, 5);
    CHECK(small[0] == -1 && small[2] == 2 && small[4] == 3);
    CHECK(sk_is_sorted(small, 0) && !sk_is_sorted((int32_t[]){2, 1}, 2));
    CHECK(sk_mergesort(small, 1) == SK_OK && sk_radix_sort(uwork, 0) == SK_OK);
    module_end();
}

static void test_searching(void)
{
    static const int32_t a[] = {1, 3, 3, 3, 7, 9, 12};
    enum { N = 301 };
    int32_t data[N];
    int32_t sorted[N];
    size_t at = 0;
    size_t k;
    bool ok = true;

    module_begin("select");
    CHECK(sk_lower_bound(a, 7, 3) == 1 && sk_upper_bound(a, 7, 3) == 4);
    CHECK(sk_lower_bound(a, 7, 0) == 0 && sk_upper_bound(a, 7, 100) == 7);
    CHECK(sk_lower_bound(a, 7, 8) == 5);
    CHECK(sk_binary_search(a, 7, 9, &at) && at == 5);
    CHECK(!sk_binary_search(a, 7, 4, &at));
    CHECK(!sk_binary_search(a, 0, 4, NULL));
    fill_random(sorted, N, 11);
    sk_heapsort(sorted, N);
    for (k = 0; k < N; k++) {
        fill_random(data, N, 11);
        if (sk_select(data, N, k) != sorted[k])
            ok = false;
    }
    CHECK(ok);
    CHECK(sk_select(data, 0, 0) == 0);
    {
        int32_t one[] = {5};
        int32_t same[] = {4, 4, 4, 4};
        CHECK(sk_select(one, 1, 0) == 5);
        CHECK(sk_select(same, 4, 2) == 4);
    }
    module_end();
}

static void test_permutations(void)
{
    int32_t p[] = {1, 2, 3, 4};
    int32_t d[] = {1, 1, 2};
    int count = 1;

    module_begin("permute");
    while (sk_next_permutation(p, 4))
        count++;
    CHECK(count == 24);
    CHECK(p[0] == 1 && p[1] == 2 && p[2] == 3 && p[3] == 4);
    count = 1;
    while (sk_next_permutation(d, 3))
        count++;
    CHECK(count == 3);
    CHECK(!sk_next_permutation(d, 1));
    module_end();
}

static void test_matrix(void)
{
    static const int64_t a[6] = {1, 2, 3, 4, 5, 6};       /* 2x3 */
    static const int64_t b[6] = {7, 8, 9, 10, 11, 12};    /* 3x2 */
    static const int64_t m3[9] = {6, 1, 1, 4, -2, 5, 2, 8, 7};
    static const int64_t m4[16] = {0, 1, 2, 3, 1, 0, 2, 1,
                                   2, 1, 0, 1, 1, 2, 1, 0};
    static const int64_t m5[25] = {3, 2, 0, 1, 4,  1, -1, 2, 0, 3, 0, 5, 1,
                                   2, -2, 2, 0, 3, 1, 1, 4, 1, -1, 3, 0};
    static const int64_t sing[9] = {1, 2, 3, 2, 4, 6, 7, 8, 9};
    static const int64_t fibm[4] = {1, 1, 1, 0};
    int64_t c[9];
    int64_t t[6];
    int64_t det = 0;

    module_begin("matrix");
    sk_mat_mul(a, b, c, 2, 3, 2);
    CHECK(c[0] == 58 && c[1] == 64 && c[2] == 139 && c[3] == 154);
    sk_mat_transpose(a, t, 2, 3);
    CHECK(t[0] == 1 && t[1] == 4 && t[2] == 2 && t[5] == 6);
    CHECK(sk_mat_det(m3, 3, &det) == SK_OK && det == -306);
    CHECK(sk_mat_det(m4, 4, &det) == SK_OK && det == -22);
    CHECK(sk_mat_det(m5, 5, &det) == SK_OK && det == -226);
    CHECK(sk_mat_det(sing, 3, &det) == SK_OK && det == 0);
    CHECK(sk_mat_det(m3, 0, &det) == SK_OK && det == 1);
    CHECK(sk_mat_det(m3, 9, &det) == SK_ERR_RANGE);
    sk_mat_identity(c, 3);
    CHECK(c[0] == 1 && c[1] == 0 && c[4] == 1 && c[8] == 1);
    CHECK(sk_mat_pow(fibm, 2, 10, c) == SK_OK);
    CHECK(c[0] == 89 && c[1] == 55 && c[2] == 55 && c[3] == 34);
    CHECK(sk_mat_pow(fibm, 2, 0, c) == SK_OK && c[0] == 1 && c[1] == 0);
    CHECK(sk_mat_pow(fibm, 9, 2, c) == SK_ERR_RANGE);
    module_end();
}

static void test_random(void)
{
    static const uint8_t want_below[] = {5, 5, 9, 2, 8, 1, 5, 2, 5, 3};
    static const int32_t want_shuffle[] = {0, 4, 3, 7, 5, 6, 8, 9, 2, 1};
    sk_rng r;
    sk_rng r2;
    int32_t deck[10];
    size_t i;
    bool ok = true;
    unsigned hist[6] = {0};

    module_begin("random");
    sk_rng_seed(&r, 42);
    CHECK(sk_rng_next(&r) == 0x31B0ECE7C4F697A2ull);
    CHECK(sk_rng_next(&r) == 0x9008A3B1CB686F03ull);
    CHECK(sk_rng_u32(&r) == 0x7C7173ABu);
    sk_rng_seed(&r, 7);
    for (i = 0; i < 10; i++)
        if (sk_rng_below(&r, 10) != want_below[i])
            ok = false;
    CHECK(ok);
    sk_rng_seed(&r, 2024);
    for (i = 0; i < 10; i++)
        deck[i] = (int32_t)i;
    sk_shuffle(deck, 10, &r);
    CHECK(memcmp(deck, want_shuffle, sizeof deck) == 0);
    sk_rng_seed(&r, 5);
    sk_rng_seed(&r2, 5);
    ok = true;
    for (i = 0; i < 100; i++)
        if (sk_rng_next(&r) != sk_rng_next(&r2))
            ok = false;
    CHECK(ok);
    for (i = 0; i < 6000; i++)
        hist[sk_rng_below(&r, 6)]++;
    ok = true;
    for (i = 0; i < 6; i++)
        if (hist[i] < 800 || hist[i] > 1200)
            ok = false;
    CHECK(ok);
    CHECK(sk_rng_below(&r, 1) == 0);
    module_end();
}

static void test_stats(void)
{
    static const int32_t data[] = {2, 4, 4, 4, 5, 5, 7, 9};
    static const int32_t neg[] = {-3, -1};
    sk_stats s;

    module_begin("stats");
    CHECK(sk_compute_stats(data, 8, &s) == SK_OK);
    CHECK(s.min == 2 && s.max == 9 && s.sum == 40);
    CHECK(s.mean_milli == 5000 && s.variance_milli == 4000);
    CHECK(sk_compute_stats(neg, 2, &s) == SK_OK);
    CHECK(s.mean_milli == -2000 && s.variance_milli == 1000);
    CHECK(sk_compute_stats(data, 0, &s) == SK_ERR_INVALID);
    CHECK(sk_compute_stats((int32_t[]){2000000}, 1, &s) == SK_ERR_RANGE);
    CHECK(sk_mode(data, 8) == 4);
    CHECK(sk_mode((int32_t[]){3, 1, 3, 1}, 4) == 1);
    CHECK(sk_mode(data, 0) == 0);
    module_end();
}

/* ------------------------------------------------------------------ */

static sk_expr_result eval(const char *src)
{
    static const sk_expr_var vars[] = {{"x", 6}, {"y", 7}, {"z", -2}};
    return sk_expr_eval(src, vars, SK_ARRAY_LEN(vars));
}

static bool eval_is(const char *src, int64_t want)
{
    sk_expr_result r = eval(src);
    if (r.status != SK_OK || r.value != want) {
        printf("    expr \"%s\": status %d value %lld\n", src, (int)r.status,
               (long long)r.value);
        return false;
    }
    return true;
}

static bool eval_fails(const char *src, sk_status want, size_t pos)
{
    sk_expr_result r = eval(src);
    if (r.status != want || r.error_pos != pos) {
        printf("    expr \"%s\": status %d at %u\n", src, (int)r.status,
               (unsigned)r.error_pos);
        return false;
    }
    return true;
}

static void test_expr(void)
{
    char deep[300];
    size_t i;

    module_begin("expr");
    CHECK(eval_is("1 + 2 * 3", 7));
    CHECK(eval_is("(1 + 2) * 3", 9));
    CHECK(eval_is("2 ** 3 ** 2", 512));
    CHECK(eval_is("-2 ** 2", -4));
    CHECK(eval_is("7 / 2", 3));
    CHECK(eval_is("-7 / 2", -3));
    CHECK(eval_is("-7 % 3", -1));
    CHECK(eval_is("1 << 10", 1024));
    CHECK(eval_is("-5 >> 1", -3));
    CHECK(eval_is("x * y + z", 40));
    CHECK(eval_is("0x10 + 0b101", 21));
    CHECK(eval_is("1_000 * 3", 3000));
    CHECK(eval_is("max(3, 9, 4) - min(5, 2)", 7));
    CHECK(eval_is("abs(-42) + gcd(84, -36)", 54));
    CHECK(eval_is("clamp(15, 0, 10) + clamp(-3, 0, 10)", 10));
    CHECK(eval_is("1 < 2 && 2 < 3", 1));
    CHECK(eval_is("1 <= 1 && 2 >= 3", 0));
    CHECK(eval_is("3 != 3 || 4 == 4", 1));
    CHECK(eval_is("0 && 1 / 0", 0));
    CHECK(eval_is("1 || 1 / 0", 1));
    CHECK(eval_is("1 ? 5 : 1 / 0", 5));
    CHECK(eval_is("0 ? 1 / 0 : x > 5 ? 8 : 9", 8));
    CHECK(eval_is("6 & 3 | 8 ^ 1", 11));
    CHECK(eval_is("~0", -1));
    CHECK(eval_is("!5 + !0", 1));
    CHECK(eval_is("- - 3", 3));
    CHECK(eval_is("+4", 4));
    CHECK(eval_is("-9223372036854775807 - 1", INT64_MIN));
    CHECK(eval_is("  ( ( 42 ) )  ", 42));
    CHECK(eval_is("2 ** 62 + (2 ** 62 - 1)", INT64_MAX));
    CHECK(eval_fails("1 / 0", SK_ERR_RANGE, 5));
    CHECK(eval_fails("1 +", SK_ERR_INVALID, 3));
    CHECK(eval_fails("foo + 1", SK_ERR_NOTFOUND, 0));
    CHECK(eval_fails("9223372036854775807 + 1", SK_ERR_RANGE, 23));
    CHECK(eval_fails("(1", SK_ERR_INVALID, 2));
    CHECK(eval_fails("2 ** -1", SK_ERR_RANGE, 7));
    CHECK(eval_fails("1 2", SK_ERR_INVALID, 2));
    CHECK(eval_fails("nope(1)", SK_ERR_NOTFOUND, 7));
    CHECK(eval_fails("abs(1, 2)", SK_ERR_NOTFOUND, 9));
    CHECK(eval_fails("-(-9223372036854775807 - 1)", SK_ERR_RANGE, 27));
    CHECK(eval_fails("99999999999999999999", SK_ERR_RANGE, 0));
    CHECK(eval_fails("1 << 63", SK_ERR_RANGE, 7));
    CHECK(eval_fails("", SK_ERR_INVALID, 0));
    for (i = 0; i < 100; i++) {
        deep[i] = '(';
        deep[101 + i] = ')';
    }
    deep[100] = '1';
    deep[201] = '\0';
    CHECK(eval(deep).status == SK_ERR_RANGE);
    module_end();
}

static void test_json(void)
{
    static const char doc[] =
        "{\"a\": [1, 2.5, -3e2, true, null], "
        "\"b\": {\"c\": \"x\\u00e9\\n\"}, \"d\": [], \"e\": \"\xc3\xa9\"}";
    static const char *const bad[] = {
        "{\"a\":1,}", "[01]",  "\"\\ud800\"", "[1 2]",  "{\"a\" 1}",
        "tru",        "[]]",   "\"abc",       "1.",     "",
        "{1:2}",      "[1,]",  "\"\\x\"",     "-",      "[\"\x01\"]",
        "{\"a\":}",   "1 2",   "\"\xc3\"",    "[1e]",   "\"\\udc00\""};
    char deep[600];
    sk_json_stats st;
    size_t pos = 0;
    size_t i;
    bool all_rejected = true;

    module_begin("json");
    CHECK(sk_json_validate(doc, strlen(doc), &st, &pos) == SK_OK);
    CHECK(st.objects == 2 && st.arrays == 2 && st.strings == 2);
    CHECK(st.numbers == 3 && st.literals == 2 && st.max_depth == 2);
    CHECK(sk_json_validate("  42  ", 6, &st, &pos) == SK_OK && st.numbers == 1);
    CHECK(sk_json_validate("[[[]]]", 6, &st, NULL) == SK_OK &&
          st.max_depth == 3);
    CHECK(sk_json_validate("\"\\ud83d\\ude00\"", 14, &st, &pos) == SK_OK);
    CHECK(sk_json_validate("{}", 2, &st, &pos) == SK_OK && st.objects == 1);
    CHECK(sk_json_validate("[0, -0.5e+3, 1E9]", 17, &st, &pos) == SK_OK);
    for (i = 0; i < SK_ARRAY_LEN(bad); i++) {
        if (sk_json_validate(bad[i], strlen(bad[i]), &st, &pos) == SK_OK) {
            printf("    accepted bad json #%u\n", (unsigned)i);
            all_rejected = false;
        }
    }
    CHECK(all_rejected);
    CHECK(sk_json_validate("[1, x]", 6, &st, &pos) == SK_ERR_INVALID &&
          pos == 4);
    for (i = 0; i < 300; i++) {
        deep[i] = '[';
        deep[300 + i] = ']';
    }
    CHECK(sk_json_validate(deep, 600, &st, &pos) == SK_ERR_RANGE);
    CHECK(sk_json_validate(deep + 100, 400, &st, &pos) == SK_OK &&
          st.max_depth == 200);
    module_end();
}

static void test_csv(void)
{
    char buf[64];
    sk_slice f[8];
    size_t n = 0;

    module_begin("csv");
    CHECK(sk_csv_parse_line("a,\"b,c\",\"d \"\"q\"\"\",,e\r\n", buf, sizeof buf,
                            f, 8, &n) == SK_OK);
    CHECK(n == 5);
    CHECK(sk_slice_eq_cstr(f[0], "a") && sk_slice_eq_cstr(f[1], "b,c"));
    CHECK(sk_slice_eq_cstr(f[2], "d \"q\"") && f[3].len == 0);
    CHECK(sk_slice_eq_cstr(f[4], "e"));
    CHECK(sk_csv_parse_line("", buf, sizeof buf, f, 8, &n) == SK_OK && n == 1);
    CHECK(sk_csv_parse_line("\"\"", buf, sizeof buf, f, 8, &n) == SK_OK &&
          n == 1 && f[0].len == 0);
    CHECK(sk_csv_parse_line("\"abc", buf, sizeof buf, f, 8, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_csv_parse_line("ab\"c", buf, sizeof buf, f, 8, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_csv_parse_line("\"a\"b", buf, sizeof buf, f, 8, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_csv_parse_line("a\nb", buf, sizeof buf, f, 8, &n) ==
          SK_ERR_INVALID);
    CHECK(sk_csv_parse_line("1,2,3", buf, sizeof buf, f, 2, &n) ==
          SK_ERR_SPACE);
    CHECK(sk_csv_parse_line("abcdef", buf, 3, f, 8, &n) == SK_ERR_SPACE);
    module_end();
}

static bool ini_collect(const char *section, const char *key,
                        const char *value, void *ctx)
{
    sk_strbuf *out = ctx;
    sk_strbuf_printf(out, "%s.%s=%s;", section, key, value);
    return strcmp(key, "stop") != 0;
}

static void test_ini(void)
{
    static const char text[] = "; comment\n"
                               "top = 1\n"
                               "[server]\n"
                               "host = example.org\n"
                               "  port=8080  \r\n"
                               "name = \"  padded  \"\n"
                               "# another comment\n"
                               "\n"
                               "[ client ]\n"
                               "retries = 3\n"
                               "empty =";
    sk_strbuf out;
    size_t line = 0;

    module_begin("ini");
    sk_strbuf_init(&out);
    CHECK(sk_ini_parse(text, ini_collect, &out, &line) == SK_OK);
    CHECK_STR(sk_strbuf_cstr(&out),
              ".top=1;server.host=example.org;server.port=8080;"
              "server.name=  padded  ;client.retries=3;client.empty=;");
    sk_strbuf_clear(&out);
    CHECK(sk_ini_parse("[bad\n", ini_collect, &out, &line) == SK_ERR_INVALID);
    CHECK(line == 1);
    CHECK(sk_ini_parse("a=1\nnoequals\n", ini_collect, &out, &line) ==
          SK_ERR_INVALID);
    CHECK(line == 2);
    CHECK(sk_ini_parse("[]\n", ini_collect, &out, &line) == SK_ERR_INVALID);
    CHECK(sk_ini_parse(" = v\n", ini_collect, &out, &line) == SK_ERR_INVALID);
    sk_strbuf_clear(&out);
    CHECK(sk_ini_parse("a=1\nstop=2\nc=3\n", ini_collect, &out, &line) ==
          SK_OK);
    CHECK_STR(sk_strbuf_cstr(&out), ".a=1;.stop=2;");
    sk_strbuf_free(&out);
    module_end();
}

/* ------------------------------------------------------------------ */

int main(void)
{
    test_common();
    test_base64();
    test_base32();
    test_hex();
    test_utf8();
    test_rle();
    test_url();
    test_roman();
    test_escape();
    test_caesar();
    test_checksums();
    test_hashes();
    test_trim_split();
    test_replace_case();
    test_search();
    test_distance();
    test_wildcard();
    test_layout();
    test_parse_int();
    test_format_int();
    test_arith();
    test_primes();
    test_bits();
    test_date();
    test_fixed();
    test_sequences();
    test_bigint();
    test_arena();
    test_vec();
    test_strbuf();
    test_map();
    test_ring();
    test_bitset();
    test_heap();
    test_list();
    test_trie();
    test_sorting();
    test_searching();
    test_permutations();
    test_matrix();
    test_random();
    test_stats();
    test_expr();
    test_json();
    test_csv();
    test_ini();

    if (g_failed != 0) {
        printf("strkit selftest: %u of %u checks FAILED\n", g_failed,
               g_checks);
        return 1;
    }
    printf("strkit selftest: %u checks passed\n", g_checks);
    return 0;
}
