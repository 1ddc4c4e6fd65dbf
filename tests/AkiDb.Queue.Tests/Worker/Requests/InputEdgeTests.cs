using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Requests;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

/// <summary>Texts that hold nothing a model can read are refused like whitespace-only texts.</summary>
public sealed class InputEdgeTests
{
    private readonly RequestValidator _validator = new(Options.Create(new LimitsOptions()));

    [Theory]
    [InlineData("\u200b\u200c\u200d")]          // zero-width space, non-joiner, joiner
    [InlineData("\ufeff")]                      // a byte-order mark inside the text
    [InlineData("\u2060\u00ad")]                // word joiner, soft hyphen
    [InlineData("\0\0\0")]                      // NULs
    [InlineData("\u0001\u0007\u001b\u007f")]    // control characters
    [InlineData(" \u200b\t\0\n\u202e ")]        // a mix with whitespace and a bidi override
    public void Invisible_only_texts_are_invalid_requests(string text)
    {
        var failure = _validator.Validate(new EmbedRequested { RequestId = "r1", Texts = ["fine", text] }, 100);

        Assert.NotNull(failure);
        Assert.Equal(EmbedErrorCodes.InvalidRequest, failure.Code);
        Assert.Equal(1, failure.TextIndex);
        Assert.Contains("zero-width", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\0b\u0007c")]
    [InlineData("\u200bword\u200b")]
    [InlineData("🙂")]
    [InlineData("\u0301")]                      // a lone combining mark is something (the tokenizer sees it)
    public void A_text_with_anything_visible_passes(string text) =>
        Assert.Null(_validator.Validate(new EmbedRequested { RequestId = "r1", Texts = [text] }, 100));

    [Fact]
    public void An_unknown_input_type_is_quoted_and_capped()
    {
        var failure = _validator.Validate(new EmbedRequested { RequestId = "r1", Texts = ["a"], InputType = "q\u001b[31m" + new string('x', 500) }, 100)!;

        Assert.Equal(EmbedErrorCodes.InvalidRequest, failure.Code);
        Assert.StartsWith("inputType 'q\u001b[31mxxx", failure.Message, StringComparison.Ordinal);
        Assert.Contains("...(+", failure.Message, StringComparison.Ordinal);
        Assert.True(failure.Message.Length < 200, failure.Message);
    }
}
