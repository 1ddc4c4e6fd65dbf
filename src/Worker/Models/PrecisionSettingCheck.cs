using AkiDb.Queue.ModelText.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Models;

/// <summary>
/// Refuses an <c>Embedding:Models:NAME:Precision</c> that is neither fp32 nor int8. The configuration binder cannot:
/// a value it fails to convert inside a dictionary entry makes it drop the whole entry without a word, so a typo would
/// silently remove a model from the catalogue (checked with Microsoft.Extensions.Configuration.Binder 10).
/// </summary>
public sealed class PrecisionSettingCheck(IConfiguration configuration) : IValidateOptions<EmbeddingOptions>
{
    public ValidateOptionsResult Validate(string? name, EmbeddingOptions options)
    {
        var problems = configuration.GetSection($"{EmbeddingOptions.Section}:Models").GetChildren()
            .Select(model => (Key: $"{EmbeddingOptions.Section}:Models:{model.Key}:Precision", Value: model["Precision"]))
            .Where(p => p.Value is not null && (!Enum.TryParse<ModelPrecision>(p.Value, ignoreCase: true, out _) || int.TryParse(p.Value, out _)))
            .Select(p => $"{p.Key} must be 'fp32' or 'int8' (was '{p.Value}').")
            .ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
