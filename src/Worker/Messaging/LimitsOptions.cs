using System.ComponentModel.DataAnnotations;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>Configuration section <c>Limits</c>: bounds on everything a producer controls.</summary>
public sealed class LimitsOptions
{
    public const string Section = "Limits";

    [Range(1, 10_000)]
    public int MaxTextsPerMessage { get; set; } = 256;

    /// <summary>Characters per text. The model reads at most a few hundred tokens; this bounds tokenising work.</summary>
    [Range(1, 10_000_000)]
    public int MaxCharsPerText { get; set; } = 50_000;

    /// <summary>Message body bytes. Set the broker's max_message_size too, so oversized bodies never reach the worker.</summary>
    [Range(1024, 134_217_728)]
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;

    [Range(1, 4096)]
    public int MaxRequestIdLength { get; set; } = 256;

    [Range(0, 10_000)]
    public int MaxMetadataEntries { get; set; } = 64;

    [Range(1, 1_000_000)]
    public int MaxMetadataValueLength { get; set; } = 4096;

    /// <summary>Reject a text over the model's token limit (too_many_tokens) instead of truncating it (the default).</summary>
    public bool RejectOverlongTexts { get; set; }
}
