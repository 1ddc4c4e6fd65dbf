using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

public sealed class EnumSettingsTests
{
    [Theory]
    [InlineData("native", EmbeddingBackend.Native)]
    [InlineData("Native", EmbeddingBackend.Native)]
    [InlineData("PYTHON", EmbeddingBackend.Python)]
    public void Enum_settings_bind_by_name_whatever_the_case(string value, EmbeddingBackend expected)
    {
        var options = Bind<EmbeddingOptions>(EmbeddingOptions.Section, ("Embedding:Backend", value));

        Assert.Equal(expected, options.Backend);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("1")]
    [InlineData("python,native")]
    public void A_bad_enum_setting_is_reported_with_its_key_and_the_allowed_values(string value)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Bind<EmbeddingOptions>(EmbeddingOptions.Section, ("Embedding:Backend", value)));

        Assert.Equal($"Embedding:Backend must be 'python' or 'native' (was '{value}').", error.Message);
    }

    [Fact]
    public void Enum_settings_inside_a_dictionary_entry_are_checked_with_their_full_key()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Bind<EmbeddingOptions>(EmbeddingOptions.Section, ("Embedding:Models:mine:Pooling", "max")));

        Assert.Equal("Embedding:Models:mine:Pooling must be 'mean' or 'cls' (was 'max').", error.Message);
    }

    [Fact]
    public void Three_allowed_values_read_as_a_list()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Bind<BridgeOptions>(BridgeOptions.Section, ("Bridge:Runtime", "cuda")));

        Assert.Equal("Bridge:Runtime must be 'auto', 'onnxruntime' or 'ctypes' (was 'cuda').", error.Message);
    }

    [Fact]
    public void Queue_type_and_bridge_names_travel_lower_case()
    {
        var rabbit = Bind<RabbitMqOptions>(RabbitMqOptions.Section, ("RabbitMq:QueueType", "quorum"));

        Assert.Equal(QueueType.Quorum, rabbit.QueueType);
        Assert.Equal("ctypes", EnumSettings.Name(BridgeRuntime.Ctypes));
        Assert.Equal("warning", EnumSettings.Name(BridgeLogLevel.Warning));
    }

    [Fact]
    public void The_automatic_prefetch_follows_the_backends_lane_count()
    {
        var batching = new Worker.Batching.BatchingOptions { MaxBatchTexts = 32 };

        Assert.Equal(2 * 32 * 3 + 16, EmbedRequestedConsumerDefinition.EffectivePrefetch(new RabbitMqOptions(), batching, lanes: 3));
        Assert.Equal(7, EmbedRequestedConsumerDefinition.EffectivePrefetch(new RabbitMqOptions { PrefetchCount = 7 }, batching, lanes: 3));
    }

    [Fact]
    public void Composition_reads_a_section_with_the_same_binding_and_leaves_a_bad_one_to_the_check_at_start()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMq:AnswerBrokerExpired"] = "false",
            ["RabbitMq:QueueType"] = "QUORUM",
            ["Telemetry:MassTransitUsageTelemetry"] = "not a boolean",
        }).Build();

        var rabbit = configuration.ReadForComposition<RabbitMqOptions>(RabbitMqOptions.Section);
        var telemetry = configuration.ReadForComposition<Worker.Telemetry.TelemetryOptions>(Worker.Telemetry.TelemetryOptions.Section);

        Assert.False(rabbit.AnswerBrokerExpired);
        Assert.Equal(QueueType.Quorum, rabbit.QueueType);
        Assert.False(telemetry.MassTransitUsageTelemetry); // the default; AddValidatedOptions names the key at start
        Assert.Throws<InvalidOperationException>(() => Bind<Worker.Telemetry.TelemetryOptions>(Worker.Telemetry.TelemetryOptions.Section, ("Telemetry:MassTransitUsageTelemetry", "not a boolean")));
    }

    private static TOptions Bind<TOptions>(string section, params (string Key, string Value)[] settings)
        where TOptions : class
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddValidatedOptions<TOptions>(section).Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<TOptions>>().Value;
    }
}
