using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Hosting;

public static class EmbeddingRegistration
{
    /// <summary>
    /// Models, the inference backend and the batching scheduler. Registered before messaging on purpose: hosted services
    /// start in order and stop in reverse, so the backend is up before the first message arrives and is still up while
    /// MassTransit drains in-flight messages at shutdown.
    /// </summary>
    public static IHostApplicationBuilder AddEmbedding(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddValidatedOptions<EmbeddingOptions>(EmbeddingOptions.Section);
        services.AddValidatedOptions<BridgeOptions>(BridgeOptions.Section);
        services.AddValidatedOptions<BatchingOptions>(BatchingOptions.Section);

        services.AddValidatedOptions<NativeOptions>(NativeOptions.Section);

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<PythonLocator>();
        services.AddSingleton<BridgeLaunchFactory>();
        services.AddSingleton<PythonBridgeBackend>();
        services.AddSingleton<NativeOrtBackend>();
        // Chosen from the bound, validated options; only the chosen one is ever created.
        services.AddSingleton<IInferenceBackend>(sp => sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value.Backend switch
        {
            EmbeddingBackend.Native => sp.GetRequiredService<NativeOrtBackend>(),
            _ => sp.GetRequiredService<PythonBridgeBackend>(),
        });
        services.AddSingleton<IHostedService>(sp => (IHostedService)sp.GetRequiredService<IInferenceBackend>());

        builder.AddEmbeddingCache(); // the scheduler looks texts up there before they are batched
        services.AddSingleton<EmbeddingScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<EmbeddingScheduler>());
        return builder;
    }
}
