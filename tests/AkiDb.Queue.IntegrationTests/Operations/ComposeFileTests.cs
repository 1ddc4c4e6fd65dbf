using System.Text.Json;
using System.Text.RegularExpressions;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// compose/docker-compose.yml as the compose tools themselves read it (docker-compose 1.29 and Compose v2, whichever
/// are installed), and the Dockerfile, .dockerignore and prometheus.yml checked against it and the repository. No
/// Docker engine is needed: `config` only parses and interpolates. Building the image is not tested here.
/// </summary>
public sealed partial class ComposeFileTests(ITestOutputHelper output)
{
    private const string ComposeFile = "compose/docker-compose.yml";
    private const string Password = "test-password-1";

    private static readonly string[] ImplicitBuildFiles =
        ["Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json", "nuget.config", "NuGet.Config"];

    private static string Dockerfile => Path.Combine(RepoPaths.Root, "compose", "Dockerfile");

    [Fact]
    public async Task Every_compose_tool_reads_the_file_with_the_worker_scalable_and_observability_behind_its_profile()
    {
        foreach (var tool in ComposeTool.Installed())
        {
            output.WriteLine($"checking with {tool}");
            var config = await tool.ConfigAsync(new() { ["RABBITMQ_PASSWORD"] = Password });
            var services = config.GetProperty("services");

            Assert.Equal(["grafana", "jaeger", "prometheus", "rabbitmq", "worker"], services.EnumerateObject().Select(s => s.Name).Order());
            Assert.Empty(Profiles(services.GetProperty("rabbitmq")));
            Assert.Empty(Profiles(services.GetProperty("worker")));
            Assert.Equal(["observability"], Profiles(services.GetProperty("jaeger")));
            Assert.Equal(["observability"], Profiles(services.GetProperty("prometheus")));
            Assert.Equal(["observability"], Profiles(services.GetProperty("grafana")));

            var rabbit = services.GetProperty("rabbitmq");
            Assert.Equal("akidb", Env(rabbit, "RABBITMQ_DEFAULT_USER"));
            Assert.Equal(Password, Env(rabbit, "RABBITMQ_DEFAULT_PASS"));
            Assert.True(rabbit.TryGetProperty("healthcheck", out _), "rabbitmq needs a healthcheck for the worker's depends_on");

            // `--scale worker=N`: a fixed name or a host port would make the second replica fail to start.
            var worker = services.GetProperty("worker");
            Assert.False(worker.TryGetProperty("container_name", out _), "worker has a container_name");
            Assert.False(worker.TryGetProperty("ports", out _), "worker publishes host ports");
            Assert.Equal("service_healthy", worker.GetProperty("depends_on").GetProperty("rabbitmq").GetProperty("condition").GetString());
            Assert.True(Duration(worker.GetProperty("stop_grace_period").GetString()!) >= TimeSpan.FromSeconds(35),
                "stop_grace_period must outlast the worker's 30 s drain");

            var build = worker.GetProperty("build");
            Assert.Equal(RepoPaths.Root.TrimEnd('/'), Path.GetFullPath(build.GetProperty("context").GetString()!).TrimEnd('/'));
            Assert.Equal("compose/Dockerfile", build.GetProperty("dockerfile").GetString());

            Assert.Equal($"amqp://akidb:{Password}@rabbitmq:5672/", Env(worker, "RabbitMq__Url"));
            Assert.Equal("http://+:8081/", Env(worker, "Health__Urls"));
            Assert.Equal("http://+:9464/", Env(worker, "Telemetry__PrometheusUrl"));
            Assert.True(string.IsNullOrEmpty(Env(worker, "Telemetry__OtlpEndpoint")), "OTLP export must be off unless OTLP_ENDPOINT is set");

            var traced = await tool.ConfigAsync(new() { ["RABBITMQ_PASSWORD"] = Password, ["OTLP_ENDPOINT"] = "http://jaeger:4317" });
            Assert.Equal("http://jaeger:4317", Env(traced.GetProperty("services").GetProperty("worker"), "Telemetry__OtlpEndpoint"));
        }
    }

