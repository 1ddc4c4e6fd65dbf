using System.Text.Json;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Worker.Vectors;

namespace AkiDb.Queue.IntegrationTests.Walking;

/// <summary>The <c>encoding</c> field of the wire contract through the real worker: each one decodes to the float vector.</summary>
[Collection(BrokerCollection.Name)]
public sealed class EncodingTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Every_encoding_decodes_to_the_float_vector_within_its_precision_and_an_unknown_one_is_invalid()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("encoding");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);
        string[] texts = [EndToEndTests.Sentences[0], EndToEndTests.Sentences[5], "A third, shorter one."];
        await results.PublishAsync(ResultCollector.Request("float", texts));
        foreach (var encoding in new[] { "base64", "int8", "binary", "fp16" })
        {
            await results.PublishAsync(JsonSerializer.Serialize(new { requestId = encoding, texts, encoding }));
        }

        var plain = (await results.WaitForAsync("float", Patience)).Embeddings;
        foreach (var encoding in new[] { VectorEncoding.Base64, VectorEncoding.Int8, VectorEncoding.Binary })
        {
            var result = await results.WaitForAsync(VectorEncodings.WireName(encoding), Patience);
            Assert.True(result.IsCompleted, result.Message);
            Assert.Equal(VectorEncodings.WireName(encoding), result.Body.GetProperty("encoding").GetString());
            Assert.Equal(0, result.Body.GetProperty("embeddings").GetArrayLength());
            var encoded = result.Body.GetProperty("encodedEmbeddings").EnumerateArray().Select(e => e.GetString()!).ToArray();
            Assert.Equal(texts.Length, encoded.Length);
            for (var i = 0; i < texts.Length; i++)
            {
                var scale = encoding == VectorEncoding.Int8 ? result.Body.GetProperty("scales")[i].GetSingle() : 1f;
                var decoded = VectorDecoder.Decode(encoding, encoded[i], 384, scale);
                var tolerance = encoding switch { VectorEncoding.Base64 => 1e-5, VectorEncoding.Int8 => scale / 2 + 1e-5, _ => double.NaN };
                if (encoding == VectorEncoding.Binary)
                {
                    Assert.All(plain[i].Zip(decoded), p => Assert.True(Math.Abs(p.First) < 1e-5 || (p.First > 0) == (p.Second > 0)));
                    Assert.True(encoded[i].Length + 3 <= 100);
                }
                else
                {
                    Assert.True(VectorMath.MaxAbsDiff(plain[i], decoded) <= tolerance, $"{encoding} text {i}");
                }
            }
        }

        var unknown = await results.WaitForAsync("fp16", Patience);
        Assert.Equal("invalid_request", unknown.Code);
        Assert.Contains("encoding 'fp16'", unknown.Message, StringComparison.Ordinal);
    }
}
