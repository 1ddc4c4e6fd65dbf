using System.ComponentModel;
using AkiDb.Queue.Contracts;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Broker;

/// <summary>Where the broker is: flags first, then the same environment variables the worker reads.</summary>
internal class BrokerSettings : CommandSettings
{
    [CommandOption("--url <URL>")]
    [Description("AMQP URL. Default: $RabbitMq__Url, else amqp://guest:guest@localhost:5672/")]
    public string? Url { get; init; }

    [CommandOption("--management-url <URL>")]
    [Description("Management API/UI URL. Default: $AKIDB_MANAGEMENT_URL, else http://<broker host>:15672/")]
    public string? ManagementUrl { get; init; }

    [CommandOption("--queue <NAME>")]
    [Description("The worker's input queue. Default: embed-requested")]
    [DefaultValue(QueueNames.EmbedRequested)]
    public string Queue { get; init; } = QueueNames.EmbedRequested;

    [CommandOption("--cluster-nodes <HOST:PORT,...>")]
    [Description("RabbitMQ cluster nodes to connect to (any live one, failing over to the next); the URL still gives user, password and vhost. Default: $RabbitMq__ClusterNodes")]
    public string? ClusterNodes { get; init; }

    public string? EffectiveClusterNodes => ClusterNodes ?? Environment.GetEnvironmentVariable("RabbitMq__ClusterNodes");

    public string EffectiveUrl =>
        Url ?? Environment.GetEnvironmentVariable("RabbitMq__Url") ?? "amqp://guest:guest@localhost:5672/";

    public string EffectiveManagementUrl =>
        ManagementUrl ?? Environment.GetEnvironmentVariable("AKIDB_MANAGEMENT_URL") ?? $"http://{new Uri(EffectiveUrl).Host}:15672/";

    /// <summary>The virtual host in the AMQP URL ("/" when the path is empty).</summary>
    public string VirtualHost
    {
        get
        {
            var path = Uri.UnescapeDataString(new Uri(EffectiveUrl).AbsolutePath.TrimStart('/'));
            return path.Length == 0 ? "/" : path;
        }
    }

    public static string Redact(string url) => BrokerUrl.Redact(url);
}
