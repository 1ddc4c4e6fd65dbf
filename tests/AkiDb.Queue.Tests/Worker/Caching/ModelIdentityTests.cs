using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Tests.Caching;

public sealed class ModelIdentityTests
{
    [Fact]
    public void The_same_files_and_settings_give_the_same_identity_whatever_the_name_or_path()
    {
        var a = CacheTestModels.Identity(name: "first");
        var b = CacheTestModels.Identity(name: "second"); // another name, another file with the same bytes
        Assert.Equal(a.Hash, b.Hash);
        Assert.Equal(32, a.Hash.Length);
        Assert.Equal(32, a.KeyPart.Length);
    }

    public static TheoryData<string, Action<ModelOptions>> Changes => new()
    {
        { "max tokens", o => o.MaxTokens = 128 },
        { "pooling", o => o.Pooling = PoolingMode.Cls },
        { "normalisation", o => o.Normalize = false },
        { "lower case", o => o.LowerCase = false },
        { "output", o => o.Output = "sentence_embedding" },
        { "query prefix", o => o.QueryPrefix = "query: " },
        { "document prefix", o => o.DocumentPrefix = "passage: " },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void Every_setting_that_can_change_a_vector_changes_the_identity(string what, Action<ModelOptions> change)
    {
        var baseline = CacheTestModels.Identity();
        var changed = CacheTestModels.Identity(change: change);
        Assert.False(baseline.Hash.AsSpan().SequenceEqual(changed.Hash), what);
    }

    [Fact]
    public void Other_onnx_bytes_such_as_an_int8_variant_change_the_identity()
    {
        Assert.NotEqual(CacheTestModels.Identity("fp32 weights").KeyPart, CacheTestModels.Identity("int8 weights").KeyPart);
    }

    [Fact]
    public void Loading_at_startup_does_not_change_the_identity()
    {
        Assert.Equal(CacheTestModels.Identity().KeyPart, CacheTestModels.Identity(change: o => o.LoadAtStartup = true).KeyPart);
    }
}
