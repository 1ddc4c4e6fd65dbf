using AkiDb.Queue.Worker.Telemetry;

namespace AkiDb.Queue.Tests;

public sealed class LogValueTests
{
    [Theory]
    [InlineData("doc-42#0")]
    [InlineData("日本語-テキスト")]
    [InlineData("emoji 🙂 id")]
    [InlineData("path/with spaces and 'quotes'")]
    public void Ordinary_values_are_unchanged(string value) => Assert.Equal(value, LogValue.Of(value));

    [Theory]
    [InlineData("a\u001b[2Jb", @"a\u001B[2Jb")]
    [InlineData("line\r\nfail: forged", @"line\r\nfail: forged")]
    [InlineData("tab\there", @"tab\there")]
    [InlineData("nul\0x", @"nul\u0000x")]
    [InlineData("del\u007f c1\u0085", @"del\u007F c1\u0085")]
    [InlineData("zero\u200bwidth\u202eevil", @"zero\u200Bwidth\u202Eevil")]
    [InlineData("sep\u2028par\u2029", @"sep\u2028par\u2029")]
    [InlineData(@"back\slash", @"back\\slash")]
    public void Control_format_and_separator_characters_are_escaped(string value, string expected) => Assert.Equal(expected, LogValue.Of(value));

    [Fact]
    public void A_lone_surrogate_is_escaped() => Assert.Equal(@"lone \uD800 surrogate", LogValue.Of("lone " + (char)0xD800 + " surrogate"));

    [Fact]
    public void No_escaped_value_contains_a_control_character()
    {
        var everything = new string(Enumerable.Range(0, 0x3000).Select(i => (char)i).ToArray());
        var escaped = LogValue.Of(everything, everything.Length);
        Assert.DoesNotContain(escaped, c => char.IsControl(c) || char.IsSurrogate(c) ||
            System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
                or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator);
    }

    [Fact]
    public void Long_values_are_capped_and_say_how_much_was_cut()
    {
        var escaped = LogValue.Of(new string('x', 10_000), 100);
        Assert.Equal(new string('x', 100) + "...(+9900 chars)", escaped);
        Assert.Equal(LogValue.DefaultMaxLength + "...(+872 chars)".Length, LogValue.Of(new string('y', 1000)).Length);
    }

    [Fact]
    public void A_surrogate_pair_is_not_split_at_the_cap()
    {
        var escaped = LogValue.Of("ab🙂cd", 3);
        Assert.DoesNotContain(escaped, char.IsSurrogate);
        Assert.StartsWith("ab", escaped);
    }

    [Fact]
    public void Cap_only_cuts()
    {
        Assert.Equal("a\u001bb", LogValue.Cap("a\u001bb"));
        Assert.Equal("abc...(+3 chars)", LogValue.Cap("abcdef", 3));
        Assert.Equal("", LogValue.Cap(null));
    }

    [Fact]
    public void Null_says_so() => Assert.Equal("(none)", LogValue.Of(null));
}
