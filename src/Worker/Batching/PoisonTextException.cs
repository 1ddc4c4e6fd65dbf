namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// A text failed every time it was run, alone. Its request gets an EmbedFailed (inference_failed) and the message
/// goes to the _error queue; MassTransit's retry is told to leave this exception alone.
/// </summary>
public sealed class PoisonTextException(int textIndex, int attempts, string lastError)
    : Exception($"The model failed on texts[{textIndex}] each of the {attempts} times it ran alone; last error: {lastError}")
{
    public int TextIndex { get; } = textIndex;
}
