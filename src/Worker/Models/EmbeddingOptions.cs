using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.ModelText.Models;

namespace AkiDb.Queue.Worker.Models;

/// <summary>Configuration section <c>Embedding</c>: which backend runs the models, and the model catalogue.</summary>
public sealed class EmbeddingOptions : IValidatableObject
{
    public const string Section = "Embedding";

    /// <summary><c>python</c> (the persistent bridge, default) or <c>native</c> (ONNX Runtime inside the worker).</summary>
    public EmbeddingBackend Backend { get; set; } = EmbeddingBackend.Python;

    /// <summary>The model used when a request names none.</summary>
    [Required]
    public string DefaultModel { get; set; } = BundledModels.MiniLm.Name;

    /// <summary>Where bundled models are extracted; <c>$XDG_CACHE_HOME/akidb-queue/models</c> or <c>~/.cache/akidb-queue/models</c> when unset.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Tried in order; unavailable ones are skipped with a log line. Default CoreML, CUDA, CPU.</summary>
    public string[]? ExecutionProviders { get; set; }

    /// <summary>
    /// The catalogue, by name. It starts with the bundled models so that a setting such as
    /// <c>Embedding__Models__all-MiniLM-L6-v2__LoadAtStartup=false</c> changes one field of a bundled entry.
    /// </summary>
    public Dictionary<string, ModelOptions> Models { get; set; } = BundledModels.Catalogue();

    /// <summary>The configured order, parsed (the validation at start has rejected unknown names), or the default.</summary>
    public IReadOnlyList<ExecutionProvider> EffectiveExecutionProviders =>
        ExecutionProviders is { Length: > 0 } configured
            ? configured.Select(name => KnownProviders.TryParse(name, out var provider) ? provider : ExecutionProvider.CPU).ToArray()
            : KnownProviders.Default;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Models.ContainsKey(DefaultModel))
        {
            yield return new ValidationResult($"Embedding:DefaultModel '{DefaultModel}' is not in Embedding:Models ({string.Join(", ", Models.Keys)}).", [nameof(DefaultModel)]);
        }

        foreach (var provider in ExecutionProviders ?? [])
        {
            if (!KnownProviders.TryParse(provider, out _))
            {
                yield return new ValidationResult($"Embedding:ExecutionProviders has '{provider}'; known providers are {string.Join(", ", KnownProviders.Default.SkipLast(1))} and {KnownProviders.Default[^1]}.", [nameof(ExecutionProviders)]);
            }
        }

        foreach (var (name, model) in Models)
        {
            foreach (var problem in model.Validate(name))
            {
                yield return new ValidationResult(problem, [nameof(Models)]);
            }
        }
    }
}
