using System.Text.Json;

namespace AkiDb.Queue.Tests;

/// <summary>
/// The runtime settings the worker ships with (its runtimeconfig.json, from the project file): each was chosen by a
/// measurement written next to it, and a project-file edit could drop one without any other sign.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void The_worker_ships_without_profile_guided_rejit_and_with_a_conserving_gc()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "AkiDb.Queue.Worker.runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var settings = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.False(settings.GetProperty("System.Runtime.TieredPGO").GetBoolean());
        Assert.Equal(7, settings.GetProperty("System.GC.ConserveMemory").GetInt32());
        Assert.False(settings.GetProperty("System.GC.Server").GetBoolean());
    }
}
