using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Tests.Caching;

/// <summary>Model definitions over small files in a temporary folder, for the cache's pure logic.</summary>
internal static class CacheTestModels
{
    private static readonly string Folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "akidb-cache-unit", Guid.NewGuid().ToString("N"))).FullName;

    public static ModelDefinition Definition(string onnxContent = "onnx-a", Action<ModelOptions>? change = null, string name = "m")
    {
        var options = new ModelOptions { MaxTokens = 256, Pooling = PoolingMode.Mean, Normalize = true, LowerCase = true };
        change?.Invoke(options);
        var onnx = Path.Combine(Folder, $"{Guid.NewGuid():N}.onnx");
        var vocab = Path.Combine(Folder, "vocab.txt");
        File.WriteAllText(onnx, onnxContent);
        File.WriteAllText(vocab, "[PAD]\n[CLS]\n[SEP]\n");
        return options.ToDefinition(name, onnx, vocab);
    }

    public static ModelIdentity Identity(string onnxContent = "onnx-a", Action<ModelOptions>? change = null, string name = "m") =>
        ModelIdentity.ComputeAsync(Definition(onnxContent, change, name), CancellationToken.None).GetAwaiter().GetResult();
}
