using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// Readies the cache before the first message: hashes the identity of the models loaded at start-up (so no request
/// pays for hashing a 90 MB file) and gives the Redis connection a bounded moment to come up, so a worker started
/// beside a running Redis uses it from its first message. A Redis that does not answer in that moment only delays
/// start-up by it; the worker then runs without it until it does.
/// </summary>
internal sealed class CacheWarmup(IServiceProvider services, ModelCatalog catalog, ModelIdentities identities, IOptions<CacheOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        var models = catalog.All.Where(m => m.Definition.LoadAtStartup || m == catalog.Default).Select(m => identities.GetAsync(m.Definition));
        var redis = services.GetService<ResilientRedisCache>();
        var connected = redis?.WaitForConnectionAsync(TimeSpan.FromTicks(Math.Max(options.Value.RedisTimeout.Ticks * 4, TimeSpan.FromSeconds(1).Ticks))) ?? Task.CompletedTask;
        try
        {
            await Task.WhenAll(models.Append(connected)).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A model file that cannot be hashed is logged by the lookup that needs it; start-up goes on.
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
