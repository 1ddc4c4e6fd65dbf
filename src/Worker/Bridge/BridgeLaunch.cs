namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// Everything needed to start a bridge process: a fixed program, fixed arguments and a minimal environment. No
/// part of it ever comes from message content, and no shell is involved.
/// </summary>
/// <param name="Environment">Variables to set; a null value removes an inherited variable.</param>
public sealed record BridgeLaunch(
    string Python,
    IReadOnlyList<string> Arguments,
    string WorkingDirectory,
    IReadOnlyDictionary<string, string?> Environment);
