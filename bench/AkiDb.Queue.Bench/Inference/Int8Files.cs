using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>The int8 variant of the benchmark's model, quantised (or found in the cache) exactly as the worker does it.</summary>
public static class Int8Files
{
    public static ModelDefinition For(ModelDefinition fp32)
    {
        var cache = new QuantizedModelCache(Paths.ModelCache, NullLogger.Instance);
        var options = new QuantizationOptions { KeepFp32 = Int8Settings.DefaultKeepFp32 };
        var path = cache.PathFor(fp32.OnnxPath, options);
        var name = fp32.Name + "-int8";
        cache.Ensure(name, fp32.OnnxPath, path, options);
        return fp32 with { Name = name, OnnxPath = path, Precision = ModelPrecision.Int8 };
    }
}
