using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Requests;

/// <summary>
/// Checks a request against the contract and the configured limits, and keeps what it parsed on the way
/// (<see cref="InputType"/>, <see cref="VectorEncoding"/>). The first problem found is reported, with its code.
/// </summary>
public sealed class RequestValidator(IOptions<LimitsOptions> options)
{
    /// <summary>The first problem, or null when the request is valid (its parsed fields are dropped: for the paths that only answer it).</summary>
    public EmbedFailed? Validate(EmbedRequested message, long? bodyBytes) => Check(message, bodyBytes).Failure;

    public RequestCheck Check(EmbedRequested message, long? bodyBytes)
    {
        var limits = options.Value;
        var requestId = message.RequestId;

        RequestCheck Fail(string code, string reason, int? index = null) => new(new EmbedFailed
        {
            RequestId = requestId is { Length: > 0 } && requestId.Length <= limits.MaxRequestIdLength ? requestId : null,
            Code = code,
            Message = reason,
            TextIndex = index,
            Metadata = Echoable(message.Metadata, limits),
        }, default, default);

        if (bodyBytes > limits.MaxMessageBytes)
        {
            return Fail(EmbedErrorCodes.MessageTooLarge, $"The message body is {bodyBytes} bytes; the limit is {limits.MaxMessageBytes}.");
        }

        if (string.IsNullOrWhiteSpace(requestId))
        {
            return Fail(EmbedErrorCodes.InvalidRequest, "requestId is missing or empty.");
        }

        if (requestId.Length > limits.MaxRequestIdLength)
        {
            return Fail(EmbedErrorCodes.InvalidRequest, $"requestId is {requestId.Length} characters; the limit is {limits.MaxRequestIdLength}.");
        }

        if (message.Texts is null || message.Texts.Count == 0)
        {
            return Fail(EmbedErrorCodes.InvalidRequest, "texts is missing or empty: send at least one text.");
        }

        if (message.Texts.Count > limits.MaxTextsPerMessage)
        {
            return Fail(EmbedErrorCodes.TooManyTexts, $"{message.Texts.Count} texts in one message; the limit is {limits.MaxTextsPerMessage}. Split the request.");
        }

        for (var i = 0; i < message.Texts.Count; i++)
        {
            var text = message.Texts[i];
            if (text is null)
            {
                return Fail(EmbedErrorCodes.InvalidRequest, $"texts[{i}] is null.", i);
            }

            if (HasNothingToEmbed(text))
            {
                return Fail(EmbedErrorCodes.InvalidRequest,
                    $"texts[{i}] is empty or only whitespace, control or zero-width characters; it has no meaning to embed.", i);
            }

            if (text.Length > limits.MaxCharsPerText)
            {
                return Fail(EmbedErrorCodes.TextTooLong, $"texts[{i}] has {text.Length} characters; the limit is {limits.MaxCharsPerText}. Chunk it before sending.", i);
            }
        }

        if (!TryParseInputType(message.InputType, out var inputType))
        {
            return Fail(EmbedErrorCodes.InvalidRequest, $"inputType '{Telemetry.LogValue.Cap(message.InputType)}' is not 'document' or 'query'.");
        }

        if (message.Metadata is { } metadata)
        {
            if (metadata.Count > limits.MaxMetadataEntries)
            {
                return Fail(EmbedErrorCodes.InvalidRequest, $"metadata has {metadata.Count} entries; the limit is {limits.MaxMetadataEntries}.");
            }

            if (metadata.FirstOrDefault(kv => kv.Key.Length > limits.MaxMetadataValueLength || (kv.Value?.Length ?? 0) > limits.MaxMetadataValueLength) is { Key: not null } big)
            {
                return Fail(EmbedErrorCodes.InvalidRequest, $"metadata entry '{Telemetry.LogValue.Cap(big.Key)}' is longer than {limits.MaxMetadataValueLength} characters.");
            }
        }

        if (!VectorEncodings.TryParse(message.Encoding, out var encoding))
        {
            return Fail(EmbedErrorCodes.InvalidRequest, $"encoding '{Telemetry.LogValue.Cap(message.Encoding)}' is not 'float', 'base64', 'int8' or 'binary'.");
        }

        return new RequestCheck(null, inputType, encoding);
    }

    /// <summary>
    /// True when a text holds nothing a model can read: only whitespace, control characters (NUL included) and
    /// invisible format characters (zero-width space and joiners, the byte-order mark, bidi marks). BERT text cleaning drops
    /// all of these, so such a text would be embedded as an empty sequence, the same vector whatever was sent.
    /// </summary>
    internal static bool HasNothingToEmbed(string text)
    {
        foreach (var c in text)
        {
            if (!char.IsWhiteSpace(c) && !char.IsControl(c) && System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.Format)
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryParseInputType(string? value, out InputType inputType)
    {
        inputType = InputType.Document;
        if (string.IsNullOrEmpty(value) || value.Equals("document", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (value.Equals("query", StringComparison.OrdinalIgnoreCase))
        {
            inputType = InputType.Query;
            return true;
        }

        return false;
    }

    // Metadata is echoed on failures too, unless it is itself the problem.
    private static IReadOnlyDictionary<string, string>? Echoable(IReadOnlyDictionary<string, string>? metadata, LimitsOptions limits) =>
        metadata is null || metadata.Count > limits.MaxMetadataEntries ||
        metadata.Any(kv => kv.Key.Length > limits.MaxMetadataValueLength || (kv.Value?.Length ?? 0) > limits.MaxMetadataValueLength)
            ? null
            : metadata;
}

/// <summary>A request checked against the contract and limits: the failure, or the fields parsed on the way.</summary>
public readonly record struct RequestCheck(EmbedFailed? Failure, InputType InputType, VectorEncoding Encoding);
