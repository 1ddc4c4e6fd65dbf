using AkiDb.Queue.ModelText.Chunking;
using AkiDb.Queue.ModelText.Models;

namespace AkiDb.Queue.Tests;

/// <summary>The CLI's tokenizer resolves every name the worker's catalogue serves, int8 variants included.</summary>
public sealed class ModelTokenizerTests
{
    public static TheoryData<string> CatalogueNames => [.. BundledModels.Catalogue().Keys];

    [Theory]
    [MemberData(nameof(CatalogueNames))]
    public void Every_catalogue_name_loads_and_counts_like_the_model_it_was_made_from(string name)
    {
        var source = BundledModels.Catalogue()[name].Bundled!;
        var tokenizer = ModelTokenizer.Load(name, null, null);
        var reference = ModelTokenizer.Load(source, null, null);

        Assert.Equal(reference.ModelMaxTokens, tokenizer.ModelMaxTokens);
        Assert.Equal(reference.Count("How do I reset my password? Ünïcode and 12,345.67 numbers."), tokenizer.Count("How do I reset my password? Ünïcode and 12,345.67 numbers."));
    }

    [Fact]
    public void An_unknown_name_is_refused_listing_the_names_that_work()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelTokenizer.Load("no-such-model", null, null));
        Assert.Contains("all-MiniLM-L6-v2-int8", e.Message, StringComparison.Ordinal);
        Assert.Contains("--vocab", e.Message, StringComparison.Ordinal);
    }
}
