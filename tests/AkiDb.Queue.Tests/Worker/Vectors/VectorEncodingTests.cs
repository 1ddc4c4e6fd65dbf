using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Vectors;

namespace AkiDb.Queue.Tests;

/// <summary>Every encoding decodes to the float vector within its stated precision, at the stated size.</summary>
public sealed class VectorEncodingTests
{
    private static readonly float[][] Vectors = [.. Enumerable.Range(0, 20).Select(UnitVector)];

    [Fact]
    public void Base64_is_the_exact_float32_vector_in_at_most_2100_bytes()
    {
        var completed = VectorEncoder.Apply(Completed(), Parsed("base64"));

        Assert.Equal("base64", completed.Encoding);
        Assert.Empty(completed.Embeddings);
        for (var i = 0; i < Vectors.Length; i++)
        {
            Assert.Equal(Vectors[i], VectorDecoder.Decode(VectorEncoding.Base64, completed.EncodedEmbeddings![i], 384));
            Assert.True(JsonBytes(completed.EncodedEmbeddings[i]) <= 2100);
        }
    }

    [Fact]
    public void Int8_comes_back_within_half_its_scale()
    {
        var completed = VectorEncoder.Apply(Completed(), Parsed("INT8"));

        Assert.Equal("int8", completed.Encoding);
        for (var i = 0; i < Vectors.Length; i++)
        {
            var scale = completed.Scales![i];
            Assert.Equal(Vectors[i].Max(Math.Abs) / 127f, scale, 1e-7f);
            var decoded = VectorDecoder.Decode(VectorEncoding.Int8, completed.EncodedEmbeddings![i], 384, scale);
            for (var d = 0; d < 384; d++)
            {
                Assert.True(Math.Abs(decoded[d] - Vectors[i][d]) <= scale / 2 + 1e-7f, $"dimension {d}: {decoded[d]} vs {Vectors[i][d]}");
            }

            Assert.True(JsonBytes(completed.EncodedEmbeddings[i]) <= 600);
        }
    }

    [Fact]
    public void Binary_keeps_every_sign_in_at_most_100_bytes()
    {
        var completed = VectorEncoder.Apply(Completed(), Parsed("binary"));

        for (var i = 0; i < Vectors.Length; i++)
        {
            var decoded = VectorDecoder.Decode(VectorEncoding.Binary, completed.EncodedEmbeddings![i], 384);
            Assert.Equal(Vectors[i].Select(x => x > 0 ? 1f : -1f), decoded);
            Assert.True(JsonBytes(completed.EncodedEmbeddings[i]) <= 100);
        }
    }

    [Fact]
    public void Binary_packs_the_first_dimension_into_the_most_significant_bit_as_numpy_packbits()
    {
        float[] vector = [1, -1, -1, -1, -1, -1, -1, 1, -1, 1];
        Assert.Equal([0b1000_0001, 0b0100_0000], VectorEncoder.SignBits(vector));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("float")]
    [InlineData("Float")]
    public void Float_or_none_leaves_the_result_as_it_was(string? encoding)
    {
        var completed = Completed();
        Assert.Same(completed, VectorEncoder.Apply(completed, Parsed(encoding)));
    }

    [Theory]
    [InlineData("fp16")]
    [InlineData("1")]
    [InlineData("base64,int8")]
    [InlineData("ubinary")]
    public void Unknown_encodings_are_not_parsed(string encoding) =>
        Assert.False(VectorEncodings.TryParse(encoding, out _));

    // The wire name as the request edge parses it, so the names' case-insensitivity stays covered here.
    private static VectorEncoding Parsed(string? name) =>
        VectorEncodings.TryParse(name, out var encoding) ? encoding : throw new ArgumentException($"not an encoding: {name}", nameof(name));

    private static EmbedCompleted Completed() => new()
    {
        RequestId = "r", Model = "m", Dimensions = 384, Embeddings = Vectors,
        TokenCounts = [.. Vectors.Select(_ => 3)], Truncated = [.. Vectors.Select(_ => false)],
    };

    // A base64 string costs its length plus two quotes and a comma in the JSON array.
    private static int JsonBytes(string encoded) => encoded.Length + 3;

    private static float[] UnitVector(int seed)
    {
        var random = new Random(seed);
        var vector = Enumerable.Range(0, 384).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var norm = MathF.Sqrt(vector.Sum(x => x * x));
        return [.. vector.Select(x => x / norm)];
    }
}
