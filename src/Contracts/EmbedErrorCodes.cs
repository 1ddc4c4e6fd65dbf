namespace AkiDb.Queue.Contracts;

/// <summary>The codes an <see cref="EmbedFailed"/> can carry. They are part of the wire contract: never renamed.</summary>
public static class EmbedErrorCodes
{
    /// <summary>The request breaks a rule: no request id, no texts, a null text, an unknown input type.</summary>
    public const string InvalidRequest = "invalid_request";

    /// <summary>The body is not JSON, or a field has the wrong type.</summary>
    public const string MalformedMessage = "malformed_message";

    /// <summary><see cref="EmbedRequested.Model"/> names no model in the worker's catalogue.</summary>
    public const string UnknownModel = "unknown_model";

    /// <summary>More texts than the worker's limit per message.</summary>
    public const string TooManyTexts = "too_many_texts";

    /// <summary>A text longer, in characters, than the worker's limit.</summary>
    public const string TextTooLong = "text_too_long";

    /// <summary>A text over the model's token limit while the worker is set to reject rather than truncate.</summary>
    public const string TooManyTokens = "too_many_tokens";

    /// <summary>The message body is larger than the worker's limit.</summary>
    public const string MessageTooLarge = "message_too_large";

    /// <summary>The model failed on this request every time it was tried, alone.</summary>
    public const string InferenceFailed = "inference_failed";

    /// <summary>The request's deadline (<see cref="EmbedRequested.ExpiresAt"/> or the AMQP expiration) passed before it ran.</summary>
    public const string Expired = "expired";
}
