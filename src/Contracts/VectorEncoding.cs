namespace AkiDb.Queue.Contracts;

/// <summary>How a result carries its vectors (<c>EmbedRequested.Encoding</c>); the wire names are lower case.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The members are the wire names of the encodings.")]
public enum VectorEncoding
{
    /// <summary>JSON numbers, about 5,000 bytes per 384-d vector.</summary>
    Float,

    /// <summary>Little-endian float32 in base64, as the OpenAI and Hugging Face TEI APIs: exact, 2,048 characters for 384-d.</summary>
    Base64,

    /// <summary>One signed byte per dimension and one scale per vector: 512 characters for 384-d.</summary>
    Int8,

    /// <summary>One sign bit per dimension, packed most significant bit first (Infinity's <c>ubinary</c>): 64 characters for 384-d.</summary>
    Binary,
}