    [Fact]
    public async Task Without_RABBITMQ_PASSWORD_every_compose_tool_refuses_the_file_and_names_the_variable()
    {
        foreach (var tool in ComposeTool.Installed())
        {
            var run = await tool.RunConfigAsync(new());
            output.WriteLine($"{tool}: {run}");
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("RABBITMQ_PASSWORD", run.Stderr + run.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Everything_the_Dockerfile_copies_exists_and_is_not_excluded_by_dockerignore()
    {
        var dockerignore = File.ReadAllLines(Path.Combine(RepoPaths.Root, ".dockerignore"));
        var sources = Instructions(File.ReadAllText(Dockerfile))
            .Where(i => i.Keyword == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            .ToList();

        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var path = source.TrimEnd('/');
            Assert.True(File.Exists(Path.Combine(RepoPaths.Root, path)) || Directory.Exists(Path.Combine(RepoPaths.Root, path)), $"COPY {source}: no such path in the repository");
            Assert.False(DockerIgnore.Excludes(dockerignore, path), $"COPY {source}: excluded from the build context by .dockerignore");
        }

        // What must never reach the build context: host build outputs (stale restore state) and the broker password.
        foreach (var secretOrStale in new[] { "src/Worker/bin/Debug/net10.0/AkiDb.Queue.Worker.dll", "src/Worker/obj/project.assets.json", "compose/.env", ".git/HEAD" })
        {
            Assert.True(DockerIgnore.Excludes(dockerignore, secretOrStale), $"{secretOrStale} would be sent to the Docker build context");
        }
    }

    [Fact]
    public void The_Dockerfile_copies_every_file_outside_its_folder_that_the_worker_project_builds_from()
    {
        var copied = Instructions(File.ReadAllText(Dockerfile))
            .Where(i => i.Keyword == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            .Select(source => source.TrimEnd('/'))
            .ToList();

        // Project references (transitively) and linked items such as the bridge's Python sources: a reference added
        // later without a COPY would break only the image build, which no other test runs.
        var needed = new List<string>();
        var pending = new Queue<string>(["src/Worker/AkiDb.Queue.Worker.csproj"]);
        while (pending.TryDequeue(out var project))
        {
            var projectDir = Path.GetDirectoryName(project)!;
            foreach (Match include in IncludeAttribute().Matches(File.ReadAllText(Path.Combine(RepoPaths.Root, project))))
            {
                var path = include.Groups[2].Value.Replace('\\', '/');
                if (path.Contains("$(", StringComparison.Ordinal) || !path.StartsWith("..", StringComparison.Ordinal))
                {
                    continue;   // NuGet package paths, and files inside the project folder (copied with it)
                }

                var relative = Path.GetRelativePath(RepoPaths.Root, Path.GetFullPath(Path.Combine(RepoPaths.Root, projectDir, path))).Replace('\\', '/');
                needed.Add(relative);
                if (include.Groups[1].Value == "ProjectReference")
                {
                    needed.Add(Path.GetDirectoryName(relative)!);
                    pending.Enqueue(relative);
                }
            }

            needed.Add(project);
            needed.Add(projectDir);

            // Files MSBuild and NuGet pick up by themselves from the project's folder and every folder above it.
            for (var dir = projectDir; ; dir = Path.GetDirectoryName(dir) ?? "")
            {
                needed.AddRange(ImplicitBuildFiles
                    .Select(file => Path.Combine(dir, file))
                    .Where(file => File.Exists(Path.Combine(RepoPaths.Root, file))));
                if (dir.Length == 0)
                {
                    break;
                }
            }
        }

        foreach (var path in needed.Distinct())
        {
            var fixedPart = path.Split('*')[0].TrimEnd('/');
            Assert.True(copied.Any(c => fixedPart == c || fixedPart.StartsWith(c + "/", StringComparison.Ordinal)),
                $"the worker builds from {path}, which compose/Dockerfile does not COPY (copied: {string.Join(", ", copied)})");
        }
    }

    [Fact]
    public async Task Dockerfile_compose_file_and_prometheus_yml_agree_on_ports_health_and_entry_point()
    {
        var instructions = Instructions(File.ReadAllText(Dockerfile));
        var runtime = instructions.SkipWhile(i => i != instructions.Last(x => x.Keyword == "FROM")).ToList();
        string Single(string keyword) => Assert.Single(runtime, i => i.Keyword == keyword).Arguments;

        var exposed = Single("EXPOSE").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        var healthcheck = Single("HEALTHCHECK");
        var healthUrl = Assert.Single(HttpUrl().Matches(healthcheck)).Value;
        Assert.EndsWith("/health/ready", healthUrl, StringComparison.Ordinal);
        var healthPort = new Uri(healthUrl).Port;
        Assert.Contains(healthPort, exposed);
        Assert.Contains("python3", healthcheck, StringComparison.Ordinal);

        var environment = runtime.Where(i => i.Keyword == "ENV")
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(healthPort, ListenerPort(environment["Health__Urls"]));
        var metricsPort = ListenerPort(environment["Telemetry__PrometheusUrl"]);
        Assert.Contains(metricsPort, exposed);
        Assert.StartsWith("/var/cache/", environment["Embedding__CacheDirectory"], StringComparison.Ordinal);

        var user = Single("USER");
        Assert.DoesNotMatch("^(root|0)$", user);
        Assert.Equal("""["dotnet", "AkiDb.Queue.Worker.dll"]""", Single("ENTRYPOINT"));
        Assert.Contains("<AssemblyName>AkiDb.Queue.Worker</AssemblyName>", File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "Worker", "AkiDb.Queue.Worker.csproj")), StringComparison.Ordinal);

        var prometheus = File.ReadAllText(Path.Combine(RepoPaths.Root, "compose", "prometheus.yml"));
        Assert.Matches(@"names:\s*\[\s*""worker""\s*\]", prometheus);
        Assert.Equal(metricsPort, int.Parse(PrometheusPort().Match(prometheus).Groups[1].Value));

        foreach (var tool in ComposeTool.Installed())
        {
            var worker = (await tool.ConfigAsync(new() { ["RABBITMQ_PASSWORD"] = Password })).GetProperty("services").GetProperty("worker");
            Assert.Equal(healthPort, ListenerPort(Env(worker, "Health__Urls")!));
            Assert.Equal(metricsPort, ListenerPort(Env(worker, "Telemetry__PrometheusUrl")!));
            // The model cache is on a volume, so replicas and restarts extract the bundled models once.
            var cache = environment["Embedding__CacheDirectory"];
            var targets = worker.GetProperty("volumes").EnumerateArray().Select(MountTarget);
            Assert.Contains(targets, target => cache == target || cache.StartsWith(target + "/", StringComparison.Ordinal));
        }
    }

    /// <summary>docker-compose 1.29 prints "source:target:mode"; Compose v2 prints {"source", "target", ...}.</summary>
    private static string MountTarget(JsonElement volume) =>
        volume.ValueKind == JsonValueKind.String ? volume.GetString()!.Split(':')[1] : volume.GetProperty("target").GetString()!;

    private static string[] Profiles(JsonElement service) =>
        service.TryGetProperty("profiles", out var profiles) ? profiles.EnumerateArray().Select(p => p.GetString()!).ToArray() : [];

    private static string? Env(JsonElement service, string name) =>
        service.GetProperty("environment").TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.Null ? null : value.GetString() : null;

    /// <summary>"http://+:8081/" (an HttpListener prefix; "+" is not a host Uri accepts) to 8081.</summary>
    private static int ListenerPort(string prefix) => int.Parse(ListenerPortPattern().Match(prefix).Groups[1].Value);

    /// <summary>Compose durations as both tools print them: "45s", "1m30s".</summary>
    private static TimeSpan Duration(string text) =>
        DurationPart().Matches(text).Aggregate(TimeSpan.Zero, (sum, m) => sum + (m.Groups[2].Value switch
        {
            "h" => TimeSpan.FromHours(int.Parse(m.Groups[1].Value)),
            "m" => TimeSpan.FromMinutes(int.Parse(m.Groups[1].Value)),
            "s" => TimeSpan.FromSeconds(int.Parse(m.Groups[1].Value)),
            _ => TimeSpan.FromMilliseconds(int.Parse(m.Groups[1].Value)),
        }));

    /// <summary>Dockerfile instructions with continuation lines joined and comments dropped.</summary>
    private static List<(string Keyword, string Arguments)> Instructions(string dockerfile)
    {
        var logical = Regex.Replace(string.Join('\n', dockerfile.Split('\n').Where(l => !l.TrimStart().StartsWith('#'))), @"\\\n", " ");
        return logical.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', 2))
            .Select(parts => (parts[0].ToUpperInvariant(), Regex.Replace(parts.Length > 1 ? parts[1] : "", @"\s+", " ").Trim()))
            .ToList();
    }

    [GeneratedRegex(@"<(\w+)\s+Include=""([^""]+)""")]
    private static partial Regex IncludeAttribute();

    [GeneratedRegex(@"http://[^'"" ]+")]
    private static partial Regex HttpUrl();

    [GeneratedRegex(@":(\d+)/?$")]
    private static partial Regex ListenerPortPattern();

    [GeneratedRegex(@"port:\s*(\d+)")]
    private static partial Regex PrometheusPort();

    [GeneratedRegex(@"(\d+)(ms|h|m|s)")]
    private static partial Regex DurationPart();
}
