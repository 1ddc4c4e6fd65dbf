using AkiDb.Queue.Worker.Messaging;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

/// <summary>MassTransit reports usage to its authors' servers unless told not to; the worker tells it, unless opted in.</summary>
public sealed class UsageTelemetryTests
{
    [Theory]
    [InlineData(null, false)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void MassTransit_usage_telemetry_is_off_unless_opted_in(string? optIn, bool enabled)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Test" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Telemetry:MassTransitUsageTelemetry"] = optIn });
        builder.AddMessaging();
        using var host = builder.Build();

        Assert.Equal(enabled, host.Services.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled);
    }
}
