using System.Text.Json;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Tests.Bridge;

/// <summary>
/// The bridge protocol is defined once, in python/akidb_bridge_core/protocol.json, which the Python side reads; the C#
/// constants and enums must say the same, or one side would speak a version or a message type the other does not know.
/// </summary>
public sealed class BridgeProtocolSchemaTests
{
    private static readonly JsonElement Schema = ReadSchema();

    [Fact]
    public void The_version_magic_and_header_cap_agree_with_the_schema()
    {
        Assert.Equal(BridgeProtocol.Version, Schema.GetProperty("version").GetInt32());
        Assert.Equal(BridgeProtocol.Magic, Schema.GetProperty("magic").GetString());
        Assert.Equal(BridgeProtocol.MaxHeaderBytes, Schema.GetProperty("max_header_bytes").GetInt32());
        Assert.Equal(BridgeProtocol.MaxHeaderBytes, FrameLimits.Default.MaxHeaderBytes);
    }

    [Fact]
    public void The_request_types_serialise_to_the_schema_names()
    {
        var names = Enum.GetValues<BridgeRequestType>().Select(t => JsonSerializer.Serialize(t).Trim('"'));
        Assert.Equal(Names("requests"), names);
    }

    [Fact]
    public void The_reply_types_read_from_the_schema_names()
    {
        var parsed = Names("replies").Select(n => JsonSerializer.Deserialize<BridgeReplyType>($"\"{n}\""));
        Assert.Equal(Enum.GetValues<BridgeReplyType>().Where(t => t != BridgeReplyType.Missing), parsed);
        Assert.Equal(Names("replies"), parsed.Select(BridgeProtocol.Name));
    }

    [Fact]
    public void An_unknown_reply_type_is_a_protocol_error()
    {
        var header = System.Text.Encoding.UTF8.GetBytes("""{"type":"surprise","id":1}""");
        Assert.Throws<BridgeProtocolException>(() => BridgeJsonContext.ParseReply(header));
    }

    private static IEnumerable<string> Names(string list) => Schema.GetProperty(list).EnumerateArray().Select(e => e.GetString()!);

    private static JsonElement ReadSchema()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "AkiDb.Queue.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.FullName, "python", "akidb_bridge_core", "protocol.json")));
        return json.RootElement.Clone();
    }
}
