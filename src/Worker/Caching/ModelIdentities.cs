using System.Collections.Concurrent;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// Each model's <see cref="ModelIdentity"/>, computed once per process (hashing a 90 MB ONNX file takes a few
/// hundred milliseconds) and shared by every lookup. A failure (the file vanished) is not kept, so it is retried.
/// </summary>
internal sealed class ModelIdentities(ILogger<ModelIdentities> logger)
{
    private readonly ConcurrentDictionary<ModelDefinition, Lazy<Task<ModelIdentity>>> _identities = new();

    public Task<ModelIdentity> GetAsync(ModelDefinition definition)
    {
        var lazy = _identities.GetOrAdd(definition, d => new Lazy<Task<ModelIdentity>>(() => ComputeAsync(d)));
        if (lazy.Value.IsFaulted)
        {
            _identities.TryRemove(new KeyValuePair<ModelDefinition, Lazy<Task<ModelIdentity>>>(definition, lazy));
        }

        return lazy.Value;
    }

    private async Task<ModelIdentity> ComputeAsync(ModelDefinition definition)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // Off the caller's thread: the first lookup for a model should not hash the file on a consumer thread.
        var identity = await Task.Run(() => ModelIdentity.ComputeAsync(definition, CancellationToken.None));
        logger.LogInformation("Embedding cache: model {Model} has identity {Identity} (hashed in {Ms:0} ms)",
            definition.Name, identity.KeyPart, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return identity;
    }
}
