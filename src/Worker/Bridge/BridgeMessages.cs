using System.Text.Json;
using System.Text.Json.Serialization;

namespace AkiDb.Queue.Worker.Bridge;

// Frame headers of docs/bridge-protocol.md. Field names are snake_case on the wire.

internal sealed record BridgeModelSpec(string Name, string Path, string? Output, string Pooling, bool Normalize);

internal sealed record InitHeader(
    string Runtime,
    string? OrtLibrary,
    IReadOnlyList<string> Providers,
    int IntraOpThreads,
    int InterOpThreads,
    int MaxPayloadBytes,
    string LogLevel,
    IReadOnlyList<BridgeModelSpec> Models,
    bool AllowSpinning,
    int WideIntraOpThreads = 0,
    bool WideAllowSpinning = false,
    SandboxHeader? Sandbox = null)
{
    public BridgeRequestType Type { get; init; } = BridgeRequestType.Init;

    public int Protocol { get; init; } = BridgeProtocol.Version;
}

/// <summary>The restrictions a bridge puts on itself before it loads ONNX Runtime or a model (0: no limit).</summary>
internal sealed record SandboxHeader(bool NoNewPrivs, bool DenyNetwork, long MaxAddressSpaceBytes, int MaxOpenFiles);

internal sealed record LoadHeader(long Id, BridgeModelSpec Model)
{
    public BridgeRequestType Type { get; init; } = BridgeRequestType.Load;
}

internal sealed record EmbedHeader(long Id, string Model, int Batch, int Seq, IReadOnlyList<int> Lengths, string? Traceparent, string Width = "narrow")
{
    public BridgeRequestType Type { get; init; } = BridgeRequestType.Embed;
}

internal sealed record PingHeader(long Id)
{
    public BridgeRequestType Type { get; init; } = BridgeRequestType.Ping;
}

internal sealed record ShutdownHeader
{
    public BridgeRequestType Type { get; init; } = BridgeRequestType.Shutdown;
}

internal sealed record ProviderAttempt(string Name, bool Ok, string? Reason);

internal sealed record BridgeModelInfo(
    string Name,
    int Dim,
    string Provider,
    IReadOnlyList<ProviderAttempt>? ProvidersTried,
    IReadOnlyList<string>? Inputs,
    IReadOnlyList<string>? Outputs,
    double LoadMs,
    long? RssDeltaBytes = null);

/// <summary>What the bridge reports it is restricted to: <see cref="Off"/> names each part the platform refused, and why.</summary>
internal sealed record BridgeSandboxReport(bool NoNewPrivs, string? Network, long? MaxAddressSpaceBytes, int? MaxOpenFiles, string? Seccomp, IReadOnlyList<SandboxPartOff>? Off)
{
    public string Describe() =>
        string.Join(", ", new[]
        {
            NoNewPrivs ? "no new privileges" : null,
            Network is { } network && network != "allowed" ? network : "network allowed",
            MaxAddressSpaceBytes is { } bytes ? $"address space <= {bytes / 1048576} MiB" : null,
            MaxOpenFiles is { } files ? $"<= {files} open files" : null,
        }.Where(p => p is not null));
}

internal sealed record SandboxPartOff(string Part, string Reason);

internal sealed record BridgeTimings(double DecodeMs, double InferenceMs, double PoolingMs, double TotalMs);

/// <summary>Every frame the bridge sends, as one shape: which fields are set depends on <see cref="Type"/>.</summary>
internal sealed record BridgeReply
{
    public BridgeReplyType Type { get; init; }
    public long? Id { get; init; }

    // ready
    public int? Protocol { get; init; }
    public int? Pid { get; init; }
    public string? Python { get; init; }
    public string? Numpy { get; init; }
    public string? Runtime { get; init; }
    public string? OrtVersion { get; init; }
    public double? StartupMs { get; init; }
    public IReadOnlyList<BridgeModelInfo>? Models { get; init; }
    public BridgeSandboxReport? Sandbox { get; init; }

    // loaded
    public BridgeModelInfo? Model { get; init; }

    // result
    public int? Batch { get; init; }
    public int? Dim { get; init; }
    public BridgeTimings? Timings { get; init; }
    public int? Threads { get; init; }

    // pong
    public long? RssBytes { get; init; }
    public long? ReleasedBytes { get; init; }
    public double? UptimeMs { get; init; }
    public long? Batches { get; init; }

    // error
    public string? Code { get; init; }
    public string? Message { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InitHeader))]
[JsonSerializable(typeof(LoadHeader))]
[JsonSerializable(typeof(EmbedHeader))]
[JsonSerializable(typeof(PingHeader))]
[JsonSerializable(typeof(ShutdownHeader))]
[JsonSerializable(typeof(BridgeReply))]
internal sealed partial class BridgeJsonContext : JsonSerializerContext
{
    public static byte[] Serialize<T>(T header) => JsonSerializer.SerializeToUtf8Bytes(header, typeof(T), Default);

    public static BridgeReply ParseReply(ReadOnlyMemory<byte> header)
    {
        try
        {
            return JsonSerializer.Deserialize(header.Span, Default.BridgeReply)
                   ?? throw new BridgeProtocolException("Frame header is JSON null.");
        }
        catch (JsonException e)
        {
            throw new BridgeProtocolException($"Frame header is not a valid JSON object: {e.Message}", e);
        }
    }
}
