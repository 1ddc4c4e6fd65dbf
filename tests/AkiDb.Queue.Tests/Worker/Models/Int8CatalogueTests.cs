using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

/// <summary>The int8 entries of the catalogue, their configuration, the cache's file naming and the first-use preparation.</summary>
public sealed class Int8CatalogueTests
{
    [Fact]
    public void The_bundled_catalogue_has_an_int8_variant_of_each_model_that_loads_on_first_use()
    {
        var catalogue = new EmbeddingOptions().Models;

        foreach (var bundled in BundledModels.All)
        {
            Assert.Equal(ModelPrecision.Fp32, catalogue[bundled.Name].Precision);
            var int8 = catalogue[bundled.Name + "-int8"];
            Assert.Equal(ModelPrecision.Int8, int8.Precision);
            Assert.Equal(bundled.Name, int8.Bundled);
            Assert.Null(int8.LoadAtStartup);
            Assert.False(int8.ToDefinition(int8.Bundled!, "/m/model.onnx", "/m/vocab.txt", isDefault: false).LoadAtStartup);
            Assert.Equal(catalogue[bundled.Name].Pooling, int8.Pooling);
            Assert.Equal(catalogue[bundled.Name].QueryPrefix, int8.QueryPrefix);
        }
    }

    [Theory]
    [InlineData("b", false, true)]
    [InlineData("a", true, false)]
    public void An_entry_without_LoadAtStartup_loads_at_start_up_only_as_the_default_model(string defaultModel, bool aAtStartup, bool bAtStartup)
    {
        // The bundled entries leave it unset: a worker whose default is an int8 variant preloads that, not its fp32 source too.
        var folder = Directory.CreateTempSubdirectory("akidb-preload-");
        try
        {
            var vocab = Path.Combine(folder.FullName, "vocab.txt");
            var onnx = Path.Combine(folder.FullName, "m.onnx");
            File.WriteAllText(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
            File.WriteAllText(onnx, "not read");
            var embedding = new EmbeddingOptions
            {
                DefaultModel = defaultModel,
                Models = new Dictionary<string, ModelOptions>
                {
                    ["a"] = new() { OnnxPath = onnx, VocabPath = vocab, LoadAtStartup = null },
                    ["b"] = new() { OnnxPath = onnx, VocabPath = vocab, LoadAtStartup = null },
                    ["pinned"] = new() { OnnxPath = onnx, VocabPath = vocab, LoadAtStartup = true },
                },
            };

            var catalog = new ModelCatalog(Options.Create(embedding), NullLogger<ModelCatalog>.Instance);

            Assert.Equal(aAtStartup, catalog.All.Single(m => m.Name == "a").Definition.LoadAtStartup);
            Assert.Equal(bAtStartup, catalog.All.Single(m => m.Name == "b").Definition.LoadAtStartup);
            Assert.True(catalog.All.Single(m => m.Name == "pinned").Definition.LoadAtStartup);
            Assert.Null(new EmbeddingOptions().Models[BundledModels.MiniLm.Name].LoadAtStartup);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_relative_cache_directory_gives_absolute_model_paths_for_the_bridges_which_run_elsewhere()
    {
        var folder = Directory.CreateTempSubdirectory("akidb-relative-cache-");
        try
        {
            // Relative to the test's working directory (not changed here: other tests run beside this one).
            var relative = Path.GetRelativePath(Environment.CurrentDirectory, folder.FullName);
            Assert.False(Path.IsPathFullyQualified(relative));
            var catalog = new ModelCatalog(Options.Create(new EmbeddingOptions { CacheDirectory = relative }), NullLogger<ModelCatalog>.Instance);

            Assert.True(catalog.TryGet(BundledModels.MiniLm.Name, out var model));
            Assert.True(Path.IsPathFullyQualified(model.Definition.OnnxPath), model.Definition.OnnxPath);
            Assert.StartsWith(folder.FullName, model.Definition.OnnxPath, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("int8", ModelPrecision.Int8)]
    [InlineData("INT8", ModelPrecision.Int8)]
    [InlineData("fp32", ModelPrecision.Fp32)]
    [InlineData("Fp32", ModelPrecision.Fp32)]
    public void Precision_binds_from_configuration_case_insensitively(string value, ModelPrecision expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Embedding:Models:mine:OnnxPath"] = "/m/model.onnx",
            ["Embedding:Models:mine:VocabPath"] = "/m/vocab.txt",
            ["Embedding:Models:mine:Precision"] = value,
            ["Embedding:Models:mine:KeepFp32:0"] = "#4",
        }).Build();

        var options = configuration.GetSection(EmbeddingOptions.Section).Get<EmbeddingOptions>()!;

        Assert.Equal(expected, options.Models["mine"].Precision);
        Assert.Equal(["#4"], Int8Settings.For(options.Models["mine"]).KeepFp32);
        Assert.Equal(expected, options.Models["mine"].ToDefinition("mine", "/m/model.onnx", "/m/vocab.txt").Precision);
    }

    [Theory]
    [InlineData("int4")]
    [InlineData("1")]
    public void An_unknown_precision_is_refused_naming_the_key(string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Embedding:Models:mine:OnnxPath"] = "/m/model.onnx",
            ["Embedding:Models:mine:Precision"] = value,
            ["Embedding:Models:ok:Precision"] = "INT8",
        }).Build();

        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration)
            .AddValidatedOptions<EmbeddingOptions>(EmbeddingOptions.Section).Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingOptions>>().Value);
        Assert.Equal([$"Embedding:Models:mine:Precision must be 'fp32' or 'int8' (was '{value}')."], error.Failures);
    }

    [Fact]
    public void The_cached_file_sits_beside_its_source_and_its_name_changes_with_the_source_and_the_settings()
    {
        var folder = Directory.CreateTempSubdirectory("akidb-int8-cache-");
        try
        {
            var source = Path.Combine(folder.FullName, "model.onnx");
            File.WriteAllBytes(source, [1, 2, 3]);
            var cache = new QuantizedModelCache(Path.Combine(folder.FullName, "cache"), NullLogger.Instance);

            var first = cache.PathFor(source, new QuantizationOptions());
            Assert.Equal(folder.FullName, Path.GetDirectoryName(first));
            Assert.Matches(@"^model\.int8-[0-9a-f]{16}-[0-9a-f]{8}\.onnx$", Path.GetFileName(first));
            Assert.Equal(first, cache.PathFor(source, new QuantizationOptions()));
            Assert.NotEqual(first, cache.PathFor(source, new QuantizationOptions { KeepFp32 = ["#4"] }));

            File.WriteAllBytes(source, [1, 2, 3, 4]);
            Assert.NotEqual(first, cache.PathFor(source, new QuantizationOptions()));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_lazily_prepared_model_is_prepared_once_however_many_batches_ask_at_once()
    {
        var calls = 0;
        using var gate = new ManualResetEventSlim();
        var model = new EmbeddingModel(Definition(), null!, () =>
        {
            Interlocked.Increment(ref calls);
            gate.Wait(TimeSpan.FromSeconds(30));
        });

        var waiting = Enumerable.Range(0, 4).Select(_ => model.EnsureFilesAsync()).ToList();
        gate.Set();
        await Task.WhenAll(waiting);
        await model.EnsureFilesAsync();

        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task A_failed_preparation_fails_the_batch_and_is_tried_again_by_the_next()
    {
        var calls = 0;
        var model = new EmbeddingModel(Definition(), null!, () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                throw new InvalidDataException("disk full");
            }
        });

        var e = await Assert.ThrowsAsync<BatchFailedException>(model.EnsureFilesAsync);
        Assert.Contains("disk full", e.Message, StringComparison.Ordinal);
        await model.EnsureFilesAsync();
        Assert.Equal(2, calls);
    }

    private static ModelDefinition Definition() =>
        new("m-int8", "/m/model.int8.onnx", "/m/vocab.txt", 256, PoolingMode.Mean, true, true, null, null, null, false, ModelPrecision.Int8);
}
