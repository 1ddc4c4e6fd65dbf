using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.Tests;

/// <summary>
/// Where the worker's tokenizer and Hugging Face's BERT tokenizer (tokenizer.json of all-MiniLM-L6-v2) part ways,
/// and what the worker does there. Ids: [CLS] 101, [SEP] 102, [UNK] 100, [MASK] 103.
/// </summary>
public sealed class TokenizerParityTests
{
    private const long Cls = 101, Sep = 102, Unk = 100, Mask = 103;

    private static readonly Lazy<TextTokenizer> Tokenizer = new(() =>
    {
        var cache = Path.Combine(Path.GetTempPath(), "akidb-queue-tests", "models");
        var (_, vocab) = new BundledModelExtractor(cache, Path.Combine(AppContext.BaseDirectory, "models"), NullLogger.Instance).Extract(BundledModels.MiniLm);
        return TextTokenizer.Load(vocab, lowerCase: true, maxTokens: 256);
    });

    private static long[] Ids(string text) => Tokenizer.Value.Encode(text).Ids;

    private static long Single(string word) => Ids(word) is [Cls, var id, Sep] ? id : throw new ArgumentException($"'{word}' is not one token.");

    [Fact]
    public void A_word_of_101_characters_is_one_unknown_token_as_in_Hugging_Face()
    {
        Assert.Equal([Cls, Unk, Sep], Ids(new string('a', 101)));
    }

    [Fact]
    public void A_word_of_100_characters_is_still_split_into_pieces()
    {
        var ids = Ids(new string('a', 100));
        Assert.True(ids.Length > 3, $"{ids.Length} ids");
        Assert.DoesNotContain(Unk, ids);
    }

    [Fact]
    public void Only_the_overlong_word_becomes_unknown_and_punctuation_ends_a_word()
    {
        var ids = Ids($"hello {new string('x', 150)}, world {new string('b', 120)}.");
        Assert.Equal([Cls, Single("hello"), Unk, Single(","), Single("world"), Unk, Single("."), Sep], ids);
    }

    [Fact]
    public void Accents_that_an_uncased_model_strips_do_not_count_towards_the_limit()
    {
        // 60 letters, each with a combining acute accent: 120 UTF-16 characters, 60 after accent stripping.
        var word = string.Concat(Enumerable.Repeat("e\u0301", 60));
        Assert.Equal(Ids(new string('e', 60)), Ids(word));
    }

    [Fact]
    public void Ideographs_are_words_of_their_own_however_many_follow_each_other()
    {
        var ids = Ids(new string('中', 150));
        Assert.Equal(152, ids.Length);
        Assert.DoesNotContain(Unk, ids);
    }

    [Fact]
    public void A_long_text_of_short_words_is_unchanged()
    {
        var text = string.Join(' ', Enumerable.Repeat("tokenization parity", 40));
        Assert.Same(text, OverlongWords.Replace(text, stripAccents: true));
    }

    [Theory]
    [InlineData("[CLS]")]
    [InlineData("[SEP]")]
    [InlineData("[MASK]")]
    [InlineData("[PAD]")]
    public void A_literal_control_token_in_a_text_never_becomes_that_control_token(string literal)
    {
        // Hugging Face would emit the control token's id here; a producer must not be able to inject one.
        var ids = Ids($"before {literal} after");
        Assert.Equal(Cls, ids[0]);
        Assert.Equal(Sep, ids[^1]);
        var inner = ids[1..^1];
        Assert.Equal(Single("before"), inner[0]);
        Assert.Equal(Single("after"), inner[^1]);
        Assert.DoesNotContain(Cls, inner);
        Assert.DoesNotContain(Sep, inner);
        Assert.DoesNotContain(Mask, inner);
        Assert.DoesNotContain(0L, inner);
    }

    [Fact]
    public void Cls_and_sep_in_a_text_become_one_unknown_token_and_mask_stays_plain_text()
    {
        Assert.Equal([Cls, Single("before"), Unk, Single("after"), Sep], Ids("before [CLS] after"));
        Assert.Equal([Cls, Single("before"), Unk, Single("after"), Sep], Ids("before [SEP] after"));
        Assert.Equal([Cls, Single("before"), Single("["), Single("mask"), Single("]"), Single("after"), Sep], Ids("before [MASK] after"));
    }
}
