using System.Text.Json;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>A compose implementation on this machine: docker-compose (1.29 from apt, or a v2 binary under that name) or the `docker compose` plugin.</summary>
internal sealed class ComposeTool(string name, string program, string[] prefix)
{
    private const string ComposeFile = "compose/docker-compose.yml";

    // Empty on purpose: a developer's compose/.env (a real password) must not leak into what the tests see.
    private static readonly Lazy<string> EmptyEnvFile = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"akidb-compose-test-{Environment.ProcessId}.env");
        File.WriteAllText(path, "");
        return path;
    });

    /// <summary>Variables compose would read from the test runner's own environment; cleared so each test sets exactly what it means.</summary>
    private static readonly string[] Inherited = ["RABBITMQ_USER", "RABBITMQ_PASSWORD", "RABBITMQ_ERLANG_COOKIE", "OTLP_ENDPOINT", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES"];

    public override string ToString() => name;

    /// <summary>Every compose tool found; none is a failure, not a pass: this file is only checked by the tools that run it.</summary>
    public static IReadOnlyList<ComposeTool> Installed()
    {
        var tools = new List<ComposeTool>();
        if (Tooling.Which("docker-compose") is { } standalone)
        {
            tools.Add(new ComposeTool("docker-compose", standalone, []));
        }

        if (Tooling.Which("docker") is { } docker && Tooling.RunAsync(docker, ["compose", "version"]).GetAwaiter().GetResult().ExitCode == 0)
        {
            tools.Add(new ComposeTool("docker compose", docker, ["compose"]));
        }

        return tools.Count > 0
            ? tools
            : throw new InvalidOperationException(
                "No compose tool on PATH, so compose/docker-compose.yml cannot be checked. Install one: apt-get install -y docker-compose " +
                "(./test.sh does), or the Docker Compose v2 plugin (docker compose).");
    }

    /// <summary>`config` with the observability profile active, so all services are printed with their profiles.</summary>
    public Task<Tooling.Run> RunConfigAsync(Dictionary<string, string?> environment, bool json = false, string composeFile = ComposeFile)
    {
        var variables = Inherited.ToDictionary(v => v, _ => (string?)null);
        foreach (var (key, value) in environment)
        {
            variables[key] = value;
        }

        string[] arguments = [.. prefix, "--env-file", EmptyEnvFile.Value, "-f", composeFile, "--profile", "observability", "config", .. json ? new[] { "--format", "json" } : []];
        return Tooling.RunAsync(program, arguments, variables);
    }

    /// <summary>The interpolated configuration as JSON: Compose v2 prints it directly; 1.29 prints only YAML, converted with python3-yaml (a dependency of the apt package).</summary>
    public async Task<JsonElement> ConfigAsync(Dictionary<string, string?> environment, string composeFile = ComposeFile)
    {
        var run = await RunConfigAsync(environment, json: true, composeFile);
        // docker-compose 1.29 answers an unknown option with its usage text and exit code 0, so look at the output.
        if (run.ExitCode != 0 || !run.Stdout.TrimStart().StartsWith('{'))
        {
            run = await RunConfigAsync(environment, composeFile: composeFile);
            if (run.ExitCode != 0)
            {
                throw new InvalidOperationException($"{name} config failed: {run}");
            }

            run = await Tooling.RunAsync(Tooling.SystemPython, ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"], stdin: run.Stdout);
            if (run.ExitCode != 0)
            {
                throw new InvalidOperationException($"Converting {name}'s YAML to JSON needs {Tooling.SystemPython} with PyYAML (apt-get install -y python3-yaml): {run}");
            }
        }

        using var document = JsonDocument.Parse(run.Stdout);
        return document.RootElement.Clone();
    }
}
