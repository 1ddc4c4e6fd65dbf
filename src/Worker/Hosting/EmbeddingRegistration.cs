using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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
        services.AddOptions<EmbeddingOptions>().BindConfiguration(EmbeddingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<EmbeddingOptions>>(new PrecisionSettingCheck(builder.Configuration));
        services.AddOptions<BridgeOptions>().BindConfiguration(BridgeOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<BatchingOptions>().BindConfiguration(BatchingOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddOptions<NativeOptions>().BindConfiguration(NativeOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ModelCatalog>();
        if (string.Equals(builder.Configuration[$"{EmbeddingOptions.Section}:Backend"], "native", StringComparison.OrdinalIgnoreCase))
        {
            AddBackend<NativeOrtBackend>(services);
        }
        else
        {
            services.AddSingleton<PythonLocator>();
            services.AddSingleton<BridgeLaunchFactory>();
            AddBackend<PythonBridgeBackend>(services);
        }

        services.AddSingleton<EmbeddingScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<EmbeddingScheduler>());
        return builder;
    }

    private static void AddBackend<TBackend>(IServiceCollection services)
        where TBackend : class, IInferenceBackend, IHostedService
    {
        services.AddSingleton<TBackend>();
        services.AddSingleton<IInferenceBackend>(sp => sp.GetRequiredService<TBackend>());
        services.AddHostedService(sp => sp.GetRequiredService<TBackend>());
    }
}
