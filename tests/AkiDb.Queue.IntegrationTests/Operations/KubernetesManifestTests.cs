using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Worker.Messaging;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// deploy/kubernetes as a cluster would get it: every kustomization rendered by `kubectl kustomize` and every object
/// validated against the Kubernetes and KEDA schemas (deploy/validate-manifests.mjs, offline), then checked against
/// the worker itself: the settings its environment names exist, the probes and the scrape hit what it serves, the
/// grace period outlasts its drain. No cluster is needed.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed partial class KubernetesManifestTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly string[] Overlays = ["base", "overlays/cluster", "overlays/tls"];

    /// <summary>
    /// Environment variables that are not worker settings but are read by what the worker runs on, with why.
    /// </summary>
    private static readonly Dictionary<string, string> PlatformVariables = new()
    {
        // .NET on Linux (OpenSSL) trusts the CA bundle in this file instead of the system's.
        ["SSL_CERT_FILE"] = "the private CA of a TLS broker",
    };

    private static readonly Lazy<Task<JsonElement>> Rendered = new(RenderAsync);

    [Fact]
    public async Task Every_overlay_renders_and_every_object_is_valid_against_its_schema()
    {
        var report = await Rendered.Value;

        Assert.Equal(Overlays, report.EnumerateObject().Select(o => o.Name).Order());
        foreach (var overlay in report.EnumerateObject())
        {
            output.WriteLine($"{overlay.Name}: {string.Join(", ", overlay.Value.GetProperty("objects").EnumerateArray().Select(o => $"{o.GetProperty("kind")}/{o.GetProperty("metadata").GetProperty("name")}"))}");
            Assert.Empty(overlay.Value.GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
            var kinds = overlay.Value.GetProperty("objects").EnumerateArray().Select(o => o.GetProperty("kind").GetString()).Order();
            Assert.Equal(["Deployment", "PodDisruptionBudget", "ScaledObject", "Service", "TriggerAuthentication"], kinds);
        }
    }

    [Fact]
    public async Task Every_environment_variable_in_every_overlay_is_a_setting_the_worker_binds()
    {
        var sections = WorkerSections();
        foreach (var (overlay, deployment) in await DeploymentsAsync())
        {
            foreach (var name in Container(deployment).GetProperty("env").EnumerateArray().Select(e => e.GetProperty("name").GetString()!))
            {
                if (PlatformVariables.ContainsKey(name))
                {
                    continue;
                }

                var parts = name.Split("__");
                Assert.True(parts.Length >= 2, $"{overlay}: {name} is neither Section__Key nor a known platform variable");
                Assert.True(sections.TryGetValue(parts[0], out var options), $"{overlay}: {name}: the worker has no configuration section '{parts[0]}' ({string.Join(", ", sections.Keys)})");
                Assert.True(options!.GetProperty(parts[1], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)?.SetMethod is { IsPublic: true },
                    $"{overlay}: {name}: {options.Name} has no settable property '{parts[1]}'");
            }
        }
    }

    [Fact]
    public async Task The_deployment_drains_within_its_grace_period_runs_unprivileged_and_writes_only_to_its_volumes()
    {
        var stopTimeout = int.Parse(StopTimeoutSource().Match(File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "Worker", "Messaging", "MessagingRegistration.cs"))).Groups[1].Value);
        foreach (var (overlay, deployment) in await DeploymentsAsync())
        {
            var pod = deployment.GetProperty("spec").GetProperty("template").GetProperty("spec");
            var grace = pod.GetProperty("terminationGracePeriodSeconds").GetInt32();
            Assert.True(grace >= stopTimeout + 10, $"{overlay}: terminationGracePeriodSeconds {grace} does not outlast the worker's {stopTimeout} s drain with a margin");

            Assert.True(pod.GetProperty("securityContext").GetProperty("runAsNonRoot").GetBoolean(), overlay);
            Assert.NotEqual(0, pod.GetProperty("securityContext").GetProperty("runAsUser").GetInt32());
            var container = Container(deployment);
            var security = container.GetProperty("securityContext");
            Assert.True(security.GetProperty("readOnlyRootFilesystem").GetBoolean(), overlay);
            Assert.False(security.GetProperty("allowPrivilegeEscalation").GetBoolean(), overlay);
            Assert.Equal(["ALL"], security.GetProperty("capabilities").GetProperty("drop").EnumerateArray().Select(c => c.GetString()));

            // The model cache (extraction, int8 quantisation) is on a writable emptyDir, since the root is read-only.
            var cache = Env(container, "Embedding__CacheDirectory")!;
            var mounts = container.GetProperty("volumeMounts").EnumerateArray().ToList();
            var cacheMount = Assert.Single(mounts, m => cache == m.GetProperty("mountPath").GetString() || cache.StartsWith(m.GetProperty("mountPath").GetString() + "/", StringComparison.Ordinal));
            var cacheVolume = pod.GetProperty("volumes").EnumerateArray().Single(v => v.GetProperty("name").GetString() == cacheMount.GetProperty("name").GetString());
            Assert.True(cacheVolume.TryGetProperty("emptyDir", out _), $"{overlay}: the model cache is not an emptyDir");
            Assert.Contains(mounts, m => m.GetProperty("mountPath").GetString() == "/tmp");

            // Memory requested and limited (the figures come from docs/benchmarks.md), CPU requests = limits.
            var resources = container.GetProperty("resources");
            Assert.Equal(resources.GetProperty("requests").GetProperty("cpu").GetString(), resources.GetProperty("limits").GetProperty("cpu").GetString());
            Assert.True(MiB(resources.GetProperty("limits").GetProperty("memory").GetString()!) >= MiB(resources.GetProperty("requests").GetProperty("memory").GetString()!));

            // The image is pinned to the version the repository builds.
            Assert.EndsWith(":" + PackedPackages.RepositoryVersion(), container.GetProperty("image").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task KEDA_scales_the_deployment_on_the_input_queue_and_on_seconds_of_work_and_the_overlays_say_what_they_are_for()
    {
        var report = await Rendered.Value;
        foreach (var overlay in Overlays)
        {
            var objects = report.GetProperty(overlay).GetProperty("objects").EnumerateArray().ToList();
            var deployment = objects.Single(o => o.GetProperty("kind").GetString() == "Deployment");
            var scaled = objects.Single(o => o.GetProperty("kind").GetString() == "ScaledObject").GetProperty("spec");
            var auth = objects.Single(o => o.GetProperty("kind").GetString() == "TriggerAuthentication");
            Assert.Equal(deployment.GetProperty("metadata").GetProperty("name").GetString(), scaled.GetProperty("scaleTargetRef").GetProperty("name").GetString());

            var triggers = scaled.GetProperty("triggers").EnumerateArray().ToList();
            var rabbit = Assert.Single(triggers, t => t.GetProperty("type").GetString() == "rabbitmq");
            Assert.Equal(QueueNames.EmbedRequested, rabbit.GetProperty("metadata").GetProperty("queueName").GetString());
            Assert.Equal(auth.GetProperty("metadata").GetProperty("name").GetString(), rabbit.GetProperty("authenticationRef").GetProperty("name").GetString());
            var prometheus = Assert.Single(triggers, t => t.GetProperty("type").GetString() == "prometheus");
            Assert.Contains("akidb_backlog_seconds", prometheus.GetProperty("metadata").GetProperty("query").GetString(), StringComparison.Ordinal);

            // KEDA and the worker read the broker from the same Secret.
            var workerSecret = Container(deployment).GetProperty("env").EnumerateArray().Single(e => e.GetProperty("name").GetString() == "RabbitMq__Url")
                .GetProperty("valueFrom").GetProperty("secretKeyRef");
            var host = auth.GetProperty("spec").GetProperty("secretTargetRef").EnumerateArray().Single(r => r.GetProperty("parameter").GetString() == "host");
            Assert.Equal(workerSecret.GetProperty("name").GetString(), host.GetProperty("name").GetString());
            Assert.Equal(workerSecret.GetProperty("key").GetString(), host.GetProperty("key").GetString());

            // The PDB and the metrics Service select the worker's pods.
            var podLabels = deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
            foreach (var selector in new[]
            {
                objects.Single(o => o.GetProperty("kind").GetString() == "PodDisruptionBudget").GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"),
                objects.Single(o => o.GetProperty("kind").GetString() == "Service").GetProperty("spec").GetProperty("selector"),
            })
            {
                Assert.All(selector.EnumerateObject(), label => Assert.Equal(label.Value.GetString(), podLabels.GetProperty(label.Name).GetString()));
            }
        }

        var tls = Container((await DeploymentsAsync()).Single(d => d.Overlay == "overlays/tls").Deployment);
        var caFile = Env(tls, "RabbitMq__CaFile")!;
        Assert.Contains(tls.GetProperty("volumeMounts").EnumerateArray(), m => caFile.StartsWith(m.GetProperty("mountPath").GetString() + "/", StringComparison.Ordinal) && m.GetProperty("readOnly").GetBoolean());
        var cluster = Container((await DeploymentsAsync()).Single(d => d.Overlay == "overlays/cluster").Deployment);
        Assert.Equal("quorum", Env(cluster, "RabbitMq__QueueType"));
        Assert.Equal(3, Env(cluster, "RabbitMq__ClusterNodes")!.Split(',').Length);
    }

    [Fact]
    public async Task A_worker_run_with_the_deployments_settings_answers_its_probes_and_the_scrape_on_the_declared_ports()
    {
        var (overlay, deployment) = (await DeploymentsAsync()).Single(d => d.Overlay == "base");
        var container = Container(deployment);
        var ports = container.GetProperty("ports").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("containerPort").GetInt32());
        var annotations = deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("annotations");

        // The ports the worker listens on (its settings) are the ones the probes and the scrape name.
        var healthPort = ListenerPort(Env(container, "Health__Urls")!);
        var metricsPort = ListenerPort(Env(container, "Telemetry__PrometheusUrl")!);
        var probes = new[] { "startupProbe", "livenessProbe", "readinessProbe" }.Select(p => (Name: p, Get: container.GetProperty(p).GetProperty("httpGet"))).ToList();
        foreach (var (name, get) in probes)
        {
            Assert.True(ports[get.GetProperty("port").GetString()!] == healthPort, $"{overlay}: {name} probes port {get.GetProperty("port")}, the worker's health endpoint is on {healthPort}");
        }

        Assert.Equal(metricsPort, ports["metrics"]);
        Assert.Equal($"{metricsPort}", annotations.GetProperty("prometheus.io/port").GetString());

        // The same settings on this machine, with the broker, the cache folder and two free ports swapped in.
        var (_, url) = await broker.CreateVirtualHostAsync("k8s");
        var free = FreePorts.Take(2);
        var settings = container.GetProperty("env").EnumerateArray()
            .Where(e => e.TryGetProperty("value", out _))
            .ToDictionary(e => e.GetProperty("name").GetString()!, e => (string?)e.GetProperty("value").GetString());
        settings["Health__Urls"] = settings["Health__Urls"]!.Replace($":{healthPort}/", $":{free[0]}/", StringComparison.Ordinal);
        settings["Telemetry__PrometheusUrl"] = settings["Telemetry__PrometheusUrl"]!.Replace($":{metricsPort}/", $":{free[1]}/", StringComparison.Ordinal);
        settings["Embedding__CacheDirectory"] = RepoPaths.ModelCache;
        await using var worker = await WorkerProcess.StartAsync("k8s-settings", url, settings, stopGrace: TimeSpan.FromSeconds(40));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        foreach (var (name, get) in probes)
        {
            var status = await StatusWhenSettledAsync(http, $"http://127.0.0.1:{free[0]}{get.GetProperty("path").GetString()}");
            Assert.True(status == HttpStatusCode.OK, $"{name} {get.GetProperty("path")}: {status}");
        }

        var scrape = await http.GetStringAsync($"http://127.0.0.1:{free[1]}{annotations.GetProperty("prometheus.io/path").GetString()}");
        Assert.Contains("akidb_bridge_ready", scrape, StringComparison.Ordinal);
    }

    /// <summary>Each overlay's Deployment.</summary>
    private static async Task<List<(string Overlay, JsonElement Deployment)>> DeploymentsAsync()
    {
        var report = await Rendered.Value;
        return Overlays.Select(o => (o, report.GetProperty(o).GetProperty("objects").EnumerateArray().Single(x => x.GetProperty("kind").GetString() == "Deployment"))).ToList();
    }

    private static JsonElement Container(JsonElement deployment) =>
        deployment.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "worker");

    private static string? Env(JsonElement container, string name) =>
        container.GetProperty("env").EnumerateArray().Where(e => e.GetProperty("name").GetString() == name)
            .Select(e => e.TryGetProperty("value", out var v) ? v.GetString() : null).FirstOrDefault();

    /// <summary>The worker's configuration sections (each options class's <c>Section</c> constant) and their classes.</summary>
    private static Dictionary<string, Type> WorkerSections() =>
        typeof(RabbitMqOptions).Assembly.GetTypes()
            .Select(t => (Type: t, Field: t.GetField("Section", BindingFlags.Public | BindingFlags.Static)))
            .Where(x => x.Field is { IsLiteral: true } && x.Field.FieldType == typeof(string))
            .ToDictionary(x => (string)x.Field!.GetRawConstantValue()!, x => x.Type, StringComparer.OrdinalIgnoreCase);

    private static int ListenerPort(string prefix) => int.Parse(ListenerPortPattern().Match(prefix).Groups[1].Value);

    private static double MiB(string quantity) => QuantityPattern().Match(quantity) is { Success: true } m
        ? double.Parse(m.Groups[1].Value) * (m.Groups[2].Value switch { "Gi" => 1024, "Mi" => 1, "G" => 1e9 / 1048576, "M" => 1e6 / 1048576, _ => 1.0 / 1048576 })
        : throw new FormatException($"memory quantity {quantity}");

    /// <summary>The probe's answer once the worker has settled (ready can trail the "worker ready" line by a check).</summary>
    private static async Task<HttpStatusCode> StatusWhenSettledAsync(HttpClient http, string url)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        HttpStatusCode status;
        do
        {
            status = (await http.GetAsync(url)).StatusCode;
        }
        while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline);

        return status;
    }

    /// <summary>`node deploy/validate-manifests.mjs --json`: renders every kustomization and validates each object.</summary>
    private static async Task<JsonElement> RenderAsync()
    {
        Tooling.Require("kubectl", "kubectl with kustomize (https://kubernetes.io/docs/tasks/tools/)");
        var node = Tooling.Require("node", "apt-get install -y nodejs npm");
        var deploy = Path.Combine(RepoPaths.Root, "deploy");
        if (!Directory.Exists(Path.Combine(deploy, "node_modules", "kubernetes-models")) || !Directory.Exists(Path.Combine(deploy, "node_modules", "@kubernetes-models", "keda")))
        {
            throw new InvalidOperationException("deploy/node_modules lacks the schema packages; run: npm ci --prefix deploy (./test.sh does).");
        }

        var run = await Tooling.RunAsync(node, [Path.Combine(deploy, "validate-manifests.mjs"), "--json"]);
        // Exit 1 with a report means invalid objects, which the tests name; anything else is the script failing.
        if (run.ExitCode is not (0 or 1) || !run.Stdout.TrimStart().StartsWith('{'))
        {
            throw new InvalidOperationException($"validate-manifests.mjs failed:\n{run}");
        }

        return JsonDocument.Parse(run.Stdout).RootElement.Clone();
    }

    [GeneratedRegex(@"StopTimeout = TimeSpan\.FromSeconds\((\d+)\)")]
    private static partial Regex StopTimeoutSource();

    [GeneratedRegex(@":(\d+)/?$")]
    private static partial Regex ListenerPortPattern();

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(Gi|Mi|G|M)?$")]
    private static partial Regex QuantityPattern();
}
