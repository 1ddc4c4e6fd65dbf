using System.Text;
using System.Text.Json;
using AkiDb.Queue.Cli.Embedding;

namespace AkiDb.Queue.Tests;

/// <summary>The lines `embed` writes for one result: the vectors' bytes as the worker wrote them, one line per text, in the request's order.</summary>
public sealed class OutputLineTests
{
    private static readonly ChunkItem[] Items =
    [
        new(0, "a", 0, 0, 5, "Hello", null),
        new(1, "b", 2, 10, 14, "Café", new Dictionary<string, string> { ["k"] = "v" }),
    ];

    [Fact]
    public void Float_vectors_are_copied_as_written_one_line_each_ending_in_a_newline()
    {
        using var result = JsonDocument.Parse("""
            {"requestId":"r","model":"m","tokenCounts":[3,4],"truncated":[false,true],"embeddings":[[0.1,-2.5E-05],[1,0]]}
            """);

        var lines = new OutputLine().Format(Items, result.RootElement, includeText: true).Select(Encoding.UTF8.GetString).ToArray();

        Assert.Equal(
        [
            """{"id":"a","chunk":0,"start":0,"end":5,"text":"Hello","model":"m","tokens":3,"truncated":false,"embedding":[0.1,-2.5E-05]}""" + Environment.NewLine,
            """{"id":"b","chunk":2,"start":10,"end":14,"text":"Caf\u00E9","model":"m","tokens":4,"truncated":true,"embedding":[1,0],"metadata":{"k":"v"}}""" + Environment.NewLine,
        ], lines);
    }

    [Fact]
    public void Encoded_vectors_keep_their_encoding_and_scale()
    {
        using var result = JsonDocument.Parse("""
            {"requestId":"r","model":"m","tokenCounts":[3,4],"truncated":[false,false],"encoding":"int8","encodedEmbeddings":["AQI=","AwQ="],"scales":[0.5,0.25]}
            """);

        var lines = new OutputLine().Format(Items, result.RootElement, includeText: false).Select(Encoding.UTF8.GetString).ToArray();

        Assert.Equal(
        [
            """{"id":"a","chunk":0,"start":0,"end":5,"model":"m","tokens":3,"truncated":false,"encoding":"int8","embedding":"AQI=","scale":0.5}""" + Environment.NewLine,
            """{"id":"b","chunk":2,"start":10,"end":14,"model":"m","tokens":4,"truncated":false,"encoding":"int8","embedding":"AwQ=","scale":0.25,"metadata":{"k":"v"}}""" + Environment.NewLine,
        ], lines);
    }

    [Fact]
    public void A_result_with_fewer_vectors_than_texts_is_refused()
    {
        using var result = JsonDocument.Parse("""{"model":"m","tokenCounts":[3,4],"truncated":[false,false],"embeddings":[[0.1]]}""");

        Assert.Throws<InvalidDataException>(() => new OutputLine().Format(Items, result.RootElement, includeText: false));
    }
}
