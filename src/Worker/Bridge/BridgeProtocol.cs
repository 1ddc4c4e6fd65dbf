using System.Text.Json.Serialization;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// The bridge protocol's constants on the C# side. The Python side reads the same values from
/// <c>python/akidb_bridge_core/protocol.json</c>; a unit test (BridgeProtocolSchemaTests) fails when the two disagree,
/// so a new message type or version is changed in the schema and here together.
/// </summary>
internal static class BridgeProtocol
{
    public const int Version = 1;

    public const string Magic = "AKQB";

    public const int MaxHeaderBytes = 64 * 1024;

    /// <summary>The wire name, for messages: <c>pong</c>, <c>result</c>, ...</summary>
    public static string Name(BridgeReplyType type) => type == BridgeReplyType.Missing ? "" : type.ToString().ToLowerInvariant();
}

/// <summary>A message type as its wire name only: a number or an unknown name is a protocol error, not a guess.</summary>
internal sealed class WireNameConverter<TEnum>() : JsonStringEnumConverter<TEnum>(namingPolicy: null, allowIntegerValues: false)
    where TEnum : struct, Enum;

/// <summary>What the worker sends (a frame header's <c>type</c>).</summary>
[JsonConverter(typeof(WireNameConverter<BridgeRequestType>))]
internal enum BridgeRequestType
{
    [JsonStringEnumMemberName("init")]
    Init,

    [JsonStringEnumMemberName("load")]
    Load,

    [JsonStringEnumMemberName("embed")]
    Embed,

    [JsonStringEnumMemberName("ping")]
    Ping,

    [JsonStringEnumMemberName("shutdown")]
    Shutdown,
}

/// <summary>What the bridge answers (a frame header's <c>type</c>); any other value is a protocol error.</summary>
[JsonConverter(typeof(WireNameConverter<BridgeReplyType>))]
internal enum BridgeReplyType
{
    /// <summary>Not a reply type: what a header without <c>type</c> reads as, and rejected like an unknown one.</summary>
    [JsonStringEnumMemberName("(missing)")]
    Missing,

    [JsonStringEnumMemberName("ready")]
    Ready,

    [JsonStringEnumMemberName("loaded")]
    Loaded,

    [JsonStringEnumMemberName("result")]
    Result,

    [JsonStringEnumMemberName("pong")]
    Pong,

    [JsonStringEnumMemberName("error")]
    Error,
}
