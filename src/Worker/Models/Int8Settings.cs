using AkiDb.Queue.Quantization;
using AkiDb.Queue.ModelText.Models;

namespace AkiDb.Queue.Worker.Models;

/// <summary>The quantiser settings for an int8 catalogue entry.</summary>
public static class Int8Settings
{
    /// <summary>
    /// MatMuls kept in fp32 unless an entry sets its own <c>KeepFp32</c>: the quantiser's measured default, none
    /// (per-row activation scales; <c>./bench.sh quality</c>, docs/quality.md).
    /// </summary>
    public static IReadOnlyList<string> DefaultKeepFp32 => QuantizationOptions.DefaultKeepFp32;

    public static QuantizationOptions For(ModelOptions entry) =>
        new() { KeepFp32 = entry.KeepFp32 ?? DefaultKeepFp32 };
}
