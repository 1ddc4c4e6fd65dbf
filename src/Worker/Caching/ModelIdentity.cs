using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// Everything that decides what vector a model gives for a token sequence, as one SHA-256: the ONNX file's bytes,
/// the vocab's bytes, and every setting of the catalogue entry (pooling, normalisation, max tokens, output, prefixes,
/// and whatever is added later, such as a precision). Two workers agree on it exactly when their vectors agree, so it
/// is the namespace of every cache key and is stored in every entry.
/// </summary>
public sealed class ModelIdentity
{
    /// <summary>Bumped when the key or entry layout changes, so old entries become misses.</summary>
    public const int SchemaVersion = 1;

    /// <summary>
    /// Properties of <see cref="ModelDefinition"/> that do not change a vector. Everything else is hashed, so a
    /// property added later (a precision, a quantisation scheme) changes the identity without an edit here: a new
    /// setting can cause misses, never a wrong vector.
    /// </summary>
    private static readonly HashSet<string> NotIdentity = new(StringComparer.Ordinal)
    {
        nameof(ModelDefinition.Name), // two names for one model share entries
        nameof(ModelDefinition.OnnxPath), // the file's content counts, not where it lies
        nameof(ModelDefinition.VocabPath),
        nameof(ModelDefinition.LoadAtStartup),
    };

    private ModelIdentity(byte[] hash) => Hash = hash;

    /// <summary>The 32-byte SHA-256 of the identity.</summary>
    public byte[] Hash { get; }

    /// <summary>The first 16 bytes in hex: enough to keep models apart in a key; the entry holds all 32.</summary>
    public string KeyPart => Convert.ToHexStringLower(Hash, 0, 16);

    public static async Task<ModelIdentity> ComputeAsync(ModelDefinition definition, CancellationToken cancellationToken)
    {
        var onnx = await HashFileAsync(definition.OnnxPath, cancellationToken);
        var vocab = await HashFileAsync(definition.VocabPath, cancellationToken);
        return FromParts(definition, onnx, vocab);
    }

    /// <summary>The identity from the files' hashes, for tests and for callers that hashed the files already.</summary>
    public static ModelIdentity FromParts(ModelDefinition definition, byte[] onnxSha256, byte[] vocabSha256)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, "schema", SchemaVersion.ToString(CultureInfo.InvariantCulture));
        Append(hash, "onnx-sha256", Convert.ToHexStringLower(onnxSha256));
        Append(hash, "vocab-sha256", Convert.ToHexStringLower(vocabSha256));
        foreach (var property in typeof(ModelDefinition).GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            if (!NotIdentity.Contains(property.Name))
            {
                Append(hash, property.Name, Convert.ToString(property.GetValue(definition), CultureInfo.InvariantCulture));
            }
        }

        return new ModelIdentity(hash.GetHashAndReset());
    }

    /// <summary>Length-prefixed name and value, so no two different field lists hash the same bytes.</summary>
    private static void Append(IncrementalHash hash, string name, string? value)
    {
        Span<byte> length = stackalloc byte[5];
        foreach (var part in new[] { name, value })
        {
            var bytes = part is null ? [] : Encoding.UTF8.GetBytes(part);
            length[0] = part is null ? (byte)0 : (byte)1;
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length[1..], bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }
    }

    private static async Task<byte[]> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return await SHA256.HashDataAsync(stream, cancellationToken);
    }
}
